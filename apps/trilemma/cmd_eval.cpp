// trilemma eval RUN_DIR [--n 10000] [--json FILE] [--sampler S --steps K --eta E] [--seed 0]
//               [--guidance W] [--guidance-curve 0,1,2,3,5] [--curve-n 2000]
// trilemma eval --samples FILE.npy [--json FILE]
// Samples a run (or reads any generator's samples), measures the trilemma's three corners
// with the tested metrics and writes them to RUN_DIR/eval.json.
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "io/image.h"
#include "io/npy.h"
#include "metrics/eval_sampling.h"
#include "metrics/evaluate.h"
#include "metrics/speed.h"
#include "models/conditioning.h"
#include "models/sampling_options.h"
#include "training/run_dir.h"

namespace trilemma::cli {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using metrics::LabelledSamples;
using metrics::TimedSamples;

struct EvalFlags {
  std::string run_dir;
  std::string samples;
  std::string json_out;
  int64_t n = 10000;
  int64_t seed = 0;
  bool no_speed = false;
  SampleOptions sampling;
  double guidance = 0.0;                 ///< --guidance, copied into sampling when given
  double eta = 0.0;                      ///< --eta, copied into sampling when given
  std::vector<std::string> sampler_options;  ///< sampler, steps, eta: those given
  std::string guidance_curve = "0,1,2,3,5";
  int64_t curve_n = 2000;
};

// "0,1,2.5" -> {0, 1, 2.5}; "none" -> {}.
std::vector<double> parse_guidance_list(const std::string& text) {
  std::vector<double> values;
  if (text == "none") return values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t used = 0;
    double value = -1;
    try {
      value = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || !std::isfinite(value) || value < 0)
      throw UserError("--guidance-curve: expected comma-separated numbers >= 0 or none, got '" + text + "'");
    values.push_back(value);
  }
  if (values.empty()) throw UserError("--guidance-curve: expected comma-separated numbers >= 0 or none");
  return values;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buffer;
}

/// For conditional diffusion: quality, coverage and conditional accuracy at several
/// guidance weights, each from curve_n class-balanced samples (FID at small N is biased
/// upwards, so the points compare with each other, not with the N = 10,000 row).
Json guidance_curve(GenerativeModel& model, Evaluator& evaluator, const metrics::RealReference& real,
                    const EvalFlags& flags, const metrics::EvalProtocol& protocol) {
  Json curve = Json::array();
  metrics::EvalProtocol curve_protocol = protocol;
  curve_protocol.n = flags.curve_n;
  for (double w : parse_guidance_list(flags.guidance_curve)) {
    SampleOptions options = flags.sampling;
    options.guidance = w;
    torch::manual_seed(flags.seed);
    const auto start = Clock::now();
    std::cout << "guidance w = " << w << ": sampling " << flags.curve_n << " images" << std::endl;
    const LabelledSamples samples = metrics::sample_each_class(model, flags.curve_n, options, false);
    const double seconds = seconds_since(start);
    const Json r = metrics::evaluate_images(evaluator, real, samples.timed.images, curve_protocol,
                                            samples.requested, model.num_classes());
    Json point = {{"guidance", w}, {"n", flags.curve_n}, {"nfe", model.network_evaluations(options)},
                  {"sampling_seconds", seconds}};
    for (const char* key : {"fid", "kid_mean", "precision", "recall", "density", "coverage", "classes_covered"})
      point[key] = r[key];
    point["conditional_accuracy"] = r["conditional"]["conditional_accuracy"];
    point["mean_per_class_fid"] = r["conditional"]["mean_per_class_fid"];
    std::cout << "  FID " << r.value("fid", 0.0) << "  precision " << r.value("precision", 0.0)
              << "  recall " << r.value("recall", 0.0) << "  conditional accuracy "
              << point["conditional_accuracy"].get<double>() << std::endl;
    curve.push_back(point);
  }
  return curve;
}

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
            << "  classes " << r.value("classes_covered", 0) << "/10  entropy " << num("entropy", 3)
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

