#include "training/train_loop.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "core/precision.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/mnist.h"
#include "distributed/collectives.h"
#include "distributed/data_parallel.h"
#include "io/progress.h"
#include "training/checkpoint.h"
#include "training/figures.h"
#include "training/run_start.h"
#include "training/stop_signals.h"

namespace trilemma::training {
namespace fs = std::filesystem;

namespace {

bool is_out_of_memory(const c10::Error& e) {
  return std::string(e.what_without_backtrace()).find("can't allocate memory") != std::string::npos;
}

bool progress_is_inline() { return isatty(STDOUT_FILENO) != 0; }

std::string format_losses(const LossTerms& terms) {
  std::ostringstream s;
  s.precision(4);
  auto it = terms.find("loss");
  if (it != terms.end()) s << "loss " << it->second;
  for (const auto& [name, value] : terms)
    if (name != "loss") s << " " << name << " " << value;
  return s.str();
}

LossTerms mean_losses(GenerativeModel& model, const data::ImageDataset& test, int64_t limit,
                      torch::Device device) {
  constexpr int64_t kBatch = 500;
  const int64_t n = std::min(limit, test.size());
  LossTerms sums;
  int64_t counted = 0;
  for (int64_t start = 0; start < n; start += kBatch) {
    const int64_t size = std::min(kBatch, n - start);
    LossTerms terms = model.eval_loss(test.images.narrow(0, start, size).to(device),
                                      test.labels.narrow(0, start, size).to(device));
    for (const auto& [name, value] : terms) sums[name] += value * size;
    counted += size;
  }
  for (auto& [name, value] : sums) value /= std::max<int64_t>(counted, 1);
  return sums;
}


// A training step that ran out of memory: the message names the batch size and what is
// intact. A new run that could not take one step holds nothing, so its directory is removed
// to leave the name free for a retry.
UserError out_of_memory_error(int64_t step, int64_t batch_size, bool fresh, const std::string& last_checkpoint,
                              const std::string& run_dir) {
  std::string where = last_checkpoint.empty() ? "" : " (checkpoint intact: " + last_checkpoint + ")";
  if (step == 0 && fresh) {
    std::error_code ignored;
    fs::remove_all(run_dir, ignored);
    where = " (the new run directory was removed)";
  }
  return UserError("out of memory at step " + std::to_string(step + 1) + " with --batch-size " +
                   std::to_string(batch_size) + "; try a smaller one" + where);
}

// Steps per epoch (the last partial batch is dropped) and the run's total, saturating
// instead of overflowing for absurd --epochs.
struct StepPlan {
  int64_t per_epoch = 0;
  int64_t total = 0;
};

StepPlan plan_steps(const CommonSettings& s, int64_t train_images) {
  if (s.batch_size > train_images)
    throw UserError("--batch-size: " + std::to_string(s.batch_size) + " exceeds the " +
                    std::to_string(train_images) + " training images");
  StepPlan plan;
  plan.per_epoch = train_images / s.batch_size;
  plan.total = s.epochs <= 0 ? s.max_steps
               : s.epochs > std::numeric_limits<int64_t>::max() / plan.per_epoch
                   ? std::numeric_limits<int64_t>::max()
                   : s.epochs * plan.per_epoch;
  if (s.max_steps > 0) plan.total = std::min(plan.total, s.max_steps);
  return plan;
}

// Writes checkpoints and remembers the last good one, which every error message names.
class Checkpointer {
 public:
  /// `prior_seconds`: the training time up to `last`, which this session's time adds to.
  Checkpointer(GenerativeModel& model, const std::string& model_name, const std::string& run_dir,
               const RunOptions& run_options, int64_t steps_per_epoch, std::string last, int64_t last_step,
               double prior_seconds)
      : model_(model), model_name_(model_name), run_dir_(run_dir), options_(run_options),
        steps_per_epoch_(steps_per_epoch), last_(std::move(last)), last_step_(last_step),
        prior_seconds_(prior_seconds), session_start_(std::chrono::steady_clock::now()),
        last_time_(session_start_) {}

