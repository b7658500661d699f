#pragma once
// Building blocks shared by the convolutional models.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/settings_table.h"

namespace trilemma {

/// The shape N×C×S×S of a batch of n images as the common settings describe them: what a
/// sampler's noise and a model's output have.
std::vector<int64_t> image_batch_shape(int64_t n, const CommonSettings& common);

/// A ×2 spatial upsampling from `in` to `out` channels with a 3×3 kernel:
///  - "transposed": ConvTranspose2d(k3, s2, Keras "same"), as in the article;
///  - "subpixel": Conv2d(in, 4·out, k3, pad 1) + PixelShuffle(2) (Shi et al. 2016), the
///    same output shape through oneDNN's fast convolution instead of LibTorch's slow
///    transposed-convolution backward on CPU (3-4x per layer, see the reference notes).
torch::nn::Sequential make_upsampling(int64_t in, int64_t out, const std::string& kind);

/// Diffusion models train and sample in [-1, 1] (Ho et al. 2020, section 3.3); the
/// interface's images are in [0, 1]. to_image_space clamps.
torch::Tensor to_model_space(const torch::Tensor& images);
torch::Tensor to_image_space(const torch::Tensor& x);

/// Spectral normalisation (Miyato et al. 2018): `weight` divided by σ, an estimate of the
/// largest singular value of `weight` viewed as a matrix (its first dimension × the rest).
/// σ = uᵀWv after one power iteration from the persistent unit vector `u` (first dimension
/// long), which a training call (`update`) refines in place without gradient; the gradient
/// reaches `weight` through both W and σ. The iteration runs in float32 whatever the
/// weight's type.
torch::Tensor spectrally_normalized(const torch::Tensor& weight, torch::Tensor& u, bool update);

/// Throws UserError unless kind is "transposed" or "subpixel".
void check_upsampling_kind(const std::string& kind);

/// A side×side grid over a 2-D latent plane, as side² rows of z (row-major, the top row
/// holding the largest z[1]) at standard-normal quantiles of evenly spaced probabilities
/// in [0.05, 0.95], so that equal prior mass gets equal room (Kingma & Welling 2014,
/// fig. 4). Decoded and tiled with `side` columns, it is the "latent space" figure.
torch::Tensor latent_plane_grid(int64_t side);

}  // namespace trilemma
