#pragma once
// A run directory holds everything about one training run:
//   config.json     model, preset, every setting, dataset, run options, LibTorch version, device,
//                   threads
//   metrics.jsonl   one JSON object per logged step / epoch
//   checkpoints/    step-<N>.pt with step-<N>.json manifests (newest K kept)
//   images/         PNG figures
#include <memory>
#include <string>

#include "models/generative_model.h"

namespace trilemma::training {

struct RunConfig {
  std::string model;   ///< family name
  std::string preset;
  Json settings;       ///< every hyperparameter
  Json run_options = Json::object();  ///< keep, log_every, checkpoint_minutes (train_loop.h's
                                      ///< RunOptions); empty in runs from before they were kept
  Json environment;    ///< torch_version, device, threads, created (informational)
  Json teacher = Json::object();  ///< a distilled run's teacher: run, checkpoint, its CRC,
                                  ///< step, model, settings (training/distill.h); else empty
  Json dataset = Json::object();  ///< what it learns from (data::DatasetInfo::to_json);
                                  ///< empty in runs from before datasets: MNIST
  Json to_json() const;
  static RunConfig from_json(const Json& json, const std::string& source);
};

/// Reads run_dir/config.json (UserError naming the file when it is not valid JSON or not a
/// trilemma config).
RunConfig read_run_config(const std::string& run_dir);

/// A run loaded for sampling, evaluation or resuming.
struct LoadedRun {
  std::string dir;
  RunConfig config;
  const ModelFamily* family = nullptr;
  std::unique_ptr<GenerativeModel> model;
  int64_t step = 0;           ///< optimiser steps done at the loaded checkpoint
  int64_t epoch = 0;          ///< completed epochs at the loaded checkpoint
  std::string checkpoint;     ///< path of the loaded checkpoint
  std::string checkpoint_crc32;  ///< its CRC-32 (hex), checked against the file's bytes on load
  double training_seconds = -1;  ///< the checkpoint's training time (-1: not recorded)
  bool read_only = false;     ///< a zoo entry (training/zoo.h): commands write nothing into it
  std::string guide;          ///< the run or zoo:NAME attached as its autoguidance guide ("" = none)
  std::string guide_crc32;    ///< the guide's checkpoint CRC-32, when attached
};

/// Reads config.json and loads the newest valid checkpoint (falling back to older ones
/// with a warning on stderr), or, for "zoo:NAME", a zoo entry (training/zoo.h) with the
/// guide it names unless with_guide is false (for a caller that sets another with
/// use_guide, or uses the network alone). Throws UserError if the directory is not a run
/// or holds no usable checkpoint.
LoadedRun load_run(const std::string& dir, torch::Device device, bool with_guide = true);

/// Attaches `source` (a run directory or zoo:NAME, loaded on `device`) to run.model as its
/// autoguidance guide (GenerativeModel::attach_guide), or detaches the guide for "none".
/// UserError when the guide cannot be loaded or does not fit the model.
void use_guide(LoadedRun& run, const std::string& source, torch::Device device);

/// Wall minutes from the run's creation (config.json's environment.created) to the last
/// write of `file` (e.g. a checkpoint), or -1 when either is unknown.
double minutes_since_created(const RunConfig& config, const std::string& file);

/// Minutes of training up to a checkpoint: its recorded training time when it has one (pauses
/// between resumptions excluded), else the wall minutes since the run was created (runs
/// from before training time was recorded; right for a run never paused).
double training_minutes(const RunConfig& config, const std::string& checkpoint, double training_seconds);

std::string config_path(const std::string& run_dir);
std::string metrics_path(const std::string& run_dir);
std::string images_dir(const std::string& run_dir);
std::string checkpoints_dir(const std::string& run_dir);

}  // namespace trilemma::training
