#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace trilemma::io {

/// A one-line progress bar with rate and ETA. On a terminal it redraws in place; when
/// stdout is not a terminal it prints a plain line every `plain_every` updates instead.
class ProgressBar {
 public:
  /// `first` is the position work starts from (a resumed training run's step); the rate
  /// and the final "done in" count from construction.
  ProgressBar(std::string label, int64_t total, int64_t plain_every = 100, int64_t first = 0);
  /// Sets the position to `done` and shows `status` (e.g. "loss 0.123").
  void update(int64_t done, const std::string& status = "");
  /// Completes the line.
  void finish(const std::string& status = "");

 private:
  std::string label_;
  int64_t total_;
  int64_t plain_every_;
  int64_t first_;
  bool is_tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// A callback that shows steps of named passes (a model's SamplingProgress): a new bar
/// whenever the label changes or a pass starts over, finished at its last step.
std::function<void(const std::string& label, int64_t done, int64_t total)> progress_printer();

}  // namespace trilemma::io
