#include "experiments/sweep.h"

#include <chrono>
#include <filesystem>
#include <sstream>

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "core/settings.h"
#include "io/plot.h"
#include "models/conditioning.h"
#include "models/registry.h"
#include "models/sampling_options.h"
#include "report/content.h"
#include "report/encoding.h"
#include "report/html.h"
#include "report/markdown.h"
#include "training/train_loop.h"

namespace trilemma::experiments {
namespace fs = std::filesystem;
using report::format_number;

namespace {

// The settings that only change sampling, and how each sets SampleOptions (declared here,
// once: they are the fields `sample` and `eval` take as flags).
void set_sampling_option(SampleOptions& options, const std::string& setting, const std::string& value) {
  try {
    if (setting == "sampler") options.sampler = value;
    else if (setting == "sample_steps") options.steps = std::stoll(value);
    else if (setting == "eta") options.eta = std::stod(value);
    else if (setting == "guidance") options.guidance = std::stod(value);
  } catch (const std::exception&) {
    throw UserError(flag_name(setting) + ": '" + value + "' is not a number");
  }
}

std::string safe_name(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  return out;
}

double speed_of(const Json& result, const char* key) {
  return result.contains("speed") ? result["speed"].value(key, 0.0) : 0.0;
}

// The value as a number for the figure's x axis; the position in the list otherwise.
std::vector<double> x_positions(const std::vector<SweepPoint>& points, bool* numeric) {
  std::vector<double> x;
  *numeric = true;
  for (const auto& p : points) {
    try {
      size_t used = 0;
      x.push_back(std::stod(p.value, &used));
      if (used != p.value.size()) *numeric = false;
    } catch (const std::exception&) {
      *numeric = false;
    }
  }
  if (!*numeric)
    for (size_t i = 0; i < points.size(); ++i) x[i] = static_cast<double>(i + 1);
  return x;
}

void draw_figure(const std::string& title, const std::string& setting, const std::vector<SweepPoint>& points,
                 const std::string& path) {
  bool numeric = true;
  const std::vector<double> x = x_positions(points, &numeric);
  bool positive = numeric;
  for (double v : x) positive = positive && v > 0;
  double lo = 0, hi = 0;
  if (!x.empty()) lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
  const bool log_x = positive && lo > 0 && hi / lo >= 10;  // e.g. latent sizes 2..100
  auto series = [&](const std::string& name, auto value_of) {
    io::Series s{name, x, {}};
    for (const auto& p : points) s.y.push_back(value_of(p.result));
    return s;
  };
  const std::string x_label = flag_name(setting).substr(2) + (numeric ? "" : " (value number, see table)");
  io::Panel quality{{"quality: FID (lower is better)", x_label, "FID", true, 0, 0, log_x},
                    {series("FID", [](const Json& r) { return r.value("fid", 0.0); })}};
  io::Panel coverage{{"coverage (higher is better)", x_label, "share", false, 0, 0, log_x, 0, 1},
                     {series("recall", [](const Json& r) { return r.value("recall", 0.0); }),
                      series("precision", [](const Json& r) { return r.value("precision", 0.0); }),
                      series("classes / 10", [](const Json& r) { return r.value("classes_covered", 0) / 10.0; })}};
  io::Panel speed{{"speed: sampling images/s", x_label, "images/s", true, 0, 0, log_x},
                  {series("batch 256", [](const Json& r) { return speed_of(r, "images_per_s_batch256"); }),
                   series("batch 1", [](const Json& r) {
                     const double ms = speed_of(r, "ms_per_image_batch1");
                     return ms > 0 ? 1000.0 / ms : 0.0;
                   })}};
  io::plot_panels({quality, coverage, speed}, title, 1500, 450, path);
}

void write_reports(const SweepRequest& request, const std::vector<SweepPoint>& points) {
  const fs::path out(request.out_dir);
  const std::string title = "trilemma sweep: " + request.model + " " + flag_name(request.setting) + " (preset " +
                            request.preset + ", N = " + std::to_string(request.evaluation.protocol.n) + ")";
  Json json = {{"model", request.model}, {"preset", request.preset}, {"setting", request.setting},
               {"fixed", request.fixed}, {"n", request.evaluation.protocol.n}, {"points", Json::array()}};
  for (const auto& p : points) json["points"].push_back({{"value", p.value}, {"run_dir", p.run_dir}, {"result", p.result}});
  write_file_atomic((out / "sweep.json").string(), json.dump(2) + "\n");
  draw_figure(title, request.setting, points, (out / "sweep.png").string());

  const report::Table table = sweep_table(request.setting, points);
  std::string fixed_text;
  for (const auto& [k, v] : request.fixed) fixed_text += " " + flag_name(k) + " " + v;
  std::ostringstream md;
  md << "# " << title << "\n\n"
     << (is_sampling_setting(request.setting) ? "One trained run (" + points.front().run_dir + "), sampled at each value"
                                              : "One run per value")
     << "; other settings: preset " << request.preset << (fixed_text.empty() ? "" : "," + fixed_text)
     << ". Every point is evaluated under the same protocol (N = " << request.evaluation.protocol.n
     << ", seed " << request.evaluation.protocol.seed
     << ")" << (request.evaluation.protocol.n < 10000 ? "; FID at N below 10,000 is biased upwards, so these points "
                                                          "compare with each other, not with the README's tables"
                                                        : "")
     << ".\n\n";
  report::markdown_table(md, table);
  md << "![quality, coverage and speed against " << flag_name(request.setting) << "](sweep.png)\n";
  write_file_atomic((out / "report.md").string(), md.str());

  std::ostringstream html;
  html << "<!doctype html><meta charset=\"utf-8\"><title>" << report::html_escape(title)
       << "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%}</style>\n<h1>"
       << report::html_escape(title) << "</h1>\n";
  report::html_table(html, table);
  if (fs::exists(out / "sweep.png"))
    html << "<p><img alt=\"sweep\" src=\"data:image/png;base64,"
         << report::base64_encode(read_file((out / "sweep.png").string())) << "\"></p>\n";
  write_file_atomic((out / "report.html").string(), html.str());
}

// An earlier evaluation of this run at this N and sampling, reused when the sweep reruns.
Json reusable_result(const std::string& run_dir, const Json& settings, int64_t n) {
  try {
    if (!fs::exists(training::config_path(run_dir)) || !fs::exists(metrics::eval_path(run_dir))) return Json();
    if (training::read_run_config(run_dir).settings != settings) return Json();
    const Json file = metrics::read_eval_file(run_dir);
    for (const auto& [sampler, r] : file["samplers"].items())
      if (r.value("n", int64_t{0}) == n && r.contains("sweep_train_minutes")) return r;
  } catch (const UserError&) {
  }
  return Json();
}

// A point's run trained: `status` is train_run's (130/143 when stopped), `minutes` the
// training time recorded in its `done` marker (the part trained by this call when resumed).
struct TrainedPoint {
  int status = 0;
  double minutes = 0;
};

// Trains run_dir with these settings, resuming it when interrupted, or does nothing when its
// `done` marker says it finished.
TrainedPoint train_point(const SweepRequest& request, const std::string& run_dir, const Json& settings) {
  const fs::path done = fs::path(run_dir) / "done";
  const bool started = fs::exists(training::config_path(run_dir));
  if (started && training::read_run_config(run_dir).settings != settings)
    throw UserError(run_dir + ": holds a run of other settings; remove it or choose another --out");
  if (started && fs::exists(done)) return {0, std::stod(read_file(done.string()))};
  training::RunConfig config;
  config.model = request.model;
  config.preset = request.preset;
  config.settings = settings;
  training::TrainOptions options;
  options.run_dir = run_dir;
  options.data_dir = request.data_dir;
  options.device = request.device;
  options.resume = started;
  const auto start = std::chrono::steady_clock::now();
  const int status = training::train_run(config, options);
  if (status != 0) return {status, 0};
  const double minutes = seconds_since(start) / 60.0;
  write_file_atomic(done.string(), format_number(minutes, 3) + "\n");
  return {0, minutes};
}

}  // namespace

bool is_sampling_setting(const std::string& setting) {
  return setting == "sampler" || setting == "sample_steps" || setting == "eta" || setting == "guidance";
}

std::vector<std::string> split_sweep_values(const std::string& flag, const std::string& text, bool list_setting) {
  std::vector<std::string> values;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, list_setting ? ';' : ',')) {
    if (item.empty()) throw UserError(flag + ": an empty value in '" + text + "'");
    values.push_back(item);
  }
  if (!text.empty() && text.back() == (list_setting ? ';' : ','))
    throw UserError(flag + ": an empty value in '" + text + "'");
  if (values.size() < 2)
    throw UserError(flag + ": a sweep needs at least two values, separated by '" + (list_setting ? ";" : ",") +
                    "' (got '" + text + "')");
  return values;
}

