// trilemma sample RUN_DIR [--n N] [--out FILE.npy] [--grid FILE.png] [--sampler S --steps K --eta E]
//                        [--class K | --per-class] [--guidance W] [--guide RUN_DIR|zoo:NAME|none]
#include <chrono>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/progress.h"
#include "models/conditioning.h"
#include "models/sampling_options.h"
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
  bool per_class = false;
  double guidance = 0.0;
  double eta = 0.0;
  std::string precision = "fp32";  ///< --precision
  std::string guide;               ///< --guide: RUN_DIR, zoo:NAME or none (autoguidance)
  SampleOptions sampling;
};

// Images are drawn in batches so that --n 100000 never needs 100000 images of activations.
torch::Tensor draw_samples(GenerativeModel& model, int64_t n, int64_t batch, const SampleOptions& options) {
  std::vector<torch::Tensor> parts;
  for (int64_t done = 0; done < n; done += batch) {
    const int64_t size = std::min(batch, n - done);
    parts.push_back(model.sample(size, options).to(torch::kCPU));
  }
  return torch::cat(parts);
}

// --per-class: n images of each class in turn, so that a grid of n columns has one row per class.
torch::Tensor draw_by_class(GenerativeModel& model, const SampleFlags& flags) {
  std::vector<torch::Tensor> rows;
  SampleOptions options = flags.sampling;
  for (int64_t k = 0; k < model.num_classes(); ++k) {
    options.class_label = k;
    rows.push_back(draw_samples(model, flags.n, flags.batch, options));
  }
  return torch::cat(rows);
}

}  // namespace

void add_sample_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<SampleFlags>();
  CLI::App* sub = app.add_subcommand("sample", "draw samples from a trained run (.npy and/or PNG grid)");
  sub->fallthrough();
  sub->add_option("run_dir", flags->run_dir, "run directory written by `trilemma train`, or zoo:NAME")->required();
  sub->add_option("--n", flags->n, "number of samples")->check(CLI::Range(int64_t{1}, int64_t{1000000}))->capture_default_str();
  sub->add_option("--batch", flags->batch, "images per sampling batch")->check(CLI::Range(int64_t{1}, int64_t{65536}))->capture_default_str();
  sub->add_option("--seed", flags->seed, "random seed for the noise")->check(CLI::NonNegativeNumber)->capture_default_str();
  sub->add_option("--out", flags->out, "write uint8 N×28×28 samples to this .npy file");
  sub->add_option("--grid", flags->grid, "write a PNG grid (at most 400 images) (default: RUN_DIR/images/samples-<sampler>.png; for zoo:NAME, zoo-NAME-samples-<sampler>.png here)");
  sub->add_option("--sampler", flags->sampling.sampler, "sampler: ddpm, ddim or dpm-solver (diffusion); normal or mixture (vae: z from N(0, I) or from the latent mixture fitted after training)");
  sub->add_option("--steps", flags->sampling.steps, "diffusion sampling steps (default: the run's setting)")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  CLI::Option* eta_option = sub->add_option("--eta", flags->eta, "DDIM noise: 0 deterministic, 1 DDPM-like (default: the run's)")->check(CLI::Range(0.0, 1.0));
  CLI::Option* class_option =
      sub->add_option("--class", flags->sampling.class_label, "conditional runs: draw this class (digit 0-9)")
          ->check(CLI::NonNegativeNumber);
  sub->add_flag("--per-class", flags->per_class,
                "conditional runs: --n images of every class, the grid one row per class")
      ->excludes(class_option);
  CLI::Option* guidance_option = sub->add_option(
      "--guidance", flags->guidance,
      "guided diffusion: classifier-free guidance weight of a conditional model (0 unconditional, 1 "
      "conditional, >1 sharper), or with a guide the autoguidance weight (0 the guide, 1 the model, >1 "
      "guided); default: the run's");
  add_guide_option(*sub, flags->guide);
  add_sampling_precision_option(*sub, flags->precision);
  sub->callback([&context, flags, sub, guidance_option, eta_option]() {
    apply_runtime(context);
    if (guidance_option->count() > 0) flags->sampling.guidance = flags->guidance;
    if (eta_option->count() > 0) flags->sampling.eta = flags->eta;
    const torch::Device device = resolve_device(context.device);
    flags->sampling.precision = precision_for(flags->precision, device);
    training::LoadedRun run = load_run_with_guide_option(flags->run_dir, *sub, flags->guide, device);
    check_sampling_options(*run.model, run.config.model, given_sampler_options(*sub));
    check_class_request(flags->sampling, run.model->num_classes(), run.model->supports_guidance());
    if (flags->per_class && run.model->num_classes() == 0)
      throw UserError("--per-class: this run is unconditional (train with --conditional true)");
    flags->sampling.progress = io::progress_printer();
    const std::string sampler = run.model->sampler_name(flags->sampling);
    const int64_t rows = flags->per_class ? run.model->num_classes() : 1;
    const int64_t total = flags->n * rows;
    torch::manual_seed(flags->seed);
    const auto start = std::chrono::steady_clock::now();
    const torch::Tensor images = flags->per_class
                                     ? draw_by_class(*run.model, *flags)
                                     : draw_samples(*run.model, flags->n, flags->batch, flags->sampling);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string what = flags->per_class ? " per class"
                             : flags->sampling.class_label >= 0
                                 ? " of class " + std::to_string(flags->sampling.class_label)
                                 : "";
    std::cout << "sampled " << flags->n << " images" << what << " from " << run.config.model << " (step "
              << run.step << ", sampler " << sampler << ", NFE "
              << run.model->network_evaluations(flags->sampling) << " per image) in " << seconds
              << " s (" << 1000 * seconds / total << " ms/image)\n";
    if (!flags->out.empty()) {
      const torch::Tensor stored = io::to_uint8(images);
      std::string shape;
      for (int64_t d : stored.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
      io::save_npy(stored, flags->out);
      std::cout << "samples: " << flags->out << " (uint8, " << shape
                << (flags->per_class ? ", class 0 first, " + std::to_string(flags->n) + " per class" : "")
                << ")\n";
    }
    std::string grid = flags->grid;
    const std::string suffix = flags->per_class ? "-by-class"
                               : flags->sampling.class_label >= 0
                                   ? "-class" + std::to_string(flags->sampling.class_label)
                                   : "";
    if (grid.empty() && flags->out.empty()) {
      const std::string file = "samples-" + sampler + suffix + ".png";
      // Nothing is written into the zoo: its samples go to the current folder.
      grid = run.read_only ? "zoo-" + std::filesystem::path(run.dir).filename().string() + "-" + file
                           : (std::filesystem::path(training::images_dir(run.dir)) / file).string();
    }
    if (!grid.empty()) {
      // Per class: one row per class, at most 40 columns; otherwise at most 400 images.
      const int64_t columns = flags->per_class ? std::min<int64_t>(40, flags->n) : 0;
      const torch::Tensor shown =
          flags->per_class
              ? images.view({rows, flags->n, 1, 28, 28}).narrow(1, 0, columns).reshape({-1, 1, 28, 28})
              : images.narrow(0, 0, std::min<int64_t>(400, total));
      if (columns > 0) io::save_image_grid(shown, grid, columns);
      else io::save_image_grid(shown, grid);
      std::cout << "grid: " << grid << "\n";
    }
  });
}

