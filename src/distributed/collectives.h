#pragma once
// Data-parallel training's view of a process group: the few collectives the training loop
// and the models need. The c10d process group behind it lives in process_group.cpp, so
// that nothing else includes c10d's headers.
#include <torch/torch.h>

#include <vector>

namespace trilemma::distributed {

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Sums each tensor over the ranks, in place (every rank ends with the same values).
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  /// Returns once every rank has called it.
  virtual void barrier() = 0;
};

/// This process's group when it is one rank of a data-parallel run; nullptr otherwise.
/// One process is one rank, so the group is process-wide (set by the CLI on start).
Collectives* active();
void set_active(Collectives* group);
/// Whether this process writes the run's files and output: rank 0, or the only process.
bool is_primary();

}  // namespace trilemma::distributed
