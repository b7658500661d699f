#include "perf/machine.h"

#include <torch/torch.h>

#include <fstream>
#include <sstream>

namespace trilemma::perf {
namespace {

// The value in kB of a "Key:   123 kB" line of /proc/self/status, in MiB.
double status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    double kb = 0.0;
    fields >> kb;
    return kb / 1024.0;
  }
  return 0.0;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "";
}

}  // namespace

MatmulPeak measure_matmul_peak(int64_t size, const metrics::TimingOptions& timing) {
  c10::InferenceMode guard;
  const auto a = torch::randn({size, size});
  const auto b = torch::randn({size, size});
  auto c = torch::empty({size, size});
  // mm_out: the product alone, without allocating the result each time.
  const auto t = metrics::time_median([&] { torch::mm_out(c, a, b); }, timing);
  MatmulPeak peak;
  peak.size = size;
  peak.seconds = t.median_seconds;
  peak.gflops = 2.0 * static_cast<double>(size) * size * size / t.median_seconds / 1e9;
  return peak;
}

double peak_rss_mb() { return status_mb("VmHWM"); }
double current_rss_mb() { return status_mb("VmRSS"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::string cpu_model_name() { return cpuinfo_field("model name"); }

bool cpu_has_flag(const std::string& flag) {
  std::istringstream flags(cpuinfo_field("flags"));
  std::string f;
  while (flags >> f)
    if (f == flag) return true;
  return false;
}

}  // namespace trilemma::perf
