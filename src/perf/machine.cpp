#include "perf/machine.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
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

CpuTicks parse_cpu_ticks(const std::string& proc_stat, const std::string& proc_self_stat) {
  CpuTicks ticks;
  std::istringstream machine(proc_stat);
  std::string label;
  if (machine >> label && label == "cpu") {
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    double field[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int read = 0;
    while (read < 8 && machine >> field[read]) ++read;
    if (read >= 4) {
      ticks.machine_total = field[0] + field[1] + field[2] + field[3] + field[4] + field[5] + field[6] + field[7];
      ticks.machine_busy = ticks.machine_total - field[3] - field[4];
    }
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': the fields
  // are counted from after the last ')'. utime and stime are fields 14 and 15, i.e. the
  // 12th and 13th after it (field 3, the state, is the 1st).
  const auto name_end = proc_self_stat.rfind(')');
  if (name_end != std::string::npos) {
    std::istringstream rest(proc_self_stat.substr(name_end + 1));
    std::string field;
    int skipped = 0;  // fields 3 to 13
    while (skipped < 11 && rest >> field) ++skipped;
    double utime = 0, stime = 0;
    if (rest >> utime >> stime) ticks.process = utime + stime;
  }
  return ticks;
}

CpuTicks read_cpu_ticks() {
  auto first_line = [](const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
  };
  return parse_cpu_ticks(first_line("/proc/stat"), first_line("/proc/self/stat"));
}

double other_processes_cpu_share(const CpuTicks& before, const CpuTicks& after) {
  const double total = after.machine_total - before.machine_total;
  if (!(total > 0)) return std::nan("");
  const double others = (after.machine_busy - before.machine_busy) - (after.process - before.process);
  return std::clamp(others / total, 0.0, 1.0);  // the counters are sampled a moment apart
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
