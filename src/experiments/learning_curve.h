#pragma once
// A run's learning curve: its kept checkpoints, each evaluated under the same protocol,
// against the training time they took, so that a user sees where more training stops
// paying (keep them with `train --keep K --checkpoint-minutes M`).
#include <ostream>
#include <string>
#include <vector>

#include "metrics/run_evaluation.h"
#include "report/content.h"

namespace trilemma::experiments {

/// One evaluated checkpoint.
struct CurvePoint {
  int64_t step = 0;
  double minutes = 0;  ///< training time up to this checkpoint (training::training_minutes)
  Json result;         ///< the evaluation (eval.json's form)
};

/// Up to `points` of the run's checkpoints, evenly spread over its steps and always
/// including the newest, each evaluated with `request` (N = 2,000 by default for a curve).
/// Writes RUN/learning_curve.json and RUN/images/learning_curve.png and returns the points.
/// UserError when the run has fewer than two checkpoints.
std::vector<CurvePoint> learning_curve(const std::string& run_dir, int64_t points,
                                       const metrics::RunEvaluationRequest& request, const std::string& data_dir,
                                       torch::Device device, std::ostream& log);

/// The curve as a table: step, minutes, FID, precision, recall, classes.
report::Table curve_table(const std::vector<CurvePoint>& points);

}  // namespace trilemma::experiments
