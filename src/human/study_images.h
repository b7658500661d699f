#pragma once
// What a new HYPE study shows: samples drawn up front from each run (its default sampler,
// seeded, so that the same command builds the same study) and real images from the
// held-out test set, every fake read by the evaluator so that per-class errors can be told.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "human/study.h"

namespace trilemma::human {

/// The models, images and settings of a study about to be created.
struct StudyDraft {
  StudySettings settings;
  std::vector<StudyModel> models;
  std::vector<StudyImage> images;
};

/// Draws `fakes_per_model` images from each run (a run directory or zoo:NAME) and picks
/// `reals` test images of the MNIST in `data_dir`. Progress lines go to `log`.
StudyDraft draft_study(const std::vector<std::string>& runs, int64_t fakes_per_model, int64_t reals,
                       const StudySettings& settings, torch::Device device, const std::string& data_dir,
                       std::ostream& log);

}  // namespace trilemma::human
