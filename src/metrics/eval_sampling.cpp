#include "metrics/eval_sampling.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "io/progress.h"
#include "metrics/speed.h"

namespace trilemma::metrics {

namespace {

using Clock = std::chrono::steady_clock;

/// n images in batches of kThroughputBatch: one model call per batch bounds the memory of a
/// large class (e.g. a guidance curve's --curve-n 20000). With `batch_seconds`, a progress
/// bar named `label` is shown and the seconds of each full batch but the first (the
/// warm-up, dropped when there are others) go there.
torch::Tensor draw_in_batches(GenerativeModel& model, int64_t n, const SampleOptions& options,
                              const std::string& label, std::vector<double>* batch_seconds) {
  std::optional<io::ProgressBar> bar;
  if (batch_seconds) bar.emplace(label, n, 10);
  std::vector<torch::Tensor> parts;
  std::vector<double> seconds;
  for (int64_t done = 0; done < n; done += kThroughputBatch) {
    const int64_t size = std::min(kThroughputBatch, n - done);
    const auto start = Clock::now();
    parts.push_back(model.sample(size, options).to(torch::kCPU, torch::kFloat32));
    if (size == kThroughputBatch)
      seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (bar) bar->update(done + size);
  }
  if (batch_seconds) {
    bar->finish();
    if (seconds.size() >= 2) seconds.erase(seconds.begin());
    batch_seconds->insert(batch_seconds->end(), seconds.begin(), seconds.end());
  }
  return torch::cat(parts);
}

/// Throughput from the timed batches; with fewer than two (a small N), a warm-up and three
/// extra batches are timed first, with `options` (for a conditional model: random classes).
void finish_timing(GenerativeModel& model, const SampleOptions& options, std::vector<double> batch_seconds,
                   TimedSamples& result) {
  if (batch_seconds.size() < 2) {
    TimingOptions timing;
    timing.warmup = 1;
    timing.repeats = 3;
    batch_seconds = time_median([&] { model.sample(kThroughputBatch, options).cpu(); }, timing).seconds;
  }
  result.timed_batches = static_cast<int64_t>(batch_seconds.size());
  result.images_per_s = kThroughputBatch / median(batch_seconds);
}

}  // namespace

TimedSamples sample_timed(GenerativeModel& model, int64_t n, const SampleOptions& options,
                          const std::string& label) {
  SampleOptions quiet = options;
  quiet.progress = nullptr;
  std::vector<double> batch_seconds;
  TimedSamples result;
  result.images = draw_in_batches(model, n, quiet, label, &batch_seconds);
  finish_timing(model, quiet, batch_seconds, result);
  return result;
}

LabelledSamples sample_each_class(GenerativeModel& model, int64_t n, const SampleOptions& options, bool timed) {
  const int64_t classes = model.num_classes();
  std::vector<torch::Tensor> images, labels;
  std::vector<double> batch_seconds;  // pooled over the classes
  LabelledSamples result;
  SampleOptions request = options;
  request.progress = nullptr;
  if (classes == 0) {  // an unconditional model: its n images, unlabelled
    if (timed) result.timed = sample_timed(model, n, request);
    else result.timed.images = draw_in_batches(model, n, request, "sampling", nullptr);
    return result;
  }
  for (int64_t k = 0; k < classes; ++k) {
    const int64_t count = n / classes + (k < n % classes ? 1 : 0);
    if (count == 0) continue;
    request.class_label = k;
    images.push_back(draw_in_batches(model, count, request, "sampling class " + std::to_string(k),
                                     timed ? &batch_seconds : nullptr));
    labels.push_back(torch::full({count}, k, torch::kLong));
  }
  const torch::Tensor order = torch::randperm(n, torch::kLong);
  result.timed.images = torch::cat(images).index_select(0, order);
  result.requested = torch::cat(labels).index_select(0, order);
  if (timed) {
    request.class_label = -1;
    finish_timing(model, request, batch_seconds, result.timed);
  }
  return result;
}

}  // namespace trilemma::metrics
