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
    const int64_t n = std::min<int64_t>(5000, test.size());
    FigureContext figures{training::images_dir(run.dir), test.images.narrow(0, 0, n).to(device),
                          test.labels.narrow(0, 0, n).to(device), run.epoch};
    std::filesystem::create_directories(figures.images_dir);
    run.model->write_figures(figures);
    training::plot_loss_curves(run.dir);
    std::cout << "figures in " << figures.images_dir << "\n";
  });
}

}  // namespace trilemma::cli
