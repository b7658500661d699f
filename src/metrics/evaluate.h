#pragma once
// The evaluation protocol: N generated images (default 10,000) against the 10,000 MNIST
// test images, all distances measured on the evaluator classifier's 128-d features. The
// same protocol applied to real data gives the reference rows that give the numbers a
// scale: 10,000 training images (the floor a perfect model would reach at this N) and the
// test images of a single digit (what total mode collapse looks like).
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "data/dataset.h"
#include "data/mnist.h"
#include "metrics/frechet.h"
#include "metrics/kid.h"
#include "metrics/prdc.h"
#include "models/classifier.h"

namespace trilemma::metrics {

using Json = nlohmann::json;

/// Every knob of the protocol; numbers are comparable only when all of these match.
struct EvalProtocol {
  int64_t n = 10000;               ///< generated (or reference) images per evaluation
  uint64_t seed = 0;               ///< sampling noise, KID subsets, reference subsets
  KidOptions kid;                  ///< 100 subsets of min(1000, n)
  PrdcOptions prdc;                ///< k = 3 (precision/recall), k = 5 (density/coverage)
  int64_t score_splits = 10;       ///< classifier-score splits
  int64_t reference_digit = 1;     ///< the single-digit (mode collapse) reference row
  Json to_json() const;
};

/// The real side of every comparison: the test set's features and statistics.
struct RealReference {
  torch::Tensor features;  ///< N×128 float32
  FeatureStats stats;
  torch::Tensor labels;    ///< N int64, for the per-class comparisons of conditional models
};

/// Every quality and coverage metric of one generated set, from its features and
/// posteriors against the real reference. Pure: no network, no I/O. Keys: n, fid,
/// kid_mean, kid_std, precision, recall, density, coverage, classifier_score,
/// classifier_score_std, class_histogram, class_shares, classes_covered, entropy,
/// kl_uniform, mean_confidence.
Json evaluate_features(const RealReference& real, const torch::Tensor& fake_features,
                       const torch::Tensor& fake_probabilities, const EvalProtocol& protocol);

/// Conditional generation, given the class each image was asked for (`requested`, N int64
/// in 0..num_classes-1): how often the evaluator classifies an image as its requested
/// class, overall and per class, and each class's Fréchet distance to the real images of
/// that class (real.labels). Keys: conditional_accuracy, per_class_accuracy, per_class_fid,
/// per_class_n (lists of num_classes; null where a class has fewer than 2 images on either
/// side), mean_per_class_fid (over the classes that have one).
Json evaluate_conditional(const RealReference& real, const torch::Tensor& fake_features,
                          const torch::Tensor& fake_probabilities, const torch::Tensor& requested,
                          int64_t num_classes);

/// Runs the evaluator on the test images.
RealReference make_real_reference(Evaluator& evaluator, const data::ImageDataset& test);

/// Runs the evaluator on N×C×S×S images in [0,1] and evaluates them; adds "extractor".
/// With `requested` labels (a conditional model's), also adds "conditional", the result of
/// evaluate_conditional over num_classes classes.
Json evaluate_images(Evaluator& evaluator, const RealReference& real, const torch::Tensor& images,
                     const EvalProtocol& protocol, const torch::Tensor& requested = {},
                     int64_t num_classes = 0);

/// The reference rows, each an evaluate_images result with a "label": real data at the
/// floor ("train": N training images) and the common failure modes, so that a model's
/// numbers are read against known faults: the same training images blurred ("blur",
/// Gaussian σ = 1 pixel) or with Gaussian pixel noise ("noise_16", "noise_64": σ = 16 or
/// 64 of 255), and the test images of two classes or of one ("two_digits": classes 0 and
/// 1, "single_digit": the protocol's class; not for a dataset with fewer classes). The
/// keys say "digit" for history: on another dataset they are its classes. Cached in
/// data::dataset_cache_dir/<evaluator name>-reference.json, keyed by the extractor's
/// checksum, the protocol, the rows' version and (other than MNIST) the dataset, since each
/// costs as much as one evaluation.
Json reference_rows(Evaluator& evaluator, const RealReference& real, const data::DatasetSpec& dataset,
                    const data::DatasetInfo& info, const EvalProtocol& protocol, std::ostream& log);
/// The perturbations of the failure-mode rows (images N×C×H×W in [0,1]; noise drawn from
/// `seed`), exposed for their tests.
torch::Tensor add_pixel_noise(const torch::Tensor& images, double sigma_of_255, uint64_t seed);
torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma_pixels);

/// Turns loaded images into N×C×S×S float32 in [0,1] of the given shape (default MNIST's):
/// accepts uint8 (0–255) or float (0–1) arrays shaped N×C×S×S, or for grey images N×S×S
/// and N×S². Throws UserError naming `source`.
torch::Tensor images_from_array(const torch::Tensor& array, const std::string& source,
                                const data::ImageFormat& format = {28, 1});

/// RUN_DIR/eval.json: {"format_version": 1, "samplers": {"<sampler>": result, ...}}, so
/// that one diffusion run can hold results for several samplers and step counts.
std::string eval_path(const std::string& run_dir);
constexpr int kEvalFormatVersion = 1;

/// `file` (possibly null or from an older writer) with samplers[sampler] set to `result`;
/// other samplers' results are kept.
Json merge_eval_result(const Json& file, const std::string& sampler, const Json& result);

/// Median "images_per_s" over the training lines of a metrics.jsonl text (0 if none).
double training_images_per_second(const std::string& metrics_jsonl);

}  // namespace trilemma::metrics
