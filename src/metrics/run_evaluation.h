#pragma once
// `trilemma eval` as library calls, so that tests and benchmarks measure a run exactly as
// the CLI does: a loaded run sampled and measured under the protocol (plus, for conditional
// diffusion, a guidance curve), or a .npy of any generator's samples; the result merged
// into RUN_DIR/eval.json beside other samplers' results.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "metrics/evaluate.h"
#include "models/generative_model.h"
#include "training/run_dir.h"

namespace trilemma::metrics {

/// The guidance weights measured by default: unconditional (0), conditional (1), and the
/// stronger guidance that trades coverage for quality (Ho & Salimans 2022).
inline constexpr const char* kDefaultGuidanceCurve = "0,1,2,3,5";

/// "0,1,2.5" -> {0, 1, 2.5}; "none" -> {}. Throws UserError naming --guidance-curve on
/// anything else (an empty item, a negative, non-finite or non-numeric one).
std::vector<double> parse_guidance_list(const std::string& text);

/// How to evaluate a run. Every field changes the numbers or the time spent.
struct RunEvaluationRequest {
  EvalProtocol protocol;        ///< N and seed (sampling noise, KID subsets)
  SampleOptions sampling;       ///< sampler, steps, eta, guidance of the main evaluation
  bool measure_latency = true;  ///< batch-1 latency: up to 20 s more
  /// The guidance curve's weights, measured for a model with guidance only.
  std::vector<double> guidance_weights = parse_guidance_list(kDefaultGuidanceCurve);
  int64_t curve_n = 2000;       ///< images per point of the guidance curve
};

/// The evaluator and the real side of every comparison (the dataset's test split), loaded
/// once and shared by the main evaluation and the guidance curve.
struct EvalReference {
  Evaluator evaluator;
  RealReference real;
  data::DatasetSpec dataset;  ///< shaped as the samples are
  data::DatasetInfo info;
};
/// `evaluator_file` "" = the dataset's built-in evaluator (load_evaluator_for).
EvalReference load_eval_reference(const data::DatasetSpec& dataset, const std::string& evaluator_file,
                                  torch::Device device);
/// The MNIST reference with the built-in evaluator (data_dir "" = the default directory).
EvalReference load_eval_reference(torch::Device device, const std::string& data_dir);

/// For conditional diffusion: quality, coverage and conditional accuracy at each of
/// request.guidance_weights, each from curve_n class-balanced samples (FID at small N is
/// biased upwards, so the points compare with each other, not with the N = 10,000 row).
/// Progress lines go to `log`.
Json guidance_curve(GenerativeModel& model, EvalReference& reference,
                    const RunEvaluationRequest& request, std::ostream& log);

/// The eval.json result of a run: N samples (a conditional model's class-balanced) measured
/// against the reference, the speed corner, the run's identity, the protocol and, for a
/// model with guidance, the guidance curve. Also writes the evaluated samples' grid to
/// RUN_DIR/images/eval-<sampler>.png (named under "sample_grid"; not for a read-only zoo model). The speed and protocol
/// records name the evaluator's device, so the run is to be loaded on that device too.
Json evaluate_run(training::LoadedRun& run, const RunEvaluationRequest& request,
                  EvalReference& reference, std::ostream& log);

/// The reference rows' FIDs and labels ({"train": {"fid", "label"}, ...}; reference_rows:
/// real data and its common failure modes, computed once and cached), so that an
/// evaluation is read against them. Progress of a first computation goes to `log`.
Json reference_fids(EvalReference& reference, const EvalProtocol& protocol, std::ostream& log);

/// The result for samples drawn elsewhere (a .npy that images_from_array accepts), at N =
/// their count, with the reference rows' FIDs at that N ("reference_fids"); a note goes to
/// `log` when N differs from protocol.n. The samples are compared with `dataset` (its
/// stored shape unless dataset.format says otherwise). The file is read before the
/// evaluator and the data, so that a bad file is named before missing data is.
Json evaluate_samples_file(const std::string& npy_path, EvalProtocol protocol, torch::Device device,
                           const data::DatasetSpec& dataset, const std::string& evaluator_file, std::ostream& log);

/// Merges `result` into RUN_DIR/eval.json under result["sampler"] (merge_eval_result) and
/// writes it atomically; returns the path. A file that is not valid JSON is started afresh,
/// with a warning on `warnings`.
std::string write_eval_result(const std::string& run_dir, const Json& result, std::ostream& warnings);

/// RUN_DIR/eval.json as written by write_eval_result; throws UserError (telling to rerun
/// `trilemma eval`) when it is missing, not JSON, or holds no results.
Json read_eval_file(const std::string& run_dir);

}  // namespace trilemma::metrics
