#include "data/mnist.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "data/dataset.h"
#include "data/idx.h"

namespace trilemma::data {
namespace fs = std::filesystem;

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TRILEMMA_DATA_DIR"); env && *env) return env;
  return "data/mnist";
}

ImageDataset load_idx_pair(const std::string& images_path, const std::string& labels_path) {
  const IdxArray images = read_idx(images_path, 3);
  const IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[0] != labels.dims[0])
    throw UserError(images_path + ": holds " + std::to_string(images.dims[0]) + " images but " +
                    labels_path + " holds " + std::to_string(labels.dims[0]) + " labels");
  if (images.dims[0] == 0) throw UserError(images_path + ": holds no images");
  const int64_t n = images.dims[0], height = images.dims[1], width = images.dims[2];
  ImageDataset dataset;
  dataset.images = torch::from_blob(const_cast<uint8_t*>(images.values.data()), {n, 1, height, width},
                                    torch::kUInt8)
                       .to(torch::kFloat32)
                       .div_(255.0);
  dataset.labels =
      torch::from_blob(const_cast<uint8_t*>(labels.values.data()), {n}, torch::kUInt8)
          .to(torch::kInt64);
  return dataset;
}

ImageDataset load_mnist(const std::string& dir, Split split) {
  DatasetSpec spec;
  spec.mnist_dir = dir;
  return load_split(spec, split);
}

}  // namespace trilemma::data
