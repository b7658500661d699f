#pragma once
// Where a training run starts: a new run (its directory created atomically with its
// config.json), a run killed before its first checkpoint (restarted from step 0), or a run
// resumed from its newest good checkpoint; and the run options in force for it.
#include <memory>
#include <string>

#include "training/run_dir.h"
#include "training/train_loop.h"

namespace trilemma::training {

// Where a run starts: its config, family, model (made later for a fresh run, once its data
// is known to be there) and position.
struct RunStart {
  RunConfig config;
  const ModelFamily* family = nullptr;
  std::unique_ptr<GenerativeModel> model;
  int64_t step = 0;
  std::string last_checkpoint;
  double training_seconds = 0;  ///< training time up to last_checkpoint (0 without one; see CheckpointInfo)
  bool fresh = true;            ///< a new run directory is to be created
  bool config_changed = false;  ///< config.json must be rewritten (length or run options)
};

/// A new run (options.resume false: config is validated and the directory must be free)
/// or a resumed one (read from options.run_dir; a new length given is applied). Throws
/// UserError for anything that stops the run from starting.
RunStart find_run_start(const RunConfig& config, const TrainOptions& options);

/// The run options in force: those recorded in config.json (none in runs from before they
/// were recorded), then the ones given now. Records them in config.run_options and sets
/// `changed` when that changed it.
RunOptions resolve_run_options(RunConfig& config, const TrainOptions& options, bool& changed);

/// Creates run_dir holding config.json, atomically (see run_start.cpp).
void create_run_directory(const RunConfig& config, const std::string& run_dir);

/// Rewrites run_dir/config.json atomically.
void write_config(const RunConfig& config, const std::string& run_dir);

}  // namespace trilemma::training
