#include "training/run_start.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "distributed/collectives.h"
#include "models/registry.h"
#include "training/checkpoint.h"
#include "training/zoo.h"

namespace trilemma::training {
namespace fs = std::filesystem;
namespace {

// `train --resume RUN --epochs N / --max-steps N` changes only the run's length.
bool apply_new_length(RunConfig& config, const TrainOptions& options) {
  bool extended = false;
  if (options.resume_epochs >= 0) config.settings["epochs"] = options.resume_epochs, extended = true;
  if (options.resume_max_steps >= 0) config.settings["max_steps"] = options.resume_max_steps, extended = true;
  return extended;
}

RunStart start_new_run(const RunConfig& config, const TrainOptions& options) {
  RunStart start;
  start.config = config;
  start.family = &find_model_family(config.model);
  start.config.settings = start.family->validate(config.settings);
  std::error_code error;
  // Rank 0 alone creates the directory, so it alone checks that the name is free.
  if (distributed::is_primary() && fs::exists(options.run_dir) && !fs::is_empty(options.run_dir, error))
    throw UserError(options.run_dir + ": already exists and is not empty (use --resume to continue it, or another --run-dir)");
  return start;
}

// A run killed before its first checkpoint has lost nothing but time: it restarts from
// step 0, which gives exactly the run an uninterrupted start would have given.
RunStart restart_unstarted_run(const TrainOptions& options) {
  RunStart start;
  start.config = read_run_config(options.run_dir);
  start.family = &find_model_family(start.config.model);
  start.fresh = false;
  if (distributed::is_primary()) {
    tidy_checkpoints(checkpoints_dir(options.run_dir), -1);
    truncate_metrics(metrics_path(options.run_dir), 0);
  }
  start.config_changed = apply_new_length(start.config, options);
  start.family->validate(start.config.settings);
  std::cout << options.run_dir << " holds no checkpoint yet; starting it from step 0\n";
  return start;
}

RunStart resume_run(const TrainOptions& options) {
  LoadedRun run = load_run(options.run_dir, options.device);
  RunStart start;
  start.family = run.family;
  start.config = run.config;
  start.model = std::move(run.model);
  start.step = run.step;
  start.last_checkpoint = run.checkpoint;
  // A checkpoint from before training time was recorded: its wall minutes since creation.
  start.training_seconds = 60 * std::max(0.0, training_minutes(run.config, run.checkpoint, run.training_seconds));
  start.fresh = false;
  if (distributed::is_primary()) {
    truncate_metrics(metrics_path(options.run_dir), start.step);
    for (const std::string& path : tidy_checkpoints(checkpoints_dir(options.run_dir), start.step))
      std::cerr << "warning: set aside damaged checkpoint " << path << " (renamed to .bad)\n";
  }
  start.config_changed = apply_new_length(start.config, options);
  if (start.config_changed) start.family->validate(start.config.settings);
  std::cout << "resuming " << options.run_dir << " from step " << start.step << " (" << start.last_checkpoint
            << ")\n";
  return start;
}

}  // namespace

void write_config(const RunConfig& config, const std::string& run_dir) {
  write_file_atomic(config_path(run_dir), config.to_json().dump(2) + "\n");
}

RunOptions resolve_run_options(RunConfig& config, const TrainOptions& options, bool& changed) {
  const RunOptions resolved = merge_run_options(config.run_options, options.run_options);
  const Json recorded = run_options_table().to_json(resolved);
  changed = recorded != config.run_options;
  config.run_options = recorded;
  return resolved;
}

RunStart find_run_start(const RunConfig& config, const TrainOptions& options) {
  if (options.resume && is_zoo_name(options.run_dir))
    throw UserError(options.run_dir + ": a zoo model holds only its sampling networks and cannot be resumed");
  if (!options.resume) return start_new_run(config, options);
  const bool never_checkpointed = fs::is_directory(options.run_dir) && fs::exists(config_path(options.run_dir)) &&
                                  list_checkpoints(checkpoints_dir(options.run_dir)).empty();
  return never_checkpointed ? restart_unstarted_run(options) : resume_run(options);
}

// The directory appears with its config.json or not at all (built under a temporary name,
// then renamed), so a kill here never leaves a directory that is neither a resumable run
// nor free for a new one.
void create_run_directory(const RunConfig& config, const std::string& run_dir) {
  fs::path target = fs::path(run_dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  const fs::path staging = target.string() + ".tmp-" + std::to_string(getpid());
  std::error_code error;
  fs::remove_all(staging, error);
  fs::create_directories(staging, error);
  if (error) throw UserError(run_dir + ": cannot create (" + error.message() + ")");
  try {
    write_config(config, staging.string());
  } catch (const UserError&) {
    fs::remove_all(staging, error);
    throw;
  }
  fs::rename(staging, target, error);  // replaces an empty directory, fails on another
  if (error) {
    const std::string reason = error.message();
    fs::remove_all(staging, error);
    throw UserError(run_dir + ": cannot create (" + reason + ")");
  }
}

}  // namespace trilemma::training
