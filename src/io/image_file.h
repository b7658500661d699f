#pragma once
// Reading image files (PNG, JPEG, BMP, GIF's first frame, ... through Debian's stb_image),
// for datasets made of a folder of images. Writing is io/image.h's.
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace trilemma::io {

/// What an image file holds, read from its header only.
struct ImageFileHeader {
  int64_t width = 0, height = 0;
  int64_t channels = 0;  ///< 1 = grey, 3 = colour (an alpha channel is not counted)
};

/// Throws UserError naming the file when it is missing or not a readable image.
ImageFileHeader read_image_header(const std::string& path);

/// The image as C×H×W float32 in [0,1], C as the header says (alpha dropped). Throws
/// UserError naming the file when it cannot be decoded.
torch::Tensor read_image_file(const std::string& path);

}  // namespace trilemma::io