  void write(int64_t step) {
    const double seconds =
        prior_seconds_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start_).count();
    try {
      last_ = save_checkpoint(model_, model_name_, checkpoints_dir(run_dir_), step, step / steps_per_epoch_,
                              static_cast<int>(options_.keep), seconds)
                  .path;
    } catch (const UserError& e) {
      throw UserError(std::string("checkpoint at step ") + std::to_string(step) + " not written: " + e.what() +
                      (last_.empty() ? std::string(" (no earlier checkpoint)") : "; resume from " + last_));
    }
    last_step_ = step;
    last_time_ = std::chrono::steady_clock::now();
  }

  /// Within an epoch: a checkpoint every checkpoint_minutes (0: after every step).
  void write_if_due(int64_t step) {
    const double minutes =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - last_time_).count() / 60;
    if (options_.checkpoint_minutes <= 0 || minutes > options_.checkpoint_minutes) write(step);
  }

  const std::string& last() const { return last_; }
  int64_t last_step() const { return last_step_; }

 private:
  GenerativeModel& model_;
  std::string model_name_, run_dir_;
  RunOptions options_;
  int64_t steps_per_epoch_;
  std::string last_;
  int64_t last_step_;
  double prior_seconds_;
  std::chrono::steady_clock::time_point session_start_, last_time_;
};

// metrics.jsonl: the mean of each loss term and the images/s over every log interval.
class MetricsLog {
 public:
  MetricsLog(std::string path, int64_t log_every, int64_t batch, int64_t steps_per_epoch)
      : path_(std::move(path)), log_every_(log_every), batch_(batch), steps_per_epoch_(steps_per_epoch),
        start_(std::chrono::steady_clock::now()) {}

  /// `sync`: this step's gradient all-reduces (data-parallel runs only).
  void add(const LossTerms& terms, int64_t step, int64_t total_steps,
           std::optional<distributed::GradientSyncCost> sync) {
    for (const auto& [name, value] : terms) sums_[name] += value;
    if (sync) {
      if (!sync_) sync_.emplace();
      sync_->seconds += sync->seconds;
      sync_->bytes += sync->bytes;
      sync_->batch_norm_seconds += sync->batch_norm_seconds;
    }
    ++steps_;
    if (step % log_every_ != 0 && step != total_steps) return;
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    Json line = {{"step", step}, {"epoch", static_cast<double>(step) / steps_per_epoch_},
                 {"images_per_s", seconds > 0 ? steps_ * batch_ / seconds : 0.0}};
    for (auto& [name, sum] : sums_) line[name] = sum / steps_;
    if (sync_) {
      line["gradient_sync_ms"] = 1000 * sync_->seconds / steps_;
      line["gradient_sync_mb"] = static_cast<double>(sync_->bytes) / steps_ / 1e6;
      if (sync_->batch_norm_seconds > 0) line["batchnorm_sync_ms"] = 1000 * sync_->batch_norm_seconds / steps_;
    }
    append_line(path_, line.dump());
    sums_.clear();
    sync_.reset();
    steps_ = 0;
    start_ = now;
  }

  void add_test(const LossTerms& terms, int64_t step, int64_t epoch) {
    Json line = {{"step", step}, {"epoch", epoch}, {"phase", "test"}};
    for (const auto& [name, value] : terms) line[name] = value;
    append_line(path_, line.dump());
  }