Json evaluate_run(const EvalFlags& flags, const Context& context, metrics::EvalProtocol& protocol) {
  const torch::Device device = resolve_device(context.device);
  const std::string data_dir = data::resolve_data_dir(context.data_dir);
  training::LoadedRun run = training::load_run(flags.run_dir, device);
  check_sampling_options(*run.model, run.config.model, flags.sampler_options);
  check_class_request(flags.sampling, run.model->num_classes(), run.model->supports_guidance());
  if (run.model->supports_guidance()) parse_guidance_list(flags.guidance_curve);  // fail early
  const std::string sampler = run.model->sampler_name(flags.sampling);
  std::cout << "evaluating " << run.dir << " (" << run.config.model << ", preset "
            << run.config.preset << ", step " << run.step << ", sampler " << sampler << ") at N = "
            << flags.n << "\n";

  Evaluator evaluator = load_evaluator(device);
  const auto test = data::load_mnist(data_dir, data::Split::kTest);
  const auto real = metrics::make_real_reference(evaluator, test);

  torch::manual_seed(flags.seed);
  const auto sample_start = Clock::now();
  // A conditional model is asked for each class equally often, so that its per-class
  // numbers and its overall ones come from the same images.
  const int64_t classes = run.model->num_classes();
  const LabelledSamples labelled =
      classes > 0 ? metrics::sample_each_class(*run.model, flags.n, flags.sampling, true)
                  : LabelledSamples{metrics::sample_timed(*run.model, flags.n, flags.sampling), torch::Tensor()};
  const TimedSamples& samples = labelled.timed;
  const double sampling_seconds = seconds_since(sample_start);

  const auto eval_start = Clock::now();
  Json result = metrics::evaluate_images(evaluator, real, samples.images, protocol, labelled.requested, classes);
  if (run.model->supports_guidance())
    result["guidance_curve"] = guidance_curve(*run.model, evaluator, real, flags, protocol);
  const double evaluation_seconds = seconds_since(eval_start);

  Json speed = {{"nfe", run.model->network_evaluations(flags.sampling)},
                {"images_per_s_batch256", samples.images_per_s},
                {"batch256_timed_batches", samples.timed_batches},
                {"device", describe_device(device)},
                {"threads", torch::get_num_threads()}};
  if (!flags.no_speed) {
    metrics::TimingOptions timing;
    timing.warmup = 2;
    timing.repeats = 10;
    timing.max_seconds = 20.0;
    int64_t repeats = 0;
    speed["ms_per_image_batch1"] = metrics::sampling_latency_ms(*run.model, flags.sampling, timing, &repeats);
    speed["batch1_repeats"] = repeats;
  }
  if (fs::exists(training::metrics_path(run.dir)))
    speed["train_images_per_s"] =
        metrics::training_images_per_second(read_file(training::metrics_path(run.dir)));
  result["speed"] = speed;
  result["sampler"] = sampler;
  result["sample_options"] = {{"sampler", flags.sampling.sampler},
                              {"steps", flags.sampling.steps},
                              {"eta", flags.sampling.eta.value_or(0.0)}};
  if (flags.sampling.guidance) result["sample_options"]["guidance"] = *flags.sampling.guidance;
  if (classes > 0) result["sample_options"]["classes"] = "balanced: N/" + std::to_string(classes) + " per class";
  result["run"] = {{"dir", run.dir},
                   {"model", run.config.model},
                   {"preset", run.config.preset},
                   {"step", run.step},
                   {"epoch", run.epoch},
                   {"checkpoint", run.checkpoint},
                   {"parameters", run.model->parameter_count()}};
  result["sampling_seconds"] = sampling_seconds;
  result["evaluation_seconds"] = evaluation_seconds;

  // A grid of the evaluated samples themselves, for the report.
  const std::string grid_name = "eval-" + sampler + ".png";
  fs::create_directories(training::images_dir(run.dir));
  torch::Tensor shown = samples.images.narrow(0, 0, std::min<int64_t>(100, flags.n));
  if (classes > 0) {
    // One row per class: the first ten images asked for each.
    std::vector<torch::Tensor> rows;
    for (int64_t k = 0; k < classes; ++k) {
      const auto index = labelled.requested.eq(k).nonzero().view(-1);
      rows.push_back(samples.images.index_select(0, index.narrow(0, 0, std::min<int64_t>(10, index.size(0)))));
    }
    shown = torch::cat(rows);
  }
  io::save_image_grid(shown, (fs::path(training::images_dir(run.dir)) / grid_name).string(), 10);
  result["sample_grid"] = "images/" + grid_name;
  return result;
}

