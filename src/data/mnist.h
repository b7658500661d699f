#pragma once
#include <torch/torch.h>

#include <string>

namespace trilemma::data {

/// One split of a dataset (data/dataset.h), held in memory.
struct ImageDataset {
  torch::Tensor images;  ///< N×C×H×W float32 in [0,1] (MNIST: N×1×28×28)
  torch::Tensor labels;  ///< N int64 class indices (0 for an unlabelled dataset)
  int64_t size() const { return images.size(0); }
};

enum class Split { kTrain, kTest };

/// The data directory: `flag` if non-empty, else $TRILEMMA_DATA_DIR, else "data/mnist".
std::string resolve_data_dir(const std::string& flag = "");

/// MNIST's split from dir ({train,t10k}-{images-idx3,labels-idx1}-ubyte, optionally .gz):
/// load_split of the "mnist" dataset. Throws UserError for missing or malformed files,
/// images that are not 28×28, labels beyond 9 and image/label count mismatches.
ImageDataset load_mnist(const std::string& dir, Split split);

/// An IDX image file (N×H×W) and its label file, any size and labels (dataset.h checks
/// those against what the dataset declares). Throws UserError for malformed files and
/// count mismatches.
ImageDataset load_idx_pair(const std::string& images_path, const std::string& labels_path);

}  // namespace trilemma::data
