// trilemma sample RUN_DIR [--n N] [--out FILE.npy] [--grid FILE.png] [--sampler S --steps K --eta E]
#include <chrono>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "io/image.h"
#include "io/npy.h"
#include "training/run_dir.h"

namespace trilemma::cli {
namespace {

struct SampleFlags {
  std::string run_dir;
  int64_t n = 64;
  int64_t batch = 256;
  int64_t seed = 0;
  std::string out;
  std::string grid;
  SampleOptions sampling;
};

// Images are drawn in batches so that --n 100000 never needs 100000 images of activations.
torch::Tensor draw_samples(GenerativeModel& model, const SampleFlags& flags) {
  std::vector<torch::Tensor> parts;
  for (int64_t done = 0; done < flags.n; done += flags.batch) {
    const int64_t size = std::min(flags.batch, flags.n - done);
    parts.push_back(model.sample(size, flags.sampling).to(torch::kCPU));
  }
  return torch::cat(parts);
}

}  // namespace

void add_sample_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<SampleFlags>();
  CLI::App* sub = app.add_subcommand("sample", "draw samples from a trained run (.npy and/or PNG grid)");
  sub->fallthrough();
  sub->add_option("run_dir", flags->run_dir, "run directory written by `trilemma train`")->required();
  sub->add_option("--n", flags->n, "number of samples")->check(CLI::Range(int64_t{1}, int64_t{1000000}))->capture_default_str();
  sub->add_option("--batch", flags->batch, "images per sampling batch")->check(CLI::Range(int64_t{1}, int64_t{65536}))->capture_default_str();
  sub->add_option("--seed", flags->seed, "random seed for the noise")->check(CLI::NonNegativeNumber)->capture_default_str();
  sub->add_option("--out", flags->out, "write uint8 N×28×28 samples to this .npy file");
  sub->add_option("--grid", flags->grid, "write a PNG grid (at most 400 images) (default: RUN_DIR/images/samples-<sampler>.png)");
  sub->add_option("--sampler", flags->sampling.sampler, "diffusion sampler: ddpm, ddim or dpm-solver");
  sub->add_option("--steps", flags->sampling.steps, "diffusion sampling steps (default: the run's setting)")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  sub->add_option("--eta", flags->sampling.eta, "DDIM noise: 0 deterministic, 1 DDPM-like")->check(CLI::Range(0.0, 1.0));
  sub->callback([&context, flags]() {
    apply_runtime(context);
    const torch::Device device = resolve_device(context.device);
    training::LoadedRun run = training::load_run(flags->run_dir, device);
    flags->sampling.progress = true;
    const std::string sampler = run.model->sampler_name(flags->sampling);
    torch::manual_seed(flags->seed);
    const auto start = std::chrono::steady_clock::now();
    const torch::Tensor images = draw_samples(*run.model, *flags);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "sampled " << flags->n << " images from " << run.config.model << " (step " << run.step
              << ", sampler " << sampler << ", NFE " << run.model->network_evaluations(flags->sampling)
              << " per image) in " << seconds << " s (" << 1000 * seconds / flags->n << " ms/image)\n";
    if (!flags->out.empty()) {
      io::save_npy(io::to_uint8(images), flags->out);
      std::cout << "samples: " << flags->out << " (uint8, " << flags->n << "x28x28)\n";
    }
    std::string grid = flags->grid;
    if (grid.empty() && flags->out.empty())
      grid = (std::filesystem::path(training::images_dir(run.dir)) / ("samples-" + sampler + ".png")).string();
    if (!grid.empty()) {
      io::save_image_grid(images.narrow(0, 0, std::min<int64_t>(400, flags->n)), grid);
      std::cout << "grid: " << grid << "\n";
    }
  });
}

void add_info_command(CLI::App& app, Context& context) {
  auto run_dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("info", "describe a run: settings, checkpoint, model facts");
  sub->fallthrough();
  sub->add_option("run_dir", *run_dir, "run directory")->required();
  sub->callback([&context, run_dir]() {
    apply_runtime(context);
    training::LoadedRun run = training::load_run(*run_dir, torch::kCPU);
    std::cout << "run:        " << run.dir << "\nmodel:      " << run.config.model << " (preset "
              << run.config.preset << ")\ncheckpoint: " << run.checkpoint << " (step " << run.step
              << ", epoch " << run.epoch << ")\nparameters: " << run.model->parameter_count()
              << "\nsettings:   " << run.config.settings.dump() << "\nenvironment: "
              << run.config.environment.dump() << "\n";
    const Json facts = run.model->info();
    for (const auto& [key, value] : facts.items())
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  });
}


}  // namespace trilemma::cli