void add_info_command(CLI::App& app, Context& context) {
  auto run_dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("info", "describe a run: settings, checkpoint, model facts");
  sub->fallthrough();
  sub->add_option("run_dir", *run_dir, "run directory, or zoo:NAME")->required();
  sub->callback([&context, run_dir]() {
    apply_runtime(context);
    training::LoadedRun run = training::load_run(*run_dir, resolve_device(context.device));
    std::cout << "run:        " << run.dir << "\nmodel:      " << run.config.model << " (preset "
              << run.config.preset << ")\ncheckpoint: " << run.checkpoint << " (step " << run.step
              << ", epoch " << run.epoch << ")\ndataset:    "
              << run.config.dataset.value("title", std::string("MNIST")) << " ("
              << run.config.settings.value("image_channels", int64_t{1}) << "x"
              << run.config.settings.value("image_size", int64_t{28}) << "x"
              << run.config.settings.value("image_size", int64_t{28}) << ", "
              << run.config.settings.value("classes", int64_t{10}) << " classes)"
              << "\nparameters: " << run.model->parameter_count()
              << "\nsettings:   " << run.config.settings.dump() << "\nenvironment: "
              << run.config.environment.dump() << "\n";
    const Json& teacher = run.config.teacher;
    if (!teacher.empty())
      std::cout << "teacher:    " << teacher.value("run", std::string("?")) << " (" << teacher.value("model", std::string("?"))
                << ", step " << teacher.value("step", int64_t{0}) << ", checkpoint crc32 "
                << teacher.value("checkpoint_crc32", std::string("?")) << ")\n";
    if (!run.guide.empty())
      std::cout << "guide:      " << run.guide << " (autoguidance at w = "
                << run.config.settings.value("guidance", 1.0) << ", checkpoint crc32 " << run.guide_crc32 << ")\n";
    const Json facts = run.model->info();
    for (const auto& [key, value] : facts.items())
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  });
}


}  // namespace trilemma::cli
