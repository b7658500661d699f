// trilemma figures RUN_DIR: (re)draw a run's figures from its newest checkpoint.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/runtime.h"
#include "data/mnist.h"
#include "training/run_dir.h"
#include "training/train_loop.h"

namespace trilemma::cli {

void add_figures_command(CLI::App& app, Context& context) {
  auto run_dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("figures", "redraw a run's figures (samples, latent plots, losses, ...)");
  sub->fallthrough();
  sub->add_option("run_dir", *run_dir, "run directory")->required();
  sub->callback([&context, run_dir]() {
    apply_runtime(context);
    const torch::Device device = resolve_device(context.device);
    training::LoadedRun run = training::load_run(*run_dir, device);
    const data::ImageDataset test =
        data::load_mnist(data::resolve_data_dir(context.data_dir), data::Split::kTest);
    const FigureContext figures = training::make_figure_context(run.dir, test, device, run.epoch);
    training::write_run_figures(*run.model, run.dir, figures);
    std::cout << "figures in " << figures.images_dir << "\n";
  });
}

}  // namespace trilemma::cli
