#include "io/npy.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "io/npy_format.h"

namespace trilemma::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

std::string descr_of(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kUInt8) return "|u1";
  if (t.scalar_type() == torch::kFloat32) return "<f4";
  throw UserError("save_npy: only uint8 and float32 tensors are supported");
}

// A mistyped --out must not destroy a run: an existing file is replaced only when it is
// itself a .npy file (by its magic), never a config, a checkpoint or a figure.
void refuse_to_replace_other_files(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return;
  if (!std::filesystem::is_regular_file(path, error))
    throw UserError(path + ": exists and is not a file; not replaced");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": exists and cannot be read; not replaced");
  std::string head(kMagicSize, '\0');
  in.read(head.data(), static_cast<std::streamsize>(kMagicSize));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head != std::string(kMagic, kMagicSize))
    throw UserError(path + ": exists and is not a .npy file; not replaced (choose another name)");
}

}  // namespace

void save_npy(const torch::Tensor& tensor, const std::string& path) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  const std::string descr = descr_of(t);
  refuse_to_replace_other_files(path);
  std::string shape;  // Python tuple syntax: "(N, 28, 28)", "(N,)" for rank 1
  for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  if (t.dim() == 1) shape += ",";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" +
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
  const NpyLayout layout = parse_npy(bytes, path);
  const torch::ScalarType type = layout.type == NpyType::kUInt8     ? torch::kUInt8
                                 : layout.type == NpyType::kFloat32 ? torch::kFloat32
                                                                    : torch::kFloat64;
  torch::Tensor out = torch::empty(layout.shape, type);
  if (layout.data_bytes > 0) std::memcpy(out.data_ptr(), bytes.data() + layout.data_offset, layout.data_bytes);
  return out;
}

}  // namespace trilemma::io
