// trilemma train MODEL [--preset P] [--<setting> V]... | trilemma train --resume RUN_DIR
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "core/settings.h"
#include "core/settings_table.h"
#include "data/dataset.h"
#include "data/mnist.h"
#include "distributed/launcher.h"
#include "distributed/process_group.h"
#include "models/registry.h"
#include "training/train_loop.h"

namespace trilemma::cli {
namespace {

// "--latent-dim" help: the field's text, its valid values and its value in each preset.
std::string setting_help(const ModelFamily& family, const std::vector<Json>& presets, const SettingField& field) {
  std::string help = field.help + " (" + field.range + ") [";
  for (size_t i = 0; i < family.presets.size(); ++i)
    help += (i ? ", " : "") + family.presets[i] + ": " + setting_text(presets[i].at(field.name));
  return help + "]";
}

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

}  // namespace

std::string default_run_dir(const std::string& model) {
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + model + "-" + stamp;
}

void set_run_dataset(training::RunConfig& config, const std::string& name, const std::string& mnist_dir,
                     bool size_given, bool channels_given) {
  data::DatasetSpec spec;
  spec.name = name;
  spec.mnist_dir = mnist_dir;
  const data::DatasetInfo info = data::describe_dataset(spec);
  if (!size_given) config.settings["image_size"] = data::resolved_format(spec, info).size;
  if (!channels_given) config.settings["image_channels"] = info.image_channels;
  config.settings["classes"] = info.num_classes();
  config.dataset = info.to_json();
}

void add_run_option_flags(CLI::App& command, std::map<std::string, std::string>& values) {
  const training::RunOptions defaults;
  for (const SettingField& field : training::run_options_table().fields())
    command.add_option(flag_name(field.name), values[field.name],
                       field.help + " (" + field.range + "; default " +
                           setting_text(training::run_options_table().to_json(defaults)[field.name]) +
                           ", or the run's own on --resume)")
        ->type_name("VALUE");
}

training::TrainOptions train_options(const Context& context, const std::string& dir, const CLI::App& command,
                                     const std::map<std::string, std::string>& run_option_values) {
  apply_runtime(context);
  // A training step's convolutions run in oneDNN's OpenMP threads; OpenBLAS's pool (the
  // linear layers' products) only adds workers that spin against them between products.
  // One BLAS thread trains faster (BENCHMARKS.md, "OpenBLAS threads"); sampling at batch 1,
  // whose convolutions go through BLAS, keeps the pool (apply_runtime's default).
  set_blas_threads(1);
  training::TrainOptions options;
  options.run_dir = dir;
  options.data_dir = data::resolve_data_dir(context.data_dir);
  options.device = resolve_device(context.device);
  if (options.device.is_cuda() && context.group) options.device = torch::Device(torch::kCUDA, context.local_rank);
  const auto& table = training::run_options_table();
  for (const SettingField& field : table.fields())
    if (command.count(flag_name(field.name)) > 0)
      table.set_from_text(options.run_options, field.name, run_option_values.at(field.name));
  // Refused here, before a resumed run's directory is tidied; the rest are the run's own.
  training::merge_run_options(Json::object(), options.run_options);
  return options;
}

void add_setting_flags(CLI::App& command, const ModelFamily& family, std::map<std::string, std::string>& values) {
  std::vector<Json> presets;
  for (const std::string& name : family.presets) presets.push_back(family.preset_settings(name));
  const auto& copied = family.teacher_fields;
  for (const SettingField& field : family.settings) {
    if (field.from_data) continue;  // e.g. the class count: the dataset's, not a choice
    // A distilled family's copies of its teacher's settings stay flags, so that giving one
    // is refused with the teacher's value (training/distill.cpp), but say so in --help.
    const bool from_teacher = std::find(copied.begin(), copied.end(), field.name) != copied.end();
    CLI::Option* option =
        command.add_option(flag_name(field.name), values[field.name],
                           from_teacher ? "the teacher's: " + field.help + " (copied, not settable)"
                                        : setting_help(family, presets, field))
            ->type_name("VALUE");
    // A boolean setting also works as a bare switch: `--conditional` = `--conditional true`.
    if (field.type == "boolean") option->expected(0, 1)->default_str("true");
  }
}

void add_distributed_flags(CLI::App& command, DistributedFlags& flags) {
  command.add_option("--nproc", flags.nproc,
                     "train on N local processes, data-parallel (each takes 1/N of --batch-size and "
                     "cores/N threads); on several machines use the torchrun variables instead (README)")
      ->check(CLI::Range(1, 256));
  command.add_option("--dist-backend", flags.backend, "c10d backend of a distributed run (default: gloo on CPU, nccl on CUDA)")
      ->check(CLI::IsMember({"gloo", "nccl"}));
  command.add_option("--dist-timeout", flags.timeout_seconds,
                     "seconds a distributed run waits for its rendezvous or for a silent rank before stopping")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
}

namespace {

// The command line less `--nproc N` (or --nproc=N), with --run-dir pinned when not given.
std::vector<std::string> worker_arguments(const std::vector<std::string>& given, const std::string& run_dir) {
  std::vector<std::string> arguments;
  bool has_run_dir = false;
  for (size_t i = 0; i < given.size(); ++i) {
    if (given[i] == "--nproc") {
      ++i;
      continue;
    }
    if (given[i].rfind("--nproc=", 0) == 0) continue;
    has_run_dir |= given[i] == "--run-dir" || given[i].rfind("--run-dir=", 0) == 0 || given[i] == "--resume" ||
                   given[i].rfind("--resume=", 0) == 0;
    arguments.push_back(given[i]);
  }
  if (!has_run_dir) arguments.insert(arguments.end(), {"--run-dir", run_dir});
  return arguments;
}

}  // namespace

std::optional<int> launch_or_join(Context& context, const DistributedFlags& flags, const std::string& run_dir) {
  if (flags.nproc > 1) {
    if (std::getenv("RANK") != nullptr || std::getenv("WORLD_SIZE") != nullptr)
      throw UserError("--nproc: this process is already a rank of a launched run (RANK or WORLD_SIZE is set); "
                      "give --nproc or the torchrun variables, not both");
    return distributed::launch_local_workers(flags.nproc, worker_arguments(context.arguments, run_dir));
  }
  const std::optional<distributed::LaunchEnvironment> environment = distributed::launch_environment();
  if (!environment || environment->world_size == 1) return std::nullopt;
  const std::string backend =
      flags.backend.empty() ? distributed::default_backend(resolve_device(context.device)) : flags.backend;
  context.group = distributed::connect(*environment, backend,
                                       std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000)));
  context.local_rank = environment->local_rank;
  distributed::set_active(context.group.get());
  // Rank 0 speaks for the run; the others print only their errors (stderr).
  if (environment->rank != 0 && std::freopen("/dev/null", "w", stdout) == nullptr)
    throw UserError("rank " + std::to_string(environment->rank) + ": cannot silence stdout");
  return std::nullopt;
}

