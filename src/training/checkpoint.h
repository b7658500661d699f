#pragma once
// Checkpoints: checkpoints/step-<N>.pt (a LibTorch archive written by the model) plus a
// manifest step-<N>.json {format_version, model, step, epoch, bytes, crc32}. Both are
// written atomically, the manifest last, so a checkpoint without a valid manifest is
// incomplete and ignored; the manifest's size and CRC catch truncation and corruption.
#include <string>
#include <vector>

#include "models/generative_model.h"

namespace trilemma::training {

constexpr int kCheckpointFormatVersion = 1;

struct CheckpointInfo {
  std::string path;      ///< the .pt file
  std::string model;     ///< family name
  int64_t step = 0;      ///< optimiser steps done
  int64_t epoch = 0;     ///< completed epochs
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

/// Writes the model's state as checkpoint `step` in dir and removes all but the newest
/// `keep` checkpoints. Throws UserError if the write fails; older checkpoints stay intact.
CheckpointInfo save_checkpoint(GenerativeModel& model, const std::string& model_name,
                               const std::string& dir, int64_t step, int64_t epoch, int keep);

/// Checkpoints with a readable manifest in dir, newest first (not yet verified).
std::vector<CheckpointInfo> list_checkpoints(const std::string& dir);

/// Verifies a checkpoint (manifest, model kind, format version, size, CRC) and loads it
/// into model. Throws UserError with one line naming the file and the problem.
void load_checkpoint(GenerativeModel& model, const std::string& model_name,
                     const CheckpointInfo& info);

/// Loads a module's parameters and buffers from an archive written by Module::save, but
/// checks every name and shape first: LibTorch's own Module::load silently adopts tensors
/// of another shape, which would turn a checkpoint of other settings into a broken model.
/// Throws UserError naming the first mismatch.
void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& prefix = "");

/// Parses a manifest's text; throws UserError naming `source` if malformed.
CheckpointInfo parse_manifest(const std::string& text, const std::string& source);

}  // namespace trilemma::training
