#include "metrics/evaluate.h"

#include <filesystem>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "metrics/class_stats.h"
#include "metrics/speed.h"

namespace trilemma::metrics {
namespace fs = std::filesystem;

Json EvalProtocol::to_json() const {
  return {{"n", n},
          {"seed", seed},
          {"kid_subsets", kid.subsets},
          {"kid_subset_size", kid.subset_size},
          {"k_precision_recall", prdc.k_precision_recall},
          {"k_density_coverage", prdc.k_density_coverage},
          {"score_splits", score_splits},
          {"classes_covered_share", kClassCoveredShare},
          {"reference_digit", reference_digit}};
}

Json evaluate_features(const RealReference& real, const torch::Tensor& fake_features,
                       const torch::Tensor& fake_probabilities, const EvalProtocol& protocol) {
  const auto fake_stats = feature_statistics(fake_features);
  KidOptions kid_options = protocol.kid;
  kid_options.seed = protocol.seed;
  const auto kid = kernel_inception_distance(real.features, fake_features, kid_options);
  const auto prdc = precision_recall_density_coverage(real.features, fake_features, protocol.prdc);
  const int64_t splits = std::min(protocol.score_splits, fake_probabilities.size(0));
  const auto score = classifier_score(fake_probabilities, splits);
  const auto classes = class_statistics(fake_probabilities);
  return {{"n", fake_features.size(0)},
          {"fid", frechet_distance(real.stats, fake_stats)},
          {"kid_mean", kid.mean},
          {"kid_std", kid.std},
          {"kid_subset_size", kid.subset_size},
          {"precision", prdc.precision},
          {"recall", prdc.recall},
          {"density", prdc.density},
          {"coverage", prdc.coverage},
          {"classifier_score", score.mean},
          {"classifier_score_std", score.std},
          {"class_histogram", classes.histogram},
          {"class_shares", classes.shares},
          {"classes_covered", classes.classes_covered},
          {"entropy", classes.entropy},
          {"kl_uniform", classes.kl_uniform},
          {"mean_confidence", classes.mean_confidence}};
}

Json evaluate_conditional(const RealReference& real, const torch::Tensor& fake_features,
                          const torch::Tensor& fake_probabilities, const torch::Tensor& requested,
                          int64_t num_classes) {
  TORCH_CHECK(requested.size(0) == fake_features.size(0) && requested.size(0) == fake_probabilities.size(0),
              "evaluate_conditional: one requested label per image");
  const torch::Tensor asked = requested.to(torch::kCPU, torch::kLong);
  const torch::Tensor hit = fake_probabilities.argmax(1).cpu().eq(asked);
  Json accuracy = Json::array(), fid = Json::array(), counts = Json::array();
  double fid_sum = 0.0;
  int64_t fid_classes = 0;
  for (int64_t k = 0; k < num_classes; ++k) {
    const torch::Tensor mine = asked.eq(k);
    const int64_t n = mine.sum().item<int64_t>();
    counts.push_back(n);
    accuracy.push_back(n > 0 ? Json(hit.masked_select(mine).to(torch::kDouble).mean().item<double>()) : Json());
    const torch::Tensor real_mine = real.labels.defined() ? real.labels.cpu().eq(k) : torch::Tensor();
    const int64_t real_n = real_mine.defined() ? real_mine.sum().item<int64_t>() : 0;
    if (n < 2 || real_n < 2) {
      fid.push_back(Json());
      continue;
    }
    const auto index = mine.nonzero().view(-1);
    const auto real_index = real_mine.nonzero().view(-1);
    const double d = frechet_distance(feature_statistics(real.features.cpu().index_select(0, real_index)),
                                      feature_statistics(fake_features.cpu().index_select(0, index)));
    fid.push_back(d);
    fid_sum += d;
    ++fid_classes;
  }
  return {{"conditional_accuracy", hit.to(torch::kDouble).mean().item<double>()},
          {"per_class_accuracy", accuracy},
          {"per_class_fid", fid},
          {"per_class_n", counts},
          {"mean_per_class_fid", fid_classes > 0 ? Json(fid_sum / fid_classes) : Json()}};
}

RealReference make_real_reference(Evaluator& evaluator, const data::ImageDataset& test) {
  RealReference real;
  real.features = run_evaluator(evaluator, test.images).features;
  real.stats = feature_statistics(real.features);
  real.labels = test.labels;
  return real;
}

namespace {

Json extractor_json(const Evaluator& evaluator) {
  return {{"name", evaluator.name},
          {"feature_dim", kClassifierFeatureDim},
          {"layer", "penultimate dense layer, after BatchNorm and ReLU"},
          {"test_accuracy", evaluator.test_accuracy},
          {"crc32", crc32_hex(evaluator.crc32)},
          {"description", evaluator.describe()}};
}

}  // namespace

Json evaluate_images(Evaluator& evaluator, const RealReference& real, const torch::Tensor& images,
                     const EvalProtocol& protocol, const torch::Tensor& requested,
                     int64_t num_classes) {
  const auto outputs = run_evaluator(evaluator, images);
  Json result = evaluate_features(real, outputs.features, outputs.probabilities, protocol);
  if (requested.defined())
    result["conditional"] =
        evaluate_conditional(real, outputs.features, outputs.probabilities, requested, num_classes);
  result["extractor"] = extractor_json(evaluator);
  return result;
}

torch::Tensor add_pixel_noise(const torch::Tensor& images, double sigma_of_255, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  const auto noise = at::normal(0.0, sigma_of_255 / 255.0, images.sizes(), generator);
  return (images + noise.to(images.device())).clamp(0.0, 1.0);
}

torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma_pixels) {
  const int64_t radius = static_cast<int64_t>(std::ceil(3 * sigma_pixels));
  const auto x = torch::arange(-radius, radius + 1, torch::kFloat64);
  auto kernel_1d = torch::exp(-x * x / (2 * sigma_pixels * sigma_pixels));
  kernel_1d = (kernel_1d / kernel_1d.sum()).to(images.options());
  // Separable: a row pass and a column pass, zero padding (MNIST's border is black); each
  // channel on its own (groups).
  const int64_t channels = images.size(1);
  const torch::Tensor no_bias;
  const auto rows = torch::conv2d(images, kernel_1d.view({1, 1, 1, -1}).expand({channels, 1, 1, -1}), no_bias, 1,
                                  at::IntArrayRef{0, radius}, 1, channels);
  return torch::conv2d(rows, kernel_1d.view({1, 1, -1, 1}).expand({channels, 1, -1, 1}), no_bias, 1,
                       at::IntArrayRef{radius, 0}, 1, channels)
      .clamp(0.0, 1.0);
}

