#include "experiments/learning_curve.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/files.h"
#include "io/plot.h"
#include "report/content.h"
#include "training/checkpoint.h"

namespace trilemma::experiments {
namespace fs = std::filesystem;
using report::format_number;

namespace {

// `count` of the checkpoints (newest first), evenly spread over their steps, the newest kept.
std::vector<training::CheckpointInfo> spread(std::vector<training::CheckpointInfo> all, int64_t count) {
  std::reverse(all.begin(), all.end());  // oldest first
  if (static_cast<int64_t>(all.size()) <= count) return all;
  std::vector<training::CheckpointInfo> chosen;
  for (int64_t i = 0; i < count; ++i) {
    // The (i+1)-th of `count` equal shares of the list ends here: 2, 4, 6 of 6 for count 3.
    const size_t index = static_cast<size_t>(std::llround((i + 1.0) * all.size() / count)) - 1;
    if (chosen.empty() || chosen.back().step != all[index].step) chosen.push_back(all[index]);
  }
  return chosen;
}

}  // namespace

std::vector<CurvePoint> learning_curve(const std::string& run_dir, int64_t points,
                                       const metrics::RunEvaluationRequest& request, const std::string& data_dir,
                                       torch::Device device, std::ostream& log) {
  training::LoadedRun run = training::load_run(run_dir, device);
  if (run.read_only) throw UserError(run_dir + ": a zoo model keeps no checkpoints; give a run directory");
  std::vector<training::CheckpointInfo> all;
  for (const auto& info : training::list_checkpoints(training::checkpoints_dir(run.dir)))
    if (info.step >= 0) all.push_back(info);
  if (all.size() < 2)
    throw UserError(run_dir + ": a learning curve needs at least two checkpoints (train with --keep K "
                    "--checkpoint-minutes M)");
  metrics::EvalReference reference = metrics::load_eval_reference(
      data::DatasetSpec::of_run(run.config.dataset, run.config.settings, data_dir), "", device);
  metrics::RunEvaluationRequest evaluation = request;
  evaluation.guidance_weights.clear();
  evaluation.measure_latency = false;  // the curve is about quality against training time
  run.read_only = true;                // no eval grid per checkpoint

  std::vector<CurvePoint> curve;
  Json json = {{"run", run.dir}, {"n", request.protocol.n}, {"points", Json::array()}};
  for (const auto& info : spread(all, points)) {
    training::load_checkpoint(*run.model, run.config.model, info);
    run.step = info.step;
    run.epoch = info.epoch;
    run.checkpoint = info.path;
    log << "learning curve: step " << info.step << std::endl;
    CurvePoint point{info.step, training::training_minutes(run.config, info.path, info.training_seconds),
                     metrics::evaluate_run(run, evaluation, reference, log)};
    json["points"].push_back({{"step", point.step}, {"minutes", point.minutes}, {"result", point.result}});
    curve.push_back(std::move(point));
  }
  write_file_atomic((fs::path(run.dir) / "learning_curve.json").string(), json.dump(2) + "\n");
  io::Series fid{"FID (N = " + std::to_string(request.protocol.n) + ")", {}, {}};
  io::Series recall{"recall", {}, {}};
  for (const auto& p : curve) {
    fid.x.push_back(p.minutes);
    fid.y.push_back(p.result.value("fid", 0.0));
    recall.x.push_back(p.minutes);
    recall.y.push_back(p.result.value("recall", 0.0));
  }
  const std::string x_label = "training minutes";
  fs::create_directories(training::images_dir(run.dir));
  io::plot_panels({{{"quality: FID (lower is better)", x_label, "FID", true}, {fid}},
                   {{"coverage: recall", x_label, "recall", false}, {recall}}},
                  "learning curve: " + run.config.model + " " + run.config.preset, 1100, 420,
                  (fs::path(training::images_dir(run.dir)) / "learning_curve.png").string());
  return curve;
}

report::Table curve_table(const std::vector<CurvePoint>& points) {
  report::Table table = {{"step", "minutes", "FID", "precision", "recall", "classes"}};
  for (const auto& p : points)
    table.push_back({std::to_string(p.step), format_number(p.minutes, 1), format_number(p.result.value("fid", 0.0), 2),
                     format_number(p.result.value("precision", 0.0), 3),
                     format_number(p.result.value("recall", 0.0), 3),
                     std::to_string(p.result.value("classes_covered", 0)) + "/" +
                         std::to_string(p.result.value("class_shares", Json::array()).size())});
  return table;
}

}  // namespace trilemma::experiments