Json evaluate_samples_file(const EvalFlags& flags, const Context& context,
                           metrics::EvalProtocol& protocol) {
  const torch::Device device = resolve_device(context.device);
  const std::string data_dir = data::resolve_data_dir(context.data_dir);
  torch::Tensor images = metrics::images_from_array(io::load_npy(flags.samples), flags.samples);
  if (images.size(0) != protocol.n)
    std::cout << "note: " << flags.samples << " holds " << images.size(0)
              << " images; the protocol's N is " << protocol.n
              << " and FID is comparable only at equal N\n";
  protocol.n = images.size(0);
  Evaluator evaluator = load_evaluator(device);
  const auto test = data::load_mnist(data_dir, data::Split::kTest);
  const auto real = metrics::make_real_reference(evaluator, test);
  const auto eval_start = Clock::now();
  Json result = metrics::evaluate_images(evaluator, real, images, protocol);
  result["evaluation_seconds"] = seconds_since(eval_start);
  result["source"] = flags.samples;
  result["sampler"] = "samples-file";
  return result;
}

}  // namespace

void add_eval_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* sub = app.add_subcommand(
      "eval", "measure a run (or a .npy of samples): FID/KID/PRDC on classifier features, class "
              "coverage, sampling speed; writes RUN_DIR/eval.json");
  sub->fallthrough();
  sub->add_option("run_dir", flags->run_dir, "run directory written by `trilemma train`");
  sub->add_option("--samples", flags->samples,
                  "evaluate these samples instead of a run: .npy, uint8 (0-255) or float (0-1), "
                  "N×28×28");
  sub->add_option("--n", flags->n, "generated images to evaluate (the protocol: 10000)")
      ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_option("--json", flags->json_out, "also write this result to FILE (FID under \"fid\")");
  sub->add_option("--seed", flags->seed, "seed for the sampling noise and KID subsets")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--sampler", flags->sampling.sampler, "diffusion sampler: ddpm, ddim or dpm-solver");
  sub->add_option("--steps", flags->sampling.steps, "diffusion sampling steps (default: the run's)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  CLI::Option* eta_option =
      sub->add_option("--eta", flags->eta, "DDIM noise: 0 deterministic, 1 DDPM-like (default: the run's)")
          ->check(CLI::Range(0.0, 1.0));
  CLI::Option* guidance_option = sub->add_option(
      "--guidance", flags->guidance,
      "conditional diffusion: guidance weight of the main evaluation (default: the run's)");
  sub->add_option("--guidance-curve", flags->guidance_curve,
                  "conditional diffusion: guidance weights to measure, comma-separated, or none")
      ->capture_default_str();
  sub->add_option("--curve-n", flags->curve_n, "images per point of the guidance curve")
      ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_flag("--no-latency", flags->no_speed, "skip the batch-1 latency measurement");
  sub->callback([&context, flags, sub, guidance_option, eta_option]() {
    if (flags->run_dir.empty() == flags->samples.empty())
      throw UserError("eval: give either RUN_DIR or --samples FILE.npy (exactly one)");
    if (!flags->samples.empty())
      for (const char* run_only : {"--sampler", "--steps", "--eta", "--guidance", "--guidance-curve", "--curve-n",
                                   "--no-latency"})
        if (sub->count(run_only) > 0)
          throw UserError(std::string(run_only) + ": applies to evaluating a run, not --samples (the samples are drawn already)");
    if (guidance_option->count() > 0) flags->sampling.guidance = flags->guidance;
    if (eta_option->count() > 0) flags->sampling.eta = flags->eta;
    flags->sampler_options = given_sampler_options(*sub);
    apply_runtime(context);
    metrics::EvalProtocol protocol;
    protocol.n = flags->n;
    protocol.seed = static_cast<uint64_t>(flags->seed);
    const auto start = Clock::now();
    Json result = flags->samples.empty() ? evaluate_run(*flags, context, protocol)
                                         : evaluate_samples_file(*flags, context, protocol);
    Json protocol_json = protocol.to_json();
    protocol_json["device"] = describe_device(resolve_device(context.device));
    protocol_json["threads"] = torch::get_num_threads();
    protocol_json["torch_version"] = torch_version();
    result["protocol"] = protocol_json;
    result["evaluated_at"] = now_iso8601();
    print_summary(result);
    if (!flags->run_dir.empty()) {
      const std::string path = metrics::eval_path(flags->run_dir);
      Json file;
      if (fs::exists(path)) {
        try {
          file = Json::parse(read_file(path));
        } catch (const std::exception&) {
          std::cerr << "warning: " << path << " was not valid JSON; starting it afresh\n";
        }
      }
      write_file_atomic(path, metrics::merge_eval_result(file, result["sampler"].get<std::string>(), result).dump(2) + "\n");
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
