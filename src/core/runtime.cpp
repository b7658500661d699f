#include "core/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <thread>

#include "core/error.h"

namespace trilemma {

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available())
      throw UserError("--device cuda: no CUDA device is available (this LibTorch build: " +
                      torch_version() + ")");
    return torch::kCUDA;
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  throw UserError("--device: expected cpu, cuda or auto, got '" + name + "'");
}

int configure_threads(int threads) {
  if (threads <= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    threads = sched_getaffinity(0, sizeof(set), &set) == 0
                  ? CPU_COUNT(&set)
                  : static_cast<int>(std::thread::hardware_concurrency());
    // A rank of a data-parallel run shares the machine with LOCAL_WORLD_SIZE − 1 others.
    // Unset LOCAL_WORLD_SIZE under RANK means one machine: WORLD_SIZE ranks share it.
    const char* ranks_here = std::getenv("LOCAL_WORLD_SIZE");
    if (ranks_here == nullptr && std::getenv("RANK") != nullptr) ranks_here = std::getenv("WORLD_SIZE");
    if (ranks_here != nullptr) threads /= std::max(1, std::atoi(ranks_here));
    if (threads <= 0) threads = 1;
  }
  torch::set_num_threads(threads);
  set_blas_threads(threads);
  return threads;
}

bool set_blas_threads(int threads) {
  if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return false;  // the user's choice stands
  using SetThreads = void (*)(int);
  const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set == nullptr) return false;
  set(threads);
  return true;
}

void ensure_passive_omp_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: keep running with spinning threads
}

bool keep_freed_memory() {
  // 32 MiB is the largest mmap threshold glibc accepts (HEAP_MAX_SIZE / 2); tensors below
  // it come from the heap, and freed heap memory is never trimmed back to the kernel.
  constexpr int kMmapThreshold = 32 << 20;
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
  return mmap_set && trim_set;
}

std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

std::string describe_device(const torch::Device& device) {
  if (device.is_cuda()) return "cuda:" + std::to_string(device.index() < 0 ? 0 : device.index());
  return "cpu (" + std::to_string(torch::get_num_threads()) + " threads)";
}

}  // namespace trilemma
