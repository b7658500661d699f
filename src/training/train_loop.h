#pragma once
// The training loop shared by every model family: epochs over shuffled MNIST, progress,
// metrics.jsonl, test loss per epoch, checkpoints, figures, Ctrl-C and divergence handling.
#include <string>

#include "core/settings_table.h"
#include "data/mnist.h"
#include "training/run_dir.h"

namespace trilemma::training {

/// How a run is driven, not what it learns. Recorded in config.json ("run_options") and
/// kept by --resume unless given again, so that a resumed run checkpoints as it was told to.
struct RunOptions {
  int64_t keep = 3;                ///< newest K checkpoints kept
  int64_t log_every = 50;          ///< steps between metrics.jsonl lines
  double checkpoint_minutes = 10;  ///< also checkpoint this often within an epoch (0: every step)
};
const SettingsTable<RunOptions>& run_options_table();
/// The defaults, overlaid by `recorded` (a run's config.json), overlaid by `given` (this
/// command); throws UserError (one line) for a value out of range.
RunOptions merge_run_options(const Json& recorded, const Json& given);

struct TrainOptions {
  std::string run_dir;          ///< where the run lives (created unless resuming)
  std::string data_dir;         ///< MNIST's IDX directory (a run on another dataset names it
                                ///< in config.json: RunConfig::dataset)
  torch::Device device = torch::kCPU;
  /// Run options given for this invocation (fields of run_options_table). A new run
  /// records them, with the defaults for the others; a resumed run replaces only these.
  Json run_options = Json::object();
  int64_t test_images = 10000;  ///< test images used for the per-epoch test loss
  bool resume = false;
  int64_t resume_epochs = -1;     ///< on resume, replaces the run's epochs when >= 0
  int64_t resume_max_steps = -1;  ///< on resume, replaces the run's max_steps when >= 0
  /// A distilled family's new run starts from this trained model (training/distill.h).
  GenerativeModel* teacher = nullptr;
};

/// Trains a new run (family + preset + settings) or resumes one (options.resume; a run
/// stopped before its first checkpoint restarts from step 0). Returns
/// the process exit status: 0 when done, 130/143 when stopped by SIGINT/SIGTERM after
/// writing a checkpoint. Throws UserError on bad input and on divergence (NaN/inf loss);
/// in both cases every previously written checkpoint stays intact.
int train_run(const RunConfig& config, const TrainOptions& options);

/// Rewrites metrics.jsonl keeping only lines whose "step" is <= step, so that a resumed
/// run's log has no duplicate steps from work lost after its checkpoint.
void truncate_metrics(const std::string& path, int64_t step);

/// The divergence guard: throws UserError when a loss term is NaN or infinite, naming the
/// step and the last good checkpoint (which training never touches afterwards).
void require_finite_losses(const LossTerms& terms, int64_t step, const std::string& last_checkpoint);

/// A data-parallel run splits each global batch of `batch_size` evenly over `ranks`;
/// throws UserError when it cannot.
void check_batch_split(int64_t batch_size, int ranks);

/// The per-step RNG seed: derived from (seed, step) so that a resumed run draws exactly
/// the random numbers an uninterrupted one would, without saving generator state.
uint64_t step_seed(int64_t seed, int64_t step);

}  // namespace trilemma::training
