// trilemma sweep MODEL --SETTING v1,v2,... [--preset P] [--OTHER-SETTING v]... [--out DIR] [--n N]
// One run per value of one setting (one run in all for a sampling setting), each evaluated,
// then a table and a figure (experiments/sweep.h).
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "core/settings.h"
#include "data/mnist.h"
#include "experiments/sweep.h"
#include "models/registry.h"

namespace trilemma::cli {

void add_sweep_command(CLI::App& app, Context& context) {
  CLI::App* sweep = app.add_subcommand(
      "sweep", "grid search: train and evaluate one run per value of a setting, e.g. `sweep vae --latent-dim 2,8,32`");
  sweep->require_subcommand(1);
  for (const ModelFamily& family : model_families()) {
    if (!family.teacher_family.empty()) continue;  // distilled runs start from a teacher, not a preset
    CLI::App* sub = sweep->add_subcommand(family.name, family.summary);
    sub->fallthrough();
    auto preset = std::make_shared<std::string>(family.presets.front());
    auto out = std::make_shared<std::string>();
    auto request = std::make_shared<experiments::SweepRequest>();
    auto values = std::make_shared<std::map<std::string, std::string>>();
    sub->add_option("--preset", *preset, "the settings every run starts from")->capture_default_str();
    sub->add_option("--out", *out, "output folder (default: sweeps/MODEL-SETTING)");
    sub->add_option("--n", request->evaluation.protocol.n, "generated images evaluated per value")
        ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
        ->capture_default_str();
    for (const SettingField& field : family.settings)
      if (!field.from_data)
        sub->add_option(flag_name(field.name), (*values)[field.name],
                        field.help + (field.type == "integer list" ? " (several values: separate them with ';')"
                                                                   : " (several values: comma-separated)"))
            ->type_name("VALUE[,VALUE...]");
    sub->callback([&context, &family, sub, preset, out, request, values]() {
      request->model = family.name;
      request->preset = *preset;
      family.preset_settings(*preset);  // an unknown preset is refused before anything else
      for (const SettingField& field : family.settings) {
        if (field.from_data || sub->count(flag_name(field.name)) == 0) continue;
        const std::string& text = values->at(field.name);
        const bool list = field.type == "integer list";
        if (text.find(list ? ';' : ',') == std::string::npos) {
          request->fixed[field.name] = text;
          continue;
        }
        if (!request->setting.empty())
          throw UserError("sweep: one setting at a time (" + flag_name(request->setting) + " and " +
                          flag_name(field.name) + " both have several values)");
        request->setting = field.name;
        request->values = experiments::split_sweep_values(flag_name(field.name), text, list);
      }
      if (request->setting.empty())
        throw UserError("sweep: give one setting with several values, e.g. --latent-dim 2,8,32");
      request->out_dir = out->empty() ? "sweeps/" + family.name + "-" + flag_name(request->setting).substr(2) : *out;
      apply_runtime(context);
      request->device = resolve_device(context.device);
      request->data_dir = data::resolve_data_dir(context.data_dir);
      context.exit_code = experiments::run_sweep(*request, std::cout);
      if (context.exit_code == 0)
        std::cout << "sweep: " << request->out_dir << "/report.html, report.md, sweep.png, sweep.json\n";
    });
  }
}

}  // namespace trilemma::cli
