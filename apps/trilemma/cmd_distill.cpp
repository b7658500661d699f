// trilemma distill TEACHER_RUN [--method consistency] [--preset P] [--run-dir OUT] [--<setting> V]...
#include <iostream>
#include <map>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "core/settings.h"
#include "models/registry.h"
#include "training/distill.h"

namespace trilemma::cli {

void add_distill_command(CLI::App& app, Context& context) {
  struct Flags {
    training::DistillRequest request;
    std::string run_dir;
    std::map<std::string, std::string> run_options, settings;
    DistributedFlags distributed;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* distill = app.add_subcommand(
      "distill", "distil a trained run into a few-step sampler (consistency distillation of a ddpm)");
  distill->add_option("teacher", flags->request.teacher, "the teacher: a ddpm run directory or zoo:NAME")->required();
  std::vector<std::string> methods;
  const ModelFamily* first = nullptr;
  for (const ModelFamily& family : model_families())
    if (!family.teacher_family.empty()) {
      methods.push_back(family.name);
      if (first == nullptr) first = &family;
    }
  flags->request.method = first->name;
  distill->add_option("--method", flags->request.method, "distillation method")
      ->check(CLI::IsMember(methods))
      ->capture_default_str();
  distill->add_option("--preset", flags->request.preset, "named settings (default: the method's first)");
  distill->add_option("--run-dir", flags->run_dir, "run directory (default: runs/<method>-<time>)");
  add_run_option_flags(*distill, flags->run_options);
  add_distributed_flags(*distill, flags->distributed);
  // The settings of every method (today one), so that --help lists them.
  for (const ModelFamily& family : model_families())
    if (!family.teacher_family.empty()) add_setting_flags(*distill, family, flags->settings);

  distill->callback([&context, flags, distill]() {
    const ModelFamily& family = find_model_family(flags->request.method);
    for (const SettingField& field : family.settings)
      if (!field.from_data && distill->count(flag_name(field.name)) > 0) flags->request.settings[field.name] = flags->settings.at(field.name);
    const std::string dir = flags->run_dir.empty() ? default_run_dir(family.name) : flags->run_dir;
    if (const std::optional<int> status = launch_or_join(context, flags->distributed, dir)) {
      context.exit_code = *status;
      return;
    }
    training::TrainOptions options = train_options(context, dir, *distill, flags->run_options);
    context.exit_code = training::distill_run(flags->request, options);
  });
}

}  // namespace trilemma::cli
