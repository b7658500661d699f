#include "training/run_dir.h"

#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "models/registry.h"
#include "training/checkpoint.h"
#include "training/zoo.h"

namespace trilemma::training {
namespace fs = std::filesystem;

std::string config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.json").string(); }
std::string metrics_path(const std::string& run_dir) { return (fs::path(run_dir) / "metrics.jsonl").string(); }
std::string images_dir(const std::string& run_dir) { return (fs::path(run_dir) / "images").string(); }
std::string checkpoints_dir(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoints").string(); }

double minutes_since_created(const RunConfig& config, const std::string& file) {
  std::tm tm{};
  std::istringstream in(config.environment.value("created", std::string()));
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  struct stat info {};
  if (in.fail() || ::stat(file.c_str(), &info) != 0) return -1;
  return static_cast<double>(info.st_mtime - timegm(&tm)) / 60.0;
}

double training_minutes(const RunConfig& config, const std::string& checkpoint, double training_seconds) {
  return training_seconds >= 0 ? training_seconds / 60 : minutes_since_created(config, checkpoint);
}

Json RunConfig::to_json() const {
  Json json = {{"model", model},
               {"preset", preset},
               {"settings", settings},
               {"run_options", run_options},
               {"environment", environment}};
  if (!teacher.empty()) json["teacher"] = teacher;
  if (!dataset.empty()) json["dataset"] = dataset;
  return json;
}

RunConfig RunConfig::from_json(const Json& json, const std::string& source) {
  try {
    RunConfig config;
    config.model = json.at("model").get<std::string>();
    config.preset = json.at("preset").get<std::string>();
    config.settings = json.at("settings");
    if (!config.settings.is_object()) throw std::runtime_error("settings");
    config.run_options = json.value("run_options", Json::object());
    if (!config.run_options.is_object()) throw std::runtime_error("run_options");
    config.environment = json.value("environment", Json::object());
    config.teacher = json.value("teacher", Json::object());
    if (!config.teacher.is_object()) throw std::runtime_error("teacher");
    config.dataset = json.value("dataset", Json::object());
    if (!config.dataset.is_object()) throw std::runtime_error("dataset");
    return config;
  } catch (const std::exception&) {
    throw UserError(source + ": not a valid trilemma config (needs model, preset, settings)");
  }
}

RunConfig read_run_config(const std::string& run_dir) {
  const std::string path = config_path(run_dir);
  Json json;
  try {
    json = Json::parse(read_file(path));
  } catch (const Json::exception&) {
    throw UserError(path + ": not valid JSON");
  }
  return RunConfig::from_json(json, path);
}

void use_guide(LoadedRun& run, const std::string& source, torch::Device device) {
  if (source == "none") {
    run.model->attach_guide(nullptr);
    run.guide.clear();
    run.guide_crc32.clear();
    return;
  }
  if (source.empty()) throw UserError("--guide: expected a run directory, zoo:NAME or none");
  // A guide that names a guide of its own (a zoo entry's "guide") is refused before that one
  // loads, so that entries naming each other cannot recurse.
  static thread_local bool loading_a_guide = false;
  if (loading_a_guide) throw UserError("--guide: the guide is guided itself (by " + source + "); a guide must not be");
  LoadedRun guide;
  loading_a_guide = true;
  try {
    guide = load_run(source, device);
  } catch (...) {
    loading_a_guide = false;
    throw;
  }
  loading_a_guide = false;
  run.model->attach_guide(std::shared_ptr<GenerativeModel>(std::move(guide.model)));
  run.guide = source;
  run.guide_crc32 = guide.checkpoint_crc32;
}

LoadedRun load_run(const std::string& dir, torch::Device device, bool with_guide) {
  if (is_zoo_name(dir)) return load_zoo_model(dir, device, with_guide);
  if (!fs::is_directory(dir)) throw UserError(dir + ": no such run directory");
  if (!fs::exists(config_path(dir))) throw UserError(dir + ": not a run directory (no config.json)");
  LoadedRun run;
  run.dir = dir;
  run.config = read_run_config(dir);
  run.family = &find_model_family(run.config.model);
  run.family->validate(run.config.settings);
  run.model = run.family->create(run.config.settings, device);

  const std::vector<CheckpointInfo> candidates = list_checkpoints(checkpoints_dir(dir));
  if (candidates.empty()) throw UserError(dir + ": holds no checkpoint yet");
  for (size_t i = 0; i < candidates.size(); ++i) {
    try {
      load_checkpoint(*run.model, run.config.model, candidates[i]);
      run.step = candidates[i].step;
      run.epoch = candidates[i].epoch;
      run.checkpoint = candidates[i].path;
      run.checkpoint_crc32 = crc32_hex(candidates[i].crc32);
      run.training_seconds = candidates[i].training_seconds;
      if (i > 0)
        std::cerr << "warning: using older checkpoint " << candidates[i].path << "\n";
      return run;
    } catch (const UserError& e) {
      std::cerr << "warning: skipping checkpoint: " << e.what() << "\n";
    }
  }
  throw UserError(dir + ": no usable checkpoint (all " + std::to_string(candidates.size()) +
                  " are corrupt or incomplete)");
}

}  // namespace trilemma::training
