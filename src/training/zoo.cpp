#include "training/zoo.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/module_io.h"
#include "core/settings.h"
#include "metrics/run_evaluation.h"
#include "models/registry.h"
#include "perf/machine.h"

#ifndef TRILEMMA_DEFAULT_ZOO_DIR
#define TRILEMMA_DEFAULT_ZOO_DIR "zoo"
#endif

namespace trilemma::training {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "zoo:";
constexpr const char* kModelFile = "model.pt";
constexpr const char* kManifestFile = "zoo.json";

std::string manifest_path(const std::string& entry_dir) { return (fs::path(entry_dir) / kManifestFile).string(); }

// Entry names become folder names and `zoo:` arguments: keep them to one plain word.
void check_entry_name(const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!plain || name[0] == '.')
    throw UserError("zoo entry name '" + name + "': use letters, digits, '-', '_' and '.' (at most 64)");
}

ZooEntry read_entry(const std::string& name, const std::string& dir) {
  const std::string path = manifest_path(dir);
  ZooEntry entry{name, dir, Json()};
  try {
    entry.manifest = Json::parse(read_file(path));
  } catch (const Json::exception&) {
    throw UserError(path + ": not valid JSON");
  }
  const Json& m = entry.manifest;
  const bool well_formed = m.is_object() && m.value("format_version", 0) == kZooFormatVersion &&
                           m.contains("model") && m["model"].is_string() && m.contains("settings") &&
                           m["settings"].is_object() && m.contains("bytes") && m["bytes"].is_number_integer() &&
                           m.contains("crc32") && m["crc32"].is_string();
  if (!well_formed)
    throw UserError(path + ": not a zoo manifest of format version " + std::to_string(kZooFormatVersion) +
                    " (needs model, settings, bytes, crc32)");
  return entry;
}

