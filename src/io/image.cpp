#include "io/image.h"

#include <cmath>

#include "core/error.h"
#include "core/files.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>

namespace trilemma::io {

torch::Tensor make_grid(const torch::Tensor& images, int64_t cols, int64_t padding,
                        double pad_value) {
  torch::Tensor batch = images.detach().to(torch::kCPU, torch::kFloat32);
  if (batch.dim() == 3) batch = batch.unsqueeze(1);
  TORCH_CHECK(batch.dim() == 4, "make_grid expects N×C×H×W images");
  const int64_t n = batch.size(0), channels = batch.size(1), h = batch.size(2), w = batch.size(3);
  if (cols <= 0) cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  cols = std::max<int64_t>(1, std::min(cols, std::max<int64_t>(n, 1)));
  const int64_t rows = (n + cols - 1) / cols;
  torch::Tensor grid = torch::full({channels, rows * (h + padding) + padding,
                                    cols * (w + padding) + padding},
                                   pad_value);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, c = i % cols;
    grid.narrow(1, padding + r * (h + padding), h)
        .narrow(2, padding + c * (w + padding), w)
        .copy_(batch[i]);
  }
  return grid;
}

namespace {
void append_to_string(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}
}  // namespace

std::string encode_png(const torch::Tensor& image, int scale) {
  torch::Tensor img = image.detach().to(torch::kCPU, torch::kFloat32);
  if (img.dim() == 2) img = img.unsqueeze(0);
  TORCH_CHECK(img.dim() == 3 && (img.size(0) == 1 || img.size(0) == 3),
              "encode_png expects 1×H×W or 3×H×W");
  if (scale > 1)
    img = img.repeat_interleave(scale, 1).repeat_interleave(scale, 2);
  const int channels = static_cast<int>(img.size(0));
  const int h = static_cast<int>(img.size(1)), w = static_cast<int>(img.size(2));
  torch::Tensor pixels = img.clamp(0, 1).mul(255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  std::string bytes;
  if (!stbi_write_png_to_func(append_to_string, &bytes, w, h, channels, pixels.data_ptr<uint8_t>(),
                              w * channels))
    throw UserError("PNG encoding failed");
  return bytes;
}

void save_png(const torch::Tensor& image, const std::string& path, int scale) {
  write_file_atomic(path, encode_png(image, scale));
}

void save_image_grid(const torch::Tensor& images, const std::string& path, int64_t cols,
                     int scale) {
  save_png(make_grid(images, cols), path, scale);
}

torch::Tensor to_uint8(const torch::Tensor& images) {
  torch::Tensor x = images.detach().to(torch::kCPU, torch::kFloat32);
  if (x.dim() == 4 && x.size(1) == 1) x = x.squeeze(1);  // grey: N×H×W, as MNIST's files
  return x.clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous();
}

}  // namespace trilemma::io
