#pragma once
#include <torch/torch.h>

#include <string>

namespace trilemma {

/// Resolves "cpu", "cuda" or "auto" to a device; "cuda" without a GPU is a UserError.
torch::Device resolve_device(const std::string& name);

/// Sets LibTorch's intra-op threads. Debian's LibTorch starts at 1 thread, so the default
/// (threads <= 0) uses every core the process may run on.
int configure_threads(int threads);

/// Makes glibc keep freed memory for reuse instead of returning it to the kernel after
/// every large tensor (mmap/munmap and page faults per allocation). LibTorch's CPU
/// allocator calls malloc directly, so without this a training step spends a third of its
/// time in the kernel: 67 → 168 images/s for the quick DDPM on 2 cores (README,
/// "Performance"). Call once, early; returns false if glibc refused a setting.
bool keep_freed_memory();

/// "1.13.1" etc.
std::string torch_version();

/// Human-readable device description, e.g. "cpu (2 threads)" or "cuda:0 (NVIDIA H200)".
std::string describe_device(const torch::Device& device);

}  // namespace trilemma
