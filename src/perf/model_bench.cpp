#include "perf/model_bench.h"

#include "metrics/speed.h"
#include "models/registry.h"
#include "perf/machine.h"
#include "perf/op_profile.h"

namespace trilemma::perf {

Json ModelBenchResult::to_json() const {
  Json j = {{"model", model},
            {"preset", preset},
            {"sampler", sampler},
            {"train_precision", train_precision},
            {"sample_precision", sample_precision},
            {"batch_size", batch_size},
            {"forward_batch", forward_batch},
            {"throughput_batch", throughput_batch},
            {"parameters", parameters},
            {"nfe", nfe},
            {"train_step_ms", train_step_ms},
            {"train_images_per_s", train_images_per_s},
            {"sample_ms_per_image_batch1", sample_ms_per_image_batch1},
            {"sample_images_per_s_batch1", sample_images_per_s_batch1},
            {"sample_images_per_s_batch256", sample_images_per_s_batch256},
            {"ms_per_nfe_batch1", ms_per_nfe_batch1},
            {"ms_per_nfe_batch256", ms_per_nfe_throughput},
            {"timed_steps_batch1", timed_steps_batch1},
            {"timed_steps_batch256", timed_steps_throughput},
            {"gflops_per_image", gflops_per_image},
            {"sample_gflops_per_image", sample_gflops_per_image},
            {"forward_ms", forward_ms},
            {"forward_gflops_per_s", forward_gflops_per_s},
            {"peak_fraction", peak_fraction},
            {"peak_rss_mb", peak_rss_mb},
            {"settings", settings}};
  if (!forward_profile.empty()) j["forward_profile"] = forward_profile;
  if (!train_profile.empty()) j["train_profile"] = train_profile;
  return j;
}

ModelBenchResult bench_model(const ModelFamily& family, const ModelBenchOptions& options,
                             double matmul_peak_gflops) {
  ModelBenchResult r;
  r.model = family.name;
  r.preset = options.preset;
  r.settings = family.preset_settings(options.preset);
  if (options.batch_size > 0) r.settings["batch_size"] = options.batch_size;
  if (options.precision) r.settings["precision"] = precision_name(*options.precision);
  const Precision train_precision = parse_precision(r.settings.at("precision").get<std::string>());
  const Precision sample_precision = options.precision.value_or(Precision::kFp32);
  r.train_precision = precision_name(train_precision);
  r.sample_precision = precision_name(sample_precision);
  family.validate(r.settings);
  r.batch_size = r.settings["batch_size"].get<int64_t>();
  r.forward_batch = options.forward_batch > 0 ? options.forward_batch : r.batch_size;
  r.throughput_batch = options.throughput_batch;

  reset_peak_rss();
  torch::manual_seed(options.seed);
  std::unique_ptr<GenerativeModel> model = family.create(r.settings, torch::kCPU);
  // A distilled student's step runs its teacher too: time it with one of random weights.
  if (!family.teacher_family.empty()) model->start_from_teacher(*untrained_teacher(family, r.settings, torch::kCPU));
  r.parameters = model->parameter_count();
  SampleOptions defaults;
  defaults.precision = sample_precision;
  r.nfe = model->network_evaluations(defaults);
  r.sampler = model->sampler_name(defaults);
  SampleOptions one_evaluation = defaults;  // diffusion: one sampler step = one U-Net forward
  one_evaluation.steps = 1;

  // Training: random pixels in [0, 1] (the models' input range); time is shape-bound.
  const torch::Tensor images = torch::rand({r.batch_size, 1, 28, 28});
  const torch::Tensor labels = torch::randint(0, 10, {r.batch_size}, torch::kLong);
  if (!options.forward_only) {
    auto train_step = [&] {
      const PrecisionGuard precision(train_precision, torch::kCPU);  // as the training loop does
      model->train_step(images, labels);
    };
    const auto train = metrics::time_median(train_step, {options.train_warmup, options.repeats, options.max_seconds});
    r.train_step_ms = 1e3 * train.median_seconds;
    r.train_images_per_s = r.batch_size / train.median_seconds;
    if (options.profile) r.train_profile = profile_ops(train_step).table();
  }

  // Forward of the sampling network: warmed up (first-touch allocations, oneDNN
  // primitives), FLOPs counted and operators profiled once, then timed without the observer.
  model->sample(r.forward_batch, one_evaluation);
  const OpProfile forward = profile_ops([&] { model->sample(r.forward_batch, one_evaluation); });
  if (options.profile) r.forward_profile = forward.table();
  r.gflops_per_image = static_cast<double>(forward.flops) / r.forward_batch / 1e9;
  r.sample_gflops_per_image = r.gflops_per_image * static_cast<double>(r.nfe);
  const auto timed_forward = metrics::time_median(
      [&] { model->sample(r.forward_batch, one_evaluation); }, {0, options.repeats, options.max_seconds});
  r.forward_ms = 1e3 * timed_forward.median_seconds;
  r.forward_gflops_per_s = static_cast<double>(forward.flops) / timed_forward.median_seconds / 1e9;
  r.peak_fraction = matmul_peak_gflops > 0 ? r.forward_gflops_per_s / matmul_peak_gflops : 0.0;

  // Sampling: seconds per sampler step (= per network evaluation) at a batch size; long
  // diffusion chains are timed over their first steps and extrapolated to the full NFE.
  auto seconds_per_step = [&](int64_t batch, int64_t max_steps, int64_t* steps_timed) {
    SampleOptions timed = defaults;
    *steps_timed = r.nfe;
    if (r.nfe > max_steps) {
      timed.steps = max_steps;
      *steps_timed = max_steps;
    }
    model->sample(batch, r.nfe > 1 ? one_evaluation : timed);  // warm-up at this batch size
    const auto t = metrics::time_median([&] { model->sample(batch, timed); },
                                        {0, options.repeats, options.max_seconds});
    return t.median_seconds / static_cast<double>(*steps_timed);
  };
  if (options.forward_only) {
    r.peak_rss_mb = peak_rss_mb();
    return r;
  }
  const double step_batch1 = seconds_per_step(1, options.max_timed_steps_batch1, &r.timed_steps_batch1);
  r.ms_per_nfe_batch1 = 1e3 * step_batch1;
  r.sample_ms_per_image_batch1 = r.ms_per_nfe_batch1 * static_cast<double>(r.nfe);
  r.sample_images_per_s_batch1 = 1e3 / r.sample_ms_per_image_batch1;
  const double step_throughput =
      seconds_per_step(r.throughput_batch, options.max_timed_steps_throughput, &r.timed_steps_throughput);
  r.ms_per_nfe_throughput = 1e3 * step_throughput;
  r.sample_images_per_s_batch256 =
      static_cast<double>(r.throughput_batch) / (step_throughput * static_cast<double>(r.nfe));

  r.peak_rss_mb = peak_rss_mb();
  return r;
}

}  // namespace trilemma::perf
