#include "training/checkpoint_manifest.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/settings.h"

namespace trilemma::training {

CheckpointInfo parse_manifest(const std::string& text, const std::string& source) {
  Json json;
  try {
    json = Json::parse(text);
  } catch (const std::exception&) {
    throw UserError(source + ": corrupt checkpoint manifest (not valid JSON)");
  }
  if (!json.is_object()) throw UserError(source + ": corrupt checkpoint manifest (not a JSON object)");
  auto integer = [&](const char* key) -> int64_t {
    auto it = json.find(key);
    if (it == json.end()) throw UserError(source + ": checkpoint manifest lacks '" + key + "'");
    // is_number_integer rejects 1.5 and "1", which get<int64_t> would quietly convert;
    // unsigned values above int64's range are rejected as well.
    if (!it->is_number_integer() ||
        (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())))
      throw UserError(source + ": checkpoint manifest's '" + key + "' is not an integer");
    return it->get<int64_t>();
  };
  const int64_t version = integer("format_version");
  if (version != kCheckpointFormatVersion)
    throw UserError(source + ": checkpoint format version " + std::to_string(version) +
                    ", this trilemma reads version " + std::to_string(kCheckpointFormatVersion));
  CheckpointInfo info;
  auto model = json.find("model");
  if (model == json.end() || !model->is_string() || model->get<std::string>().empty())
    throw UserError(source + ": checkpoint manifest lacks the model name");
  info.model = model->get<std::string>();
  info.step = integer("step");
  info.epoch = integer("epoch");
  info.bytes = integer("bytes");
  const int64_t crc = integer("crc32");
  if (info.step < 0 || info.epoch < 0 || info.bytes < 0)
    throw UserError(source + ": checkpoint manifest has negative fields");
  if (crc < 0 || crc > int64_t{std::numeric_limits<uint32_t>::max()})
    throw UserError(source + ": checkpoint manifest's crc32 is out of range");
  info.crc32 = static_cast<uint32_t>(crc);
  if (auto seconds = json.find("training_seconds"); seconds != json.end()) {
    if (!seconds->is_number() || !(seconds->get<double>() >= 0) || !std::isfinite(seconds->get<double>()))
      throw UserError(source + ": checkpoint manifest's training_seconds is not a non-negative number");
    info.training_seconds = seconds->get<double>();
  }
  return info;
}

std::string format_manifest(const CheckpointInfo& info) {
  Json manifest = {{"format_version", kCheckpointFormatVersion},
                   {"model", info.model},
                   {"step", info.step},
                   {"epoch", info.epoch},
                   {"bytes", info.bytes},
                   {"crc32", info.crc32}};
  if (info.training_seconds >= 0) manifest["training_seconds"] = info.training_seconds;
  return manifest.dump(2) + "\n";
}

}  // namespace trilemma::training
