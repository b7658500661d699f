#include "models/registry.h"

#include "core/error.h"
#include "models/consistency.h"
#include "models/dcgan.h"
#include "models/ddgan.h"
#include "models/ddpm.h"
#include "models/vae.h"

namespace trilemma {

const std::vector<ModelFamily>& model_families() {
  // The one place that lists the families: add a new one here, nowhere else.
  static const std::vector<ModelFamily> families = {
      vae_family(),
      dcgan_family(),
      ddpm_family(),
      ddgan_family(),
      consistency_family(),
  };
  return families;
}

std::string model_family_names() {
  std::string names;
  for (const ModelFamily& family : model_families()) names += (names.empty() ? "" : ", ") + family.name;
  return names;
}

const ModelFamily& find_model_family(const std::string& name) {
  for (const ModelFamily& family : model_families())
    if (family.name == name) return family;
  throw UserError("unknown model '" + name + "' (known: " + model_family_names() + ")");
}

std::unique_ptr<GenerativeModel> untrained_teacher(const ModelFamily& student, const Json& student_settings,
                                                   torch::Device device) {
  const ModelFamily& family = find_model_family(student.teacher_family);
  Json settings = family.preset_settings(family.presets.front());
  for (const std::string& name : student.teacher_fields) settings[name] = student_settings.at(name);
  // A student learns its teacher's data at the teacher's shape (training/distill.cpp).
  for (const char* name : {"image_size", "image_channels", "classes"})
    if (student_settings.contains(name)) settings[name] = student_settings.at(name);
  return family.create(family.validate(settings), device);
}

}  // namespace trilemma
