#include "report/content.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace trilemma::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void flatten_protocol(const Json& json, const std::string& prefix,
                      std::vector<std::pair<std::string, std::string>>& out) {
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      flatten_protocol(*it, key, out);
    else
      out.emplace_back(key, it->is_string() ? it->get<std::string>() : it->dump());
  }
}

}  // namespace

std::string format_number(double value, int decimals) {
  if (!std::isfinite(value)) return "–";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

double number_at(const Json& json, const std::string& key) {
  if (!json.is_object()) return kNaN;
  const auto it = json.find(key);
  if (it == json.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}

const std::vector<std::string>& reference_row_keys() {
  static const std::vector<std::string> keys = {"train", "noise_16", "blur", "two_digits", "single_digit", "noise_64"};
  return keys;
}

double reference_fid(const Json& references, const std::string& which) {
  return references.is_object() && references.contains(which) ? number_at(references.at(which), "fid")
                                                              : kNaN;
}

std::vector<double> shares_of(const Json& result) {
  if (!result.is_object() || !result.contains("class_shares")) return {};
  return result.at("class_shares").get<std::vector<double>>();
}

std::vector<Column> table_columns(const std::vector<ModelRow>& rows) {
  std::vector<Column> columns = {
      {"fid", "FID ↓", "quality", -1, 2},
      {"kid_mean", "KID ↓", "quality", -1, 4},
      {"precision", "Precision ↑", "quality", +1, 3},
      {"density", "Density →1", "quality", 0, 3},
      {"recall", "Recall ↑", "coverage", +1, 3},
      {"coverage", "Coverage ↑", "coverage", +1, 3},
      {"classes_covered", "Classes ↑", "coverage", +1, 0},
      {"speed.nfe", "NFE ↓", "speed", -1, 0},
      {"speed.ms_per_image_batch1", "ms/image (batch 1) ↓", "speed", -1, 3},
      {"speed.images_per_s_batch256", "images/s (batch 256) ↑", "speed", +1, 0},
  };
  // HYPE∞ is people's error rate: 0.5 when fakes pass for real, so higher is better.
  if (any_human(rows)) columns.push_back({"human.hype", "HYPE∞ ↑", "human", +1, 3});
  return columns;
}

bool any_human(const std::vector<ModelRow>& rows) {
  for (const auto& row : rows)
    if (row.result.is_object() && row.result.contains("human")) return true;
  return false;
}

Table human_table(const ReportData& data) {
  Table table = {{"Model", "HYPE∞", "95 % interval", "fakes judged real", "reals judged fake",
                  "judgements (fake / real)", "raters"}};
  for (const auto& row : data.rows) {
    if (!row.result.is_object() || !row.result.contains("human")) continue;
    const Json& human = row.result["human"];
    const Json ci = human.value("ci95", Json::array());
    const double low = ci.size() == 2 && ci[0].is_number() ? ci[0].get<double>() : kNaN;
    const double high = ci.size() == 2 && ci[1].is_number() ? ci[1].get<double>() : kNaN;
    table.push_back({row.name, format_number(number_at(human, "hype"), 3),
                     format_number(low, 3) + " – " + format_number(high, 3),
                     format_number(number_at(human, "fakes_judged_real"), 3),
                     format_number(number_at(human, "reals_judged_fake"), 3),
                     format_number(number_at(human, "fake_judgements"), 0) + " / " +
                         format_number(number_at(human, "real_judgements"), 0),
                     format_number(number_at(human, "raters"), 0)});
  }
  return table;
}

std::string human_notes() {
  return "HYPE∞ (Zhou et al. 2019) is the raters' error rate on a model's fakes and the real images, "
         "weighted equally: 0.5 means its samples could not be told from real digits, 0 that every one "
         "was spotted. The interval is a bootstrap over raters and images (`trilemma hype-report`). "
         "Samples were drawn once, with the sampler named, when the study was created.";
}

double column_value(const Json& result, const Column& column) {
  const size_t dot = column.key.find('.');
  if (dot != std::string::npos) {
    const std::string group = column.key.substr(0, dot);
    return result.is_object() && result.contains(group) ? number_at(result.at(group), column.key.substr(dot + 1))
                                                        : kNaN;
  }
  return number_at(result, column.key);
}

std::vector<int> best_rows(const std::vector<ModelRow>& rows) {
  // A single row is best at nothing: marking every cell would mislead.
  const std::vector<Column> columns = table_columns(rows);
  if (rows.size() < 2) return std::vector<int>(columns.size(), -1);
  std::vector<int> best;
  for (const auto& column : columns) {
    int index = -1;
    double best_score = kNaN;
    for (size_t r = 0; r < rows.size(); ++r) {
      const double v = column_value(rows[r].result, column);
      if (!std::isfinite(v)) continue;
      // Score so that larger is better in every column.
      const double score = column.better == 0 ? -std::abs(v - 1.0) : column.better * v;
      if (index < 0 || score > best_score) {
        index = static_cast<int>(r);
        best_score = score;
      }
    }
    best.push_back(index);
  }
  return best;
}

std::string cell(const Json& result, const Column& column) {
  return format_number(column_value(result, column), column.decimals);
}

CornerScores corner_scores(const Json& result, const Json& references) {
  CornerScores s;
  const double fid = number_at(result, "fid");
  const double floor_fid = reference_fid(references, "train");
  const double collapse_fid = reference_fid(references, "single_digit");
  if (std::isfinite(fid) && std::isfinite(floor_fid) && std::isfinite(collapse_fid) &&
      collapse_fid > floor_fid && floor_fid > 0) {
    const double q = std::log(collapse_fid / std::max(fid, 1e-12)) / std::log(collapse_fid / floor_fid);
    s.quality = std::clamp(q, 0.0, 1.0);
  }
  const double coverage = number_at(result, "coverage");
  if (std::isfinite(coverage)) s.coverage = std::clamp(coverage, 0.0, 1.0);
  const double ips = result.is_object() && result.contains("speed")
                         ? number_at(result.at("speed"), "images_per_s_batch256") : kNaN;
  if (std::isfinite(ips) && ips > 0) s.speed = std::clamp(std::log10(ips) / 5.0, 0.0, 1.0);
  return s;
}

bool any_conditional(const ReportData& data) {
  for (const auto& row : data.rows)
    if (row.result.contains("conditional")) return true;
  return false;
}

Table conditional_table(const ReportData& data) {
  Table table = {{"Model", "conditional accuracy", "mean per-class FID"}};
  for (int k = 0; k < 10; ++k) table[0].push_back("FID " + std::to_string(k));
  for (const auto& row : data.rows) {
    if (!row.result.contains("conditional")) continue;
    const Json& c = row.result["conditional"];
    std::vector<std::string> cells = {row.name, format_number(number_at(c, "conditional_accuracy"), 3),
                                      format_number(number_at(c, "mean_per_class_fid"), 2)};
    const Json fids = c.value("per_class_fid", Json::array());
    for (const auto& f : fids) cells.push_back(f.is_number() ? format_number(f.get<double>(), 1) : "–");
    table.push_back(cells);
  }
  return table;
}

bool any_guidance_curve(const ReportData& data) {
  for (const auto& row : data.rows)
    if (row.result.contains("guidance_curve")) return true;
  return false;
}

std::string guidance_notes() {
  return "Each point samples the model at guidance weight w with the main evaluation's sampler and seed. "
         "Classifier-free guidance (a conditional model): w = 0 is its unconditional prediction, 1 the "
         "conditional one. Autoguidance (an unconditional model sampled with a weaker guide, Karras et al. "
         "2024): w = 0 is the guide alone, 1 the model alone. Above 1 both extrapolate away from the weaker "
         "prediction, at two network evaluations per step.";
}

Table guidance_table(const Json& curve) {
  // An autoguided unconditional model's curve has no classes to ask for, so no class columns.
  bool conditional = false;
  for (const auto& p : curve) conditional = conditional || std::isfinite(number_at(p, "conditional_accuracy"));
  Table table = {{"w", "NFE", "FID", "precision", "recall", "coverage"}};
  if (conditional) table[0].insert(table[0].end(), {"conditional accuracy", "mean per-class FID"});
  for (const auto& p : curve) {
    std::vector<std::string> row = {format_number(number_at(p, "guidance"), 1), format_number(number_at(p, "nfe"), 0),
                                    format_number(number_at(p, "fid"), 2), format_number(number_at(p, "precision"), 3),
                                    format_number(number_at(p, "recall"), 3), format_number(number_at(p, "coverage"), 3)};
    if (conditional)
      row.insert(row.end(), {format_number(number_at(p, "conditional_accuracy"), 3),
                             format_number(number_at(p, "mean_per_class_fid"), 2)});
    table.push_back(row);
  }
  return table;
}

std::vector<std::pair<std::string, std::string>> protocol_items(const Json& protocol) {
  std::vector<std::pair<std::string, std::string>> items;
  if (protocol.is_object()) flatten_protocol(protocol, "", items);
  return items;
}

std::string dataset_title(const ReportData& data) {
  return data.dataset.is_object() ? data.dataset.value("title", std::string("MNIST")) : "MNIST";
}

std::string class_noun(const ReportData& data) {
  const bool mnist = !data.dataset.is_object() || data.dataset.value("name", std::string("mnist")) == "mnist";
  return mnist ? "digit" : "class";
}

std::string class_label(const ReportData& data, int64_t k) {
  const Json names = data.dataset.is_object() ? data.dataset.value("class_names", Json::array()) : Json::array();
  if (class_noun(data) == "digit" || k < 0 || k >= static_cast<int64_t>(names.size()))
    return "digit " + std::to_string(k);
  return "class '" + names[static_cast<size_t>(k)].get<std::string>() + "'";
}

std::string protocol_notes(const ReportData& data) {
  return "Distances are computed on the 128-d penultimate features of trilemma's own " + dataset_title(data) +
         " classifier, not Inception: numbers are comparable only between evaluations with the "
         "same extractor (name and checksum) and the same N; the Fréchet distance is biased "
         "upwards at small N, KID is unbiased. Precision/recall use k = 3 (Kynkäänniemi et al. "
         "2019), density/coverage k = 5 (Naeem et al. 2020). A class counts as covered when "
         "it holds at least 1 % of the samples (by the classifier's argmax). Density is best "
         "near 1. Speed: median of timed calls after warm-up; batch-256 throughput from the "
         "timed sampling of the N evaluation images.";
}

std::string conditional_notes(const ReportData& data) {
  if (dataset_title(data) != "MNIST")
    return "Each conditional model is asked for every class equally often. Conditional accuracy: the share of "
           "images the evaluator classifies as the class asked for. Per-class FID: the images asked for class k "
           "against the test images of class k (biased upwards at small N, so it compares only at equal N).";
  return "Each conditional model is asked for every digit equally often (N/10 images each). "
         "Conditional accuracy: the share of images the evaluator classifies as the digit asked "
         "for. Per-class FID: the N/10 images asked for digit k against the ~1,000 test images of "
         "digit k (biased upwards at small N, so it compares only at equal N). Guidance "
         "curve: classifier-free guidance ε̂_u + w(ε̂_c − ε̂_u), w = 0 unconditional, w = 1 "
         "conditional; each point from its own class-balanced samples (N given in the table), so "
         "points compare with each other. Guided steps (w ≠ 0, 1) cost two network evaluations.";
}

}  // namespace trilemma::report
