#include "io/npy.h"

#include <cstring>
#include <regex>

#include "core/error.h"
#include "core/files.h"

namespace trilemma::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// 2^31 elements: far above any sample file, and keeps size arithmetic overflow-free.
constexpr int64_t kMaxElements = int64_t{1} << 31;

std::string descr_of(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kUInt8) return "|u1";
  if (t.scalar_type() == torch::kFloat32) return "<f4";
  throw UserError("save_npy: only uint8 and float32 tensors are supported");
}

}  // namespace

void save_npy(const torch::Tensor& tensor, const std::string& path) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  std::string shape;  // Python tuple syntax: "(N, 28, 28)", "(N,)" for rank 1
  for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  if (t.dim() == 1) shape += ",";
  std::string header = "{'descr': '" + descr_of(t) + "', 'fortran_order': False, 'shape': (" +
                       shape + "), }";
  // Format 1.0: magic, version, uint16 header length; header padded so data is 64-aligned.
  const size_t unpadded = kMagicSize + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes(kMagic, kMagicSize);
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  const uint16_t length = static_cast<uint16_t>(header.size());
  bytes.push_back(static_cast<char>(length & 0xff));
  bytes.push_back(static_cast<char>(length >> 8));
  bytes += header;
  bytes.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, bytes);
}

torch::Tensor load_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  auto fail = [&](const std::string& problem) -> torch::Tensor {
    throw UserError(path + ": " + problem);
  };
  if (bytes.size() < kMagicSize + 4 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
    return fail("not a .npy file (bad magic)");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_length = 0, offset = 0;
  if (major == 1) {
    header_length = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated header");
    for (int i = 3; i >= 0; --i) header_length = (header_length << 8) | static_cast<uint8_t>(bytes[8 + i]);
    offset = 12;
  } else {
    return fail("unsupported .npy version " + std::to_string(major));
  }
  if (bytes.size() < offset + header_length) return fail("truncated header");
  const std::string header = bytes.substr(offset, header_length);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'")))
    return fail("header has no dtype ('descr')");
  const std::string descr = m[1];
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    return fail("Fortran-ordered arrays are not supported (save with C order)");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    return fail("header has no shape");
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  std::regex number("\\s*(\\d+)\\s*,?");
  int64_t count = 1;
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
    const std::string digits = (*it)[1];
    if (digits.size() > 10) return fail("absurd dimension in shape");
    shape.push_back(std::stoll(digits));
    count *= shape.back();
    if (count > kMaxElements) return fail("array too large");
  }
  torch::ScalarType type;
  size_t element = 0;
  if (descr == "|u1" || descr == "<u1") type = torch::kUInt8, element = 1;
  else if (descr == "<f4") type = torch::kFloat32, element = 4;
  else if (descr == "<f8") type = torch::kFloat64, element = 8;
  else return fail("unsupported dtype '" + descr + "' (use uint8, float32 or float64)");
  const size_t data_offset = offset + header_length;
  const size_t expected = static_cast<size_t>(count) * element;
  if (bytes.size() - data_offset != expected)
    return fail("data size " + std::to_string(bytes.size() - data_offset) +
                " bytes does not match the header's shape (" + std::to_string(expected) + " bytes)");
  torch::Tensor out = torch::empty(shape, type);
  std::memcpy(out.data_ptr(), bytes.data() + data_offset, expected);
  return out;
}

}  // namespace trilemma::io
