#include "training/train_loop.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "core/settings.h"
#include "data/mnist.h"
#include "io/image.h"
#include "io/plot.h"
#include "io/progress.h"
#include "models/conditioning.h"
#include "models/registry.h"
#include "training/checkpoint.h"

namespace trilemma::training {
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }

// Installs SIGINT/SIGTERM handlers for the lifetime of a training run; a second Ctrl-C
// while the step finishes falls back to the default action (immediate exit). SIGXFSZ
// (a write past `ulimit -f`) is ignored so that it fails like a full disk, with an error
// naming the file, instead of killing the run mid-checkpoint.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGXFSZ, &ignore, &old_xfsz_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGXFSZ, &old_xfsz_, nullptr);
  }
  int received() const { return g_stop_signal.load(); }

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_xfsz_ {};
};

bool is_out_of_memory(const c10::Error& e) {
  return std::string(e.what_without_backtrace()).find("can't allocate memory") != std::string::npos;
}

// The run's config.json, for resuming a run that was stopped before its first checkpoint.
RunConfig read_run_config(const std::string& run_dir) {
  const std::string path = config_path(run_dir);
  Json json;
  try {
    json = Json::parse(read_file(path));
  } catch (const Json::exception&) {
    throw UserError(path + ": not valid JSON");
  }
  return RunConfig::from_json(json, path);
}

bool progress_is_inline() { return isatty(STDOUT_FILENO) != 0; }

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buffer;
}

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

bool plot_loss_curves(const std::string& run_dir) {
  std::ifstream in(metrics_path(run_dir));
  std::map<std::string, io::Series> train, test;
  std::string line;
  while (std::getline(in, line)) {
    Json json;
    try {
      json = Json::parse(line);
    } catch (const Json::exception&) {
      continue;
    }
    const bool is_test = json.value("phase", "") == "test";
    if (!json.contains("step")) continue;
    const double step = json["step"].get<double>();
    for (const auto& [key, value] : json.items()) {
      if (!value.is_number() || key == "step" || key == "epoch" || key == "images_per_s" ||
          key == "seconds")
        continue;
      auto& series = (is_test ? test : train)[key];
      series.name = (is_test ? "test " : "train ") + key;
      series.x.push_back(step);
      series.y.push_back(value.get<double>());
    }
  }
  std::vector<io::Series> all;
  for (auto& [key, s] : train) all.push_back(s);
  for (auto& [key, s] : test) all.push_back(s);
  if (all.empty()) return false;
  fs::create_directories(images_dir(run_dir));
  return io::plot_lines(all, {"Losses", "optimiser step", "loss", false, 900, 500},
                        (fs::path(images_dir(run_dir)) / "losses.png").string());
}

FigureContext make_figure_context(const std::string& run_dir, const data::ImageDataset& test,
                                  torch::Device device, int64_t epoch) {
  // 5,000 test images are plenty for reconstructions and latent scatters.
  const int64_t shown = std::min<int64_t>(5000, test.size());
  fs::create_directories(images_dir(run_dir));
  return {images_dir(run_dir), test.images.narrow(0, 0, shown).to(device),
          test.labels.narrow(0, 0, shown).to(device), epoch};
}

void write_run_figures(GenerativeModel& model, const std::string& run_dir, const FigureContext& context) {
  model.write_figures(context);
  if (model.num_classes() > 0) {
    // Every conditional family gets the same figure: row k holds ten samples of class k.
    torch::manual_seed(0);
    io::save_image_grid(sample_by_class(model, 10, {}),
                        (fs::path(context.images_dir) / "samples_by_class.png").string(), 10);
  }
  plot_loss_curves(run_dir);
}

