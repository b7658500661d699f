#pragma once
// SIGINT/SIGTERM during training: noted, so that the loop finishes its step, writes a
// checkpoint and exits 130/143 instead of dying mid-step.
#include <csignal>

namespace trilemma::training {

// Installs SIGINT/SIGTERM handlers for the lifetime of a training run; a second Ctrl-C
// while the step finishes falls back to the default action (immediate exit). SIGXFSZ
// (a write past `ulimit -f`) is ignored so that it fails like a full disk, with an error
// naming the file, instead of killing the run mid-checkpoint.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  /// The signal received since construction, or 0.
  int received() const;

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_xfsz_ {};
};

}  // namespace trilemma::training
