#pragma once
// A distilled run (e.g. consistency distillation of a DDPM): the student's settings are
// its family's preset with the teacher's architecture copied in, config.json records the
// teacher, and training starts from the teacher's sampling weights.
#include <map>
#include <string>

#include "training/run_dir.h"
#include "training/train_loop.h"

namespace trilemma::training {

struct DistillRequest {
  std::string teacher;                        ///< the teacher's run directory or "zoo:NAME"
  std::string method = "consistency";         ///< the distilled family
  std::string preset;                         ///< "" = the family's default preset
  std::map<std::string, std::string> settings;  ///< flag text of each setting given
};

/// The student's config for `teacher` (a loaded run): UserError (one line) when the method is
/// not a distilled family, the teacher is of another family, or a setting copied from the
/// teacher is given.
RunConfig distilled_config(const DistillRequest& request, const LoadedRun& teacher);

/// Loads the teacher, builds the student's config and trains it as train_run does (same
/// exit statuses); the run resumes like any other with `trilemma train --resume`.
int distill_run(const DistillRequest& request, TrainOptions options);

}  // namespace trilemma::training
