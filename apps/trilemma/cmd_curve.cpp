// trilemma curve RUN_DIR [--points 8] [--n 2000]
// The run's learning curve: its kept checkpoints evaluated against training time
// (experiments/learning_curve.h).
#include <iostream>

#include "commands.h"
#include "core/runtime.h"
#include "data/mnist.h"
#include "experiments/learning_curve.h"
#include "report/markdown.h"

namespace trilemma::cli {

void add_curve_command(CLI::App& app, Context& context) {
  auto run_dir = std::make_shared<std::string>();
  auto points = std::make_shared<int64_t>(8);
  auto request = std::make_shared<metrics::RunEvaluationRequest>();
  request->protocol.n = 2000;
  CLI::App* sub = app.add_subcommand(
      "curve", "learning curve: evaluate a run's kept checkpoints against training time (table, PNG, JSON)");
  sub->fallthrough();
  sub->add_option("run_dir", *run_dir, "run directory trained with --keep K --checkpoint-minutes M")->required();
  sub->add_option("--points", *points, "checkpoints to evaluate, spread over the run (the newest included)")
      ->check(CLI::Range(int64_t{2}, int64_t{1000}))
      ->capture_default_str();
  sub->add_option("--n", request->protocol.n, "generated images per point")
      ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
      ->capture_default_str();
  sub->callback([&context, run_dir, points, request]() {
    apply_runtime(context);
    const auto curve = experiments::learning_curve(*run_dir, *points, *request,
                                                   data::resolve_data_dir(context.data_dir),
                                                   resolve_device(context.device), std::cout);
    report::markdown_table(std::cout, experiments::curve_table(curve));
    std::cout << "curve: " << *run_dir
              << "/learning_curve.json and images/learning_curve.png\n";
  });
}

}  // namespace trilemma::cli
