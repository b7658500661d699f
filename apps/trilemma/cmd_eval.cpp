// trilemma eval RUN_DIR [--n 10000] [--json FILE] [--sampler S --steps K --eta E] [--seed 0]
//               [--guidance W] [--guidance-curve 0,1,2,3,5] [--curve-n 2000]
// trilemma eval --samples FILE.npy [--dataset D] [--json FILE]
// (either: [--evaluator FILE], for a dataset without a built-in evaluator)
// Samples a run (or reads any generator's samples), measures the trilemma's three corners
// with the tested metrics (metrics/run_evaluation.h) and writes them to RUN_DIR/eval.json.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "metrics/run_evaluation.h"
#include "models/conditioning.h"
#include "models/sampling_options.h"
#include "training/run_dir.h"
#include "training/zoo.h"

namespace trilemma::cli {

namespace {

struct EvalFlags {
  std::string run_dir;
  std::string samples;
  std::string json_out;
  std::string dataset = "mnist";    ///< --dataset, for --samples (a run names its own)
  std::string evaluator_file;       ///< --evaluator
  int64_t seed = 0;
  bool no_latency = false;
  double guidance = 0.0;                 ///< --guidance, copied into request.sampling when given
  double eta = 0.0;                      ///< --eta, copied into request.sampling when given
  std::string precision = "fp32";        ///< --precision
  std::string guide;                     ///< --guide: RUN_DIR, zoo:NAME or none (autoguidance)
  std::vector<std::string> sampler_options;  ///< sampler, steps, eta: those given
  std::string guidance_curve = metrics::kDefaultGuidanceCurve;
  metrics::RunEvaluationRequest request;  ///< --n, --sampler, --steps, --curve-n bound here
};

void print_summary(const Json& r) {
  auto num = [&](const char* key, int decimals) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(decimals) << r.value(key, 0.0);
    return s.str();
  };
  std::cout << "  quality:  FID " << num("fid", 3) << "  KID " << num("kid_mean", 5) << " ± "
            << num("kid_std", 5) << "  precision " << num("precision", 3) << "  density "
            << num("density", 3) << "\n"
            << "  coverage: recall " << num("recall", 3) << "  coverage " << num("coverage", 3)
            << "  classes " << r.value("classes_covered", 0) << "/"
            << (r.contains("class_histogram") ? r["class_histogram"].size() : 0) << "  entropy " << num("entropy", 3)
            << " nats  classifier score " << num("classifier_score", 3) << "  confidence "
            << num("mean_confidence", 3) << "\n";
  if (r.contains("speed")) {
    const Json& s = r["speed"];
    std::cout << "  speed:    NFE " << s.value("nfe", 0) << "  " << std::fixed << std::setprecision(3)
              << s.value("ms_per_image_batch1", 0.0) << " ms/image (batch 1)  " << std::setprecision(0)
              << s.value("images_per_s_batch256", 0.0) << " images/s (batch 256)  on "
              << s.value("device", std::string()) << std::defaultfloat << std::setprecision(6) << "\n";
  }
  if (r.contains("conditional")) {
    const Json& c = r["conditional"];
    std::cout << "  classes:  conditional accuracy " << std::fixed << std::setprecision(3)
              << c.value("conditional_accuracy", 0.0) << "  mean per-class FID "
              << (c["mean_per_class_fid"].is_number() ? c["mean_per_class_fid"].get<double>() : 0.0)
              << std::defaultfloat << std::setprecision(6) << "\n";
  }
}

Json evaluate_run_dir(EvalFlags& flags, const CLI::App& command, torch::Device device,
                      const std::string& mnist_dir) {
  metrics::RunEvaluationRequest& request = flags.request;
  training::LoadedRun run = load_run_with_guide_option(flags.run_dir, command, flags.guide, device);
  check_sampling_options(*run.model, run.config.model, flags.sampler_options);
  check_class_request(request.sampling, run.model->num_classes(), run.model->supports_guidance());
  // Before the long part, to fail early.
  request.guidance_weights = guidance_curve_for(command, *run.model, flags.guidance_curve);
  std::cout << "evaluating " << run.dir << " (" << run.config.model << ", preset "
            << run.config.preset << ", step " << run.step << ", sampler "
            << run.model->sampler_name(request.sampling) << ", " << precision_name(request.sampling.precision)
            << ") at N = " << request.protocol.n << "\n";
  metrics::EvalReference reference = metrics::load_eval_reference(
      data::DatasetSpec::of_run(run.config.dataset, run.config.settings, mnist_dir), flags.evaluator_file, device);
  std::cout << "  data:     " << reference.info.title << " test split (" << reference.real.features.size(0)
            << " images)\n  evaluator: " << reference.evaluator.describe() << "\n";
  Json result = metrics::evaluate_run(run, request, reference, std::cout);
  result["reference_fids"] = metrics::reference_fids(reference, request.protocol, std::cout);
  return result;
}

// Where a FID sits among the reference rows', e.g. "between blur (1.9) and noise σ = 16 (4.2)".
std::string place_among(double fid, const Json& references) {
  std::vector<std::pair<double, std::string>> sorted;
  for (const auto& [key, r] : references.items()) sorted.emplace_back(r.value("fid", 0.0), r.value("label", key));
  std::sort(sorted.begin(), sorted.end());
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  for (size_t i = 0; i < sorted.size(); ++i)
    if (fid < sorted[i].first) {
      if (i == 0) s << "below every reference row, " << sorted[0].second << " (" << sorted[0].first << ")";
      else
        s << "between " << sorted[i - 1].second << " (" << sorted[i - 1].first << ") and " << sorted[i].second
          << " (" << sorted[i].first << ")";
      return s.str();
    }
  s << "above every reference row, " << sorted.back().second << " (" << sorted.back().first << ")";
  return s.str();
}

}  // namespace

