#pragma once
// A grid search over one setting of one family (the article asks how to choose the VAE's
// latent size): one run per value, each evaluated under the same protocol, then one table
// and one figure of quality, coverage and speed against the value. A sampling setting
// (the diffusion sampler, its steps, η, the guidance weight) needs no retraining: one run
// is trained and sampled once per value.
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "metrics/run_evaluation.h"
#include "report/content.h"

namespace trilemma::experiments {

struct SweepRequest {
  std::string model;                        ///< family name
  std::string preset;                       ///< "" = the family's default preset
  std::string setting;                      ///< the swept field, as in config.json (latent_dim)
  std::vector<std::string> values;          ///< its values, as its flag takes them
  std::map<std::string, std::string> fixed; ///< other fields given, as flag text
  std::string out_dir;                      ///< runs, sweep.json, sweep.png, report.md/.html
  std::string data_dir;
  torch::Device device = torch::kCPU;
  metrics::RunEvaluationRequest evaluation; ///< N and seed of every point
};

/// Whether `setting` only changes how a trained model samples (sampler, sample_steps, eta,
/// guidance): such a sweep trains one run.
bool is_sampling_setting(const std::string& setting);

/// "2,4,8" -> {"2","4","8"}; for a list-valued setting values are separated by ';'
/// ("1,2;1,2,2"). Throws UserError naming the flag for an empty value or fewer than two.
std::vector<std::string> split_sweep_values(const std::string& flag, const std::string& text, bool list_setting);

/// One evaluated value of the sweep.
struct SweepPoint {
  std::string value;
  std::string run_dir;
  Json result;  ///< the evaluation (eval.json's entry) plus "train_minutes" when trained here
};

/// Runs the sweep: trains each value's run (resuming one that was interrupted, reusing one
/// already evaluated with the same settings and N), evaluates it, and writes
/// OUT/sweep.json, OUT/sweep.png and OUT/report.md + report.html. Returns 0, or the
/// training's 130/143 when stopped by a signal (finished points are kept). UserError on bad
/// input, before anything is trained.
int run_sweep(const SweepRequest& request, std::ostream& log);

/// The sweep's table (a header row, then one row per point), for its report.
report::Table sweep_table(const std::string& setting, const std::vector<SweepPoint>& points);

}  // namespace trilemma::experiments
