// trilemma zoo                        list the model zoo's entries
// trilemma zoo add RUN_DIR|zoo:NAME --name NAME [--n 10000] [--guidance W] [--sampler S] [--steps K]
//                  [--guide zoo:NAME|none] [--guidance-curve 0,1,2,3,5] [--curve-n 2000]
//   exports a trained run's sampling networks into the zoo (training/zoo.h) and evaluates the
//   exported model itself, so that its eval.json describes exactly what ships.
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "data/mnist.h"
#include "metrics/run_evaluation.h"
#include "training/zoo.h"

namespace trilemma::cli {
namespace fs = std::filesystem;

namespace {

struct ZooAddFlags {
  std::string run_dir;
  std::string name;
  metrics::RunEvaluationRequest request;
  std::string guidance_curve = metrics::kDefaultGuidanceCurve;
  std::string guidance;  ///< --guidance: the entry's default weight (when given; else the run's)
  std::string sampler;   ///< --sampler: the entry's default sampler (when given)
  std::string steps;     ///< --steps: its default sampling steps (when given)
  std::string guide;     ///< --guide: the entry's autoguidance guide, zoo:NAME or none (when given)
};

// Guidance, the sampler and its steps are sampling settings: an entry may default to
// others than its run did, without retraining, measured by its own evaluation. zoo.json's
// settings then carry them, and so does the training command recorded there.
void set_sampling_defaults(training::LoadedRun& run, const ZooAddFlags& flags, bool guidance_given) {
  if (guidance_given) {
    if (!run.model->supports_guidance())
      throw UserError("--guidance: the guidance weight applies to conditional diffusion models and to ones "
                      "with a guide (--guide) only");
    run.family->set_setting(run.config.settings, "guidance", flags.guidance);
  }
  const struct {
    const char* flag;
    const char* setting;
    const std::string& value;
    const char* what;
  } defaults[] = {{"--sampler", "sampler", flags.sampler, "default sampler"},
                  {"--steps", "sample_steps", flags.steps, "default sampling steps"}};
  for (const auto& d : defaults) {
    if (d.value.empty()) continue;
    const auto& fields = run.family->settings;
    if (std::none_of(fields.begin(), fields.end(), [&d](const SettingField& f) { return f.name == d.setting; }))
      throw UserError(std::string(d.flag) + ": a " + run.config.model + " entry has no " + d.what + " to set");
    run.family->set_setting(run.config.settings, d.setting, d.value);
  }
  run.config.settings = run.family->validate(run.config.settings);
}

// The entry's headline numbers from its own eval.json, or "not evaluated".
std::string headline(const std::string& entry_dir) {
  try {
    const Json file = metrics::read_eval_file(entry_dir);
    const auto& [sampler, r] = *file["samplers"].items().begin();
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << "FID " << r.value("fid", 0.0) << " (N " << r.value("n", 0)
      << ", " << sampler << "), recall " << r.value("recall", 0.0) << ", classes "
      << r.value("classes_covered", 0) << "/10";
    return s.str();
  } catch (const UserError&) {
    return "not evaluated";
  }
}

void list_entries() {
  const std::string zoo = training::zoo_directory();
  const auto entries = training::list_zoo(zoo);
  if (entries.empty()) {
    std::cout << "the zoo at " << zoo << " is empty\n";
    return;
  }
  std::cout << "the zoo at " << zoo << " (use as zoo:NAME with sample, eval, compare, info):\n";
  for (const auto& e : entries) {
    const Json& m = e.manifest;
    const Json training = m.value("training", Json::object());
    std::cout << "  zoo:" << std::left << std::setw(14) << e.name << std::right << m["model"].get<std::string>()
              << " " << m.value("preset", std::string("?")) << (m["settings"].value("conditional", false) ? " conditional" : "")
              << ", step " << m.value("step", 0) << ", " << m.value("parameters", 0) << " parameters, "
              << m["bytes"].get<int64_t>() << " bytes; " << headline(e.dir) << "\n"
              << "    trained with: " << training.value("command", std::string("?")) << "\n";
  }
}

}  // namespace

void add_zoo_command(CLI::App& app, Context& context) {
  CLI::App* sub = app.add_subcommand("zoo", "list the model zoo: trained models to use as zoo:NAME");
  sub->fallthrough();
  auto flags = std::make_shared<ZooAddFlags>();
  CLI::App* add = sub->add_subcommand(
      "add", "export a run's sampling networks into the zoo (float16) and evaluate the exported model");
  add->fallthrough();
  add->add_option("run_dir", flags->run_dir,
                  "run directory written by `trilemma train`, or zoo:NAME to re-export an entry with other "
                  "sampling defaults")
      ->required();
  add->add_option("--name", flags->name, "the entry's name (then zoo:NAME)")->required();
  add->add_option("--n", flags->request.protocol.n, "generated images to evaluate (the protocol: 10000)")
      ->check(CLI::Range(int64_t{10}, int64_t{1000000}))
      ->capture_default_str();
  CLI::Option* guidance_option = add->add_option("--guidance", flags->guidance,
                  "conditional diffusion: the entry's default guidance weight, used by sample and eval (default: "
                  "the run's)");
  CLI::Option* sampler_option = add->add_option(
      "--sampler", flags->sampler, "diffusion: the entry's default sampler, ddpm, ddim or dpm-solver (default: the run's)");
  CLI::Option* steps_option = add->add_option(
      "--steps", flags->steps, "diffusion: the entry's default sampling steps (default: the run's)");
  CLI::Option* guide_option = add->add_option(
      "--guide", flags->guide,
      "unconditional ddpm: the zoo entry (zoo:NAME) that guides the entry's sampling by autoguidance at "
      "weight --guidance, or none (default: the entry's own, if any)");
  // A guided model's curve samples curve_n images per weight, at two network evaluations
  // per step for w > 1: on a CPU it can cost as much as the evaluation itself.
  add_guidance_curve_options(*add, flags->guidance_curve, flags->request.curve_n);
  sub->callback([sub]() {
    if (sub->get_subcommands().empty()) list_entries();
  });
  add->callback([&context, flags, add, guidance_option, sampler_option, steps_option, guide_option]() {
    const bool from_zoo = training::is_zoo_name(flags->run_dir);
    const bool resampled =
        guidance_option->count() + sampler_option->count() + steps_option->count() + guide_option->count() > 0;
    if (from_zoo && !resampled)
      throw UserError("zoo add " + flags->run_dir + ": an entry is re-exported only to change its sampling "
                      "defaults (--sampler, --steps, --guidance, --guide)");
    // The zoo ships whole: an entry's guide is another entry, never a run outside it.
    if (guide_option->count() > 0 && flags->guide != "none" && !training::is_zoo_name(flags->guide))
      throw UserError("--guide: a zoo entry's guide must be a zoo entry itself (add it first: zoo add " + flags->guide +
                      " --name NAME, then --guide zoo:NAME)");
    apply_runtime(context);
    const torch::Device device = resolve_device(context.device);
    // A zoo:NAME too; --guide replaces its guide unloaded, so that an entry whose guide was
    // replaced or lost can be re-exported with another, or none.
    training::LoadedRun run = load_run_with_guide_option(flags->run_dir, *add, flags->guide, device);
    if (run.guide == "zoo:" + flags->name) throw UserError("--guide: an entry cannot guide itself");
    // New weights under a guide's name would leave the entries it guides describing others.
    if (flags->run_dir != "zoo:" + flags->name)
      for (const std::string& guided : training::entries_guided_by(flags->name, training::zoo_directory()))
        if (guided != "zoo:" + flags->name)
          throw UserError("zoo add: zoo:" + flags->name + " guides " + guided + "; replacing its weights would leave " +
                          guided + "'s evaluation describing another guide (re-export " + guided +
                          " with --guide none or another guide first)");
    // An entry keeps how it was trained (time, machine, environment) and its training log.
    Json record = from_zoo ? training::read_zoo_entry(flags->run_dir).manifest.value("training", Json::object())
                           : Json();
    const fs::path log = training::metrics_path(run.dir);
    const std::string training_log = fs::exists(log) ? read_file(log.string()) : "";
    flags->request.guidance_weights = guidance_curve_for(*add, *run.model, flags->guidance_curve);
    set_sampling_defaults(run, *flags, guidance_option->count() > 0);
    if (from_zoo)
      record["command"] = training::training_command(run);
    else
      record = training::training_record(run);
    // Loaded before anything is written, so that missing data leave no unevaluated entry.
    metrics::EvalReference reference = metrics::load_eval_reference(
        data::DatasetSpec::of_run(run.config.dataset, run.config.settings, context.data_dir), "", device);
    const std::string entry = training::export_to_zoo(run, flags->name, training::zoo_directory(), record);
    if (!training_log.empty())  // the training speed in eval.json comes from it
      write_file_atomic(training::metrics_path(entry), training_log);
    std::cout << "exported " << run.dir << " (step " << run.step << ") to " << entry << "\n";

    training::LoadedRun exported = training::load_zoo_model("zoo:" + flags->name, device);
    exported.read_only = false;  // its own evaluation and grid belong in the entry
    const Json result = metrics::evaluate_run(exported, flags->request, reference, std::cout);
    std::cout << "results: " << metrics::write_eval_result(entry, result, std::cerr) << "\n";
    std::cout << "zoo:" << flags->name << ": " << headline(entry) << "\n";
  });
}

}  // namespace trilemma::cli
