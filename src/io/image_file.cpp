#include "io/image_file.h"

#include "core/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>

namespace trilemma::io {
namespace {

// Grey+alpha counts as grey and RGBA as colour: trilemma's images have no transparency.
int64_t colour_channels(int components) { return components >= 3 ? 3 : 1; }

}  // namespace

ImageFileHeader read_image_header(const std::string& path) {
  int width = 0, height = 0, components = 0;
  if (!stbi_info(path.c_str(), &width, &height, &components))
    throw UserError(path + ": not a readable image (" + stbi_failure_reason() + ")");
  return {width, height, colour_channels(components)};
}

torch::Tensor read_image_file(const std::string& path) {
  int width = 0, height = 0, components = 0;
  const ImageFileHeader header = read_image_header(path);
  const int wanted = static_cast<int>(header.channels);
  stbi_uc* pixels = stbi_load(path.c_str(), &width, &height, &components, wanted);
  if (pixels == nullptr) throw UserError(path + ": cannot decode the image (" + stbi_failure_reason() + ")");
  const torch::Tensor image = torch::from_blob(pixels, {height, width, wanted}, torch::kUInt8)
                                  .permute({2, 0, 1})
                                  .to(torch::kFloat32)
                                  .div_(255.0)
                                  .contiguous();
  stbi_image_free(pixels);
  return image;
}

}  // namespace trilemma::io
