#pragma once
#include <torch/torch.h>

#include <string>

namespace trilemma::io {

/// Tiles N×1×H×W (or N×H×W) images in [0,1] into one 1×(rows·H+pad)×(cols·W+pad) image,
/// with `padding` pixels of `pad_value` between tiles. cols <= 0 picks ceil(sqrt(N)).
torch::Tensor make_grid(const torch::Tensor& images, int64_t cols = 0, int64_t padding = 2,
                        double pad_value = 1.0);

/// A 1×H×W or H×W grey image in [0,1] (or 3×H×W RGB) as the bytes of a PNG file, each
/// pixel repeated scale×scale times.
std::string encode_png(const torch::Tensor& image, int scale = 1);
/// Writes a 1×H×W or H×W grey image in [0,1] (or 3×H×W RGB) as PNG, scaled up by an
/// integer factor so that small digits stay visible. Throws UserError on write failure.
void save_png(const torch::Tensor& image, const std::string& path, int scale = 1);

/// make_grid + save_png in one call.
void save_image_grid(const torch::Tensor& images, const std::string& path, int64_t cols = 0,
                     int scale = 2);

/// Converts images in [0,1] to uint8 (round to nearest): grey N×1×H×W as N×H×W (MNIST:
/// N×28×28), colour as N×3×H×W.
torch::Tensor to_uint8(const torch::Tensor& images);

}  // namespace trilemma::io
