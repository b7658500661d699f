#pragma once
// Numeric precision of the networks' arithmetic: fp32, or bf16 mixed precision through
// LibTorch's autocast (convolutions, linear layers and matrix products in bf16; weights,
// normalisations, losses, optimiser state and EMA stay fp32). On CPUs with AVX512-BF16
// (and AMX) a bf16 convolution runs 4–8× faster than an fp32 one (BENCHMARKS.md). fp32 is
// the default everywhere: bf16 sampling moved the quick DDPM's FID by +0.26 at N = 10,000,
// over ten times its seed-to-seed spread (BENCHMARKS.md, "bf16 quality check").
#include <torch/torch.h>

#include <string>
#include <vector>

namespace trilemma {

enum class Precision { kFp32, kBf16 };

/// The names --precision accepts: "fp32", "bf16".
const std::vector<std::string>& precision_names();

/// "fp32" or "bf16"; anything else is a UserError naming --precision.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision precision);

/// Whether this CPU has bf16 arithmetic (AVX512-BF16), without which bf16 is slower than fp32.
bool cpu_has_bf16();

/// Throws UserError (one line) when `precision` cannot run natively on `device`.
void check_precision_supported(Precision precision, torch::Device device);

/// parse_precision, then check_precision_supported: what every command does with the flag.
Precision precision_for(const std::string& name, torch::Device device);

/// While alive, runs the networks on `device` in `precision`: for bf16, autocast to bf16 on
/// that device (CPU or CUDA); for fp32, nothing. Restores the previous state on exit.
class PrecisionGuard {
 public:
  PrecisionGuard(Precision precision, torch::Device device);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

/// The input of a normalisation layer under autocast: fp32 (LibTorch 1.13's GroupNorm and
/// LayerNorm refuse a bf16 input with fp32 weights, and compute their statistics best in fp32).
inline torch::Tensor in_fp32(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
}

}  // namespace trilemma
