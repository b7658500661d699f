#pragma once
// What makes N ranks that each train on 1/N of a batch follow the same recipe as one
// process training on the whole batch (docs: README "Training on several processes"):
//
// - every per-row random draw inside a training step (noise, timesteps, latents, dropout
//   masks, label dropout) is drawn for the whole global batch from the step's seed and
//   cut to this rank's rows, so rank r sees exactly the numbers one process would have
//   given those rows;
// - gradients are averaged over the ranks between backward() and the optimiser's step,
//   in a few coalesced all-reduces;
// - BatchNorm in training mode normalises with the global batch's statistics
//   (synchronised BatchNorm), forward and backward.
//
// In one process (no active group, or no ShardScope) every function here is exactly the
// plain LibTorch call, so single-process runs are unchanged bit for bit.
#include <torch/torch.h>

#include <vector>

#include "distributed/collectives.h"

namespace trilemma::distributed {

/// Declares, for the training step inside its lifetime, that this rank holds rows
/// [offset, offset + rows) of a global batch of `global_rows` (set by the training loop).
class ShardScope {
 public:
  ShardScope(int64_t offset, int64_t global_rows);
  ~ShardScope();
  ShardScope(const ShardScope&) = delete;
  ShardScope& operator=(const ShardScope&) = delete;

 private:
  int64_t saved_offset_, saved_global_;
};

/// Per-row random draws of a training step: `rows` rows (this rank's) of a draw made for
/// the global batch. Outside a ShardScope: torch::randn/rand/randint/bernoulli as usual.
torch::Tensor shard_randn(torch::IntArrayRef sizes, const torch::TensorOptions& options = {});
torch::Tensor shard_randn_like(const torch::Tensor& like);
torch::Tensor shard_rand(torch::IntArrayRef sizes, const torch::TensorOptions& options = {});
torch::Tensor shard_randint(int64_t low, int64_t high, torch::IntArrayRef sizes,
                            const torch::TensorOptions& options = torch::kLong);
/// Inverted dropout as torch::dropout computes it on CPU, with the mask drawn per global row.
torch::Tensor shard_dropout(const torch::Tensor& input, double p, bool training);

/// Averages the gradients of `parameters` over the active group's ranks (a no-op in one
/// process). Call between backward() and the optimiser's step(). Parameters without a
/// gradient are skipped (every rank runs the same code, so they match).
void average_gradients(const std::vector<torch::Tensor>& parameters);
void average_gradients(Collectives& group, const std::vector<torch::Tensor>& parameters);
/// Time in gradient all-reduces (waiting for the slowest rank included), bytes reduced and
/// time in synchronised BatchNorm's all-reduces since the last call, which resets them: the
/// training loop logs them per step.
struct GradientSyncCost {
  double seconds = 0;
  int64_t bytes = 0;
  double batch_norm_seconds = 0;  ///< synchronised BatchNorm's all-reduces, forward and backward
};
GradientSyncCost take_gradient_sync_cost();

/// Synchronised batch normalisation in training mode over x (N×C×...): statistics over the
/// rows of every rank; running statistics updated as torch's BatchNorm does (momentum, or
/// a cumulative average when momentum is unset), with the unbiased global variance.
torch::Tensor sync_batch_norm(Collectives& group, const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                              torch::Tensor num_batches_tracked, c10::optional<double> momentum, double eps);

/// The group a training step's BatchNorm synchronises over: the active one inside a
/// ShardScope of a multi-rank run, else nullptr (evaluation, figures and sampling on rank 0
/// alone never wait for the other ranks).
Collectives* training_group();

/// A BatchNorm module's forward, synchronised over the ranks inside a training step.
template <class BatchNorm>
torch::Tensor batch_norm(BatchNorm& norm, const torch::Tensor& x) {
  Collectives* group = training_group();
  if (group == nullptr || !norm->is_training()) return norm->forward(x);
  return sync_batch_norm(*group, x, norm->weight, norm->bias, norm->running_mean, norm->running_var,
                         norm->num_batches_tracked, norm->options.momentum(), norm->options.eps());
}

}  // namespace trilemma::distributed
