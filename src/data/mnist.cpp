#include "data/mnist.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "data/idx.h"

namespace trilemma::data {
namespace fs = std::filesystem;

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TRILEMMA_DATA_DIR"); env && *env) return env;
  return "data/mnist";
}

namespace {

// Accepts both the plain file and the gzip-compressed one most mirrors ship.
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {stem, stem + ".gz"}) {
    const fs::path path = fs::path(dir) / candidate;
    if (fs::exists(path)) return path.string();
  }
  throw UserError((fs::path(dir) / stem).string() +
                  ": missing (run `./run data` to fetch MNIST, or pass --data-dir)");
}

}  // namespace

ImageDataset load_idx_pair(const std::string& images_path, const std::string& labels_path) {
  const IdxArray images = read_idx(images_path, 3);
  const IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[1] != 28 || images.dims[2] != 28)
    throw UserError(images_path + ": expected 28x28 images, found " +
                    std::to_string(images.dims[1]) + "x" + std::to_string(images.dims[2]));
  if (images.dims[0] != labels.dims[0])
    throw UserError(images_path + ": holds " + std::to_string(images.dims[0]) + " images but " +
                    labels_path + " holds " + std::to_string(labels.dims[0]) + " labels");
  if (images.dims[0] == 0) throw UserError(images_path + ": holds no images");
  for (uint8_t label : labels.values)
    if (label > 9)
      throw UserError(labels_path + ": label " + std::to_string(label) + " outside 0..9");
  const int64_t n = images.dims[0];
  ImageDataset dataset;
  dataset.images = torch::from_blob(const_cast<uint8_t*>(images.values.data()), {n, 1, 28, 28},
                                    torch::kUInt8)
                       .to(torch::kFloat32)
                       .div_(255.0);
  dataset.labels =
      torch::from_blob(const_cast<uint8_t*>(labels.values.data()), {n}, torch::kUInt8)
          .to(torch::kInt64);
  return dataset;
}

ImageDataset load_mnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_file(dir, prefix + "-labels-idx1-ubyte");
  return load_idx_pair(images, labels);
}

}  // namespace trilemma::data