int train_run(const RunConfig& config_in, const TrainOptions& options) {
  RunConfig config = config_in;
  const ModelFamily* family_ptr = nullptr;
  std::unique_ptr<GenerativeModel> model;
  int64_t step = 0;
  std::string last_checkpoint;
  const bool fresh = !options.resume;
  // Initial weights depend on the seed alone, like everything else in a run.
  auto create_model = [&]() {
    torch::manual_seed(step_seed(setting_int(config.settings, "seed"), -1'000'000'000));
    model = family_ptr->create(config.settings, options.device);
  };

  // A run killed before its first checkpoint has lost nothing but time: it restarts from
  // step 0, which gives exactly the run an uninterrupted start would have given.
  const bool never_checkpointed = options.resume && fs::is_directory(options.run_dir) &&
                                  fs::exists(config_path(options.run_dir)) &&
                                  list_checkpoints(checkpoints_dir(options.run_dir)).empty();
  if (never_checkpointed) {
    config = read_run_config(options.run_dir);
    family_ptr = &find_model_family(config.model);
    tidy_checkpoints(checkpoints_dir(options.run_dir), -1);
    truncate_metrics(metrics_path(options.run_dir), 0);
    bool extended = false;
    if (options.resume_epochs >= 0) config.settings["epochs"] = options.resume_epochs, extended = true;
    if (options.resume_max_steps >= 0) config.settings["max_steps"] = options.resume_max_steps, extended = true;
    family_ptr->validate(config.settings);
    if (extended) write_file_atomic(config_path(options.run_dir), config.to_json().dump(2) + "\n");
    create_model();
    std::cout << options.run_dir << " holds no checkpoint yet; starting it from step 0\n";
  } else if (options.resume) {
    LoadedRun run = load_run(options.run_dir, options.device);
    family_ptr = run.family;
    config = run.config;
    model = std::move(run.model);
    step = run.step;
    last_checkpoint = run.checkpoint;
    truncate_metrics(metrics_path(options.run_dir), step);
    for (const std::string& path : tidy_checkpoints(checkpoints_dir(options.run_dir), step))
      std::cerr << "warning: set aside damaged checkpoint " << path << " (renamed to .bad)\n";
    // Extending a finished run ("train 5 more epochs") changes only its length.
    bool extended = false;
    if (options.resume_epochs >= 0) config.settings["epochs"] = options.resume_epochs, extended = true;
    if (options.resume_max_steps >= 0) config.settings["max_steps"] = options.resume_max_steps, extended = true;
    if (extended) {
      family_ptr->validate(config.settings);
      write_file_atomic(config_path(options.run_dir), config.to_json().dump(2) + "\n");
    }
    std::cout << "resuming " << options.run_dir << " from step " << step << " (" << last_checkpoint << ")\n";
  } else {
    family_ptr = &find_model_family(config.model);
    family_ptr->validate(config.settings);
    std::error_code error;
    if (fs::exists(options.run_dir) && !fs::is_empty(options.run_dir, error))
      throw UserError(options.run_dir + ": already exists and is not empty (use --resume to continue it, or another --run-dir)");
  }

  const Json& s = config.settings;
  const int64_t seed = setting_int(s, "seed"), batch = setting_int(s, "batch_size");
  const int64_t epochs = setting_int(s, "epochs"), max_steps = setting_int(s, "max_steps");

  // Data and model come before the run directory, so that a run refused for its data or
  // its size leaves no directory behind to block the corrected command.
  const data::ImageDataset train = data::load_mnist(options.data_dir, data::Split::kTrain);
  const data::ImageDataset test = data::load_mnist(options.data_dir, data::Split::kTest);
  if (batch > train.size())
    throw UserError("--batch-size: " + std::to_string(batch) + " exceeds the " +
                    std::to_string(train.size()) + " training images");
  const int64_t steps_per_epoch = train.size() / batch;  // the last partial batch is dropped
  // Saturates instead of overflowing for absurd --epochs.
  int64_t total_steps = epochs <= 0 ? max_steps
                        : epochs > std::numeric_limits<int64_t>::max() / steps_per_epoch
                            ? std::numeric_limits<int64_t>::max()
                            : epochs * steps_per_epoch;
  if (max_steps > 0) total_steps = std::min(total_steps, max_steps);

  if (fresh) {
    try {
      create_model();
    } catch (const c10::Error& e) {
      if (!is_out_of_memory(e)) throw;
      throw UserError("out of memory creating the " + config.model + " model; choose smaller settings");
    }
    config.environment = {{"torch_version", torch_version()},
                          {"device", describe_device(options.device)},
                          {"threads", torch::get_num_threads()},
                          {"created", now_iso8601()}};
    // The directory appears with its config.json or not at all (built under a temporary
    // name, then renamed), so a kill here never leaves a directory that is neither a
    // resumable run nor free for a new one.
    fs::path target = fs::path(options.run_dir).lexically_normal();
    if (target.filename().empty()) target = target.parent_path();
    const fs::path staging = target.string() + ".tmp-" + std::to_string(getpid());
    std::error_code error;
    fs::remove_all(staging, error);
    fs::create_directories(staging, error);
    if (error) throw UserError(options.run_dir + ": cannot create (" + error.message() + ")");
    try {
      write_file_atomic(config_path(staging.string()), config.to_json().dump(2) + "\n");
    } catch (const UserError&) {
      fs::remove_all(staging, error);
      throw;
    }
    fs::rename(staging, target, error);  // replaces an empty directory, fails on another
    if (error) {
      const std::string reason = error.message();
      fs::remove_all(staging, error);
      throw UserError(options.run_dir + ": cannot create (" + reason + ")");
    }
  }

  if (options.resume && step >= total_steps) {
    std::cout << options.run_dir << " is complete (" << step << " steps); nothing to do. "
              << "Extend it with --epochs N or --max-steps N.\n";
    return 0;
  }
  FigureContext figures = make_figure_context(options.run_dir, test, options.device, 0);
  int64_t checkpoint_step = last_checkpoint.empty() ? -1 : step;
  auto checkpoint = [&]() {
    try {
      last_checkpoint = save_checkpoint(*model, config.model, checkpoints_dir(options.run_dir), step,
                                        step / steps_per_epoch, options.keep_checkpoints)
                            .path;
    } catch (const UserError& e) {
      throw UserError(std::string("checkpoint at step ") + std::to_string(step) + " not written: " +
                      e.what() + (last_checkpoint.empty() ? std::string(" (no earlier checkpoint)")
                                                          : "; resume from " + last_checkpoint));
    }
    checkpoint_step = step;
  };

  std::cout << "training " << config.model << " (preset " << config.preset << ", "
            << model->parameter_count() << " sampler parameters) on " << describe_device(options.device)
            << ": " << total_steps << " steps of batch " << batch << ", " << steps_per_epoch
            << " steps per epoch\n";
  StopSignals signals;
  io::ProgressBar progress("train", total_steps, options.log_every, step);
  LossTerms interval_sums;
  int64_t interval_steps = 0;
  auto interval_start = std::chrono::steady_clock::now();
  auto last_checkpoint_time = interval_start;

  while (step < total_steps) {
    // Epochs are whole numbers of steps (the last partial batch is dropped), so the epoch
    // and the position in it follow from the step alone — which is all a checkpoint holds.
    const int64_t epoch = step / steps_per_epoch;
    // The permutation depends only on (seed, epoch), so a resumed run sees the same order.
    torch::manual_seed(step_seed(seed, -1 - epoch));
    const torch::Tensor order = torch::randperm(train.size(), torch::kLong);
    for (int64_t b = step % steps_per_epoch; b < steps_per_epoch && step < total_steps; ++b) {
      torch::manual_seed(step_seed(seed, step));
      const torch::Tensor index = order.narrow(0, b * batch, batch);
      LossTerms terms;
      bool out_of_memory = false;
      try {
        terms = model->train_step(train.images.index_select(0, index).to(options.device),
                                  train.labels.index_select(0, index).to(options.device));
      } catch (const c10::Error& e) {
        if (!is_out_of_memory(e)) throw;
        out_of_memory = true;
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
      if (out_of_memory) {
        std::string where = " (checkpoint intact: " + last_checkpoint + ")";
        if (step == 0 && fresh) {
          // A run that cannot take one step holds nothing; leave its name free for a retry.
          std::error_code ignored;
          fs::remove_all(options.run_dir, ignored);
          where = " (the new run directory was removed)";
        } else if (last_checkpoint.empty()) {
          where = "";
        }
        throw UserError("out of memory at step " + std::to_string(step + 1) + " with --batch-size " +
                        std::to_string(batch) + "; try a smaller one" + where);
      }
      require_finite_losses(terms, step + 1, last_checkpoint);
      ++step;
      for (const auto& [name, value] : terms) interval_sums[name] += value;
      ++interval_steps;

      const auto now = std::chrono::steady_clock::now();
      if (step % options.log_every == 0 || step == total_steps) {
        const double seconds = std::chrono::duration<double>(now - interval_start).count();
        Json line = {{"step", step}, {"epoch", static_cast<double>(step) / steps_per_epoch},
                     {"images_per_s", seconds > 0 ? interval_steps * batch / seconds : 0.0}};
        for (auto& [name, sum] : interval_sums) line[name] = sum / interval_steps;
        append_line(metrics_path(options.run_dir), line.dump());
        interval_sums.clear();
        interval_steps = 0;
        interval_start = now;
      }
      progress.update(step, "epoch " + std::to_string(epoch + 1) + " " + format_losses(terms));

      if (signals.received() != 0) {
        checkpoint();
        const int signal = signals.received();
        std::cout << "\nstopped by " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << " at step " << step
                  << "; checkpoint written: " << last_checkpoint
                  << "\nresume with: trilemma train --resume " << options.run_dir << "\n";
        return 128 + signal;
      }
      if (options.checkpoint_minutes <= 0 ||
          std::chrono::duration<double>(now - last_checkpoint_time).count() > 60 * options.checkpoint_minutes) {
        checkpoint();
        last_checkpoint_time = now;
      }
    }
    if (step % steps_per_epoch != 0) break;  // stopped mid-epoch by --max-steps
    const int64_t completed = step / steps_per_epoch;
    LossTerms test_terms = mean_losses(*model, test, options.test_images, options.device);
    Json line = {{"step", step}, {"epoch", completed}, {"phase", "test"}};
    for (const auto& [name, value] : test_terms) line[name] = value;
    append_line(metrics_path(options.run_dir), line.dump());
    std::cout << (progress_is_inline() ? "\n" : "") << "epoch " << completed << " test "
              << format_losses(test_terms) << "\n";
    figures.epoch = completed;
    try {
      model->write_epoch_figures(figures);
    } catch (const UserError& e) {
      std::cerr << "warning: epoch figures not written: " << e.what() << "\n";  // the checkpoint matters more
    }
    checkpoint();
    last_checkpoint_time = std::chrono::steady_clock::now();
  }
  progress.finish();
  if (checkpoint_step != step) checkpoint();
  figures.epoch = step / steps_per_epoch;
  try {
    write_run_figures(*model, options.run_dir, figures);
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + "; training is complete and checkpointed (" + last_checkpoint +
                    "); redraw the figures with `trilemma figures " + options.run_dir + "`");
  }
  std::cout << "done: " << step << " steps. checkpoint " << last_checkpoint << "\nimages in "
            << images_dir(options.run_dir) << "\n";
  return 0;
}

}  // namespace trilemma::training
