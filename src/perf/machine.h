#pragma once
// Facts about the machine a benchmark runs on, measured in the same process: the fp32
// matrix-multiply peak that achieved GFLOP/s are compared with, peak resident memory, and
// the CPU's name and instruction-set flags (bf16 is only worth trying with avx512_bf16).
#include <cstdint>
#include <string>

#include "metrics/speed.h"

namespace trilemma::perf {

struct MatmulPeak {
  int64_t size = 0;        ///< n of the n×n · n×n product
  double seconds = 0.0;    ///< median of one product
  double gflops = 0.0;     ///< 2n³ / seconds / 1e9
};

/// The machine's fp32 matrix-multiply rate as LibTorch reaches it (torch::mm through the
/// linked BLAS, with the current thread count). A product large enough to run at the BLAS
/// kernel's speed and small enough to take a fraction of a second: 2048 (17 GFLOP).
MatmulPeak measure_matmul_peak(int64_t size = 2048, const metrics::TimingOptions& timing = {2, 7, 10.0});

/// This process's peak resident memory in MiB (VmHWM), or 0 where /proc is unavailable.
double peak_rss_mb();
/// This process's current resident memory in MiB (VmRSS).
double current_rss_mb();

/// Resets VmHWM to the current RSS (Linux >= 4.0, /proc/self/clear_refs), so that the next
/// peak_rss_mb() is the peak of what runs in between. Returns false if the kernel refused.
bool reset_peak_rss();

/// CPU time counters, in clock ticks: the whole machine's (from /proc/stat's "cpu" line) and
/// this process's (utime + stime from /proc/self/stat). A speed measured while other
/// processes ran reads slower than the model is; two snapshots tell how much of the machine
/// they took meanwhile.
struct CpuTicks {
  double machine_busy = 0;   ///< all CPUs' non-idle ticks (user nice system irq softirq steal)
  double machine_total = 0;  ///< the same plus idle and iowait
  double process = 0;        ///< this process's user + system ticks
};

/// Parses /proc/stat's text and /proc/self/stat's text; a counter left 0 when its text does
/// not parse.
CpuTicks parse_cpu_ticks(const std::string& proc_stat, const std::string& proc_self_stat);
/// The current counters; all 0 where /proc is unavailable.
CpuTicks read_cpu_ticks();
/// The share of the machine's CPU time that other processes used between two snapshots
/// (0 = only this process ran, 1 = others kept every CPU busy), or NaN when the snapshots
/// hold no machine time (no /proc, or no tick passed).
double other_processes_cpu_share(const CpuTicks& before, const CpuTicks& after);

/// From this share of the machine taken by other processes, `eval` warns and the report
/// flags a row's speed figures as measured on a busy machine.
inline constexpr double kBusyMachineShare = 0.25;

/// "AMD EPYC ..." from /proc/cpuinfo, or "" when unknown.
std::string cpu_model_name();

/// Whether /proc/cpuinfo lists this flag (e.g. "avx512_bf16").
bool cpu_has_flag(const std::string& flag);

}  // namespace trilemma::perf
