#include "data/idx.h"

#include <zlib.h>

#include <limits>

#include "core/error.h"

namespace trilemma::data {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr int kMaxRank = 4;
// Guards the allocation against absurd header dimensions (1 GiB is 20x MNIST's train set).
constexpr int64_t kMaxBytes = int64_t{1} << 30;

uint32_t read_be32(const std::vector<uint8_t>& b, size_t offset) {
  return (uint32_t{b[offset]} << 24) | (uint32_t{b[offset + 1]} << 16) |
         (uint32_t{b[offset + 2]} << 8) | uint32_t{b[offset + 3]};
}

}  // namespace

IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name, int expected_rank) {
  auto fail = [&](const std::string& problem) { throw UserError(name + ": " + problem); };
  if (bytes.size() < 4) fail("not an IDX file (shorter than its 4-byte magic number)");
  if (bytes[0] != 0 || bytes[1] != 0)
    fail("not an IDX file (bad magic number: first two bytes must be zero)");
  if (bytes[2] != kUnsignedByte)
    fail("unsupported IDX data type 0x" + std::to_string(bytes[2]) +
         " (only unsigned bytes, 0x08, are supported)");
  const int rank = bytes[3];
  if (rank < 1 || rank > kMaxRank) fail("unsupported IDX rank " + std::to_string(rank));
  if (expected_rank > 0 && rank != expected_rank)
    fail("expected " + std::to_string(expected_rank) + " dimensions, the header has " +
         std::to_string(rank));
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) fail("truncated header");
  IdxArray array;
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t dim = read_be32(bytes, 4 + 4 * i);
    if (dim == 0 && i > 0) fail("dimension " + std::to_string(i) + " is zero");
    array.dims.push_back(dim);
    count *= dim;
    if (count > kMaxBytes) fail("header declares more than 1 GiB of data");
  }
  const size_t available = bytes.size() - header;
  if (available < static_cast<size_t>(count))
    fail("truncated: header declares " + std::to_string(count) + " bytes of data, file has " +
         std::to_string(available));
  if (available > static_cast<size_t>(count))
    fail("has " + std::to_string(available - count) + " unexpected trailing bytes");
  array.values.assign(bytes.begin() + header, bytes.end());
  return array;
}

IdxArray read_idx(const std::string& path, int expected_rank) {
  // gzread reads gzip files and, transparently, plain ones.
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw UserError(path + ": cannot open (missing file or no permission)");
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  int n;
  while ((n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0) {
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
    if (static_cast<int64_t>(bytes.size()) > kMaxBytes + 64) break;
  }
  int err = Z_OK;
  const char* message = gzerror(file, &err);
  const std::string error_text = (n < 0 && message) ? message : "";
  gzclose(file);
  if (n < 0) throw UserError(path + ": cannot read (" + error_text + ", corrupt gzip data?)");
  return parse_idx(bytes, path, expected_rank);
}

}  // namespace trilemma::data
