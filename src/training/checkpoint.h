#pragma once
// Checkpoints: checkpoints/step-<N>.pt (a LibTorch archive written by the model) plus a
// manifest step-<N>.json {format_version, model, step, epoch, bytes, crc32}. Both are
// written atomically, the manifest last, so a checkpoint without a valid manifest is
// incomplete and ignored; the manifest's size and CRC catch truncation and corruption.
#include <string>
#include <vector>

#include "models/generative_model.h"
#include "training/checkpoint_manifest.h"

namespace trilemma::training {

/// Writes the model's state as checkpoint `step` in dir and removes all but the newest
/// `keep` checkpoints. Throws UserError if the write fails; older checkpoints stay intact
/// and no half-written file of this step is left behind. `training_seconds` (the run's
/// training time so far; -1: unknown) is recorded in the manifest.
CheckpointInfo save_checkpoint(GenerativeModel& model, const std::string& model_name,
                               const std::string& dir, int64_t step, int64_t epoch, int keep,
                               double training_seconds = -1);

/// Checkpoints with a readable manifest in dir, newest first (not yet verified).
std::vector<CheckpointInfo> list_checkpoints(const std::string& dir);

/// Verifies a checkpoint (manifest, model kind, format version, size, CRC) and loads it
/// into model. Throws UserError with one line naming the file and the problem.
void load_checkpoint(GenerativeModel& model, const std::string& model_name,
                     const CheckpointInfo& info);

/// Tidies a checkpoint directory before a resumed run writes into it: removes temporary
/// files and manifest-less .pt files left by a kill mid-save, and sets aside (renames to
/// *.bad) every checkpoint newer than `loaded_step`, which the resume had to skip as
/// damaged, so that neither the next resume nor --keep's pruning takes it for a good one.
/// Returns the checkpoints set aside.
std::vector<std::string> tidy_checkpoints(const std::string& dir, int64_t loaded_step);

}  // namespace trilemma::training
