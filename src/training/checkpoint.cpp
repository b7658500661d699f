#include "training/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/files.h"

namespace trilemma::training {
namespace fs = std::filesystem;

namespace {

std::string stem_for(int64_t step) {
  char name[48];
  std::snprintf(name, sizeof name, "step-%010lld", static_cast<long long>(step));
  return name;
}

}  // namespace

CheckpointInfo save_checkpoint(GenerativeModel& model, const std::string& model_name,
                               const std::string& dir, int64_t step, int64_t epoch, int keep,
                               double training_seconds) {
  fs::create_directories(dir);
  torch::serialize::OutputArchive archive;
  model.save(archive);
  std::ostringstream stream;
  archive.save_to(stream);
  const std::string bytes = stream.str();

  CheckpointInfo info;
  info.path = (fs::path(dir) / (stem_for(step) + ".pt")).string();
  info.model = model_name;
  info.step = step;
  info.epoch = epoch;
  info.bytes = static_cast<int64_t>(bytes.size());
  info.crc32 = crc32_of(bytes);
  info.training_seconds = training_seconds;
  write_file_atomic(info.path, bytes);
  try {
    write_file_atomic((fs::path(dir) / (stem_for(step) + ".json")).string(), format_manifest(info));
  } catch (const UserError&) {
    // Without its manifest the new .pt is ignored anyway; do not leave it taking space.
    std::error_code ignored;
    fs::remove(info.path, ignored);
    throw;
  }

  if (keep > 0) {
    std::vector<CheckpointInfo> all = list_checkpoints(dir);
    for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) {
      std::error_code ignored;
      fs::remove(fs::path(all[i].path).replace_extension(".json"), ignored);
      fs::remove(all[i].path, ignored);
    }
  }
  return info;
}

std::vector<CheckpointInfo> list_checkpoints(const std::string& dir) {
  std::vector<CheckpointInfo> found;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return found;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const fs::path path = entry.path();
    if (path.extension() != ".json" || path.filename().string().rfind("step-", 0) != 0) continue;
    try {
      CheckpointInfo info = parse_manifest(read_file(path.string()), path.string());
      info.path = fs::path(path).replace_extension(".pt").string();
      found.push_back(info);
    } catch (const UserError&) {
      // An unreadable manifest is reported when its checkpoint would be loaded; here we
      // list it with step -1 so that callers can say which files they skipped.
      CheckpointInfo broken;
      broken.path = fs::path(path).replace_extension(".pt").string();
      broken.step = -1;
      found.push_back(broken);
    }
  }
  std::sort(found.begin(), found.end(), [](const CheckpointInfo& a, const CheckpointInfo& b) {
    if (a.step != b.step) return a.step > b.step;
    return a.path > b.path;
  });
  return found;
}

std::vector<std::string> tidy_checkpoints(const std::string& dir, int64_t loaded_step) {
  std::vector<std::string> set_aside;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return set_aside;
  for (const CheckpointInfo& info : list_checkpoints(dir)) {
    if (info.step >= 0 && info.step <= loaded_step) continue;
    const fs::path pt = info.path, manifest = fs::path(info.path).replace_extension(".json");
    std::error_code ignored;
    if (fs::exists(pt, ignored)) fs::rename(pt, pt.string() + ".bad", ignored);
    fs::rename(manifest, manifest.string() + ".bad", ignored);
    set_aside.push_back(info.path);
  }
  std::vector<fs::path> leftovers;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const fs::path path = entry.path();
    const std::string name = path.filename().string();
    if (name.rfind("step-", 0) != 0) continue;
    const bool temporary = name.find(".tmp-") != std::string::npos;
    const bool orphan = path.extension() == ".pt" && !fs::exists(fs::path(path).replace_extension(".json"));
    if (temporary || orphan) leftovers.push_back(path);
  }
  for (const fs::path& path : leftovers) {
    std::error_code ignored;
    fs::remove(path, ignored);
  }
  return set_aside;
}

void load_checkpoint(GenerativeModel& model, const std::string& model_name,
                     const CheckpointInfo& info) {
  const std::string manifest_path = fs::path(info.path).replace_extension(".json").string();
  const CheckpointInfo manifest = parse_manifest(read_file(manifest_path), manifest_path);
  if (manifest.model != model_name)
    throw UserError(info.path + ": checkpoint of a '" + manifest.model + "' model, this run is '" +
                    model_name + "'");
  const std::string bytes = read_file(info.path);
  if (static_cast<int64_t>(bytes.size()) != manifest.bytes)
    throw UserError(info.path + ": truncated or wrong size (" + std::to_string(bytes.size()) +
                    " bytes, manifest says " + std::to_string(manifest.bytes) + ")");
  if (crc32_of(bytes) != manifest.crc32)
    throw UserError(info.path + ": corrupt (checksum does not match its manifest)");
  try {
    torch::serialize::InputArchive archive;
    std::istringstream stream(bytes);
    archive.load_from(stream);
    model.load(archive);
  } catch (const UserError& e) {
    throw UserError(info.path + ": " + e.what());
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    throw UserError(info.path + ": does not match this model's settings (" + what + ")");
  }
}

}  // namespace trilemma::training
