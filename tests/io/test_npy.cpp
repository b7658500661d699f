// Guards the .npy writer/reader pair and the reader's rejection of malformed files.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/image.h"
#include "io/npy.h"
#include "support/test_support.h"

namespace trilemma::io {
namespace {

using trilemma::testing::TempDir;

TEST(Npy, Uint8RoundTripKeepsShapeAndValues) {
  TempDir dir;
  const torch::Tensor x = torch::randint(0, 256, {5, 28, 28}, torch::kUInt8);
  save_npy(x, dir.file("a.npy"));
  const torch::Tensor y = load_npy(dir.file("a.npy"));
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(x, y));
}

TEST(Npy, HeaderIsNumpyFormatAndDataIs64ByteAligned) {
  TempDir dir;
  save_npy(torch::zeros({3}, torch::kFloat32), dir.file("b.npy"));
  std::ifstream in(dir.file("b.npy"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  EXPECT_NE(bytes.find("'shape': (3,)"), std::string::npos);
  EXPECT_EQ((bytes.size() - 12) % 64, 0u);  // header block is a multiple of 64 bytes
}

TEST(Npy, MalformedFilesAreUserErrors) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir.file(name), std::ios::binary) << bytes;
    return dir.file(name);
  };
  auto header = [](const std::string& dict) {
    std::string h = dict + "\n";
    std::string b = std::string("\x93NUMPY\x01\x00", 8);
    b.push_back(static_cast<char>(h.size()));
    b.push_back(0);
    return b + h;
  };
  EXPECT_THROW(load_npy(write("magic.npy", "hello world")), UserError);
  EXPECT_THROW(load_npy(write("dtype.npy", header("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }") + std::string(8, 0))), UserError);
  EXPECT_THROW(load_npy(write("short.npy", header("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 28, 28), }") + std::string(10, 0))), UserError);
  EXPECT_THROW(load_npy(write("fortran.npy", header("{'descr': '|u1', 'fortran_order': True, 'shape': (2,), }") + std::string(2, 0))), UserError);
  EXPECT_THROW(load_npy(dir.file("missing.npy")), UserError);
}

TEST(ImageGrid, TilesImagesWithPadding) {
  const torch::Tensor images = torch::zeros({4, 1, 3, 3});
  const torch::Tensor grid = make_grid(images, 2, 1, 1.0);
  EXPECT_EQ(grid.sizes(), torch::IntArrayRef({1, 9, 9}));  // 2·(3+1)+1
  EXPECT_EQ(grid[0][0][0].item<float>(), 1.0f);  // padding
  EXPECT_EQ(grid[0][1][1].item<float>(), 0.0f);  // first image
  const torch::Tensor u8 = to_uint8(torch::full({2, 1, 28, 28}, 0.5));
  EXPECT_EQ(u8.sizes(), torch::IntArrayRef({2, 28, 28}));
  EXPECT_EQ(u8[0][0][0].item<uint8_t>(), 128);
}

}  // namespace
}  // namespace trilemma::io