Json reference_rows(Evaluator& evaluator, const RealReference& real, const data::DatasetSpec& dataset,
                    const data::DatasetInfo& info, const EvalProtocol& protocol, std::ostream& log) {
  constexpr int kRowsVersion = 2;  // 2: the failure-mode rows
  Json key = {{"extractor", extractor_json(evaluator)}, {"protocol", protocol.to_json()}, {"rows", kRowsVersion}};
  // MNIST's key is as it was before other datasets, so that its cached rows stay valid; a
  // folder's rows are recomputed when its images change in number or shape.
  if (dataset.name != "mnist") key["dataset"] = {info.to_json(), dataset.format.size, dataset.format.channels};
  const std::string cache = (fs::path(data::dataset_cache_dir(dataset)) / (evaluator.name + "-reference.json")).string();
  // One entry per (extractor, protocol, rows version): a small-N evaluation must not evict
  // the N = 10,000 rows every report uses.
  Json entries = Json::array();
  if (fs::exists(cache)) {
    try {
      entries = Json::parse(read_file(cache)).at("entries");
      for (const auto& entry : entries)
        if (entry.at("key") == key) return entry.at("rows");
    } catch (const std::exception&) {
      entries = Json::array();  // a corrupt or older cache is recomputed below
    }
  }
  log << "computing the reference rows (once per extractor and protocol)" << std::endl;
  const auto train = data::load_split(dataset, data::Split::kTrain);
  const auto test = data::load_split(dataset, data::Split::kTest);
  // MNIST's labels as they always read; another dataset's classes by name.
  const bool digits = dataset.name == "mnist";
  const auto class_name = [&](int64_t k) {
    return digits ? std::to_string(k) : "'" + info.class_names.at(static_cast<size_t>(k)) + "'";
  };

  // A seeded random subset rather than the first N images, so that the row does not
  // depend on the order of the training file.
  std::mt19937_64 rng(protocol.seed);
  std::vector<int64_t> order(train.size());
  for (int64_t i = 0; i < train.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(std::min<int64_t>(protocol.n, train.size()));
  const auto subset = train.images.index_select(0, torch::tensor(order, torch::kInt64));

  Json rows;
  rows["train"] = evaluate_images(evaluator, real, subset, protocol);
  const std::string& title = info.title;
  rows["train"]["label"] = title + " train (" + std::to_string(subset.size(0)) + " images)";
  const auto digit_index = test.labels.eq(protocol.reference_digit).nonzero().view(-1);
  // Collapse rows need at least 2 images of the classes they keep.
  if (info.num_classes() > std::max<int64_t>(1, protocol.reference_digit) && digit_index.size(0) >= 2) {
    const auto digit = test.images.index_select(0, digit_index);
    rows["single_digit"] = evaluate_images(evaluator, real, digit, protocol);
    rows["single_digit"]["label"] = title + " test, " + (digits ? "digit " : "class ") +
                                    class_name(protocol.reference_digit) + " only (" + std::to_string(digit.size(0)) +
                                    " images)";
    const auto two = test.images.index_select(0, (test.labels.eq(0) | test.labels.eq(1)).nonzero().view(-1));
    rows["two_digits"] = evaluate_images(evaluator, real, two, protocol);
    rows["two_digits"]["label"] = title + " test, " + (digits ? "digits " : "classes ") + class_name(0) + " and " +
                                  class_name(1) + " only (" + std::to_string(two.size(0)) + " images)";
  }
  rows["blur"] = evaluate_images(evaluator, real, gaussian_blur(subset, 1.0), protocol);
  rows["blur"]["label"] = title + " train, blurred (Gaussian, σ = 1 pixel)";
  for (const int sigma : {16, 64}) {
    const std::string name = "noise_" + std::to_string(sigma);
    rows[name] = evaluate_images(evaluator, real, add_pixel_noise(subset, sigma, protocol.seed), protocol);
    rows[name]["label"] = title + " train + pixel noise (σ = " + std::to_string(sigma) + " of 255)";
  }
  try {
    constexpr size_t kCachedEntries = 8;
    if (entries.size() >= kCachedEntries) entries.erase(entries.begin());
    entries.push_back({{"key", key}, {"rows", rows}});
    write_file_atomic(cache, Json{{"entries", entries}}.dump(1) + "\n");
  } catch (const UserError& e) {
    log << "warning: could not cache the reference rows: " << e.what() << std::endl;
  }
  return rows;
}

torch::Tensor images_from_array(const torch::Tensor& array, const std::string& source,
                                const data::ImageFormat& format) {
  const int64_t s = format.size, c = format.channels;
  torch::Tensor x = array;
  if (c == 1 && x.dim() == 2 && x.size(1) == s * s) x = x.view({x.size(0), s, s});
  if (c == 1 && x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4 || x.size(1) != c || x.size(2) != s || x.size(3) != s) {
    const std::string side = std::to_string(s), shape = side + "×" + side;
    throw UserError(source + ": expected images shaped " +
                    (c == 1 ? "N×" + shape + ", N×1×" + shape + " or N×" + std::to_string(s * s)
                            : "N×" + std::to_string(c) + "×" + shape) +
                    ", got " + std::to_string(array.dim()) + "-D array");
  }
  if (x.size(0) < 2) throw UserError(source + ": need at least 2 images");
  if (x.scalar_type() == torch::kUInt8) return x.to(torch::kFloat32) / 255.0;
  if (!x.is_floating_point()) throw UserError(source + ": expected uint8 or float images");
  x = x.to(torch::kFloat32);
  if (!torch::isfinite(x).all().item<bool>())
    throw UserError(source + ": images contain NaN or infinity");
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  if (lo < -1e-3 || hi > 1.0 + 1e-3)
    throw UserError(source + ": float images must lie in [0,1] (found " + std::to_string(lo) +
                    ".." + std::to_string(hi) + "); uint8 images may use 0..255");
  return x.clamp(0.0, 1.0);
}

std::string eval_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "eval.json").string();
}

Json merge_eval_result(const Json& file, const std::string& sampler, const Json& result) {
  Json merged = file.is_object() ? file : Json::object();
  if (!merged.contains("samplers") || !merged["samplers"].is_object())
    merged["samplers"] = Json::object();
  merged["format_version"] = kEvalFormatVersion;
  merged["samplers"][sampler] = result;
  return merged;
}

double training_images_per_second(const std::string& metrics_jsonl) {
  std::vector<double> rates;
  std::istringstream lines(metrics_jsonl);
  std::string line;
  while (std::getline(lines, line)) {
    try {
      const Json json = Json::parse(line);
      if (json.contains("images_per_s") && json["images_per_s"].is_number() &&
          json["images_per_s"].get<double>() > 0)
        rates.push_back(json["images_per_s"].get<double>());
    } catch (const std::exception&) {
      // A torn last line (crash mid-write) is not a reason to fail an evaluation.
    }
  }
  return rates.empty() ? 0.0 : median(rates);
}

}  // namespace trilemma::metrics