report::Table sweep_table(const std::string& setting, const std::vector<SweepPoint>& points) {
  report::Table table = {{flag_name(setting).substr(2), "FID", "precision", "recall", "coverage", "classes", "NFE",
                          "images/s (batch 256)", "ms/image (batch 1)", "training (min)"}};
  for (const auto& p : points) {
    const Json& r = p.result;
    table.push_back({p.value, format_number(r.value("fid", 0.0), 2), format_number(r.value("precision", 0.0), 3),
                     format_number(r.value("recall", 0.0), 3), format_number(r.value("coverage", 0.0), 3),
                     std::to_string(r.value("classes_covered", 0)) + "/10",
                     std::to_string(r.contains("speed") ? r["speed"].value("nfe", 0) : 0),
                     format_number(speed_of(r, "images_per_s_batch256"), 0),
                     format_number(speed_of(r, "ms_per_image_batch1"), 2),
                     r.contains("sweep_train_minutes") ? format_number(r["sweep_train_minutes"].get<double>(), 1)
                                                       : "–"});
  }
  return table;
}

int run_sweep(const SweepRequest& request, std::ostream& log) {
  const ModelFamily& family = find_model_family(request.model);
  const bool sampling_sweep = is_sampling_setting(request.setting);
  // Every value's settings are built and checked before anything is trained.
  Json base = family.preset_settings(request.preset);
  for (const auto& [field, text] : request.fixed) family.set_setting(base, field, text);
  std::vector<Json> settings;
  for (const auto& value : request.values) {
    Json s = base;
    family.set_setting(s, request.setting, value);  // a sampling setting is checked as the run's default
    settings.push_back(family.validate(s));
  }
  if (sampling_sweep) {  // e.g. a guidance sweep of an unconditional run: refused before training
    const auto model = family.create(settings.front(), request.device);
    SampleOptions options;
    set_sampling_option(options, request.setting, request.values.front());
    if (request.setting != "guidance")
      check_sampling_options(*model, request.model, {request.setting == "sample_steps" ? "steps" : request.setting});
    check_class_request(options, model->num_classes(), model->supports_guidance());
  }
  fs::create_directories(request.out_dir);
  metrics::EvalReference reference = metrics::load_eval_reference(request.device, request.data_dir);
  metrics::RunEvaluationRequest evaluation = request.evaluation;
  evaluation.guidance_weights.clear();  // the sweep is the curve

  std::vector<SweepPoint> points;
  auto add_point = [&](SweepPoint point) {
    points.push_back(std::move(point));
    write_reports(request, points);  // after every point, so that a stopped sweep shows its progress
  };
  auto announce = [&](size_t i, const std::string& run_dir) {
    log << "sweep " << flag_name(request.setting) << " " << request.values[i] << " (" << i + 1 << "/"
        << request.values.size() << "): " << run_dir << std::endl;
  };

  if (sampling_sweep) {  // one run, trained once and sampled at every value
    const std::string run_dir = (fs::path(request.out_dir) / "run").string();
    const TrainedPoint trained = train_point(request, run_dir, settings.front());
    if (trained.status != 0) return trained.status;
    training::LoadedRun run = training::load_run(run_dir, request.device);
    for (size_t i = 0; i < request.values.size(); ++i) {
      announce(i, run_dir);
      metrics::RunEvaluationRequest at_value = evaluation;
      set_sampling_option(at_value.sampling, request.setting, request.values[i]);
      Json result = metrics::evaluate_run(run, at_value, reference, log);
      if (i == 0) result["sweep_train_minutes"] = trained.minutes;
      add_point({request.values[i], run_dir, result});
    }
    return 0;
  }

  for (size_t i = 0; i < request.values.size(); ++i) {
    const std::string run_dir =
        (fs::path(request.out_dir) / (request.setting + "-" + safe_name(request.values[i]))).string();
    announce(i, run_dir);
    Json result = reusable_result(run_dir, settings[i], request.evaluation.protocol.n);
    if (!result.is_null()) {
      log << "  already trained and evaluated; reused" << std::endl;
      add_point({request.values[i], run_dir, result});
      continue;
    }
    const TrainedPoint trained = train_point(request, run_dir, settings[i]);
    if (trained.status != 0) return trained.status;
    training::LoadedRun run = training::load_run(run_dir, request.device);
    result = metrics::evaluate_run(run, evaluation, reference, log);
    result["sweep_train_minutes"] = trained.minutes;
    metrics::write_eval_result(run_dir, result, log);
    add_point({request.values[i], run_dir, result});
  }
  return 0;
}

}  // namespace trilemma::experiments
