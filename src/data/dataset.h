#pragma once
// Which images a run learns from. A dataset is named on the command line (`--dataset`):
//   mnist            LeCun's digits, from --data-dir / $TRILEMMA_DATA_DIR / data/mnist
//   fashion-mnist    Zalando's clothing, from Debian's dataset-fashion-mnist package
//   DIR (IDX)        a directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//   DIR (images)     PNG/JPEG files, one sub-directory per class (or none: unlabelled),
//                    optionally split into DIR/train and DIR/test
// and loaded as N×C×S×S float images in [0,1] with int64 labels, resized and converted to
// the shape the model asks for. A new named dataset is one line in dataset.cpp's table.
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/mnist.h"

namespace trilemma::data {

/// How images are shaped for a model: 0 = as stored.
struct ImageFormat {
  int64_t size = 0;      ///< side of the square images (centre-cropped, then resized)
  int64_t channels = 0;  ///< 1 = grey, 3 = RGB
};

/// What a dataset is, without its pixels: enough to build a model for it and to name it.
struct DatasetInfo {
  std::string name;       ///< "mnist", "fashion-mnist", or the directory as given
  std::string title;      ///< for reports: "MNIST", "Fashion-MNIST", the directory's name
  std::string kind;       ///< "idx" or "images"
  std::string directory;  ///< where the files are read from
  int64_t image_size = 0;      ///< as stored (a folder of mixed sizes: 0)
  int64_t image_channels = 0;  ///< as stored
  std::vector<std::string> class_names;  ///< empty: unlabelled
  int64_t train_images = 0, test_images = 0;
  std::string size_problem;  ///< a folder without one square size: the first file that differs
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  nlohmann::json to_json() const;
};

/// The dataset a run, an evaluation or a study reads: `name` as --dataset takes it, MNIST's
/// directory (--data-dir, which only "mnist" uses), and the shape the images are given.
struct DatasetSpec {
  std::string name = "mnist";
  std::string mnist_dir;
  ImageFormat format;
  /// A run's dataset: config.json's "dataset" record (runs from before datasets existed:
  /// MNIST), shaped as its settings' image_size and image_channels, with this invocation's
  /// MNIST directory.
  static DatasetSpec of_run(const nlohmann::json& record, const nlohmann::json& settings,
                            const std::string& mnist_dir);
};

/// The named datasets, comma-separated ("mnist, fashion-mnist").
std::string dataset_names();

/// Reads a dataset's description (the whole folder is scanned for an image folder, but
/// not decoded). Throws UserError with one line naming the file for anything malformed.
DatasetInfo describe_dataset(const DatasetSpec& spec);

/// One split, shaped by spec.format. Throws UserError naming the file for anything malformed.
ImageDataset load_split(const DatasetSpec& spec, Split split);

/// spec.format with its unset fields (0) filled from the dataset as stored; a folder of
/// mixed sizes has no size to fill in (UserError: give --image-size).
ImageFormat resolved_format(const DatasetSpec& spec, const DatasetInfo& info);
/// The same without a DatasetInfo: a named dataset's shape is known without reading a file
/// (so that e.g. a bad samples file is named before missing data); a directory is described.
ImageFormat resolved_format(const DatasetSpec& spec);

/// Centre-crops N×C×H×W images to a square and resizes them to format.size (area-averaged
/// when shrinking, bilinear when enlarging), and converts grey↔RGB to format.channels.
torch::Tensor reshape_images(const torch::Tensor& images, const ImageFormat& format);

/// Where results computed from a dataset (the evaluator's reference rows) are cached: the
/// MNIST directory for MNIST (as before datasets existed); else
/// $TRILEMMA_CACHE_DIR, $XDG_CACHE_HOME/trilemma or ~/.cache/trilemma, per dataset.
std::string dataset_cache_dir(const DatasetSpec& spec);

}  // namespace trilemma::data
