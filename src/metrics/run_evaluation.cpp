#include "metrics/run_evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "io/image.h"
#include "io/npy.h"
#include "metrics/eval_sampling.h"
#include "metrics/speed.h"
#include "perf/machine.h"

namespace trilemma::metrics {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

/// The protocol as eval.json records it: its knobs and where it ran.
Json protocol_record(const EvalProtocol& protocol, torch::Device device) {
  Json record = protocol.to_json();
  record["device"] = describe_device(device);
  record["threads"] = torch::get_num_threads();
  record["torch_version"] = torch_version();
  return record;
}

/// A grid of the evaluated samples themselves, for the report: a conditional model's first
/// ten images asked for each class, one row per class; otherwise the first 100. Returns its
/// path relative to the run directory.
std::string write_eval_grid(const std::string& run_dir, const std::string& sampler,
                            const LabelledSamples& labelled, int64_t num_classes) {
  const torch::Tensor& images = labelled.timed.images;
  const std::string grid_name = "eval-" + sampler + ".png";
  fs::create_directories(training::images_dir(run_dir));
  torch::Tensor shown = images.narrow(0, 0, std::min<int64_t>(100, images.size(0)));
  if (num_classes > 0) {
    std::vector<torch::Tensor> rows;
    for (int64_t k = 0; k < num_classes; ++k) {
      const auto index = labelled.requested.eq(k).nonzero().view(-1);
      rows.push_back(images.index_select(0, index.narrow(0, 0, std::min<int64_t>(10, index.size(0)))));
    }
    shown = torch::cat(rows);
  }
  io::save_image_grid(shown, (fs::path(training::images_dir(run_dir)) / grid_name).string(), 10);
  return "images/" + grid_name;
}

/// The dataset as stored, and the shape the evaluated images had ("format"): what `compare`
/// needs to measure its reference rows on the same data.
Json dataset_record(const EvalReference& reference) {
  Json record = reference.info.to_json();
  record["format"] = {{"image_size", reference.dataset.format.size},
                      {"image_channels", reference.dataset.format.channels}};
  return record;
}

}  // namespace

EvalReference load_eval_reference(const data::DatasetSpec& dataset, const std::string& evaluator_file,
                                  torch::Device device) {
  EvalReference reference;
  reference.info = data::describe_dataset(dataset);
  reference.dataset = dataset;
  reference.dataset.format = data::resolved_format(dataset, reference.info);
  const ClassifierShape shape{reference.dataset.format.channels, reference.dataset.format.size, 0};
  reference.evaluator = load_evaluator_for(reference.info, shape, evaluator_file, device);
  const auto test = data::load_split(reference.dataset, data::Split::kTest);
  reference.real = make_real_reference(reference.evaluator, test);
  return reference;
}

EvalReference load_eval_reference(torch::Device device, const std::string& data_dir) {
  data::DatasetSpec mnist;
  mnist.mnist_dir = data_dir;
  return load_eval_reference(mnist, "", device);
}

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

Json guidance_curve(GenerativeModel& model, EvalReference& reference,
                    const RunEvaluationRequest& request, std::ostream& log) {
  Json curve = Json::array();
  EvalProtocol curve_protocol = request.protocol;
  curve_protocol.n = request.curve_n;
  for (double w : request.guidance_weights) {
    SampleOptions options = request.sampling;
    options.guidance = w;
    torch::manual_seed(request.protocol.seed);
    const auto start = Clock::now();
    log << "guidance w = " << w << ": sampling " << request.curve_n << " images" << std::endl;
    const LabelledSamples samples = sample_each_class(model, request.curve_n, options, false);
    const double seconds = seconds_since(start);
    const Json r = evaluate_images(reference.evaluator, reference.real, samples.timed.images, curve_protocol,
                                   samples.requested, model.num_classes());
    Json point = {{"guidance", w}, {"n", request.curve_n}, {"nfe", model.network_evaluations(options)},
                  {"sampling_seconds", seconds}};
    for (const char* key : {"fid", "kid_mean", "precision", "recall", "density", "coverage", "classes_covered"})
      point[key] = r[key];
    log << "  FID " << r.value("fid", 0.0) << "  precision " << r.value("precision", 0.0) << "  recall "
        << r.value("recall", 0.0);
    // An autoguided unconditional model's curve has no classes to ask for.
    if (r.contains("conditional")) {
      point["conditional_accuracy"] = r["conditional"]["conditional_accuracy"];
      point["mean_per_class_fid"] = r["conditional"]["mean_per_class_fid"];
      log << "  conditional accuracy " << point["conditional_accuracy"].get<double>();
    }
    log << std::endl;
    curve.push_back(point);
  }
  return curve;
}

