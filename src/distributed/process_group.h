#pragma once
// Joining a data-parallel run: the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), a TCPStore rendezvous and a c10d process
// group — Gloo on CPU, NCCL on CUDA when this LibTorch has it.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "distributed/collectives.h"

namespace trilemma::distributed {

struct LaunchEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        ///< this machine's rank; selects cuda:LOCAL_RANK
  int local_world_size = 1;  ///< ranks on this machine; divides the cores between them
  std::string master_addr;   ///< rank 0's machine, which serves the rendezvous store
  int master_port = 0;
};

/// The torchrun variables of this process: nullopt when neither RANK nor WORLD_SIZE is
/// set (an ordinary run). Throws UserError, one line naming the variable, when they are
/// incomplete or malformed. LOCAL_RANK defaults to RANK and LOCAL_WORLD_SIZE to WORLD_SIZE
/// (one machine).
std::optional<LaunchEnvironment> launch_environment();

/// "gloo" for CPU, "nccl" for CUDA: the default --dist-backend for a device.
std::string default_backend(const torch::Device& device);

/// Joins the run: rendezvous at MASTER_ADDR:MASTER_PORT (rank 0 serves it), then the
/// process group. Every collective and the rendezvous give up after `timeout`. Throws
/// UserError naming the rank and the address when the rendezvous cannot form.
std::unique_ptr<Collectives> connect(const LaunchEnvironment& environment, const std::string& backend,
                                     std::chrono::milliseconds timeout);

}  // namespace trilemma::distributed