// The entries' names (folders holding a zoo.json), sorted.
std::vector<std::string> entry_names(const std::string& zoo_dir) {
  std::vector<std::string> names;
  if (fs::is_directory(zoo_dir))
    for (const auto& e : fs::directory_iterator(zoo_dir))
      if (fs::exists(e.path() / kManifestFile)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// "zoo:NAME" -> NAME.
std::string entry_name(const std::string& run_argument) { return run_argument.substr(std::string(kPrefix).size()); }

}  // namespace

std::string zoo_directory() {
  const char* dir = std::getenv("TRILEMMA_ZOO_DIR");
  return dir && *dir ? dir : TRILEMMA_DEFAULT_ZOO_DIR;
}

bool is_zoo_name(const std::string& run_argument) { return run_argument.rfind(kPrefix, 0) == 0; }

std::string zoo_entry_dir(const std::string& run_argument) {
  const std::string name = entry_name(run_argument);
  const std::string zoo = zoo_directory();
  const std::string dir = (fs::path(zoo) / name).string();
  if (name.empty() || name.find('/') != std::string::npos || !fs::exists(manifest_path(dir))) {
    std::string names;
    for (const auto& n : entry_names(zoo)) names += (names.empty() ? "" : ", ") + n;
    throw UserError(run_argument + ": no such zoo model (the zoo at " + zoo + " has: " +
                    (names.empty() ? "none" : names) + ")");
  }
  return dir;
}

std::string run_folder(const std::string& run_argument) {
  return is_zoo_name(run_argument) ? zoo_entry_dir(run_argument) : run_argument;
}

std::vector<ZooEntry> list_zoo(const std::string& zoo_dir) {
  std::vector<ZooEntry> entries;
  for (const auto& name : entry_names(zoo_dir)) entries.push_back(read_entry(name, (fs::path(zoo_dir) / name).string()));
  return entries;
}

std::string export_to_zoo(LoadedRun& run, const std::string& name, const std::string& zoo_dir, const Json& training) {
  check_entry_name(name);
  const auto networks = run.model->sampling_networks();
  if (networks.empty()) throw UserError(run.config.model + ": this family names no sampling networks to export");
  torch::serialize::OutputArchive archive;
  for (const auto& [key, module] : networks) write_module_as(archive, key, *module, torch::kFloat16);
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string data = bytes.str();

  const fs::path dir = fs::path(zoo_dir) / name;
  // A replaced entry's evaluation and training log describe the old model.
  for (const char* stale : {"eval.json", "metrics.jsonl", "images"}) fs::remove_all(dir / stale);
  fs::create_directories(dir);
  write_file_atomic((dir / kModelFile).string(), data);
  Json manifest = {{"format_version", kZooFormatVersion},
                         {"name", name},
                         {"model", run.config.model},
                         {"preset", run.config.preset},
                         {"settings", run.config.settings},
                         {"step", run.step},
                         {"epoch", run.epoch},
                         {"parameters", run.model->parameter_count()},
                         {"file", kModelFile},
                         {"storage", "float16"},
                         {"bytes", static_cast<int64_t>(data.size())},
                         {"crc32", crc32_hex(crc32_of(data))},
                         {"training", training}};
  if (!run.config.dataset.empty()) manifest["dataset"] = run.config.dataset;
  if (!run.guide.empty()) manifest["guide"] = {{"entry", run.guide}, {"crc32", run.guide_crc32}};
  // The manifest last: an entry whose model.pt does not match it fails its CRC check.
  write_file_atomic(manifest_path(dir.string()), manifest.dump(2) + "\n");
  return dir.string();
}

ZooEntry read_zoo_entry(const std::string& run_argument) {
  return read_entry(entry_name(run_argument), zoo_entry_dir(run_argument));
}

Json read_zoo_evaluation(const std::string& run_argument) {
  const std::string dir = zoo_entry_dir(run_argument);
  Json evaluation = metrics::read_eval_file(dir);
  const std::string cpu =
      read_entry(entry_name(run_argument), dir).manifest.value("training", Json::object()).value("exported_on_cpu", "");
  if (cpu.empty() || !evaluation.contains("samplers") || !evaluation["samplers"].is_object()) return evaluation;
  for (auto& result : evaluation["samplers"])
    if (result.is_object() && result.contains("speed") && result["speed"].is_object() &&
        !result["speed"].contains("cpu"))
      result["speed"]["cpu"] = cpu;
  return evaluation;
}

std::vector<std::string> entries_guided_by(const std::string& name, const std::string& zoo_dir) {
  std::vector<std::string> guided;
  for (const auto& entry : list_zoo(zoo_dir)) {
    const Json& m = entry.manifest;
    if (m.contains("guide") && m["guide"].is_object() && m["guide"].value("entry", Json()) == "zoo:" + name)
      guided.push_back("zoo:" + entry.name);
  }
  return guided;
}

LoadedRun load_zoo_model(const std::string& run_argument, torch::Device device, bool with_guide) {
  const std::string dir = zoo_entry_dir(run_argument);
  const ZooEntry entry = read_entry(entry_name(run_argument), dir);
  const Json& m = entry.manifest;
  const std::string file = (fs::path(dir) / kModelFile).string();
  const std::string data = read_file(file);
  if (static_cast<int64_t>(data.size()) != m["bytes"].get<int64_t>())
    throw UserError(file + ": " + std::to_string(data.size()) + " bytes, its zoo.json says " +
                    std::to_string(m["bytes"].get<int64_t>()) + " (damaged or replaced)");
  const std::string crc = crc32_hex(crc32_of(data));
  if (crc != m["crc32"].get<std::string>())
    throw UserError(file + ": CRC-32 " + crc + " differs from its zoo.json's " +
                    m["crc32"].get<std::string>() + " (damaged or replaced)");

  LoadedRun run;
  run.dir = dir;
  run.read_only = true;
  run.config.model = m["model"].get<std::string>();
  run.config.preset = m.value("preset", std::string("?"));
  run.config.settings = m["settings"];
  run.config.environment = m.value("training", Json::object()).value("environment", Json::object());
  run.config.teacher = m.value("training", Json::object()).value("teacher", Json::object());
  run.config.dataset = m.value("dataset", Json::object());
  run.family = &find_model_family(run.config.model);
  run.family->validate(run.config.settings);
  run.model = run.family->create(run.config.settings, device);
  run.step = m.value("step", int64_t{0});
  run.epoch = m.value("epoch", int64_t{0});
  run.checkpoint = file;
  run.checkpoint_crc32 = crc;
  try {
    std::istringstream in(data);
    torch::serialize::InputArchive archive;
    archive.load_from(in, device);
    for (const auto& [key, module] : run.model->sampling_networks()) read_module(archive, key, *module);
  } catch (const c10::Error& e) {
    throw UserError(file + ": not a readable zoo model (" + std::string(e.what_without_backtrace()).substr(0, 120) + ")");
  }
  // An entry sampled with autoguidance names its guide, itself a zoo entry.
  // Its evaluation holds for that guide's weights only, so a replaced guide is refused.
  if (m.contains("guide") && with_guide) {
    const Json& g = m["guide"];
    if (!g.is_object() || !g.value("entry", Json()).is_string() || !is_zoo_name(g["entry"].get<std::string>()) ||
        !g.value("crc32", Json()).is_string())
      throw UserError(manifest_path(dir) + ": \"guide\" must name a zoo entry (\"entry\": \"zoo:NAME\") and its "
                      "\"crc32\"");
    const std::string guide = g["entry"].get<std::string>();
    use_guide(run, guide, device);
    const std::string recorded = m["guide"].value("crc32", std::string());
    if (run.guide_crc32 != recorded)
      throw UserError(run_argument + ": its guide " + guide + " has CRC-32 " + run.guide_crc32 + ", its zoo.json says " +
                      recorded + " (replaced since; re-export with zoo add " + run_argument + " --name " +
                      entry_name(run_argument) + " --guide " + guide + ")");
  }
  return run;
}

std::string training_command(const LoadedRun& run) {
  const Json& teacher = run.config.teacher;
  const bool distilled = !teacher.empty();
  // A distilled run's command names its teacher; the fields copied from it are not flags.
  std::string command = distilled ? "trilemma distill " + teacher.value("run", std::string("TEACHER_RUN")) +
                                        " --method " + run.config.model
                                  : "trilemma train " + run.config.model;
  command += " --preset " + run.config.preset;
  const Json preset = run.family->preset_settings(run.config.preset);
  const auto& copied = run.family->teacher_fields;
  for (const auto& [key, value] : run.config.settings.items()) {
    if (distilled && std::find(copied.begin(), copied.end(), key) != copied.end()) continue;
    if (!preset.contains(key) || preset[key] != value) command += " " + flag_name(key) + " " + setting_text(value);
  }
  return command;
}

Json training_record(const LoadedRun& run) {
  const Json& teacher = run.config.teacher;
  Json record = {{"command", training_command(run)},
                 {"environment", run.config.environment},
                 {"exported_on_cpu", perf::cpu_model_name()}};
  if (!teacher.empty()) record["teacher"] = teacher;
  const double minutes = training_minutes(run.config, run.checkpoint, run.training_seconds);
  if (minutes >= 0) record["training_minutes"] = minutes;
  return record;
}

}  // namespace trilemma::training
