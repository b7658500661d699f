// trilemma train MODEL [--preset P] [--<setting> V]... | trilemma train --resume RUN_DIR
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "core/settings.h"
#include "data/mnist.h"
#include "models/registry.h"
#include "training/train_loop.h"

namespace trilemma::cli {
namespace {

std::string default_run_dir(const std::string& model) {
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + model + "-" + stamp;
}

// "--latent-dim" help: the field's text plus its value in each preset.
std::string setting_help(const ModelFamily& family, const SettingSpec& spec) {
  std::string help = spec.help + " [";
  for (size_t i = 0; i < family.presets.size(); ++i) {
    const Json value = family.preset_settings(family.presets[i])[spec.name];
    help += (i ? ", " : "") + family.presets[i] + ": " +
            (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return help + "]";
}

struct TrainFlags {
  std::string run_dir;
  std::string resume;
  int keep = 3;
  int64_t log_every = 50;
  double checkpoint_minutes = 10;
  int64_t resume_epochs = -1;
  int64_t resume_max_steps = -1;

  /// What a new and a resumed run share: threads applied, data, device, checkpointing.
  training::TrainOptions options(const Context& context, const std::string& dir) const {
    apply_runtime(context);
    training::TrainOptions options;
    options.run_dir = dir;
    options.data_dir = data::resolve_data_dir(context.data_dir);
    options.device = resolve_device(context.device);
    options.keep_checkpoints = keep;
    options.log_every = log_every;
    options.checkpoint_minutes = checkpoint_minutes;
    return options;
  }
};

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

}  // namespace

void add_train_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* train = app.add_subcommand("train", "train a model (one subcommand per model family)");
  train->fallthrough();
  train->require_subcommand(0, 1);
  train->add_option("--resume", flags->resume, "continue the run in RUN_DIR from its newest good checkpoint");
  train->add_option("--keep", flags->keep, "keep the newest K checkpoints")->check(CLI::Range(1, 1000));
  train->add_option("--log-every", flags->log_every, "steps between metrics.jsonl lines")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  train->add_option("--checkpoint-minutes", flags->checkpoint_minutes,
                    "also checkpoint this often within an epoch (0: after every step)")
      ->check(CLI::Range(0.0, 1e6));

  train->add_option("--epochs", flags->resume_epochs, "with --resume: new total number of epochs")
      ->check(CLI::NonNegativeNumber);
  train->add_option("--max-steps", flags->resume_max_steps, "with --resume: new total step limit (0 = none)")
      ->check(CLI::NonNegativeNumber);

  // The resume path: no model subcommand, everything comes from the run's config.json.
  train->callback([&context, flags, train]() {
    if (!train->get_subcommands().empty()) return;
    if (flags->resume.empty()) {
      std::vector<std::string> names;
      for (const auto& f : model_families()) names.push_back(f.name);
      throw UserError("train: name a model (" + join(names) + ") or --resume RUN_DIR");
    }
    training::TrainOptions options = flags->options(context, flags->resume);
    options.resume = true;
    options.resume_epochs = flags->resume_epochs;
    options.resume_max_steps = flags->resume_max_steps;
    context.exit_code = training::train_run({}, options);
  });

  for (const ModelFamily& family : model_families()) {
    CLI::App* sub = train->add_subcommand(family.name, family.summary);
    sub->fallthrough();
    auto preset = std::make_shared<std::string>(family.presets.front());
    auto values = std::make_shared<std::map<std::string, std::string>>();
    sub->add_option("--preset", *preset, "named settings: " + join(family.presets))->capture_default_str();
    sub->add_option("--run-dir", flags->run_dir, "run directory (default: runs/" + family.name + "-<time>)");
    for (const SettingSpec& spec : family.settings) {
      CLI::Option* option =
          sub->add_option(flag_name(spec.name), (*values)[spec.name], setting_help(family, spec))
              ->type_name("VALUE");
      // A boolean setting also works as a bare switch: `--conditional` = `--conditional true`.
      if (family.preset_settings(family.presets.front())[spec.name].is_boolean())
        option->expected(0, 1)->default_str("true");
    }
    sub->callback([&context, &family, flags, preset, values, sub]() {
      if (!flags->resume.empty())
        throw UserError("--resume continues an existing run: use `trilemma train --resume RUN_DIR` without a model");
      training::RunConfig config;
      config.model = family.name;
      config.preset = *preset;
      config.settings = family.preset_settings(*preset);
      for (const SettingSpec& spec : family.settings)
        if (sub->count(flag_name(spec.name)) > 0)
          override_setting(config.settings, spec.name, values->at(spec.name));
      family.validate(config.settings);
      const training::TrainOptions options =
          flags->options(context, flags->run_dir.empty() ? default_run_dir(family.name) : flags->run_dir);
      std::cout << "run directory: " << options.run_dir << "\n";
      context.exit_code = training::train_run(config, options);
    });
  }
}

}  // namespace trilemma::cli
