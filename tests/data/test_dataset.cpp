// Datasets other than MNIST: Fashion-MNIST from Debian's package, an IDX directory of any
// size and class count, and a folder of images; each malformed input a one-line UserError
// naming the file; reshaping against hand-computed pixels; evaluator files round-tripped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "data/dataset.h"
#include "io/image.h"
#include "models/classifier.h"
#include "support/test_support.h"

namespace trilemma::data {
namespace {

namespace fs = std::filesystem;
using trilemma::testing::TempDir;

// A w×h PNG whose pixels are `value` (grey) or (value, 0, 255 − value) (colour).
void write_png(const fs::path& path, int64_t w, int64_t h, int channels, double value = 0.5) {
  fs::create_directories(path.parent_path());
  torch::Tensor image = torch::full({channels, h, w}, value);
  if (channels == 3) {
    image[1].fill_(0.0);
    image[2].fill_(1.0 - value);
  }
  write_file_atomic(path.string(), io::encode_png(image));
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

DatasetSpec spec_of(const fs::path& dir, ImageFormat format = {}) {
  DatasetSpec spec;
  spec.name = dir.string();
  spec.format = format;
  return spec;
}

// Three classes of 12×12 images; class "b" has 20 images, so 2 are held out.
void write_folder(const fs::path& root) {
  for (int i = 0; i < 10; ++i) write_png(root / "a" / ("a" + std::to_string(i) + ".png"), 12, 12, 1, 0.25);
  for (int i = 0; i < 20; ++i) write_png(root / "b" / ("b" + std::to_string(i) + ".png"), 12, 12, 3, 1.0);
  for (int i = 0; i < 5; ++i) write_png(root / "c" / ("c" + std::to_string(i) + ".PNG"), 12, 12, 1, 0.75);
}

TEST(Dataset, FolderOfClassFoldersIsDescribedAndSplitReproducibly) {
  TempDir dir;
  write_folder(dir.path());
  const DatasetInfo info = describe_dataset(spec_of(dir.path()));
  EXPECT_EQ(info.kind, "images");
  EXPECT_EQ(info.class_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(info.image_size, 12);
  EXPECT_EQ(info.image_channels, 3);  // class b is colour
  // A tenth of each class (at least one) held out: 1 + 2 + 1.
  EXPECT_EQ(info.test_images, 4);
  EXPECT_EQ(info.train_images, 31);

  const ImageDataset train = load_split(spec_of(dir.path()), Split::kTrain);
  const ImageDataset test = load_split(spec_of(dir.path()), Split::kTest);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{31, 3, 12, 12}));
  EXPECT_TRUE(torch::equal(test.labels.bincount(), torch::tensor({1, 2, 1}, torch::kInt64)));
  // Grey images become RGB by repetition: class a's 0.25 (64/255 after PNG rounding) in all three.
  const torch::Tensor a = train.images[train.labels.eq(0).nonzero()[0][0].item<int64_t>()];
  EXPECT_NEAR(a[0][5][5].item<double>(), 64.0 / 255, 1e-6);
  EXPECT_NEAR(a[2][5][5].item<double>(), 64.0 / 255, 1e-6);
  // The same split again: it depends on the file names only.
  EXPECT_TRUE(torch::equal(load_split(spec_of(dir.path()), Split::kTest).images, test.images));
}

TEST(Dataset, FolderImagesAreResizedAndConvertedToTheRequestedShape) {
  TempDir dir;
  write_folder(dir.path());
  const ImageDataset grey = load_split(spec_of(dir.path(), {8, 1}), Split::kTrain);
  EXPECT_EQ(grey.images.sizes(), (std::vector<int64_t>{31, 1, 8, 8}));
  // Class b's colour (1, 0, 0) becomes its luma 0.299 (uniform images keep their value when resized).
  const torch::Tensor b = grey.images.index_select(0, grey.labels.eq(1).nonzero().view(-1));
  EXPECT_NEAR(b.min().item<double>(), 0.299, 1e-5);
  EXPECT_NEAR(b.max().item<double>(), 0.299, 1e-5);
}

TEST(Dataset, ReshapeMatchesHandComputedPixels) {
  // 1×1×4×4 with values 0..15: area-shrinking to 2×2 averages each 2×2 block.
  const torch::Tensor x = torch::arange(16, torch::kFloat32).view({1, 1, 4, 4}) / 15.0;
  const torch::Tensor small = reshape_images(x, {2, 1});
  const std::vector<float> expected = {2.5f / 15, 4.5f / 15, 10.5f / 15, 12.5f / 15};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(small.view(-1)[i].item<float>(), expected[i], 1e-6);
  // A 4×6 image is centre-cropped to its middle 4×4 before resizing.
  const torch::Tensor wide = torch::arange(24, torch::kFloat32).view({1, 1, 4, 6}) / 23.0;
  EXPECT_TRUE(torch::allclose(reshape_images(wide, {4, 1}), wide.narrow(3, 1, 4)));
  // Grey → RGB repeats; RGB → grey is the BT.601 luma.
  EXPECT_EQ(reshape_images(x, {0, 3}).sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  const torch::Tensor rgb = torch::stack({torch::full({2, 2}, 1.0), torch::full({2, 2}, 0.5), torch::zeros({2, 2})})
                                .unsqueeze(0);
  EXPECT_NEAR(reshape_images(rgb, {0, 1})[0][0][0][0].item<double>(), 0.299 + 0.587 * 0.5, 1e-6);
  // The same shape is left exactly as it is (MNIST runs see the bytes they always saw).
  EXPECT_TRUE(torch::equal(reshape_images(x, {4, 1}), x));
}

TEST(Dataset, UnlabelledFolderHasNoClasses) {
  TempDir dir;
  for (int i = 0; i < 10; ++i) write_png(dir.path() / ("img" + std::to_string(i) + ".png"), 8, 8, 1);
  const DatasetInfo info = describe_dataset(spec_of(dir.path()));
  EXPECT_EQ(info.num_classes(), 0);
  EXPECT_EQ(info.test_images, 1);
  EXPECT_EQ(load_split(spec_of(dir.path()), Split::kTrain).labels.sum().item<int64_t>(), 0);
}

TEST(Dataset, TrainAndTestFoldersAreUsedAsGiven) {
  TempDir dir;
  for (int i = 0; i < 3; ++i) {
    write_png(dir.path() / "train" / "x" / (std::to_string(i) + ".png"), 8, 8, 1);
    write_png(dir.path() / "train" / "y" / (std::to_string(i) + ".png"), 8, 8, 1);
  }
  write_png(dir.path() / "test" / "x" / "0.png", 8, 8, 1);
  write_png(dir.path() / "test" / "y" / "0.png", 8, 8, 1);
  const DatasetInfo info = describe_dataset(spec_of(dir.path()));
  EXPECT_EQ(info.train_images, 6);
  EXPECT_EQ(info.test_images, 2);
  EXPECT_EQ(info.class_names, (std::vector<std::string>{"x", "y"}));
}

TEST(Dataset, MalformedFoldersAreOneLineNamingTheFile) {
  struct Case {
    std::string name;
    std::function<void(const fs::path&)> make;
    std::string names_file, says;
    ImageFormat format;
  };
  const std::vector<Case> cases = {
      {"mixed sizes",
       [](const fs::path& d) {
         write_folder(d);
         write_png(d / "b" / "zz-big.png", 16, 16, 3);
       },
       "zz-big.png", "mixed sizes"},
      {"not square",
       [](const fs::path& d) { for (int i = 0; i < 3; ++i) write_png(d / "a" / (std::to_string(i) + ".png"), 12, 10, 1); },
       ".png", "not square"},
      {"unreadable image",
       [](const fs::path& d) {
         write_folder(d);
         write_file_atomic((d / "a" / "broken.png").string(), "not a png at all");
       },
       "broken.png", "not a readable image", ImageFormat{8, 1}},
      {"empty class",
       [](const fs::path& d) {
         write_folder(d);
         fs::create_directories(d / "empty");
       },
       "empty", "an empty class"},
      {"image beside class folders",
       [](const fs::path& d) {
         write_folder(d);
         write_png(d / "stray.png", 12, 12, 1);
       },
       "stray.png", "beside class folders"},
      {"train without test",
       [](const fs::path& d) { write_png(d / "train" / "a" / "0.png", 8, 8, 1); }, "test", "missing"},
      {"no images", [](const fs::path& d) { write_file_atomic((d / "notes.txt").string(), "hi"); }, "", "holds no images"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    c.make(dir.path());
    const std::string error = error_of([&] {
      const DatasetSpec spec = spec_of(dir.path(), c.format);
      describe_dataset(spec);
      load_split(spec, Split::kTrain);
      load_split(spec, Split::kTest);
    });
    EXPECT_NE(error.find(c.says), std::string::npos) << c.name << ": " << error;
    EXPECT_NE(error.find(c.names_file), std::string::npos) << c.name << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << c.name;
  }
  EXPECT_NE(error_of([] { describe_dataset(spec_of("/no/such/dataset")); }).find("neither a named dataset"),
            std::string::npos);
}

// An IDX pair of n images of side×side with labels i % classes.
void write_idx(const fs::path& dir, const std::string& prefix, int64_t n, int64_t side, int64_t classes) {
  std::string images = {0, 0, 8, 3};
  std::string labels = {0, 0, 8, 1};
  auto be32 = [](std::string& s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  be32(images, n), be32(images, side), be32(images, side), be32(labels, n);
  for (int64_t i = 0; i < n; ++i) {
    images += std::string(side * side, static_cast<char>(i));
    labels.push_back(static_cast<char>(i % classes));
  }
  write_file_atomic((dir / (prefix + "-images-idx3-ubyte")).string(), images);
  write_file_atomic((dir / (prefix + "-labels-idx1-ubyte")).string(), labels);
}

TEST(Dataset, IdxDirectoryOfAnySizeAndClassCount) {
  TempDir dir;
  write_idx(dir.path(), "train", 20, 16, 5);
  write_idx(dir.path(), "t10k", 10, 16, 5);
  const DatasetInfo info = describe_dataset(spec_of(dir.path()));
  EXPECT_EQ(info.kind, "idx");
  EXPECT_EQ(info.image_size, 16);
  EXPECT_EQ(info.num_classes(), 5);
  EXPECT_EQ(info.class_names.back(), "4");
  const ImageDataset train = load_split(spec_of(dir.path(), {8, 3}), Split::kTrain);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{20, 3, 8, 8}));
  EXPECT_NEAR(train.images[3].mean().item<double>(), 3.0 / 255, 1e-6);  // uniform image 3 stays 3/255

  // classes.txt declares 3 classes: label 4 is beyond them.
  write_file_atomic((dir.path() / "classes.txt").string(), "zero\none\ntwo\n");
  const std::string error = error_of([&] { load_split(spec_of(dir.path()), Split::kTrain); });
  EXPECT_NE(error.find("train-labels-idx1-ubyte: label 4 beyond the 3 classes"), std::string::npos) << error;

  // Without it, test labels must be classes the training split has.
  fs::remove(dir.path() / "classes.txt");
  write_idx(dir.path(), "t10k", 10, 16, 7);
  EXPECT_NE(error_of([&] { load_split(spec_of(dir.path()), Split::kTest); }).find("t10k-labels-idx1-ubyte: label 6"),
            std::string::npos);
}

TEST(Dataset, FashionMnistFromDebiansPackage) {
  DatasetSpec spec;
  spec.name = "fashion-mnist";
  const DatasetInfo info = describe_dataset(spec);  // ./run installs dataset-fashion-mnist
  EXPECT_EQ(info.title, "Fashion-MNIST");
  EXPECT_EQ(info.train_images, 60000);
  EXPECT_EQ(info.test_images, 10000);
  EXPECT_EQ(info.image_size, 28);
  ASSERT_EQ(info.num_classes(), 10);
  EXPECT_EQ(info.class_names[9], "Ankle boot");
  const ImageDataset test = load_split(spec, Split::kTest);
  // Fashion-MNIST's test split holds 1,000 of each class.
  EXPECT_TRUE(torch::equal(test.labels.bincount(), torch::full({10}, 1000, torch::kInt64)));
}

TEST(Evaluator, FileRoundTripsWithItsShapeAndRefusesMismatches) {
  TempDir dir;
  DatasetInfo info;
  info.name = dir.path().string();
  info.title = "colours";
  info.class_names = {"red", "green", "blue", "grey"};
  torch::manual_seed(0);
  MnistClassifier net(ClassifierShape{3, 16, 4});
  const std::string bytes = evaluator_file_bytes(net, "colours-eval", info, 0.75, ClassifierSettings{});
  write_file_atomic(dir.file("e.pt"), bytes);
  Evaluator evaluator = evaluator_from_file_bytes(bytes, "e.pt", torch::kCPU);
  EXPECT_EQ(evaluator.name, "colours-eval");
  EXPECT_EQ(evaluator.class_names, info.class_names);
  EXPECT_EQ(evaluator.crc32, crc32_of(bytes));
  EXPECT_NE(evaluator.describe().find("colours CNN"), std::string::npos);
  const torch::Tensor images = torch::rand({5, 3, 16, 16});
  net->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(run_evaluator(evaluator, images).features, net->features(images)));

  const ClassifierShape shape{3, 16, 0};
  EXPECT_EQ(load_evaluator_for(info, shape, dir.file("e.pt"), torch::kCPU).crc32, crc32_of(bytes));
  EXPECT_NE(error_of([&] { load_evaluator_for(info, {1, 16, 0}, dir.file("e.pt"), torch::kCPU); })
                .find("reads 3×16×16 images, the samples are 1×16×16"),
            std::string::npos);
  DatasetInfo other = info;
  other.title = "shapes";
  other.class_names = {"a", "b"};
  EXPECT_NE(error_of([&] { load_evaluator_for(other, shape, dir.file("e.pt"), torch::kCPU); })
                .find("tells apart the classes of colours"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_evaluator_for(info, shape, "", torch::kCPU); }).find("trilemma evaluator train"),
            std::string::npos);
  // The built-in MNIST evaluator is no evaluator file.
  EXPECT_NE(error_of([&] { evaluator_from_file_bytes(read_file(std::string(TRILEMMA_SOURCE_DIR) +
                                                               "/assets/evaluator-v1.pt"),
                                                     "v1", torch::kCPU); })
                .find("not an evaluator file"),
            std::string::npos);
}

}  // namespace
}  // namespace trilemma::data
