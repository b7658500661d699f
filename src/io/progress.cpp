#include "io/progress.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

namespace trilemma::io {
namespace {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600)
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", (long long)(s / 3600),
                  (long long)(s / 60 % 60), (long long)(s % 60));
  else
    std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buffer;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, int64_t plain_every, int64_t first)
    : label_(std::move(label)),
      total_(total),
      plain_every_(plain_every > 0 ? plain_every : 1),
      first_(first),
      is_tty_(isatty(STDOUT_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(int64_t done, const std::string& status) {
  const auto now = std::chrono::steady_clock::now();
  const bool last = done >= total_;
  if (is_tty_) {
    if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else if (!last && done % plain_every_ != 0) {
    return;
  }
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? (done - first_) / elapsed : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : -1;
  const double fraction = total_ > 0 ? static_cast<double>(done) / total_ : 1;
  if (is_tty_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::printf("\r%s [%s] %lld/%lld %s ETA %s %s\x1b[K", label_.c_str(), bar.c_str(),
                (long long)done, (long long)total_, status.c_str(), format_duration(eta).c_str(),
                "");
  } else {
    std::printf("%s %lld/%lld (%3.0f%%) %s ETA %s\n", label_.c_str(), (long long)done,
                (long long)total_, 100 * fraction, status.c_str(), format_duration(eta).c_str());
  }
  std::fflush(stdout);
}

void ProgressBar::finish(const std::string& status) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (is_tty_) std::printf("\r%s done in %s %s\x1b[K\n", label_.c_str(), format_duration(elapsed).c_str(), status.c_str());
  else std::printf("%s done in %s %s\n", label_.c_str(), format_duration(elapsed).c_str(), status.c_str());
  std::fflush(stdout);
}

std::function<void(const std::string&, int64_t, int64_t)> progress_printer() {
  struct State {
    std::unique_ptr<ProgressBar> bar;
    std::string label;
  };
  auto state = std::make_shared<State>();
  return [state](const std::string& label, int64_t done, int64_t total) {
    if (!state->bar || label != state->label || done <= 1) {
      state->bar = std::make_unique<ProgressBar>(label, total);
      state->label = label;
    }
    state->bar->update(done);
    if (done >= total) {
      state->bar->finish();
      state->bar.reset();
    }
  };
}

}  // namespace trilemma::io
