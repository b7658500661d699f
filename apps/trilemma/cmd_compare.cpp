// trilemma compare RUN_DIR... --out DIR: the trilemma report (report.md + a self-contained
// report.html) over the eval.json of each run, with the reference rows of real data.
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>

#include "commands.h"
#include "core/files.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "human/study.h"
#include "metrics/run_evaluation.h"
#include "report/report.h"
#include "training/run_dir.h"
#include "training/zoo.h"

namespace trilemma::cli {
namespace fs = std::filesystem;

namespace {

struct CompareFlags {
  std::vector<std::string> run_dirs;
  std::string out = "report";
  std::string title;  ///< "" = "trilemma: generative models on <dataset>"
  std::string hype;  ///< a HYPE study (trilemma hype) whose scores join the table
  std::string evaluator_file;  ///< --evaluator
};

// The dataset every row was evaluated on (eval.json's "dataset"; older files: MNIST), which
// the reference rows must be measured on; rows of different datasets are refused.
data::DatasetSpec common_dataset(const std::vector<report::ModelRow>& rows, const std::string& mnist_dir) {
  std::set<std::string> seen;
  data::DatasetSpec spec;
  spec.mnist_dir = mnist_dir;
  for (const report::ModelRow& row : rows) {
    const Json record = row.result.value("dataset", Json::object());
    const Json format = record.value("format", Json::object());
    data::DatasetSpec mine = spec;
    mine.name = record.value("name", std::string("mnist"));
    mine.format = {format.value("image_size", int64_t{28}), format.value("image_channels", int64_t{1})};
    seen.insert(mine.name + " at " + std::to_string(mine.format.size) + "x" + std::to_string(mine.format.size) + "x" +
                std::to_string(mine.format.channels));
    spec = mine;
  }
  if (seen.size() > 1) {
    std::string list;
    for (const std::string& s : seen) list += (list.empty() ? "" : "; ") + s;
    throw UserError("compare: the runs were evaluated on different data (" + list +
                    "); a report compares models of one dataset and image shape");
  }
  return spec;
}

// The CRC-32 of the checkpoint a row was evaluated from, or "" when it is not known: as
// eval.json records it (checked when the run was loaded), or, for evaluations written before
// it did, the file's bytes hashed here. The path eval.json names is re-rooted at the row's
// folder, so that a moved run or a zoo entry in another clone (eval.json keeps the exporting
// machine's absolute paths) still resolves.
std::string row_checkpoint_crc32(const report::ModelRow& row) {
  const Json run = row.result.value("run", Json::object());
  if (run.contains("checkpoint_crc32") && run["checkpoint_crc32"].is_string()) return run["checkpoint_crc32"];
  if (!run.contains("checkpoint")) return "";
  fs::path checkpoint = run["checkpoint"].get<std::string>();
  if (run.contains("dir")) {
    const fs::path relative = checkpoint.lexically_relative(run["dir"].get<std::string>());
    if (!relative.empty() && *relative.begin() != "..") checkpoint = fs::path(row.run_dir) / relative;
  }
  if (!fs::is_regular_file(checkpoint)) return "";
  return crc32_hex(crc32_of(read_file(checkpoint.string())));
}

// Puts each study model's HYPE∞ into the row of the same run, sampler and network — the
// same checkpoint file by CRC-32, or, for studies that predate the CRC, the same step. The
// study's models that match no row are named, so that a misspelt run — or a zoo entry
// replaced by a newer model since the study drew its images — is not silently left out or
// mislabelled.
void add_human_scores(const std::string& study_path, std::vector<report::ModelRow>& rows) {
  const human::Study study(study_path);
  const Json results = study.results();
  for (const auto& model : results["models"]) {
    const int64_t study_step = model.value("step", int64_t{-1});
    const std::string study_crc = model.value("checkpoint_crc32", std::string());
    bool matched = false, other_network = false;
    for (auto& row : rows) {
      // A zoo model is known by its name, so that a study travels with the repository.
      const std::string name = model["name"];
      const bool same_zoo_entry = training::is_zoo_name(name) &&
                                  fs::exists(fs::path(training::zoo_directory()) / name.substr(4)) &&
                                  fs::weakly_canonical(row.run_dir) == fs::weakly_canonical(training::zoo_entry_dir(name));
      if (!same_zoo_entry && fs::weakly_canonical(row.run_dir).string() != model["run"].get<std::string>()) continue;
      if (row.result.value("sampler", std::string()) != model["sampler"].get<std::string>()) continue;
      const int64_t row_step = row.result.contains("run") ? row.result["run"].value("step", int64_t{-1}) : -1;
      const std::string row_crc = study_crc.empty() ? "" : row_checkpoint_crc32(row);
      if (!row_crc.empty() && row_crc != study_crc) {
        std::cerr << "warning: --hype: the study's " << name << " was drawn from checkpoint " << study_crc
                  << " (step " << study_step << "), the report's is " << row_crc << " (step " << row_step
                  << "); its human scores are left out\n";
        other_network = true;
        continue;
      }
      if (row_crc.empty() && row_step != study_step) {
        std::cerr << "warning: --hype: the study's " << name << " is of step " << study_step
                  << ", the report's of step " << row_step << "; its human scores are left out\n";
        other_network = true;
        continue;
      }
      row.result["human"] = model;
      matched = true;
    }
    if (!matched && !other_network)
      std::cerr << "warning: --hype: " << model["name"].get<std::string>() << " (" << model["sampler"].get<std::string>()
                << ") of the study has no row in this report\n";
  }
}

// The figures a family writes that belong in a comparison, in display order. Epoch-by-epoch
// figures stay in the run; the report shows the final state.
const std::vector<std::pair<std::string, std::string>> kRunFigures = {
    {"samples_by_class.png", "conditional: ten samples of each digit (row k: digit k)"},
    {"styles_by_class.png", "conditional VAE: one z per column, the digit changes by row"},
    {"latent_scatter.png", "latent space: test images encoded, coloured by digit"},
    {"latent_manifold.png", "latent space: decoded grid"},
    {"interpolation.png", "latent interpolation"},
    {"reconstructions.png", "reconstructions (top: input, bottom: output)"},
    {"forward_process.png", "forward diffusion"},
    {"denoising_trajectory.png", "denoising trajectory"},
    {"denoising_chain.png", "DDGAN: the T-step denoising chain, x_T to x_0 (one row per sample)"},
    {"latent_variation.png", "DDGAN: one x_T per row, a new z per column"},
    {"progress.png", "training progress (fixed noise)"},
    {"losses.png", "loss curves"},
    {"discriminator.png", "GAN: the discriminator's mean output on real and generated images"},
};

report::Figure load_figure(const fs::path& path, const std::string& caption, const fs::path& out_dir,
                           const std::string& copy_name) {
  report::Figure figure;
  figure.caption = caption;
  figure.png_bytes = read_file(path.string());
  // Markdown refers to copies beside the report, so the folder travels as a whole.
  const fs::path copy = out_dir / "figures" / copy_name;
  write_file_atomic(copy.string(), figure.png_bytes);
  figure.path = "figures/" + copy_name;
  return figure;
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buffer;
}

}  // namespace

void add_compare_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<CompareFlags>();
  CLI::App* sub = app.add_subcommand(
      "compare", "write the trilemma report (report.md, self-contained report.html) over evaluated runs");
  sub->fallthrough();
  sub->add_option("run_dirs", flags->run_dirs, "run directories evaluated with `trilemma eval`, or zoo:NAME")
      ->required();
  sub->add_option("--out", flags->out, "output directory")->capture_default_str();
  sub->add_option("--title", flags->title, "report title");
  sub->add_option("--hype", flags->hype,
                  "a human study's SQLite file (trilemma hype): adds its HYPE∞ as a column and a section")
      ->check(CLI::ExistingFile);
  sub->add_option("--evaluator", flags->evaluator_file,
                  "evaluator file the runs were evaluated with (`trilemma evaluator train`; default: the "
                  "dataset's built-in one)");
  sub->callback([&context, flags]() {
    apply_runtime(context);
    const fs::path out_dir(flags->out);
    fs::create_directories(out_dir / "figures");

    report::ReportData data;
    data.title = flags->title;
    data.generated_at = now_text();
    std::set<std::string> extractors;
    std::set<int64_t> sizes;
    Json first_protocol;
    for (const auto& argument : flags->run_dirs) {
      // A zoo entry holds its own eval.json; its rows are labelled zoo:NAME.
      const bool from_zoo = training::is_zoo_name(argument);
      const std::string dir = training::run_folder(argument);
      const Json file = from_zoo ? training::read_zoo_evaluation(argument) : metrics::read_eval_file(dir);
      const std::string run_name = from_zoo ? argument : fs::path(dir).lexically_normal().filename().string();
      for (auto it = file["samplers"].begin(); it != file["samplers"].end(); ++it) {
        report::ModelRow row;
        const Json& r = *it;
        const Json run = r.value("run", Json::object());
        row.name = run.value("model", std::string("?")) + " " + run.value("preset", std::string()) +
                   " (" + it.key() + ") — " + run_name;
        row.run_dir = dir;
        row.result = r;
        if (r.contains("extractor")) extractors.insert(r["extractor"].value("crc32", std::string()));
        sizes.insert(r.value("n", int64_t{0}));
        if (first_protocol.is_null() && r.contains("protocol")) first_protocol = r["protocol"];
        const std::string safe = (from_zoo ? "zoo-" + fs::path(dir).filename().string() : run_name) + "-";
        if (r.contains("sample_grid")) {
          const fs::path grid = fs::path(dir) / r["sample_grid"].get<std::string>();
          if (fs::exists(grid))
            row.figures.push_back(load_figure(grid,
                                              "samples (" + it.key() +
                                                  (r.contains("conditional") ? ", ten of each class asked for)"
                                                                             : ", the first 100 evaluated)"),
                                              out_dir, safe + grid.filename().string()));
        }
        // Run-level figures once per run, under its first sampler's row.
        if (it == file["samplers"].begin()) {
          for (const auto& [name, caption] : kRunFigures) {
            const fs::path figure = fs::path(training::images_dir(dir)) / name;
            if (fs::exists(figure)) row.figures.push_back(load_figure(figure, caption, out_dir, safe + name));
          }
        }
        data.rows.push_back(std::move(row));
      }
    }

    if (!flags->hype.empty()) add_human_scores(flags->hype, data.rows);

    // The reference rows use the same extractor and protocol as the runs.
    const torch::Device device = resolve_device(context.device);
    metrics::EvalReference reference =
        metrics::load_eval_reference(common_dataset(data.rows, context.data_dir), flags->evaluator_file, device);
    metrics::EvalProtocol protocol;
    if (first_protocol.is_object()) {
      protocol.n = first_protocol.value("n", protocol.n);
      protocol.seed = first_protocol.value("seed", protocol.seed);
    }
    data.references = metrics::reference_rows(reference.evaluator, reference.real, reference.dataset, reference.info,
                                              protocol, std::cout);
    data.dataset = reference.info.to_json();
    if (data.title.empty()) data.title = "trilemma: generative models on " + reference.info.title;

    extractors.insert(data.references["train"]["extractor"].value("crc32", std::string()));
    Json protocol_json = first_protocol.is_object() ? first_protocol : protocol.to_json();
    protocol_json["extractor"] = data.references["train"]["extractor"];
    protocol_json["dataset"] = reference.info.title + " test split (" + std::to_string(reference.info.test_images) +
                               " images, " + std::to_string(reference.dataset.format.channels) + "×" +
                               std::to_string(reference.dataset.format.size) + "×" +
                               std::to_string(reference.dataset.format.size) + ")";
    protocol_json["report_device"] = describe_device(device);
    protocol_json["torch_version"] = torch_version();
    if (extractors.size() > 1)
      protocol_json["warning"] = "runs were evaluated with different extractors; their numbers are not comparable";
    if (sizes.size() > 1)
      protocol_json["warning_n"] = "runs were evaluated at different N; FIDs are not comparable";
    data.protocol = protocol_json;

    write_file_atomic((out_dir / "report.md").string(), report::render_markdown(data));
    write_file_atomic((out_dir / "report.html").string(), report::render_html(data));
    for (const auto& line : report::reading_of_results(data)) std::cout << "  " << line << "\n";
    std::cout << "report: " << (out_dir / "report.html").string() << " and "
              << (out_dir / "report.md").string() << "\n";
  });
}

}  // namespace trilemma::cli
