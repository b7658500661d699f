// trilemma figures RUN_DIR: (re)draw a run's figures from its newest checkpoint.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/mnist.h"
#include "training/run_dir.h"
#include "training/zoo.h"
#include "training/figures.h"

namespace trilemma::cli {

void add_figures_command(CLI::App& app, Context& context) {
  auto run_dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("figures", "redraw a run's figures (samples, latent plots, losses, ...)");
  sub->fallthrough();
  sub->add_option("run_dir", *run_dir, "run directory")->required();
  sub->callback([&context, run_dir]() {
    apply_runtime(context);
    const torch::Device device = resolve_device(context.device);
    if (training::is_zoo_name(*run_dir))
      throw UserError(*run_dir + ": figures are redrawn into a run directory and need the whole model; a zoo "
                      "model is read-only (try `trilemma sample " + *run_dir + " --grid FILE.png`)");
    training::LoadedRun run = training::load_run(*run_dir, device);
    const data::ImageDataset test = data::load_split(
        data::DatasetSpec::of_run(run.config.dataset, run.config.settings, context.data_dir), data::Split::kTest);
    training::write_run_figures(*run.model, run.dir, training::make_figure_inputs(test, device, run.epoch));
    std::cout << "figures in " << training::images_dir(run.dir) << "\n";
  });
}

}  // namespace trilemma::cli
