#include "io/gif.h"

#include <gif_lib.h>

#include <cstdio>

#include "core/error.h"

namespace trilemma::io {

void save_gif(const std::vector<torch::Tensor>& frames, const std::string& path, int delay_cs) {
  if (frames.empty()) return;
  auto fail = [&](const std::string& what) { throw UserError(path + ": GIF write failed (" + what + ")"); };
  const std::string temp = path + ".tmp";
  int error = 0;
  GifFileType* gif = EGifOpenFileName(temp.c_str(), false, &error);
  if (!gif) fail(GifErrorString(error));
  const torch::Tensor first = frames.front().squeeze();
  const int h = static_cast<int>(first.size(0)), w = static_cast<int>(first.size(1));
  GifColorType colors[256];
  for (int i = 0; i < 256; ++i) colors[i].Red = colors[i].Green = colors[i].Blue = static_cast<GifByteType>(i);
  ColorMapObject* map = GifMakeMapObject(256, colors);
  bool ok = EGifPutScreenDesc(gif, w, h, 8, 0, map) == GIF_OK;
  // NETSCAPE2.0 application extension: loop forever.
  const unsigned char loop[] = {1, 0, 0};
  ok = ok && EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
       EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_OK &&
       EGifPutExtensionBlock(gif, 3, loop) == GIF_OK && EGifPutExtensionTrailer(gif) == GIF_OK;
  for (const torch::Tensor& frame : frames) {
    if (!ok) break;
    const torch::Tensor pixels =
        frame.squeeze().to(torch::kCPU, torch::kFloat32).clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous();
    if (pixels.size(0) != h || pixels.size(1) != w) fail("frames differ in size");
    GraphicsControlBlock control{};
    control.DelayTime = delay_cs;
    control.TransparentColor = NO_TRANSPARENT_COLOR;
    GifByteType extension[4];
    const size_t length = EGifGCBToExtension(&control, extension);
    ok = EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(length), extension) == GIF_OK &&
         EGifPutImageDesc(gif, 0, 0, w, h, false, nullptr) == GIF_OK;
    const uint8_t* data = pixels.data_ptr<uint8_t>();
    for (int y = 0; ok && y < h; ++y)
      ok = EGifPutLine(gif, const_cast<GifPixelType*>(data + y * w), w) == GIF_OK;
  }
  GifFreeMapObject(map);
  if (EGifCloseFile(gif, &error) != GIF_OK) ok = false;
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    fail("disk full or no permission?");
  }
}

}  // namespace trilemma::io
