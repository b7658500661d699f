#include "metrics/eval_sampling.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "io/progress.h"
#include "metrics/speed.h"

namespace trilemma::metrics {

TimedSamples sample_timed(GenerativeModel& model, int64_t n, const SampleOptions& options,
                          const std::string& label) {
  using Clock = std::chrono::steady_clock;
  SampleOptions quiet = options;
  quiet.progress = false;
  io::ProgressBar bar(label, n, 10);
  std::vector<torch::Tensor> parts;
  std::vector<double> batch_seconds;
  for (int64_t done = 0; done < n; done += kThroughputBatch) {
    const int64_t size = std::min(kThroughputBatch, n - done);
    const auto start = Clock::now();
    parts.push_back(model.sample(size, quiet).to(torch::kCPU, torch::kFloat32));
    if (size == kThroughputBatch)
      batch_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    bar.update(done + size);
  }
  bar.finish();
  TimedSamples result;
  result.images = torch::cat(parts);
  if (batch_seconds.size() >= 2) batch_seconds.erase(batch_seconds.begin());
  if (batch_seconds.size() < 2) {
    TimingOptions timing;
    timing.warmup = 1;
    timing.repeats = 3;
    batch_seconds = time_median([&] { model.sample(kThroughputBatch, quiet).cpu(); }, timing).seconds;
  }
  result.timed_batches = static_cast<int64_t>(batch_seconds.size());
  result.images_per_s = kThroughputBatch / median(batch_seconds);
  return result;
}

LabelledSamples sample_each_class(GenerativeModel& model, int64_t n, const SampleOptions& options, bool timed) {
  const int64_t classes = model.num_classes();
  std::vector<torch::Tensor> images, labels;
  std::vector<double> rates;
  LabelledSamples result;
  SampleOptions request = options;
  request.progress = false;
  for (int64_t k = 0; k < classes; ++k) {
    const int64_t count = n / classes + (k < n % classes ? 1 : 0);
    if (count == 0) continue;
    request.class_label = k;
    if (timed) {
      TimedSamples part = sample_timed(model, count, request, "sampling class " + std::to_string(k));
      rates.push_back(part.images_per_s);
      result.timed.timed_batches += part.timed_batches;
      images.push_back(part.images);
    } else {
      images.push_back(model.sample(count, request).to(torch::kCPU, torch::kFloat32));
    }
    labels.push_back(torch::full({count}, k, torch::kLong));
  }
  const torch::Tensor order = torch::randperm(n, torch::kLong);
  result.timed.images = torch::cat(images).index_select(0, order);
  result.requested = torch::cat(labels).index_select(0, order);
  if (!rates.empty()) result.timed.images_per_s = median(rates);
  return result;
}

}  // namespace trilemma::metrics
