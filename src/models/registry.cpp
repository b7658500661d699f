#include "models/registry.h"

#include "core/error.h"
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

}  // namespace trilemma
