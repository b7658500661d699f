#include "training/distill.h"

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "core/settings.h"
#include "models/registry.h"
#include "training/zoo.h"

namespace trilemma::training {
namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

RunConfig distilled_config(const DistillRequest& request, const LoadedRun& teacher) {
  const ModelFamily& family = find_model_family(request.method);
  if (family.teacher_family.empty())
    throw UserError("--method: " + family.name + " is trained with `trilemma train`, not distilled");
  if (teacher.config.model != family.teacher_family)
    throw UserError(teacher.dir + ": a " + teacher.config.model + " run; " + family.name + " distils a " +
                    family.teacher_family + " run");
  RunConfig config;
  config.model = family.name;
  config.preset = request.preset.empty() ? family.presets.front() : request.preset;
  config.settings = family.preset_settings(config.preset);
  const Json& taught = teacher.config.settings;
  for (const std::string& name : family.teacher_fields) config.settings[name] = taught.at(name);
  for (const std::string& name : family.teacher_defaults)
    if (taught.contains(name)) config.settings[name] = taught.at(name);
  // The student learns the teacher's data, at the teacher's image shape.
  const std::vector<std::string> data_fields = {"image_size", "image_channels", "classes"};
  for (const std::string& name : data_fields)
    if (taught.contains(name)) config.settings[name] = taught.at(name);
  config.dataset = teacher.config.dataset;
  for (const auto& [name, text] : request.settings) {
    if (contains(data_fields, name))
      throw UserError(flag_name(name) + ": the student learns the teacher's data at its shape (" +
                      setting_text(taught.value(name, Json(name == "classes" ? 10 : name == "image_size" ? 28 : 1))) +
                      ")");
    if (contains(family.teacher_fields, name))
      throw UserError(flag_name(name) + ": the student copies it from the teacher (" +
                      setting_text(taught.at(name)) + ")");
    family.set_setting(config.settings, name, text);
  }
  config.settings = family.validate(config.settings);
  const std::string checkpoint_bytes = read_file(teacher.checkpoint);
  config.teacher = {{"run", request.teacher},  // as given: a run directory or zoo:NAME
                    {"model", teacher.config.model},
                    {"preset", teacher.config.preset},
                    {"checkpoint", teacher.checkpoint},
                    {"checkpoint_crc32", crc32_hex(crc32_of(checkpoint_bytes))},
                    {"step", teacher.step},
                    {"settings", taught}};
  return config;
}

int distill_run(const DistillRequest& request, TrainOptions options) {
  // The student distils the teacher's network alone: a zoo entry's autoguidance guide is
  // not loaded, and the user is told.
  LoadedRun teacher = load_run(request.teacher, options.device, /*with_guide=*/false);
  const RunConfig config = distilled_config(request, teacher);  // refuses bad flags first
  std::cout << "distilling " << request.teacher << " (" << teacher.config.model << ", step " << teacher.step
            << ") into " << config.model << ": run directory " << options.run_dir << "\n";
  if (is_zoo_name(request.teacher) && read_zoo_entry(request.teacher).manifest.contains("guide"))
    std::cout << "note: " << request.teacher << " samples with a guide (autoguidance); the student distils its "
              << "network alone\n";
  options.teacher = teacher.model.get();
  return train_run(config, options);
}

}  // namespace trilemma::training
