#pragma once
#include <string>
#include <vector>

#include "models/generative_model.h"

namespace trilemma {

/// Every model family trilemma knows, in the order the CLI and reports list them.
const std::vector<ModelFamily>& model_families();

/// The families' names, comma-separated in registry order ("vae, dcgan, ...").
std::string model_family_names();

/// The family called `name`; throws UserError listing the known ones otherwise.
const ModelFamily& find_model_family(const std::string& name);

}  // namespace trilemma