 private:
  std::string path_;
  int64_t log_every_, batch_, steps_per_epoch_;
  LossTerms sums_;
  std::optional<distributed::GradientSyncCost> sync_;  ///< summed since the last line; data-parallel runs
  int64_t steps_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// A data-parallel step's loss terms become their mean over the ranks, and the step stops
// every rank if any was asked to: one small all-reduce, so that all ranks log the same
// numbers, judge divergence alike and stop at the same step.
bool combine_over_ranks(distributed::Collectives& group, LossTerms& terms, bool stop_requested) {
  std::vector<double> values;
  for (const auto& [name, value] : terms) values.push_back(value);
  values.push_back(stop_requested ? 1 : 0);
  std::vector<torch::Tensor> sums{torch::tensor(values, torch::kDouble)};
  group.all_reduce_sum(sums);
  const auto summed = sums[0].accessor<double, 1>();
  int64_t i = 0;
  for (auto& [name, value] : terms) value = summed[i++] / group.world_size();
  return summed[i] > 0;
}

}  // namespace

void require_finite_losses(const LossTerms& terms, int64_t step, const std::string& last_checkpoint) {
  for (const auto& [name, value] : terms) {
    if (std::isfinite(value)) continue;
    throw UserError("training diverged: " + name + " is " + (std::isnan(value) ? "NaN" : "infinite") +
                    " at step " + std::to_string(step) + "; stopped. " +
                    (last_checkpoint.empty() ? std::string("No checkpoint was written yet.")
                                             : "The last good checkpoint is intact: " + last_checkpoint +
                                                   " (resume with --resume, perhaps with a lower --lr)"));
  }
}

void check_batch_split(int64_t batch_size, int ranks) {
  if (batch_size % ranks != 0)
    throw UserError("--batch-size " + std::to_string(batch_size) + " does not split evenly over " +
                    std::to_string(ranks) + " ranks (it is the global batch; choose a multiple of " +
                    std::to_string(ranks) + ")");
}

uint64_t step_seed(int64_t seed, int64_t step) {
  // SplitMix64-style mixing keeps nearby (seed, step) pairs far apart.
  uint64_t x = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return (x ^ (x >> 31)) & 0x7FFFFFFFFFFFFFFFull;
}

void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      const Json json = Json::parse(line);
      if (json.value("step", int64_t{0}) > step) continue;
    } catch (const Json::exception&) {
      continue;  // a line cut by a kill mid-write
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}


const SettingsTable<RunOptions>& run_options_table() {
  static const SettingsTable<RunOptions> table =
      SettingsTable<RunOptions>()
          .integer("keep", [](RunOptions& o) -> int64_t& { return o.keep; }, 1, 1000, "keep the newest K checkpoints")
          .integer("log_every", [](RunOptions& o) -> int64_t& { return o.log_every; }, 1, int64_t{1} << 40,
                   "steps between metrics.jsonl lines")
          .number("checkpoint_minutes", [](RunOptions& o) -> double& { return o.checkpoint_minutes; },
                  Interval::closed(0, 1e6), "also checkpoint this often within an epoch (0: after every step)");
  return table;
}

RunOptions merge_run_options(const Json& recorded, const Json& given) {
  const auto& table = run_options_table();
  Json merged = table.to_json(RunOptions{});
  merged.update(recorded);
  merged.update(given);
  const RunOptions options = table.from_json(merged);
  table.check(options);
  return options;
}

