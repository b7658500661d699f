// libFuzzer target: the checkpoint manifest parser (training/checkpoint_manifest.h) on
// arbitrary text, the file a crash mid-save or a damaged disk leaves behind. Any outcome
// but a manifest that survives a write/read round trip or a UserError is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "training/checkpoint_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trilemma::training::CheckpointInfo;
  const std::string text(reinterpret_cast<const char*>(data), size);
  CheckpointInfo info;
  try {
    info = trilemma::training::parse_manifest(text, "fuzz.json");
  } catch (const trilemma::UserError&) {
    return 0;
  }
  if (info.step < 0 || info.epoch < 0 || info.bytes < 0 || info.model.empty()) std::abort();
  CheckpointInfo again;
  try {
    again = trilemma::training::parse_manifest(trilemma::training::format_manifest(info), "again");
  } catch (const std::exception&) {
    // format_manifest throws only on a model name that is not UTF-8, which parse rejects.
    std::abort();
  }
  if (again.model != info.model || again.step != info.step || again.epoch != info.epoch ||
      again.bytes != info.bytes || again.crc32 != info.crc32 || again.training_seconds != info.training_seconds)
    std::abort();
  return 0;
}
