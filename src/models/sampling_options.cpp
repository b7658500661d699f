#include "models/sampling_options.h"

#include <algorithm>

#include "core/error.h"

namespace trilemma {
namespace {

// Why a family would not use an option, in the words a user needs.
std::string reason(const GenerativeModel& model) {
  if (model.sampling_options().empty()) {
    const int64_t nfe = model.network_evaluations({});
    if (nfe == 1) return "it draws each image in one network evaluation, with no sampler to choose";
    return "it draws each image in a fixed " + std::to_string(nfe) + " network evaluations, with no sampler to choose";
  }
  return "it does not take this option";
}

}  // namespace

void check_sampling_options(const GenerativeModel& model, const std::string& family,
                            const std::vector<std::string>& given) {
  const std::vector<std::string> used = model.sampling_options();
  for (const std::string& option : given)
    if (std::find(used.begin(), used.end(), option) == used.end())
      throw UserError("--" + option + ": a " + family + " run does not use it (" + reason(model) + ")");
}

}  // namespace trilemma
