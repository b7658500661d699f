#pragma once
// Wall-clock timing of sampling. A single timing of a short CPU call is noise: the first
// call pays for allocator growth and oneDNN primitive creation, later ones see scheduler
// jitter. So: warm-up calls that are discarded, then the median of repeats.
#include <cstdint>
#include <functional>
#include <vector>

#include "models/generative_model.h"

namespace trilemma::metrics {

struct TimingOptions {
  int warmup = 1;                ///< discarded calls before timing
  int repeats = 5;               ///< timed calls; the median is reported
  double max_seconds = 60.0;     ///< stop repeating early (after >= 1 timed call) past this
};

struct Timing {
  double median_seconds = 0.0;
  std::vector<double> seconds;  ///< every timed call, in order
};

/// Median of `fn`'s wall-clock time, after warm-up.
Timing time_median(const std::function<void()>& fn, const TimingOptions& options = {});

/// Median of a list of durations (the middle value, or the mean of the two middle ones).
double median(std::vector<double> values);

/// ms/image at batch 1 by time_median over model.sample(1, options).
double sampling_latency_ms(GenerativeModel& model, const SampleOptions& options,
                           const TimingOptions& timing, int64_t* repeats_done = nullptr);

}  // namespace trilemma::metrics