void add_eval_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<EvalFlags>();
  metrics::RunEvaluationRequest& request = flags->request;
  CLI::App* sub = app.add_subcommand(
      "eval", "measure a run (or a .npy of samples): FID/KID/PRDC on classifier features, class "
              "coverage, sampling speed; writes RUN_DIR/eval.json");
  sub->fallthrough();
  sub->add_option("run_dir", flags->run_dir, "run directory written by `trilemma train`, or zoo:NAME");
  sub->add_option("--samples", flags->samples,
                  "evaluate these samples instead of a run: .npy, uint8 (0-255) or float (0-1), "
                  "N×28×28 for MNIST; N×C×S×S for --dataset");
  sub->add_option("--dataset", flags->dataset,
                  "with --samples: the dataset they imitate (" + data::dataset_names() +
                      ", or a directory); a run's is its own")
      ->capture_default_str();
  sub->add_option("--evaluator", flags->evaluator_file,
                  "evaluator file from `trilemma evaluator train` (default: the dataset's built-in one; "
                  "required for a dataset without one)");
  sub->add_option("--n", request.protocol.n, "generated images to evaluate (the protocol: 10000)")
      ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_option("--json", flags->json_out, "also write this result to FILE (FID under \"fid\")");
  sub->add_option("--seed", flags->seed, "seed for the sampling noise and KID subsets")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--sampler", request.sampling.sampler, "sampler: ddpm, ddim or dpm-solver (diffusion); normal or mixture (vae: z from N(0, I) or from the latent mixture fitted after training)");
  sub->add_option("--steps", request.sampling.steps, "diffusion sampling steps (default: the run's)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  CLI::Option* eta_option =
      sub->add_option("--eta", flags->eta, "DDIM noise: 0 deterministic, 1 DDPM-like (default: the run's)")
          ->check(CLI::Range(0.0, 1.0));
  CLI::Option* guidance_option = sub->add_option(
      "--guidance", flags->guidance,
      "guided diffusion (conditional, or with a guide): guidance weight of the main evaluation (default: "
      "the run's)");
  add_guide_option(*sub, flags->guide);
  add_guidance_curve_options(*sub, flags->guidance_curve, request.curve_n);
  sub->add_flag("--no-latency", flags->no_latency, "skip the batch-1 latency measurement");
  add_sampling_precision_option(*sub, flags->precision);
  sub->callback([&context, flags, sub, guidance_option, eta_option]() {
    metrics::RunEvaluationRequest& request = flags->request;
    if (flags->run_dir.empty() == flags->samples.empty())
      throw UserError("eval: give either RUN_DIR or --samples FILE.npy (exactly one)");
    if (!flags->run_dir.empty() && sub->count("--dataset") > 0)
      throw UserError("--dataset: applies to --samples; a run is evaluated on the dataset it was trained on");
    if (!flags->samples.empty())
      for (const char* run_only : {"--sampler", "--steps", "--eta", "--guidance", "--guide", "--guidance-curve", "--curve-n",
                                   "--no-latency", "--precision"})
        if (sub->count(run_only) > 0)
          throw UserError(std::string(run_only) + ": applies to evaluating a run, not --samples (the samples are drawn already)");
    if (guidance_option->count() > 0) request.sampling.guidance = flags->guidance;
    if (eta_option->count() > 0) request.sampling.eta = flags->eta;
    flags->sampler_options = given_sampler_options(*sub);
    request.protocol.seed = static_cast<uint64_t>(flags->seed);
    request.measure_latency = !flags->no_latency;
    apply_runtime(context);
    const auto start = std::chrono::steady_clock::now();
    const torch::Device device = resolve_device(context.device);
    if (flags->samples.empty()) request.sampling.precision = precision_for(flags->precision, device);
    data::DatasetSpec samples_dataset;
    samples_dataset.name = flags->dataset;
    samples_dataset.mnist_dir = context.data_dir;
    const Json result = flags->samples.empty()
                            ? evaluate_run_dir(*flags, *sub, device, context.data_dir)
                            : metrics::evaluate_samples_file(flags->samples, request.protocol, device, samples_dataset,
                                                             flags->evaluator_file, std::cout);
    print_summary(result);
    std::cout << "  reading:  FID " << std::fixed << std::setprecision(2) << result.value("fid", 0.0)
              << " lies " << place_among(result.value("fid", 0.0), result["reference_fids"]) << std::defaultfloat
              << std::setprecision(6) << "\n";
    if (!flags->run_dir.empty() && training::is_zoo_name(flags->run_dir)) {
      std::cout << "results: not written into the zoo (give --json FILE to keep them)\n";
    } else if (!flags->run_dir.empty()) {
      const std::string path = metrics::write_eval_result(flags->run_dir, result, std::cerr);
      std::cout << "results: " << path << " (sampler " << result["sampler"].get<std::string>() << ")\n";
    }
    if (!flags->json_out.empty()) {
      write_file_atomic(flags->json_out, result.dump(2) + "\n");
      std::cout << "json: " << flags->json_out << "\n";
    }
    std::cout << "evaluated in " << std::fixed << std::setprecision(1) << seconds_since(start)
              << " s" << std::defaultfloat << "\n";
  });
}

}  // namespace trilemma::cli