int train_run(const RunConfig& config_in, const TrainOptions& options) {
  // A data-parallel run: every rank trains on its share of each batch; rank 0 alone
  // writes the directory, logs, figures and checkpoints (distributed/data_parallel.h).
  distributed::Collectives* group = distributed::active();
  const int rank = group != nullptr ? group->rank() : 0;
  const int world_size = group != nullptr ? group->world_size() : 1;
  const bool primary = rank == 0;
  // Rank 0 settles the run's start first (it may tidy the directory), then the others read it.
  if (group != nullptr && !primary) group->barrier();
  RunStart start = find_run_start(config_in, options);
  if (group != nullptr && primary) group->barrier();
  RunConfig& config = start.config;
  bool run_options_changed = false;
  const RunOptions run_options = resolve_run_options(config, options, run_options_changed);
  const CommonSettings common = common_settings_from_json(config.settings);
  const Precision precision = precision_for(common.precision, options.device);

  // Data and model come before the run directory, so that a run refused for its data or
  // its size leaves no directory behind to block the corrected command.
  const data::DatasetSpec dataset = data::DatasetSpec::of_run(config.dataset, config.settings, options.data_dir);
  const data::ImageDataset train = data::load_split(dataset, data::Split::kTrain);
  const data::ImageDataset test = data::load_split(dataset, data::Split::kTest);
  const StepPlan steps = plan_steps(common, train.size());
  check_batch_split(common.batch_size, world_size);
  const int64_t rank_batch = common.batch_size / world_size;

  if (!start.model) {
    // Initial weights depend on the seed alone, like everything else in a run.
    torch::manual_seed(step_seed(common.seed, -1'000'000'000));
    try {
      start.model = start.family->create(config.settings, options.device);
    } catch (const c10::Error& e) {
      if (!is_out_of_memory(e)) throw;
      throw UserError("out of memory creating the " + config.model + " model; choose smaller settings");
    }
  }
  GenerativeModel& model = *start.model;
  if (start.fresh && options.teacher != nullptr) model.start_from_teacher(*options.teacher);
  // Every rank estimates the same from the same data and seed, so the ranks agree.
  const std::string started = model.start_training(train.images, train.labels);
  if (!started.empty() && primary) std::cout << started << "\n";
  if (start.fresh) {
    config.environment = {{"torch_version", torch_version()},
                          {"device", describe_device(options.device)},
                          {"threads", torch::get_num_threads()},
                          {"processes", world_size},
                          {"created", now_iso8601()}};
    if (primary) create_run_directory(config, options.run_dir);
  } else if ((start.config_changed || run_options_changed) && primary) {
    write_config(config, options.run_dir);
  }

  int64_t step = start.step;
  // A run stopped after its last step but before finish_training completed finishes now.
  std::string finished;
  if (options.resume && step >= steps.total && primary)
    finished = model.finish_training(train.images, train.labels);
  if (options.resume && step >= steps.total && finished.empty()) {
    std::cout << options.run_dir << " is complete (" << step << " steps); nothing to do. "
              << "Extend it with --epochs N or --max-steps N.\n";
    return 0;
  }
  FigureInputs figures = make_figure_inputs(test, options.device, 0);
  Checkpointer checkpoints(model, config.model, options.run_dir, run_options, steps.per_epoch,
                           start.last_checkpoint, start.last_checkpoint.empty() ? -1 : step, start.training_seconds);
  MetricsLog metrics(metrics_path(options.run_dir), run_options.log_every, common.batch_size, steps.per_epoch);

  std::cout << "training " << config.model << " (preset " << config.preset << ", " << model.parameter_count()
            << " sampler parameters) on " << describe_device(options.device) << ": " << steps.total
            << " steps of batch " << common.batch_size << ", " << steps.per_epoch << " steps per epoch";
  if (group != nullptr) std::cout << ", on " << world_size << " ranks of batch " << rank_batch << " each";
  std::cout << "\n";
  StopSignals signals;
  io::ProgressBar progress("train", steps.total, run_options.log_every, step);
  // Called once a checkpoint of `step` exists; returns the exit status.
  auto report_stop = [&](int64_t stopped_at) {
    // A rank stopped because another was signalled reports SIGTERM's status.
    const int signal = signals.received() != 0 ? signals.received() : SIGTERM;
    std::cout << "\nstopped by " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << " at step " << stopped_at
              << "; checkpoint written: " << checkpoints.last() << "\nresume with: trilemma train --resume "
              << options.run_dir << (world_size > 1 ? " --nproc " + std::to_string(world_size) : std::string())
              << "\n";
    return 128 + signal;
  };

  while (step < steps.total) {
    // Epochs are whole numbers of steps (the last partial batch is dropped), so the epoch
    // and the position in it follow from the step alone — which is all a checkpoint holds.
    const int64_t epoch = step / steps.per_epoch;
    // The permutation depends only on (seed, epoch), so a resumed run sees the same order.
    torch::manual_seed(step_seed(common.seed, -1 - epoch));
    const torch::Tensor order = torch::randperm(train.size(), torch::kLong);
    for (int64_t b = step % steps.per_epoch; b < steps.per_epoch && step < steps.total; ++b) {
      torch::manual_seed(step_seed(common.seed, step));
      // This rank's rows of the global batch: rank r takes the r-th slice of it.
      const torch::Tensor index = order.narrow(0, b * common.batch_size + rank * rank_batch, rank_batch);
      LossTerms terms;
      try {
        const PrecisionGuard precision_guard(precision, options.device);
        const distributed::ShardScope shard(rank * rank_batch, common.batch_size);
        terms = model.train_step(train.images.index_select(0, index).to(options.device),
                                 train.labels.index_select(0, index).to(options.device));
      } catch (const c10::Error& e) {
        if (!is_out_of_memory(e)) throw;
        throw out_of_memory_error(step, common.batch_size, start.fresh && primary, checkpoints.last(),
                                  options.run_dir);
      } catch (const std::bad_alloc&) {
        throw out_of_memory_error(step, common.batch_size, start.fresh && primary, checkpoints.last(),
                                  options.run_dir);
      }
      std::optional<distributed::GradientSyncCost> sync;
      bool stop = signals.received() != 0;
      if (group != nullptr) {
        sync = distributed::take_gradient_sync_cost();
        stop = combine_over_ranks(*group, terms, stop);
      }
      require_finite_losses(terms, step + 1, checkpoints.last());
      ++step;
      if (primary) metrics.add(terms, step, steps.total, sync);
      progress.update(step, "epoch " + std::to_string(epoch + 1) + " " + format_losses(terms));

      if (stop) {
        if (primary) checkpoints.write(step);
        return report_stop(step);
      }
      if (primary) checkpoints.write_if_due(step);
    }
    if (step % steps.per_epoch != 0) break;  // stopped mid-epoch by --max-steps
    const int64_t completed = step / steps.per_epoch;
    if (!primary) continue;  // the others wait for rank 0 at the next step's all-reduce
    // The checkpoint comes before the epoch's test loss and figures, which take minutes for
    // a large model on one thread: a stop signal (even a second, fatal one) meanwhile loses
    // no training. A single process stops here; ranks stop together at the next step.
    checkpoints.write(step);
    const auto signalled_alone = [&] { return group == nullptr && signals.received() != 0; };
    if (signalled_alone()) return report_stop(step);
    const LossTerms test_terms = mean_losses(model, test, options.test_images, options.device);
    metrics.add_test(test_terms, step, completed);
    std::cout << (progress_is_inline() ? "\n" : "") << "epoch " << completed << " test "
              << format_losses(test_terms) << "\n";
    if (signalled_alone()) return report_stop(step);
    figures.epoch = completed;
    try {
      write_figures(model.epoch_figures(figures), images_dir(options.run_dir), completed);
    } catch (const UserError& e) {
      std::cerr << "warning: epoch figures not written: " << e.what() << "\n";  // the checkpoint matters more
    }
    if (signalled_alone()) return report_stop(step);
  }
  progress.finish();
  if (!primary) return 0;
  if (checkpoints.last_step() != step) checkpoints.write(step);  // the steps are safe before finishing
  try {
    if (finished.empty()) finished = model.finish_training(train.images, train.labels);
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + "; training is complete and checkpointed (" + checkpoints.last() + ")");
  }
  if (!finished.empty()) {
    std::cout << finished << "\n";
    checkpoints.write(step);
  }
  figures.epoch = step / steps.per_epoch;
  try {
    write_run_figures(model, options.run_dir, figures);
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + "; training is complete and checkpointed (" + checkpoints.last() +
                    "); redraw the figures with `trilemma figures " + options.run_dir + "`");
  }
  std::cout << "done: " << step << " steps. checkpoint " << checkpoints.last() << "\nimages in "
            << images_dir(options.run_dir) << "\n";
  return 0;
}

}  // namespace trilemma::training
