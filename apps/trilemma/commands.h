#pragma once
// Each `trilemma` subcommand lives in its own cmd_*.cpp and registers itself with an
// add_*_command function listed in main.cpp.
#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "distributed/collectives.h"
#include "models/generative_model.h"
#include "training/run_dir.h"
#include "training/train_loop.h"

namespace trilemma::cli {

/// Options every subcommand accepts, and the exit status the chosen one sets.
struct Context {
  int threads = 0;             ///< 0 = all cores
  std::string device = "cpu";  ///< cpu, cuda or auto
  std::string data_dir;        ///< "" = $TRILEMMA_DATA_DIR or data/mnist
  int exit_code = 0;
  std::vector<std::string> arguments;  ///< the command line as given (--nproc relaunches it)
  /// This process's rank in a data-parallel run (distributed::active() points at it).
  std::unique_ptr<distributed::Collectives> group;
  int local_rank = 0;
};

/// How a training command runs on several processes (flags --nproc, --dist-backend,
/// --dist-timeout).
struct DistributedFlags {
  int nproc = 1;
  std::string backend;        ///< "" = by device: gloo on CPU, nccl on CUDA
  double timeout_seconds = 1800;
};
void add_distributed_flags(CLI::App& command, DistributedFlags& flags);
/// Before a training command trains: with --nproc N > 1, relaunches this command line as N
/// local workers (run_dir pinned, so that every rank names the same directory) and returns
/// their status; started as a worker (RANK etc. set), joins the run and returns nullopt, as
/// it does for an ordinary single-process run.
std::optional<int> launch_or_join(Context& context, const DistributedFlags& flags, const std::string& run_dir);

/// Applies --threads and returns the resolved device (throws UserError on a bad one).
void apply_runtime(const Context& context);

/// The sampler options (sampler, steps, eta) given to a `sample` or `eval` command, for
/// check_sampling_options.
std::vector<std::string> given_sampler_options(const CLI::App& command);

/// Adds `--guidance-curve W1,W2,...|none` and `--curve-n N` (the curve `eval` and `zoo add`
/// draw for a guided model) to `command`.
void add_guidance_curve_options(CLI::App& command, std::string& weights, int64_t& images_per_point);
/// The guidance curve's weights for `model`: `weights` parsed for a guided model; none for
/// any other, which refuses either option (UserError) rather than ignoring it.
std::vector<double> guidance_curve_for(const CLI::App& command, const GenerativeModel& model,
                                       const std::string& weights);

/// Adds `--guide RUN_DIR|zoo:NAME|none`: the weaker ddpm an unconditional ddpm is
/// autoguided by (training::use_guide), or none to sample a zoo entry without its guide.
void add_guide_option(CLI::App& command, std::string& source);
/// Loads the run or zoo:NAME `dir` for a command with add_guide_option: when `command` was
/// given --guide, that guide (or none) replaces a zoo entry's own, which is then not loaded.
training::LoadedRun load_run_with_guide_option(const std::string& dir, const CLI::App& command,
                                               const std::string& guide, torch::Device device);

/// Adds `--precision fp32|bf16` (the networks' arithmetic while sampling) to `command`;
/// its value goes through precision_for (core/precision.h).
void add_sampling_precision_option(CLI::App& command, std::string& value);

/// runs/MODEL-<local time>: where a new run goes unless --run-dir says otherwise.
std::string default_run_dir(const std::string& model);
/// A new run's dataset (`--dataset NAME|DIR`): config.dataset, and the settings taken from
/// it (image_size and image_channels unless their flags were given; classes always).
void set_run_dataset(training::RunConfig& config, const std::string& name, const std::string& mnist_dir,
                     bool size_given, bool channels_given);
/// The run options (--keep, --log-every, --checkpoint-minutes) as flags whose text lands in
/// values[field]; train_options reads them.
void add_run_option_flags(CLI::App& command, std::map<std::string, std::string>& values);
/// What every training command shares: threads applied, data, device, the run options given.
training::TrainOptions train_options(const Context& context, const std::string& dir, const CLI::App& command,
                                     const std::map<std::string, std::string>& run_option_values);
/// Every setting of `family` as a --flag whose text lands in values[field], with its range
/// and its value in each preset in --help.
void add_setting_flags(CLI::App& command, const ModelFamily& family, std::map<std::string, std::string>& values);

void add_train_command(CLI::App& app, Context& context);
void add_sample_command(CLI::App& app, Context& context);
void add_info_command(CLI::App& app, Context& context);
void add_figures_command(CLI::App& app, Context& context);
void add_eval_command(CLI::App& app, Context& context);
void add_compare_command(CLI::App& app, Context& context);
void add_bench_command(CLI::App& app, Context& context);
void add_zoo_command(CLI::App& app, Context& context);
void add_sweep_command(CLI::App& app, Context& context);
void add_curve_command(CLI::App& app, Context& context);
void add_distill_command(CLI::App& app, Context& context);
void add_hype_command(CLI::App& app, Context& context);
void add_hype_report_command(CLI::App& app, Context& context);
void add_evaluator_command(CLI::App& app, Context& context);

}  // namespace trilemma::cli
