#pragma once
// A checkpoint's manifest, step-<N>.json: what the checkpoint holds and how to verify it.
// Kept free of LibTorch so that its parser (which reads files a crash may have damaged)
// can be fuzzed in a small build.
#include <cstdint>
#include <string>

namespace trilemma::training {

constexpr int kCheckpointFormatVersion = 1;

struct CheckpointInfo {
  std::string path;      ///< the .pt file
  std::string model;     ///< family name
  int64_t step = 0;      ///< optimiser steps done
  int64_t epoch = 0;     ///< completed epochs
  int64_t bytes = 0;     ///< size of the .pt file
  uint32_t crc32 = 0;    ///< CRC-32 of the .pt file
  /// Seconds of training up to this checkpoint, summed over every resumption (pauses between
  /// them excluded); -1 when not recorded (checkpoints written before it was).
  double training_seconds = -1;
};

/// Parses a manifest's text: a JSON object with format_version (must be
/// kCheckpointFormatVersion), model (non-empty string), step, epoch, bytes (non-negative
/// integers), crc32 (0..2^32-1) and optionally training_seconds (a non-negative number). Throws UserError naming `source` if anything is off.
CheckpointInfo parse_manifest(const std::string& text, const std::string& source);

/// The manifest text for info (path is not recorded; the manifest sits next to its .pt).
std::string format_manifest(const CheckpointInfo& info);

}  // namespace trilemma::training
