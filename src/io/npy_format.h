#pragma once
// The .npy container (NumPy format 1.0, 2.0, 3.0) parsed without LibTorch: the reader's
// only untrusted-input code, kept free of Torch so that its fuzz target builds in seconds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trilemma::io {

enum class NpyType { kUInt8, kFloat32, kFloat64 };

struct NpyLayout {
  NpyType type = NpyType::kUInt8;
  size_t element_size = 1;     ///< bytes per element
  std::vector<int64_t> shape;  ///< empty for a 0-d array
  size_t data_offset = 0;      ///< where the array's bytes start in the file
  size_t data_bytes = 0;       ///< product(shape) * element_size; the file holds exactly this
};

/// Parses and validates a whole .npy file held in memory: magic, version, the header
/// dictionary ('descr', 'fortran_order', 'shape', nothing else), and that the data that
/// follows has exactly the size the header declares. Only little-endian uint8, float32
/// and float64 in C order are accepted. Throws UserError "<name>: <problem>".
NpyLayout parse_npy(const std::string& bytes, const std::string& name);

}  // namespace trilemma::io
