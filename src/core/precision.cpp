#include "core/precision.h"

#include <ATen/autocast_mode.h>

#include "core/error.h"

namespace trilemma {

const std::vector<std::string>& precision_names() {
  static const std::vector<std::string> names = {"fp32", "bf16"};
  return names;
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  throw UserError("--precision: expected fp32 or bf16, got '" + name + "'");
}

std::string precision_name(Precision precision) { return precision == Precision::kBf16 ? "bf16" : "fp32"; }

bool cpu_has_bf16() { return __builtin_cpu_supports("avx512bf16"); }

void check_precision_supported(Precision precision, torch::Device device) {
  if (precision == Precision::kBf16 && device.is_cpu() && !cpu_has_bf16())
    throw UserError("--precision bf16: this CPU has no AVX512-BF16, where bf16 runs slower than fp32 (use fp32)");
}

Precision precision_for(const std::string& name, torch::Device device) {
  const Precision precision = parse_precision(name);
  check_precision_supported(precision, device);
  return precision;
}

PrecisionGuard::PrecisionGuard(Precision precision, torch::Device device) {
  if (precision != Precision::kBf16) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

PrecisionGuard::~PrecisionGuard() {
  if (!active_) return;
  // The bf16 copies of the weights autocast cached live until the outermost guard ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
}

}  // namespace trilemma
