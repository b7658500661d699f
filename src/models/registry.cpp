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

const ModelFamily& find_model_family(const std::string& name) {
  std::string known;
  for (const ModelFamily& family : model_families()) {
    if (family.name == name) return family;
    known += (known.empty() ? "" : ", ") + family.name;
  }
  throw UserError("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace trilemma
