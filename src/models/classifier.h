#pragma once
// The evaluator network: an MNIST classifier trained by trilemma itself and shipped with
// it (assets/evaluator-v1.pt, compiled into the library), whose
// penultimate activations (kClassifierFeatureDim = 128 values after ReLU) are the
// embedding for the Fréchet distance, KID and PRDC, and whose posteriors feed the
// classifier score and class histograms. Inception-v3 features, made for ImageNet photos,
// say little about 28×28 digits; the field's practice on MNIST is a domain classifier with
// the extractor stated. Numbers are comparable only between evaluations with the same
// extractor (version and checksum, recorded in every eval.json) and the same N.
#include <torch/torch.h>

#include <cstdint>
#include <iosfwd>
#include <string>

#include "data/dataset.h"
#include "data/mnist.h"

namespace trilemma {

/// Name of the built-in evaluator; bump it with a new file (and its checksum below).
constexpr const char* kEvaluatorVersion = "evaluator-v1";
constexpr int64_t kClassifierFeatureDim = 128;
/// CRC-32 of assets/evaluator-v1.pt, checked when it is loaded, and its MNIST test accuracy
/// (Classifier.BuiltInEvaluatorReaches99Percent measures it again).
constexpr uint32_t kEvaluatorCrc32 = 0x2ae6b3a4;
constexpr double kEvaluatorTestAccuracy = 0.995;

/// Training recipe of the evaluator (fixed: the evaluator must be the same for everyone).
struct ClassifierSettings {
  int64_t epochs = 5;           ///< enough for > 99 % with the cosine schedule
  int64_t batch_size = 128;
  double lr = 2e-3;             ///< Adam peak learning rate, cosine-decayed to 0 per step
  double weight_decay = 0.0;
  int64_t max_shift = 2;        ///< random translation of ±max_shift pixels per image: makes
                                ///< the features less sensitive to a generator's off-centre
                                ///< digits and lifts test accuracy
  int64_t seed = 0;
};

/// What an evaluator network reads and tells apart. The defaults are MNIST's.
struct ClassifierShape {
  int64_t image_channels = 1;
  int64_t image_size = 28;  ///< a multiple of 4
  int64_t classes = 10;
};

/// Two strided conv stages (S→S/2→S/4; MNIST: 28→14→7) and a third conv at S/4, each with
/// BatchNorm and ReLU, then a 128-wide dense layer whose ReLU output is the feature vector,
/// dropout, and the K-way output. The name is historical: it classifies any dataset.
struct MnistClassifierImpl : torch::nn::Module {
  explicit MnistClassifierImpl(const ClassifierShape& shape = {});
  /// N×C×S×S in [0,1] → N×128 penultimate activations (after ReLU, before dropout).
  torch::Tensor features(const torch::Tensor& images);
  /// N×128 features → N×K logits.
  torch::Tensor logits_from_features(const torch::Tensor& features);
  /// N×C×S×S in [0,1] → N×K logits.
  torch::Tensor logits(const torch::Tensor& images);
  torch::Tensor forward(const torch::Tensor& images) { return logits(images); }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Linear dense{nullptr}, out{nullptr};
  torch::nn::BatchNorm1d bn_dense{nullptr};
  torch::nn::Dropout dropout{nullptr};
  ClassifierShape shape;
};
TORCH_MODULE(MnistClassifier);

/// Share of correctly classified images (evaluation mode, batches of 1000).
double classifier_accuracy(MnistClassifier& net, const data::ImageDataset& dataset,
                           torch::Device device);

struct ClassifierTrainResult {
  double test_accuracy = 0.0;
  int64_t steps = 0;
};

/// The recipe that made the built-in evaluator (and will make one for another dataset):
/// trains `net` from the settings' seed on `train`, reports accuracy on `test`, with
/// LibTorch's current thread count. Seed before constructing `net` for a repeatable run.
ClassifierTrainResult train_classifier(MnistClassifier& net, const data::ImageDataset& train,
                                       const data::ImageDataset& test,
                                       const ClassifierSettings& settings, torch::Device device,
                                       std::ostream& log);

/// A loaded evaluator and what identifies it.
struct Evaluator {
  MnistClassifier net{nullptr};
  torch::Device device = torch::kCPU;
  std::string name = kEvaluatorVersion;  ///< e.g. "evaluator-v1", or a trained file's name
  std::string dataset = "MNIST";         ///< the title of the dataset it was trained on
  std::vector<std::string> class_names;  ///< what its outputs mean
  double test_accuracy = 0.0;  ///< on its dataset's test split
  uint32_t crc32 = 0;          ///< checksum of the weights file: identifies the extractor
  /// Identification for reports and eval.json.
  std::string describe() const;
};

/// The built-in MNIST evaluator, on `device`. It is a file, not retrained per machine,
/// because training is not bit-reproducible across CPUs and thread counts (two machines'
/// evaluators moved the same samples' FID by ~2), and every number trilemma prints is
/// measured with it.
Evaluator load_evaluator(torch::Device device);

/// The evaluator for a dataset: `file` when given (a file `trilemma evaluator train`
/// wrote), else the dataset's built-in one (models/builtin_evaluator.h). Throws UserError
/// when there is none (telling how to train one) or when the evaluator does not fit the
/// dataset's image shape and classes.
Evaluator load_evaluator_for(const data::DatasetInfo& dataset, const ClassifierShape& images, const std::string& file,
                             torch::Device device);

/// An evaluator file: the network with its shape, name, dataset, classes and accuracy.
std::string evaluator_file_bytes(MnistClassifier& net, const std::string& name, const data::DatasetInfo& dataset,
                                 double test_accuracy, const ClassifierSettings& recipe);
/// Reads what evaluator_file_bytes wrote (`name` in errors); the CRC is the bytes'.
Evaluator evaluator_from_file_bytes(const std::string& bytes, const std::string& name, torch::Device device);

/// An evaluator from the bytes of a saved MnistClassifier, checked against `expected_crc32`;
/// throws UserError naming `name` when they do not match or do not load.
Evaluator evaluator_from_bytes(const std::string& bytes, uint32_t expected_crc32, double test_accuracy,
                               const std::string& name, torch::Device device);

/// Evaluation-mode outputs over a set of images, in batches, on the evaluator's device.
struct EvaluatorOutputs {
  torch::Tensor features;       ///< N×128 float32, CPU
  torch::Tensor probabilities;  ///< N×10 float64, CPU (softmax of the logits)
};
EvaluatorOutputs run_evaluator(Evaluator& evaluator, const torch::Tensor& images,
                               int64_t batch_size = 1000);

}  // namespace trilemma
