#include "models/conditioning.h"

#include <cmath>

#include "core/error.h"
#include "distributed/data_parallel.h"

namespace trilemma {

int64_t conditional_classes(const CommonSettings& common) { return common.conditional ? common.classes : 0; }

void check_class_request(const SampleOptions& options, int64_t num_classes, bool supports_guidance) {
  if (options.class_label != -1) {
    if (num_classes == 0)
      throw UserError("--class: this run is unconditional (train with --conditional true to "
                      "generate a chosen class)");
    if (options.class_label < 0 || options.class_label >= num_classes)
      throw UserError("--class: must be in 0.." + std::to_string(num_classes - 1) + ", got " +
                      std::to_string(options.class_label));
  }
  if (options.guidance) {
    if (!supports_guidance)
      throw UserError(num_classes == 0
                          ? "--guidance: this run is unconditional (guidance needs a diffusion model "
                            "trained with --conditional true, or an unconditional ddpm with a guide, --guide)"
                          : "--guidance: classifier-free guidance applies to conditional diffusion "
                            "models only");
    if (!std::isfinite(*options.guidance) || *options.guidance < 0)
      throw UserError("--guidance: must be a finite number >= 0");
  }
}

torch::Tensor labels_to_sample(int64_t n, const SampleOptions& options, int64_t num_classes,
                               torch::Device device) {
  const auto long_options = torch::TensorOptions().dtype(torch::kLong);
  if (options.class_label >= 0) return torch::full({n}, options.class_label, long_options).to(device);
  return torch::randint(0, num_classes, {n}, long_options).to(device);
}

torch::Tensor one_hot_labels(const torch::Tensor& labels, int64_t num_classes) {
  return torch::one_hot(labels.to(torch::kLong), num_classes).to(torch::kFloat32);
}

torch::Tensor drop_labels(const torch::Tensor& labels, double p, int64_t null_label) {
  if (p <= 0) return labels;
  const auto dropped = distributed::shard_rand({labels.size(0)}).lt(p).to(labels.device());
  return torch::where(dropped, torch::full_like(labels, null_label), labels);
}

torch::Tensor guided_epsilon(const torch::Tensor& unconditional, const torch::Tensor& conditional,
                             double w) {
  return unconditional + w * (conditional - unconditional);
}

torch::Tensor sample_by_class(GenerativeModel& model, int64_t per_class, const SampleOptions& options) {
  std::vector<torch::Tensor> rows;
  SampleOptions request = options;
  for (int64_t k = 0; k < model.num_classes(); ++k) {
    request.class_label = k;
    rows.push_back(model.sample(per_class, request).cpu());
  }
  if (rows.empty()) throw UserError("per-class samples need a conditional run (--conditional true)");
  return torch::cat(rows);
}

}  // namespace trilemma
