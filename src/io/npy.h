#pragma once
// NumPy .npy files (format 1.0/2.0), so that samples move to and from Python unchanged.
#include <torch/torch.h>

#include <string>

namespace trilemma::io {

/// Writes a contiguous uint8 or float32 CPU tensor as .npy (atomically: temp + rename).
void save_npy(const torch::Tensor& tensor, const std::string& path);

/// Reads a .npy of dtype uint8 (|u1), float32 (<f4) or float64 (<f8), C order.
/// Throws UserError naming the file for any malformed header or size mismatch.
torch::Tensor load_npy(const std::string& path);

}  // namespace trilemma::io
