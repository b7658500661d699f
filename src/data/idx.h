#pragma once
// Reader for the IDX format of LeCun's MNIST files: a big-endian header (magic with
// dtype and rank, then one uint32 per dimension) followed by raw data. Only unsigned-byte
// data (dtype 0x08) is accepted, as every MNIST-style dataset uses it. gzip-compressed
// files are read transparently.
#include <cstdint>
#include <string>
#include <vector>

namespace trilemma::data {

struct IdxArray {
  std::vector<int64_t> dims;    ///< e.g. {60000, 28, 28}
  std::vector<uint8_t> values;  ///< row-major, product(dims) bytes
};

/// Reads and validates an IDX file. Throws UserError naming the file and the problem
/// (missing, bad magic, unsupported dtype, wrong rank, truncated, trailing bytes).
/// expected_rank > 0 also checks the rank.
IdxArray read_idx(const std::string& path, int expected_rank = 0);

/// Parses IDX bytes already in memory; `name` is used in error messages.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name,
                   int expected_rank = 0);

}  // namespace trilemma::data
