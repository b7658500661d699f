#include "metrics/speed.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace trilemma::metrics {

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of no values");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

Timing time_median(const std::function<void()>& fn, const TimingOptions& options) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < options.warmup; ++i) fn();
  Timing timing;
  const auto begin = Clock::now();
  for (int i = 0; i < std::max(options.repeats, 1); ++i) {
    const auto start = Clock::now();
    fn();
    const auto stop = Clock::now();
    timing.seconds.push_back(std::chrono::duration<double>(stop - start).count());
    if (std::chrono::duration<double>(stop - begin).count() > options.max_seconds) break;
  }
  timing.median_seconds = median(timing.seconds);
  return timing;
}

double sampling_latency_ms(GenerativeModel& model, const SampleOptions& options,
                           const TimingOptions& timing_options, int64_t* repeats_done) {
  SampleOptions quiet = options;
  quiet.progress = nullptr;
  // .cpu() waits for an asynchronous device (CUDA) to finish, so the clock sees the work.
  const auto timing = time_median([&] { model.sample(1, quiet).cpu(); }, timing_options);
  if (repeats_done) *repeats_done = static_cast<int64_t>(timing.seconds.size());
  return 1000.0 * timing.median_seconds;
}

}  // namespace trilemma::metrics
