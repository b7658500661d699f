// trilemma hype RUN_DIR... [--db FILE] [--port P] [--bind ADDR] [--n-per-model N] [--reals N]
//                          [--session-size S] [--seed S]
// trilemma hype-report --db FILE [--json OUT] [--bootstrap B]
// A human real-or-fake study (HYPE∞): serve the rating page over a study kept in SQLite,
// and report its scores.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "data/mnist.h"
#include "human/hype_page.h"
#include "human/hype_server.h"
#include "human/study.h"
#include "human/study_images.h"
#include "training/stop_signals.h"
#include "training/zoo.h"

namespace trilemma::cli {
namespace fs = std::filesystem;

namespace {

struct HypeFlags {
  std::vector<std::string> runs;
  std::string db = "hype-study.db";
  int port = 8765;
  std::string bind = "127.0.0.1";
  int64_t per_model = 50;
  int64_t reals = 0;  ///< 0 = as many as all the fakes together
  int64_t session_size = 20;
  int64_t seed = 0;
};

// Settings that shape a new study; an existing one is fixed, so they are refused there.
const std::vector<std::string> kCreationFlags = {"--n-per-model", "--reals", "--session-size", "--seed"};

// An existing study continues; runs named again must be the study's own, in its order.
void check_same_runs(const human::Study& study, const std::vector<std::string>& runs) {
  const std::vector<human::StudyModel> models = study.models();
  bool same = models.size() == runs.size();
  for (size_t m = 0; same && m < runs.size(); ++m)
    same = fs::weakly_canonical(training::run_folder(runs[m])).string() == models[m].run;
  if (!same) {
    std::string held;
    for (const auto& model : models) held += (held.empty() ? "" : ", ") + model.name;
    throw UserError(study.path() + " already holds a study of " + held +
                    "; give no runs to continue it, or a new --db for other runs");
  }
}

void print_study(const human::Study& study, std::ostream& out) {
  const std::vector<human::StudyModel> models = study.models();
  const int64_t reals = study.real_count();
  out << "study: " << study.path() << " — " << models.size() << " model" << (models.size() == 1 ? "" : "s") << " (";
  for (size_t m = 0; m < models.size(); ++m) out << (m ? ", " : "") << models[m].name;
  out << "), " << study.image_count() - reals << " generated and " << reals << " real images, sessions of "
      << study.settings().session_size << "; " << study.rater_count() << " raters and " << study.answer_count()
      << " answers so far\n";
}

// Binds first, so that a port in use is the only line printed.
void serve(human::Study& study, const HypeFlags& flags) {
  human::HypeServer server(study);
  const int port = server.bind(flags.bind, flags.port);
  print_study(study, std::cout);
  training::StopSignals signals;
  std::atomic<bool> serving{true};
  // Ctrl-C or SIGTERM stops the server between requests; every answer is already committed.
  std::thread watcher([&] {
    while (serving && signals.received() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  std::cout << "serving http://" << (flags.bind == "0.0.0.0" ? "localhost" : flags.bind) << ":" << port
            << "/ (results: /results); Ctrl-C stops" << std::endl;
  server.serve();
  serving = false;
  watcher.join();
  std::cout << "stopped: " << study.answer_count() << " answers from " << study.rater_count() << " raters in "
            << study.path() << "\n";
}

}  // namespace

void add_hype_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<HypeFlags>();
  CLI::App* sub = app.add_subcommand(
      "hype", "human evaluation: serve a real-or-fake rating page (HYPE∞) over runs' samples, answers kept in SQLite");
  sub->fallthrough();
  sub->add_option("runs", flags->runs,
                  "runs (or zoo:NAME) whose samples to rate; omit to continue the study in --db");
  sub->add_option("--db", flags->db, "the study's SQLite file (created with the runs' samples if absent)")
      ->capture_default_str();
  sub->add_option("--port", flags->port, "TCP port (0: any free port, printed)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  sub->add_option("--bind", flags->bind, "address to listen on (0.0.0.0: every interface, for raters on other machines)")
      ->capture_default_str();
  sub->add_option("--n-per-model", flags->per_model, "new study: images drawn from each run")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))
      ->capture_default_str();
  sub->add_option("--reals", flags->reals, "new study: real test images (default: as many as the fakes together)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  sub->add_option("--session-size", flags->session_size, "new study: images per session, half real (even)")
      ->check(CLI::Range(int64_t{2}, int64_t{1000}))
      ->capture_default_str();
  sub->add_option("--seed", flags->seed, "new study: seed of the samples, the real images and raters' orders")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->callback([&context, flags, sub]() {
    apply_runtime(context);
    if (flags->session_size % 2 != 0)
      throw UserError("--session-size " + std::to_string(flags->session_size) + ": must be even (half real, half fake)");
    if (fs::exists(flags->db)) {
      for (const auto& flag : kCreationFlags)
        if (sub->count(flag) > 0)
          throw UserError(flag + ": the study in " + flags->db + " is fixed; it applies to a new --db only");
      human::Study study(flags->db);
      if (!flags->runs.empty()) check_same_runs(study, flags->runs);
      serve(study, *flags);
      return;
    }
    if (flags->runs.empty())
      throw UserError(flags->db + ": no such study; name the runs to rate to create it");
    const torch::Device device = resolve_device(context.device);
    human::StudySettings settings;
    settings.session_size = flags->session_size;
    settings.seed = static_cast<uint64_t>(flags->seed);
    const int64_t reals = flags->reals > 0 ? flags->reals : flags->per_model * static_cast<int64_t>(flags->runs.size());
    const human::StudyDraft draft = human::draft_study(flags->runs, flags->per_model, reals, settings, device,
                                                       data::resolve_data_dir(context.data_dir), std::cout);
    human::Study::create(flags->db, draft.settings, draft.models, draft.images);
    human::Study study(flags->db);
    serve(study, *flags);
  });
}

void add_hype_report_command(CLI::App& app, Context& context) {
  struct ReportFlags {
    std::string db;
    std::string json;
    int bootstrap = 1000;
  };
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* sub = app.add_subcommand("hype-report", "HYPE∞ per model, with bootstrap intervals, from a study's answers");
  sub->fallthrough();
  sub->add_option("--db", flags->db, "the study's SQLite file (written by `trilemma hype`)")->required();
  sub->add_option("--json", flags->json, "also write the results as JSON to this file");
  sub->add_option("--bootstrap", flags->bootstrap, "bootstrap replicates of the 95 % interval")
      ->check(CLI::Range(100, 100000))
      ->capture_default_str();
  sub->callback([&context, flags]() {
    apply_runtime(context);
    human::Study study(flags->db);
    const Json results = study.results(flags->bootstrap);
    if (!flags->json.empty()) write_file_atomic(flags->json, results.dump(2) + "\n");
    std::cout << "HYPE∞ of " << study.path() << ": " << results["raters"] << " raters, " << results["answers"]
              << " answers, " << results["images"] << " images (" << results["reals"]["images"]
              << " real); 50 % = indistinguishable from real\n\n"
              << human::results_table(results);
    if (!flags->json.empty()) std::cout << "\nresults: " << flags->json << "\n";
  });
}

}  // namespace trilemma::cli
