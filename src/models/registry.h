#pragma once
#include <memory>
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

/// For a distilled family's student (`student_settings`), a teacher of its teacher family
/// with untrained weights, shaped as the student's teacher fields say: what benchmarks and
/// tests that time or exercise a student's training step start it from.
std::unique_ptr<GenerativeModel> untrained_teacher(const ModelFamily& student, const Json& student_settings,
                                                   torch::Device device);

}  // namespace trilemma
