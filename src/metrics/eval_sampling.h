#pragma once
// How `eval` draws the images it measures. The batch-256 throughput comes for free from
// the images the evaluation needs anyway; a conditional model is asked for every class
// equally often, so that its overall and per-class numbers come from the same images.
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "models/generative_model.h"

namespace trilemma::metrics {

/// The throughput batch of the protocol: large enough that per-call overhead vanishes on
/// CPU, small enough that a diffusion U-Net's activations fit comfortably.
inline constexpr int64_t kThroughputBatch = 256;

struct TimedSamples {
  torch::Tensor images;        ///< N×1×28×28 float, on the CPU
  double images_per_s = 0.0;   ///< median over full batches of kThroughputBatch
  int64_t timed_batches = 0;
};

/// n images in batches of kThroughputBatch, each full batch timed (the first is the
/// warm-up and is not counted when there are others; with fewer than two full batches,
/// extra ones are timed). `label` names the progress bar.
TimedSamples sample_timed(GenerativeModel& model, int64_t n, const SampleOptions& options,
                          const std::string& label = "sampling");

struct LabelledSamples {
  TimedSamples timed;
  torch::Tensor requested;  ///< N int64: the class each image was asked for
};

/// For a conditional model: N/K images of each of its K classes (the first N mod K classes
/// one more), shuffled together with their labels so that order-dependent statistics (the
/// classifier score's splits) see a class mix in every split. Drawn in batches of
/// kThroughputBatch either way; `timed` times the full batches of all classes together
/// (extra batches, once, only if fewer than two). An unconditional model's N images come
/// unlabelled (`requested` undefined).
LabelledSamples sample_each_class(GenerativeModel& model, int64_t n, const SampleOptions& options,
                                  bool timed);

}  // namespace trilemma::metrics
