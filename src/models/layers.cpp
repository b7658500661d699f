#include "models/layers.h"

#include <cmath>

#include "core/error.h"

namespace trilemma {
namespace nn = torch::nn;

std::vector<int64_t> image_batch_shape(int64_t n, const CommonSettings& common) {
  return {n, common.image_channels, common.image_size, common.image_size};
}

torch::Tensor to_model_space(const torch::Tensor& images) { return images * 2.0 - 1.0; }
torch::Tensor to_image_space(const torch::Tensor& x) { return ((x + 1.0) * 0.5).clamp(0.0, 1.0); }

torch::nn::Sequential make_upsampling(int64_t in, int64_t out, const std::string& kind) {
  check_upsampling_kind(kind);
  if (kind == "transposed")
    return nn::Sequential(nn::ConvTranspose2d(
        nn::ConvTranspose2dOptions(in, out, 3).stride(2).padding(1).output_padding(1)));
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, 4 * out, 3).padding(1)), nn::PixelShuffle(2));
}

torch::Tensor spectrally_normalized(const torch::Tensor& weight, torch::Tensor& u, bool update) {
  const torch::Tensor matrix = weight.flatten(1);
  torch::Tensor u_now = u, v;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor w = matrix.detach().to(torch::kFloat);
    v = torch::nn::functional::normalize(torch::mv(w.t(), u_now), torch::nn::functional::NormalizeFuncOptions().dim(0));
    if (update) {
      u_now = torch::nn::functional::normalize(torch::mv(w, v), torch::nn::functional::NormalizeFuncOptions().dim(0));
      u.copy_(u_now);
      u_now = u.clone();  // the buffer may change in place before backward runs
    }
  }
  const torch::Tensor sigma = torch::dot(u_now.to(matrix.scalar_type()), torch::mv(matrix, v.to(matrix.scalar_type())));
  return weight / sigma;
}

void check_upsampling_kind(const std::string& kind) {
  if (kind != "transposed" && kind != "subpixel")
    throw UserError("--upsampling: expected transposed or subpixel, got '" + kind + "'");
}

torch::Tensor latent_plane_grid(int64_t side) {
  const torch::Tensor p = torch::linspace(0.05, 0.95, side, torch::kFloat64);
  const torch::Tensor q = (std::sqrt(2.0) * torch::erfinv(2 * p - 1)).to(torch::kFloat32);
  const torch::Tensor zy = q.flip(0).view({side, 1}).expand({side, side});
  const torch::Tensor zx = q.view({1, side}).expand({side, side});
  return torch::stack({zx.reshape(-1), zy.reshape(-1)}, 1);
}

}  // namespace trilemma
