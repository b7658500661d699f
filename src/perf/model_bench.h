#pragma once
// The speed corner of one model family, measured the same way for every family and, in
// bench/python/, for the same networks in Python PyTorch: training images/s at the
// article's batch, sampling images/s at batch 1 and 256, forward GFLOPs counted per image,
// the forward's achieved GFLOP/s as a share of the measured matmul peak, and peak RSS.
#include <cstdint>
#include <optional>
#include <string>

#include "models/generative_model.h"

namespace trilemma::perf {

/// How long and at which sizes to measure. The defaults keep each figure to seconds on a
/// 2-core CPU, except the seed DDPM's training step, which alone takes seconds.
struct ModelBenchOptions {
  std::string preset = "seed";     ///< the article's architectures
  int64_t batch_size = 0;          ///< training batch; 0 = the preset's (VAE 32, DCGAN 32, DDPM 64)
  int64_t forward_batch = 0;       ///< batch of the GFLOP/s figure; 0 = the training batch
  int64_t throughput_batch = 256;  ///< the eval protocol's throughput batch
  int train_warmup = 2;            ///< discarded training steps (allocator, oneDNN primitives)
  int repeats = 5;                 ///< timed calls per figure; the median is reported
  double max_seconds = 8.0;        ///< stop repeating a figure past this (after >= 1 call)
  /// Diffusion: time at most this many sampler steps per call and extrapolate to the full
  /// NFE (every step costs the same network evaluation). 1-NFE models are timed whole.
  int64_t max_timed_steps_batch1 = 20;
  int64_t max_timed_steps_throughput = 2;
  bool profile = false;            ///< also record per-operator profiles (op_profile.h)
  bool forward_only = false;       ///< only the forward figures (FLOPs, GFLOP/s, profile)
  /// Of training and sampling (core/precision.h); unset = what trilemma does by default:
  /// training as the preset says, sampling as `sample` and `eval` do (fp32).
  std::optional<Precision> precision;
  uint64_t seed = 0;
};

struct ModelBenchResult {
  std::string model, preset, sampler, train_precision, sample_precision;
  Json settings;                      ///< the model's settings (to build the same in Python)
  int64_t batch_size = 0, forward_batch = 0, throughput_batch = 0;
  int64_t parameters = 0;             ///< of the sampling network
  int64_t nfe = 1;                    ///< network evaluations per sample
  double train_step_ms = 0.0;
  double train_images_per_s = 0.0;
  double sample_ms_per_image_batch1 = 0.0;
  double sample_images_per_s_batch1 = 0.0;
  double sample_images_per_s_batch256 = 0.0;  ///< at throughput_batch
  double ms_per_nfe_batch1 = 0.0;             ///< one network evaluation (with its sampler step)
  double ms_per_nfe_throughput = 0.0;         ///< per call of throughput_batch images
  int64_t timed_steps_batch1 = 0, timed_steps_throughput = 0;  ///< < nfe: extrapolated
  double gflops_per_image = 0.0;       ///< one forward of the sampling network, counted
  double sample_gflops_per_image = 0.0;  ///< gflops_per_image · nfe
  double forward_ms = 0.0;             ///< one forward at forward_batch
  double forward_gflops_per_s = 0.0;   ///< achieved by that forward
  double peak_fraction = 0.0;          ///< forward_gflops_per_s / matmul peak
  double peak_rss_mb = 0.0;            ///< process peak while this model was measured
  std::string forward_profile, train_profile;  ///< per-operator tables (options.profile)
  Json to_json() const;
};

/// Measures `family` built from options.preset on the CPU with random inputs (speed does
/// not depend on the pixels). matmul_peak_gflops comes from measure_matmul_peak in the same
/// process, so that peak_fraction compares like with like.
ModelBenchResult bench_model(const ModelFamily& family, const ModelBenchOptions& options,
                             double matmul_peak_gflops);

}  // namespace trilemma::perf
