// Guards the .npy writer/reader pair and the reader's rejection of malformed files.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/npy_format.h"
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


// The header parser (io/npy_format.h). The regex reader it replaced read "(2, -3)" as
// (2, 3), skipped junk inside the shape, and overflowed int64 on "(2147483648, 9999999999)".
std::string npy_with_header(const std::string& dict, size_t data_bytes) {
  const std::string header = dict + "\n";
  std::string b = std::string("\x93NUMPY\x01\x00", 8);
  b.push_back(static_cast<char>(header.size() & 0xff));
  b.push_back(static_cast<char>(header.size() >> 8));
  return b + header + std::string(data_bytes, '\0');
}

std::string npy_error(const std::string& bytes) {
  try {
    parse_npy(bytes, "x.npy");
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(NpyFormat, ParsesWhatNumpyWrites) {
  const NpyLayout a = parse_npy(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }", 3 * 784 * 4), "a");
  EXPECT_EQ(a.type, NpyType::kFloat32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 28, 28}));
  EXPECT_EQ(a.data_bytes, 3u * 784 * 4);
  // Key order, double quotes, no trailing comma, Python 2 longs, a 0-d array.
  const NpyLayout b = parse_npy(npy_with_header("{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"|u1\"}", 2), "b");
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2}));
  const NpyLayout c = parse_npy(npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8), "c");
  EXPECT_TRUE(c.shape.empty());
  EXPECT_EQ(c.data_bytes, 8u);
  const NpyLayout d = parse_npy(npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 28, 28), }", 0), "d");
  EXPECT_EQ(d.data_bytes, 0u);
}

TEST(NpyFormat, EachHeaderMalformationIsAClearError) {
  auto with = [](const std::string& shape) {
    return npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': " + shape + ", }", 6);
  };
  EXPECT_NE(npy_error(with("(2, -3)")).find("x.npy: malformed shape"), std::string::npos);
  EXPECT_NE(npy_error(with("(2, x, 3)")).find("malformed shape"), std::string::npos);
  EXPECT_NE(npy_error(with("(2 3)")).find("malformed shape"), std::string::npos);
  EXPECT_NE(npy_error(with("(2147483648, 9999999999)")).find("array too large"), std::string::npos);
  EXPECT_NE(npy_error(with("(65536, 65536)")).find("array too large (over 2^31 elements)"), std::string::npos);
  EXPECT_NE(npy_error(with("(99999999999999999999999,)")).find("array too large"), std::string::npos);
  EXPECT_NE(npy_error(with("(2, 3")).find("malformed"), std::string::npos);
  EXPECT_NE(npy_error(npy_with_header("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", 6))
                .find("repeats 'descr'"), std::string::npos);
  EXPECT_NE(npy_error(npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (6,), 'x': 1}", 6))
                .find("unknown key 'x'"), std::string::npos);
  EXPECT_NE(npy_error(npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (6,), } junk", 6))
                .find("text after its dictionary"), std::string::npos);
  EXPECT_NE(npy_error(npy_with_header("{'descr': '|u1', 'fortran_order': maybe, 'shape': (6,), }", 6))
                .find("True or False"), std::string::npos);
  EXPECT_NE(npy_error(npy_with_header("{'descr': '|u1, 'fortran_order': False, 'shape': (6,), }", 6))
                .find("malformed header"), std::string::npos);
  EXPECT_NE(npy_error(npy_with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", 24))
                .find("unsupported dtype '>f4'"), std::string::npos);
  EXPECT_NE(npy_error(std::string("\x93NUMPY\x02\x00\xff\xff", 10)).find("truncated header"), std::string::npos);
  EXPECT_NE(npy_error(std::string("\x93NUMPY\x01\x00\xff\xff{", 11)).find("truncated header"), std::string::npos);
}

TEST(Npy, SaveNeverReplacesAFileThatIsNotANpy) {
  TempDir dir;
  std::ofstream(dir.file("config.json")) << "{\"precious\": true}";
  EXPECT_THROW(save_npy(torch::zeros({2}, torch::kUInt8), dir.file("config.json")), UserError);
  std::ifstream in(dir.file("config.json"));
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), "{\"precious\": true}");
  save_npy(torch::zeros({2}, torch::kUInt8), dir.file("a.npy"));
  EXPECT_NO_THROW(save_npy(torch::ones({3}, torch::kUInt8), dir.file("a.npy")));  // a .npy is replaced
  EXPECT_EQ(load_npy(dir.file("a.npy")).size(0), 3);
}

}  // namespace
}  // namespace trilemma::io