Json evaluate_run(training::LoadedRun& run, const RunEvaluationRequest& request,
                  EvalReference& reference, std::ostream& log) {
  GenerativeModel& model = *run.model;
  const SampleOptions& sampling = request.sampling;
  const torch::Device device = reference.evaluator.device;
  // bf16 sampling is its own entry of eval.json (and row of the report), beside fp32's.
  const std::string sampler =
      model.sampler_name(sampling) + (sampling.precision == Precision::kBf16 ? "-bf16" : "");

  torch::manual_seed(request.protocol.seed);
  const perf::CpuTicks ticks_at_start = perf::read_cpu_ticks();
  const auto sample_start = Clock::now();
  // A conditional model is asked for each class equally often, so that its per-class
  // numbers and its overall ones come from the same images.
  const int64_t classes = model.num_classes();
  const LabelledSamples labelled = sample_each_class(model, request.protocol.n, sampling, true);
  const TimedSamples& samples = labelled.timed;
  const double sampling_seconds = seconds_since(sample_start);

  const auto eval_start = Clock::now();
  Json result = evaluate_images(reference.evaluator, reference.real, samples.images, request.protocol,
                                labelled.requested, classes);
  if (model.supports_guidance()) result["guidance_curve"] = guidance_curve(model, reference, request, log);
  const double evaluation_seconds = seconds_since(eval_start);

  Json speed = {{"nfe", model.network_evaluations(sampling)},
                {"precision", precision_name(sampling.precision)},
                {"images_per_s_batch256", samples.images_per_s},
                {"batch256_timed_batches", samples.timed_batches},
                {"device", describe_device(device)},
                {"threads", torch::get_num_threads()}};
  // Speeds compare only on one machine; the report says when its rows come from several.
  if (const std::string cpu = perf::cpu_model_name(); !cpu.empty()) speed["cpu"] = cpu;
  if (request.measure_latency) {
    TimingOptions timing;
    timing.warmup = 2;
    timing.repeats = 10;
    timing.max_seconds = 20.0;
    int64_t repeats = 0;
    speed["ms_per_image_batch1"] = sampling_latency_ms(model, sampling, timing, &repeats);
    speed["batch1_repeats"] = repeats;
  }
  // Others' load slows both speed figures; the report names the rows it touched.
  const double others = perf::other_processes_cpu_share(ticks_at_start, perf::read_cpu_ticks());
  if (std::isfinite(others)) {
    speed["other_processes_cpu_share"] = others;
    if (others >= perf::kBusyMachineShare)
      log << "warning: other processes used " << std::lround(100 * others)
          << " % of the CPUs while this evaluation ran: its speed figures read slower than on an idle machine"
          << std::endl;
  }
  if (fs::exists(training::metrics_path(run.dir)))
    speed["train_images_per_s"] = training_images_per_second(read_file(training::metrics_path(run.dir)));
  result["speed"] = speed;
  result["sampler"] = sampler;
  result["sample_options"] = {{"sampler", sampling.sampler},
                              {"steps", sampling.steps},
                              {"eta", sampling.eta.value_or(0.0)},
                              {"precision", precision_name(sampling.precision)}};
  if (sampling.guidance) result["sample_options"]["guidance"] = *sampling.guidance;
  if (classes > 0) result["sample_options"]["classes"] = "balanced: N/" + std::to_string(classes) + " per class";
  result["run"] = {{"dir", run.dir},
                   {"model", run.config.model},
                   {"preset", run.config.preset},
                   {"step", run.step},
                   {"epoch", run.epoch},
                   {"checkpoint", run.checkpoint},
                   {"checkpoint_crc32", run.checkpoint_crc32},
                   {"parameters", model.parameter_count()}};
  if (!run.guide.empty()) result["run"]["guide"] = {{"entry", run.guide}, {"checkpoint_crc32", run.guide_crc32}};
  result["dataset"] = dataset_record(reference);
  result["sampling_seconds"] = sampling_seconds;
  result["evaluation_seconds"] = evaluation_seconds;
  if (!run.read_only) result["sample_grid"] = write_eval_grid(run.dir, sampler, labelled, classes);
  result["protocol"] = protocol_record(request.protocol, device);
  result["evaluated_at"] = now_iso8601();
  return result;
}

