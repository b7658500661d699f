#pragma once
// Sampling flags are checked against what the run's model uses, so that a flag a family
// would ignore (`sample <vae-run> --steps 5`) is refused in one line instead.
#include <string>
#include <vector>

#include "models/generative_model.h"

namespace trilemma {

/// Throws UserError "--steps: a vae run does not use it (...)" for the first of `given`
/// (sampler option names without dashes, e.g. "steps") that the model's
/// sampling_options() lacks. Class and guidance requests: check_class_request.
void check_sampling_options(const GenerativeModel& model, const std::string& family,
                            const std::vector<std::string>& given);

}  // namespace trilemma
