#pragma once
#include <torch/torch.h>

#include <string>

namespace trilemma {

/// Resolves "cpu", "cuda" or "auto" to a device; "cuda" without a GPU is a UserError.
torch::Device resolve_device(const std::string& name);

/// Sets LibTorch's intra-op threads. Debian's LibTorch starts at 1 thread, so the default
/// (threads <= 0) uses every core the process may run on, divided by LOCAL_WORLD_SIZE when
/// this process is one of that many data-parallel ranks on the machine.
int configure_threads(int threads);

/// Sizes OpenBLAS's own thread pool, which torch::set_num_threads leaves at one thread per
/// core: LibTorch's fp32 matrix products (linear layers, and convolutions outside oneDNN,
/// such as batch-1 sampling's) run there while oneDNN's convolutions run in OpenMP's
/// threads, and OpenBLAS's idle workers spin (sched_yield) for a while after each product,
/// taking cores from OpenMP's. Returns false, changing nothing, when OPENBLAS_NUM_THREADS
/// is set (the user's choice) or LibTorch does not use OpenBLAS (the symbol is looked up at
/// run time, so other BLAS builds are not affected).
bool set_blas_threads(int threads);

/// Makes glibc keep freed memory for reuse instead of returning it to the kernel after
/// every large tensor (mmap/munmap and page faults per allocation). LibTorch's CPU
/// allocator calls malloc directly, so without this a training step spends a third of its
/// time in the kernel: 67 → 168 images/s for the quick DDPM on 2 cores (README,
/// "Performance"). Call once, early; returns false if glibc refused a setting.
bool keep_freed_memory();

/// Makes OpenMP's idle threads sleep instead of spin (OMP_WAIT_POLICY=PASSIVE) unless the
/// user chose a policy. libgomp reads the variable only while it loads, before main(), so
/// this sets it and re-executes the program (/proc/self/exe with the same argv) once; if
/// the exec fails the program carries on as it is. Costs one more process start (~0.9 s
/// measured, LibTorch's libraries loaded twice); `./run` exports the variable, so its
/// commands skip that.
/// Why: OpenBLAS's threads and spinning OpenMP threads compete for the cores; measured
/// 2.5× on batch-1 DDPM sampling on an idle 2-core machine, 10–35× on a busy one.
void ensure_passive_omp_waiting(char** argv);

/// "1.13.1" etc.
std::string torch_version();

/// Human-readable device description, e.g. "cpu (2 threads)" or "cuda:0 (NVIDIA H200)".
std::string describe_device(const torch::Device& device);

}  // namespace trilemma