Json reference_fids(EvalReference& reference, const EvalProtocol& protocol, std::ostream& log) {
  const Json rows = reference_rows(reference.evaluator, reference.real, reference.dataset, reference.info, protocol, log);
  Json fids = Json::object();
  for (const auto& [key, row] : rows.items()) fids[key] = {{"fid", row.value("fid", 0.0)}, {"label", row.value("label", key)}};
  return fids;
}

Json evaluate_samples_file(const std::string& npy_path, EvalProtocol protocol, torch::Device device,
                           const data::DatasetSpec& dataset, const std::string& evaluator_file, std::ostream& log) {
  const torch::Tensor array = io::load_npy(npy_path);
  // The shape the samples must have: the dataset's (a named one's read from no file).
  const torch::Tensor images = images_from_array(array, npy_path, data::resolved_format(dataset));
  EvalReference reference = load_eval_reference(dataset, evaluator_file, device);
  if (images.size(0) != protocol.n)
    log << "note: " << npy_path << " holds " << images.size(0) << " images; the protocol's N is "
        << protocol.n << " and FID is comparable only at equal N\n";
  protocol.n = images.size(0);
  const auto eval_start = Clock::now();
  Json result = evaluate_images(reference.evaluator, reference.real, images, protocol);
  result["evaluation_seconds"] = seconds_since(eval_start);
  result["reference_fids"] = reference_fids(reference, protocol, log);
  result["dataset"] = dataset_record(reference);
  result["source"] = npy_path;
  result["sampler"] = "samples-file";
  result["protocol"] = protocol_record(protocol, device);
  result["evaluated_at"] = now_iso8601();
  return result;
}

std::string write_eval_result(const std::string& run_dir, const Json& result, std::ostream& warnings) {
  const std::string path = eval_path(run_dir);
  Json file;
  if (fs::exists(path)) {
    try {
      file = Json::parse(read_file(path));
    } catch (const std::exception&) {
      warnings << "warning: " << path << " was not valid JSON; starting it afresh\n";
    }
  }
  const Json merged = merge_eval_result(file, result.at("sampler").get<std::string>(), result);
  write_file_atomic(path, merged.dump(2) + "\n");
  return path;
}

Json read_eval_file(const std::string& run_dir) {
  const std::string path = eval_path(run_dir);
  if (!fs::exists(path))
    throw UserError(run_dir + ": no eval.json (run `trilemma eval " + run_dir + "` first)");
  Json file;
  try {
    file = Json::parse(read_file(path));
  } catch (const std::exception&) {
    throw UserError(path + ": not valid JSON (rerun `trilemma eval " + run_dir + "`)");
  }
  if (!file.contains("samplers") || !file["samplers"].is_object() || file["samplers"].empty())
    throw UserError(path + ": holds no results (rerun `trilemma eval " + run_dir + "`)");
  return file;
}

}  // namespace trilemma::metrics
