// Guards the IDX reader: real MNIST layout parses, and every malformation is a UserError
// that names the file (never a crash, never silent garbage).
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/idx.h"
#include "data/mnist.h"
#include "support/test_support.h"

namespace trilemma::data {
namespace {

using trilemma::testing::TempDir;

std::vector<uint8_t> idx_bytes(uint8_t dtype, std::vector<uint32_t> dims, size_t data_bytes) {
  std::vector<uint8_t> b = {0, 0, dtype, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(d >> shift));
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i % 251));
  return b;
}

void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::string error_of(const std::vector<uint8_t>& bytes, int rank = 0) {
  try {
    parse_idx(bytes, "file.idx", rank);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(IdxReader, ParsesDimsAndValues) {
  const IdxArray a = parse_idx(idx_bytes(0x08, {2, 3, 4}, 24), "x");
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 4}));
  ASSERT_EQ(a.values.size(), 24u);
  EXPECT_EQ(a.values[23], 23);
}

TEST(IdxReader, EachMalformationIsAClearError) {
  EXPECT_NE(error_of({0, 0}).find("file.idx: not an IDX file"), std::string::npos);
  EXPECT_NE(error_of({1, 0, 8, 1, 0, 0, 0, 0}).find("bad magic"), std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x0D, {4}, 16)).find("unsupported IDX data type"), std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x08, {}, 0)).find("unsupported IDX rank 0"), std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x08, {2, 2}, 4), 3).find("expected 3 dimensions"), std::string::npos);
  auto truncated_header = idx_bytes(0x08, {2, 2}, 0);
  truncated_header.resize(9);
  EXPECT_NE(error_of(truncated_header).find("truncated header"), std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x08, {10, 28, 28}, 100)).find("truncated: header declares 7840"),
            std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x08, {2}, 5)).find("3 unexpected trailing bytes"), std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x08, {0xFFFFFFFF, 0xFFFFFFFF}, 0)).find("more than 1 GiB"),
            std::string::npos);
  EXPECT_NE(error_of(idx_bytes(0x08, {3, 0}, 0)).find("dimension 1 is zero"), std::string::npos);
}

TEST(IdxReader, ReadsPlainAndGzipFilesAndNamesMissingOnes) {
  TempDir dir;
  const auto bytes = idx_bytes(0x08, {3, 28, 28}, 3 * 784);
  write(dir.file("plain"), bytes);
  write_gz(dir.file("packed.gz"), bytes);
  EXPECT_EQ(read_idx(dir.file("plain")).values, read_idx(dir.file("packed.gz")).values);
  try {
    read_idx(dir.file("absent"));
    FAIL() << "no error for a missing file";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("absent") + ": cannot open"), std::string::npos);
  }
}

TEST(MnistLoader, RejectsCountMismatchWrongSizeAndBadLabels) {
  TempDir dir;
  write(dir.file("images"), idx_bytes(0x08, {3, 28, 28}, 3 * 784));
  write(dir.file("labels2"), idx_bytes(0x08, {2}, 2));
  write(dir.file("labels3"), idx_bytes(0x08, {3}, 3));
  write(dir.file("small"), idx_bytes(0x08, {3, 14, 14}, 3 * 196));
  std::vector<uint8_t> bad_labels = idx_bytes(0x08, {3}, 0);
  bad_labels.insert(bad_labels.end(), {1, 12, 3});
  write(dir.file("badlabels"), bad_labels);

  EXPECT_THROW(load_idx_pair(dir.file("images"), dir.file("labels2")), UserError);
  // 14×14 images and a label 12 make a valid IDX pair (another dataset may have them), but
  // not MNIST: its loader refuses them.
  EXPECT_EQ(load_idx_pair(dir.file("small"), dir.file("labels3")).images.sizes(), torch::IntArrayRef({3, 1, 14, 14}));
  EXPECT_EQ(load_idx_pair(dir.file("images"), dir.file("badlabels")).labels[1].item<int64_t>(), 12);
  const auto as_mnist = [&](const std::string& images, const std::string& labels) {
    const std::string mnist = dir.file("mnist-" + images + "-" + labels);
    std::filesystem::create_directories(mnist);
    std::filesystem::copy_file(dir.file(images), mnist + "/train-images-idx3-ubyte");
    std::filesystem::copy_file(dir.file(labels), mnist + "/train-labels-idx1-ubyte");
    return mnist;
  };
  EXPECT_THROW(load_mnist(as_mnist("small", "labels3"), Split::kTrain), UserError);
  EXPECT_THROW(load_mnist(as_mnist("images", "badlabels"), Split::kTrain), UserError);
  const ImageDataset ok = load_idx_pair(dir.file("images"), dir.file("labels3"));
  EXPECT_EQ(ok.images.sizes(), torch::IntArrayRef({3, 1, 28, 28}));
  EXPECT_LE(ok.images.max().item<float>(), 1.0f);
  EXPECT_EQ(ok.labels.dtype(), torch::kInt64);
}

TEST(MnistLoader, LoadsRealMnistTestSplit) {
  const std::string dir = trilemma::testing::mnist_dir();
  if (dir.empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  const ImageDataset test = load_mnist(dir, Split::kTest);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(test.labels[0].item<int64_t>(), 7);  // the famous first test digit
  // Every class is present, roughly 1,000 each.
  const torch::Tensor counts = torch::bincount(test.labels, {}, 10);
  EXPECT_GT(counts.min().item<int64_t>(), 800);
}

}  // namespace
}  // namespace trilemma::data
