// trilemma: train a VAE, a DCGAN and a DDPM on MNIST and measure them on the generative
// model trilemma (quality, speed, coverage). This file only wires the subcommands.
#include <iostream>
#include <new>

#include <c10/util/Exception.h>

#include "commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "metrics/run_evaluation.h"

void trilemma::cli::apply_runtime(const Context& context) {
  keep_freed_memory();
  configure_threads(context.threads);
}

std::vector<std::string> trilemma::cli::given_sampler_options(const CLI::App& command) {
  std::vector<std::string> given;
  for (const char* option : {"sampler", "steps", "eta"})
    if (command.count(std::string("--") + option) > 0) given.push_back(option);
  return given;
}

void trilemma::cli::add_guide_option(CLI::App& command, std::string& source) {
  command.add_option("--guide", source,
                     "unconditional ddpm: sample with autoguidance (Karras et al. 2024) by this weaker ddpm "
                     "(RUN_DIR or zoo:NAME; same image shape and schedule) at weight --guidance; none = "
                     "without the entry's guide");
}

trilemma::training::LoadedRun trilemma::cli::load_run_with_guide_option(const std::string& dir,
                                                                      const CLI::App& command,
                                                                      const std::string& guide,
                                                                      torch::Device device) {
  const bool guide_given = command.count("--guide") > 0;
  training::LoadedRun run = training::load_run(dir, device, !guide_given);
  if (guide_given) training::use_guide(run, guide, device);
  return run;
}

void trilemma::cli::add_guidance_curve_options(CLI::App& command, std::string& weights, int64_t& images_per_point) {
  command.add_option("--guidance-curve", weights,
                     "guided diffusion (conditional, or with a guide): guidance weights to measure, comma-separated, or "
                     "none")
      ->capture_default_str();
  command.add_option("--curve-n", images_per_point, "images per point of the guidance curve")
      ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
      ->capture_default_str();
}

std::vector<double> trilemma::cli::guidance_curve_for(const CLI::App& command, const GenerativeModel& model,
                                                      const std::string& weights) {
  if (model.supports_guidance()) return metrics::parse_guidance_list(weights);
  for (const char* option : {"--guidance-curve", "--curve-n"})
    if (command.count(option) > 0)
      throw UserError(std::string(option) +
                      ": the guidance curve applies to conditional diffusion models and to ones with a guide only");
  return {};
}

void trilemma::cli::add_sampling_precision_option(CLI::App& command, std::string& value) {
  command.add_option("--precision", value,
                     "sampling arithmetic: fp32, or bf16 mixed precision (CPUs with AVX512-BF16, CUDA; "
                     "faster, FID moves: see BENCHMARKS.md)")
      ->check(CLI::IsMember(precision_names()))
      ->capture_default_str();
}

int main(int argc, char** argv) {
  using namespace trilemma;
  ensure_passive_omp_waiting(argv);
  CLI::App app{
      "trilemma - train VAE, DCGAN and DDPM models on MNIST and measure them on the\n"
      "generative model trilemma: sample quality, sampling speed, mode coverage.\n\n"
      "Start with:  trilemma train vae --preset quick\n"
      "then:        trilemma sample runs/<run> --grid samples.png\n"};
  app.name("trilemma");
  app.require_subcommand(1);
  app.fallthrough();
  cli::Context context;
  context.arguments.assign(argv, argv + argc);
  app.add_option("--threads", context.threads, "CPU threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--device", context.device, "cpu, cuda or auto")->capture_default_str();
  app.add_option("--data-dir", context.data_dir,
                 "MNIST IDX directory (default: $TRILEMMA_DATA_DIR or data/mnist)");

  cli::add_train_command(app, context);
  cli::add_sample_command(app, context);
  cli::add_info_command(app, context);
  cli::add_figures_command(app, context);
  cli::add_eval_command(app, context);
  cli::add_compare_command(app, context);
  cli::add_bench_command(app, context);
  cli::add_zoo_command(app, context);
  cli::add_sweep_command(app, context);
  cli::add_curve_command(app, context);
  cli::add_distill_command(app, context);
  cli::add_hype_command(app, context);
  cli::add_hype_report_command(app, context);
  cli::add_evaluator_command(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const UserError& e) {
    // Every rank of a data-parallel run may fail alike (e.g. divergence): say which one spoke.
    const std::string what = e.what();
    const bool name_rank = context.group && context.group->rank() != 0 && what.rfind("rank ", 0) != 0;
    std::cerr << "error: " << (name_rank ? "rank " + std::to_string(context.group->rank()) + ": " : "") << what
              << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory (try a smaller --batch-size or --n)\n";
    return 3;
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    std::cerr << "error: " << what.substr(0, what.find('\n')) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return context.exit_code;
}
