#include "core/runtime.h"

#include <sched.h>
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
    if (threads <= 0) threads = 1;
  }
  torch::set_num_threads(threads);
  return threads;
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