struct TrainFlags {
  std::string run_dir;
  std::string resume;
  std::map<std::string, std::string> run_options;  ///< text of each run option given
  int64_t resume_epochs = -1;
  int64_t resume_max_steps = -1;
  DistributedFlags distributed;
};

void add_train_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* train = app.add_subcommand("train", "train a model (one subcommand per model family)");
  train->fallthrough();
  train->require_subcommand(0, 1);
  train->add_option("--resume", flags->resume, "continue the run in RUN_DIR from its newest good checkpoint");
  // Run options: recorded in config.json and kept by --resume unless given again.
  add_run_option_flags(*train, flags->run_options);
  add_distributed_flags(*train, flags->distributed);

  // With --resume, the run's new length; before a model name (`train --epochs 3 vae`) they
  // are that model's settings, as after it.
  CLI::Option* epochs_option =
      train->add_option("--epochs", flags->resume_epochs,
                        "with --resume: the run's new total number of epochs; before a model name: its --epochs")
          ->check(CLI::NonNegativeNumber);
  CLI::Option* max_steps_option =
      train->add_option("--max-steps", flags->resume_max_steps,
                        "with --resume: the run's new step limit (0 = none); before a model name: its --max-steps")
          ->check(CLI::NonNegativeNumber);

  // The resume path: no model subcommand, everything comes from the run's config.json.
  train->callback([&context, flags, train]() {
    if (!train->get_subcommands().empty()) return;
    if (flags->resume.empty()) {
      std::vector<std::string> names;
      for (const auto& f : model_families())
        if (f.teacher_family.empty()) names.push_back(f.name);
      throw UserError("train: name a model (" + join(names) + ") or --resume RUN_DIR");
    }
    if (const std::optional<int> status = launch_or_join(context, flags->distributed, flags->resume)) {
      context.exit_code = *status;
      return;
    }
    training::TrainOptions options = train_options(context, flags->resume, *train, flags->run_options);
    options.resume = true;
    options.resume_epochs = flags->resume_epochs;
    options.resume_max_steps = flags->resume_max_steps;
    context.exit_code = training::train_run({}, options);
  });

  for (const ModelFamily& family : model_families()) {
    CLI::App* sub = train->add_subcommand(family.name, family.summary);
    // A distilled family starts from a teacher: its runs are made by `trilemma distill`. Its
    // flags parse as usual, then the callback names the way; hidden from `train --help`,
    // whose list the demo reads.
    if (!family.teacher_family.empty()) sub->group("");
    sub->fallthrough();
    auto preset = std::make_shared<std::string>(family.presets.front());
    auto values = std::make_shared<std::map<std::string, std::string>>();
    sub->add_option("--preset", *preset, "named settings: " + join(family.presets))->capture_default_str();
    sub->add_option("--run-dir", flags->run_dir, "run directory (default: runs/" + family.name + "-<time>)");
    auto dataset = std::make_shared<std::string>("mnist");
    sub->add_option("--dataset", *dataset,
                    "what to learn: " + data::dataset_names() +
                        ", an IDX directory, or a folder of images with one sub-folder per class")
        ->capture_default_str();
    add_setting_flags(*sub, family, *values);
    sub->callback([&context, &family, flags, preset, values, sub, train, epochs_option, max_steps_option, dataset]() {
      if (!family.teacher_family.empty())
        throw UserError(family.name + " runs are distilled from a trained " + family.teacher_family +
                        " run: trilemma distill TEACHER_RUN --method " + family.name);
      if (!flags->resume.empty())
        throw UserError("--resume continues an existing run: use `trilemma train --resume RUN_DIR` without a model");
      training::RunConfig config;
      config.model = family.name;
      config.preset = *preset;
      config.settings = family.preset_settings(*preset);
      for (const SettingField& field : family.settings)
        if (!field.from_data && sub->count(flag_name(field.name)) > 0)
          family.set_setting(config.settings, field.name, values->at(field.name));
      const std::pair<CLI::Option*, std::string> given_before[] = {{epochs_option, "epochs"},
                                                                   {max_steps_option, "max_steps"}};
      for (const auto& [option, name] : given_before) {
        if (option->count() == 0) continue;
        if (sub->count(flag_name(name)) > 0)
          throw UserError(flag_name(name) + ": given twice (before and after the model name)");
        family.set_setting(config.settings, name, option->as<std::string>());
      }
      set_run_dataset(config, *dataset, context.data_dir, sub->count("--image-size") > 0,
                      sub->count("--image-channels") > 0);
      config.settings = family.validate(config.settings);
      const std::string run_dir = flags->run_dir.empty() ? default_run_dir(family.name) : flags->run_dir;
      // Refused before any worker starts, so that one line says why.
      training::check_batch_split(config.settings.at("batch_size").get<int64_t>(), flags->distributed.nproc);
      if (const std::optional<int> status = launch_or_join(context, flags->distributed, run_dir)) {
        context.exit_code = *status;
        return;
      }
      const training::TrainOptions options = train_options(context, run_dir, *train, flags->run_options);
      std::cout << "run directory: " << options.run_dir << "\n";
      context.exit_code = training::train_run(config, options);
    });
  }
}

}  // namespace trilemma::cli
