#pragma once
// Wall-clock timing of sampling. A single timing of a short CPU call is noise: the first
// call pays for allocator growth and oneDNN primitive creation, later ones see scheduler
// jitter. So: warm-up calls that are discarded, then the median of repeats.
#include <cstdint>
#include <functional>
#include <string>
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

/// The speed corner of the trilemma for one model and sampler.
struct SpeedResult {
  int64_t nfe = 0;                     ///< network evaluations per image
  double ms_per_image_batch1 = 0.0;    ///< latency: one image per call, median
  double images_per_s_batch256 = 0.0;  ///< throughput: 256 per call, median
  int64_t batch1_repeats = 0;
  int64_t batch256_repeats = 0;
  std::string device;                  ///< e.g. "cpu (2 threads)"
  int threads = 0;
};

/// ms/image at batch 1 by time_median over model.sample(1, options).
double sampling_latency_ms(GenerativeModel& model, const SampleOptions& options,
                           const TimingOptions& timing, int64_t* repeats_done = nullptr);

}  // namespace trilemma::metrics
