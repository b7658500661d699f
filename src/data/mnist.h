#pragma once
#include <torch/torch.h>

#include <string>

namespace trilemma::data {

/// One split of an MNIST-style dataset, held in memory.
struct ImageDataset {
  torch::Tensor images;  ///< N×1×28×28 float32 in [0,1]
  torch::Tensor labels;  ///< N int64 in [0,9]
  int64_t size() const { return images.size(0); }
};

enum class Split { kTrain, kTest };

/// The data directory: `flag` if non-empty, else $TRILEMMA_DATA_DIR, else "data/mnist".
std::string resolve_data_dir(const std::string& flag = "");

/// Loads a split from dir ({train,t10k}-{images-idx3,labels-idx1}-ubyte, optionally .gz).
/// Throws UserError for missing or malformed files and for image/label count mismatches.
ImageDataset load_mnist(const std::string& dir, Split split);

/// Loads from explicit file paths (used by the loader above and by tests).
ImageDataset load_idx_pair(const std::string& images_path, const std::string& labels_path);

}  // namespace trilemma::data
