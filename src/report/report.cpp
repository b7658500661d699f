#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace trilemma::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

std::string palette(size_t i) { return kPalette[i % (sizeof kPalette / sizeof *kPalette)]; }

double number_at(const Json& json, const std::string& key) {
  if (!json.is_object()) return kNaN;
  const auto it = json.find(key);
  if (it == json.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}

std::string percent(double share, int decimals = 0) {
  return format_number(100.0 * share, decimals) + " %";
}

/// Index of the largest and of the smallest class share.
std::pair<int, int> extreme_classes(const std::vector<double>& shares) {
  if (shares.empty()) return {-1, -1};
  const auto max_it = std::max_element(shares.begin(), shares.end());
  const auto min_it = std::min_element(shares.begin(), shares.end());
  return {static_cast<int>(max_it - shares.begin()), static_cast<int>(min_it - shares.begin())};
}

std::vector<double> shares_of(const Json& result) {
  if (!result.is_object() || !result.contains("class_shares")) return {};
  return result.at("class_shares").get<std::vector<double>>();
}

std::string sampler_suffix(const Json& result) {
  return result.is_object() && result.contains("sampler") ? result.at("sampler").get<std::string>()
                                                          : std::string();
}

}  // namespace

std::string format_number(double value, int decimals) {
  if (!std::isfinite(value)) return "–";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64_encode(const std::string& bytes) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

const std::vector<Column>& table_columns() {
  static const std::vector<Column> columns = {
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
  return columns;
}

double column_value(const Json& result, const Column& column) {
  const std::string prefix = "speed.";
  if (column.key.compare(0, prefix.size(), prefix) == 0)
    return result.is_object() && result.contains("speed")
               ? number_at(result.at("speed"), column.key.substr(prefix.size()))
               : kNaN;
  return number_at(result, column.key);
}

std::vector<int> best_rows(const std::vector<ModelRow>& rows) {
  // A single row is best at nothing: marking every cell would mislead.
  if (rows.size() < 2) return std::vector<int>(table_columns().size(), -1);
  std::vector<int> best;
  for (const auto& column : table_columns()) {
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

CornerScores corner_scores(const Json& result, const Json& references) {
  CornerScores s;
  const double fid = number_at(result, "fid");
  const double floor_fid = references.is_object() && references.contains("train")
                               ? number_at(references.at("train"), "fid") : kNaN;
  const double collapse_fid = references.is_object() && references.contains("single_digit")
                                  ? number_at(references.at("single_digit"), "fid") : kNaN;
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

std::string trilemma_chart_svg(const std::vector<ModelRow>& rows, const Json& references) {
  const double cx = 220, cy = 190, radius = 140;
  // Quality at the top, coverage bottom right, speed bottom left.
  const double angles[3] = {-M_PI / 2, M_PI / 6, 5 * M_PI / 6};
  const char* names[3] = {"quality", "coverage", "speed"};
  auto point = [&](int axis, double r) {
    char b[64];
    std::snprintf(b, sizeof b, "%.1f,%.1f", cx + r * radius * std::cos(angles[axis]),
                  cy + r * radius * std::sin(angles[axis]));
    return std::string(b);
  };
  const double height = 360 + 20.0 * rows.size();
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"440\" height=\"" << height
      << "\" viewBox=\"0 0 440 " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  for (double level : {0.25, 0.5, 0.75, 1.0}) {
    svg << "<polygon points=\"" << point(0, level) << " " << point(1, level) << " "
        << point(2, level) << "\" fill=\"none\" stroke=\"#ccc\"/>\n";
  }
  for (int a = 0; a < 3; ++a) {
    svg << "<line x1=\"" << cx << "\" y1=\"" << cy << "\" x2=\"" << point(a, 1.0).substr(0, point(a, 1.0).find(','))
        << "\" y2=\"" << point(a, 1.0).substr(point(a, 1.0).find(',') + 1) << "\" stroke=\"#999\"/>\n";
    const std::string p = point(a, 1.12);
    svg << "<text x=\"" << p.substr(0, p.find(',')) << "\" y=\"" << p.substr(p.find(',') + 1)
        << "\" text-anchor=\"middle\">" << names[a] << "</text>\n";
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto s = corner_scores(rows[r].result, references);
    svg << "<polygon points=\"" << point(0, s.quality) << " " << point(1, s.coverage) << " "
        << point(2, s.speed) << "\" fill=\"" << palette(r) << "\" fill-opacity=\"0.15\" stroke=\""
        << palette(r) << "\" stroke-width=\"2\"/>\n";
    const double y = 350 + 20.0 * r;
    svg << "<rect x=\"20\" y=\"" << y - 10 << "\" width=\"12\" height=\"12\" fill=\"" << palette(r)
        << "\"/><text x=\"40\" y=\"" << y << "\">" << html_escape(rows[r].name) << " (q "
        << format_number(s.quality, 2) << ", c " << format_number(s.coverage, 2) << ", s "
        << format_number(s.speed, 2) << ")</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string class_histogram_svg(const std::vector<double>& shares, const std::string& title) {
  const double width = 340, height = 190, left = 30, bottom = 160, top = 30;
  const double bar_w = (width - left - 10) / std::max<size_t>(shares.size(), 1);
  double max_share = 0.2;
  for (double s : shares) max_share = std::max(max_share, s);
  auto y_of = [&](double share) { return bottom - (bottom - top) * share / max_share; };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"10\">\n"
      << "<text x=\"" << width / 2 << "\" y=\"14\" text-anchor=\"middle\" font-size=\"12\">"
      << html_escape(title) << "</text>\n";
  for (size_t i = 0; i < shares.size(); ++i) {
    const double x = left + i * bar_w;
    svg << "<rect x=\"" << x + 2 << "\" y=\"" << y_of(shares[i]) << "\" width=\"" << bar_w - 4
        << "\" height=\"" << bottom - y_of(shares[i]) << "\" fill=\""
        << (shares[i] < 0.01 ? "#d62728" : "#1f77b4") << "\"/>\n"
        << "<text x=\"" << x + bar_w / 2 << "\" y=\"" << bottom + 12 << "\" text-anchor=\"middle\">" << i
        << "</text>\n"
        << "<text x=\"" << x + bar_w / 2 << "\" y=\"" << y_of(shares[i]) - 3
        << "\" text-anchor=\"middle\">" << format_number(100 * shares[i], 0) << "</text>\n";
  }
  svg << "<line x1=\"" << left << "\" x2=\"" << width - 10 << "\" y1=\"" << y_of(0.1) << "\" y2=\""
      << y_of(0.1) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n"
      << "<text x=\"" << left - 4 << "\" y=\"" << y_of(0.1) + 3 << "\" text-anchor=\"end\">10%</text>\n"
      << "<line x1=\"" << left << "\" x2=\"" << width - 10 << "\" y1=\"" << bottom << "\" y2=\"" << bottom
      << "\" stroke=\"#333\"/>\n</svg>\n";
  return svg.str();
}

std::string guidance_curve_svg(const Json& curve, const std::string& title) {
  const double width = 460, height = 266, left = 45, right = 45, top = 30, bottom = 210;  // legend below the w label
  std::vector<double> ws, fids;
  for (const auto& point : curve) {
    ws.push_back(number_at(point, "guidance"));
    fids.push_back(number_at(point, "fid"));
  }
  double w_max = 1.0, fid_max = 1.0;
  for (double w : ws) if (std::isfinite(w)) w_max = std::max(w_max, w);
  for (double f : fids) if (std::isfinite(f)) fid_max = std::max(fid_max, f);
  fid_max *= 1.1;
  auto x_of = [&](double w) { return left + (width - left - right) * w / w_max; };
  auto y_of = [&](double v, double max) { return bottom - (bottom - top) * v / max; };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"10\">\n"
      << "<text x=\"" << width / 2 << "\" y=\"14\" text-anchor=\"middle\" font-size=\"12\">"
      << html_escape(title) << "</text>\n"
      << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << bottom << "\" y2=\"" << bottom
      << "\" stroke=\"#333\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"" << bottom + 28 << "\" text-anchor=\"middle\">guidance weight w"
      << "</text>\n<text x=\"" << left - 4 << "\" y=\"" << top - 6 << "\" text-anchor=\"end\">FID</text>\n"
      << "<text x=\"" << width - right + 4 << "\" y=\"" << top - 6 << "\">share</text>\n";
  for (int tick = 0; tick <= 4; ++tick) {
    const double y = y_of(tick / 4.0, 1.0);
    svg << "<text x=\"" << left - 4 << "\" y=\"" << y + 3 << "\" text-anchor=\"end\">"
        << format_number(fid_max * tick / 4.0, 1) << "</text><text x=\"" << width - right + 4 << "\" y=\""
        << y + 3 << "\">" << format_number(tick / 4.0, 2) << "</text>\n";
  }
  for (double w : ws)
    if (std::isfinite(w))
      svg << "<text x=\"" << x_of(w) << "\" y=\"" << bottom + 13 << "\" text-anchor=\"middle\">"
          << format_number(w, w == std::floor(w) ? 0 : 1) << "</text>\n";
  struct Line {
    const char* key;
    const char* name;
    double max;
  };
  const Line lines[] = {{"fid", "FID", fid_max},
                        {"precision", "precision", 1.0},
                        {"recall", "recall", 1.0},
                        {"conditional_accuracy", "conditional accuracy", 1.0}};
  for (size_t l = 0; l < 4; ++l) {
    std::string points;
    for (const auto& point : curve) {
      const double w = number_at(point, "guidance"), v = number_at(point, lines[l].key);
      if (!std::isfinite(w) || !std::isfinite(v)) continue;
      char b[64];
      std::snprintf(b, sizeof b, "%.1f,%.1f ", x_of(w), y_of(v, lines[l].max));
      points += b;
    }
    svg << "<polyline points=\"" << points << "\" fill=\"none\" stroke=\"" << palette(l)
        << "\" stroke-width=\"2\"/>\n<rect x=\"" << left + 10 + 100 * l << "\" y=\"" << height - 12
        << "\" width=\"10\" height=\"10\" fill=\"" << palette(l) << "\"/><text x=\"" << left + 24 + 100 * l
        << "\" y=\"" << height - 3 << "\">" << lines[l].name << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::vector<std::string> reading_of_results(const ReportData& data) {
  std::vector<std::string> lines;
  const Json& refs = data.references;
  const double train_fid = refs.is_object() && refs.contains("train") ? number_at(refs["train"], "fid") : kNaN;
  const double digit_fid =
      refs.is_object() && refs.contains("single_digit") ? number_at(refs["single_digit"], "fid") : kNaN;
  if (std::isfinite(train_fid) && std::isfinite(digit_fid))
    lines.push_back("Scale: real training images score FID " + format_number(train_fid, 2) +
                    " against the test set (the floor at this N); the test images of a single digit "
                    "score " + format_number(digit_fid, 2) + " (total mode collapse).");
  for (const auto& row : data.rows) {
    const Json& r = row.result;
    std::ostringstream s;
    s << row.name << ": FID " << format_number(number_at(r, "fid"), 2);
    const double fid = number_at(r, "fid");
    if (std::isfinite(fid) && std::isfinite(train_fid) && train_fid > 0)
      s << " (" << format_number(fid / train_fid, 1) << "× the training-set floor)";
    s << "; covers " << format_number(number_at(r, "classes_covered"), 0) << "/10 classes";
    const auto shares = shares_of(r);
    const auto [top, bottom] = extreme_classes(shares);
    if (top >= 0)
      s << "; digit " << top << " takes " << percent(shares[top]) << " of its samples, digit "
        << bottom << " " << percent(shares[bottom], 1);
    s << "; precision " << format_number(number_at(r, "precision"), 2) << ", recall "
      << format_number(number_at(r, "recall"), 2);
    if (r.contains("speed")) {
      const Json& sp = r["speed"];
      s << "; " << format_number(number_at(sp, "nfe"), 0) << " network evaluation(s) per image, "
        << format_number(number_at(sp, "ms_per_image_batch1"), 2) << " ms/image at batch 1, "
        << format_number(number_at(sp, "images_per_s_batch256"), 0) << " images/s at batch 256";
    }
    s << ".";
    lines.push_back(s.str());
    if (r.contains("conditional")) {
      const Json& c = r["conditional"];
      lines.push_back(row.name + ": asked for a digit, it draws one the evaluator reads as that digit " +
                      percent(number_at(c, "conditional_accuracy"), 1) +
                      " of the time; mean per-class FID " +
                      format_number(number_at(c, "mean_per_class_fid"), 2) + ".");
    }
    if (r.contains("guidance_curve") && r["guidance_curve"].size() >= 2) {
      const Json& first = r["guidance_curve"].front();
      const Json& last = r["guidance_curve"].back();
      lines.push_back(row.name + ": raising guidance from w = " + format_number(number_at(first, "guidance"), 1) +
                      " to " + format_number(number_at(last, "guidance"), 1) + " takes FID from " +
                      format_number(number_at(first, "fid"), 2) + " to " + format_number(number_at(last, "fid"), 2) +
                      ", precision " + format_number(number_at(first, "precision"), 2) + " → " +
                      format_number(number_at(last, "precision"), 2) + ", recall " +
                      format_number(number_at(first, "recall"), 2) + " → " +
                      format_number(number_at(last, "recall"), 2) + ", conditional accuracy " +
                      percent(number_at(first, "conditional_accuracy")) + " → " +
                      percent(number_at(last, "conditional_accuracy")) + ".");
    }
  }
  if (data.rows.size() >= 2) {
    const auto best = best_rows(data.rows);
    const auto& columns = table_columns();
    auto best_of = [&](const std::string& key) {
      for (size_t c = 0; c < columns.size(); ++c)
        if (columns[c].key == key) return best[c];
      return -1;
    };
    const int q = best_of("fid"), c = best_of("recall"), v = best_of("speed.images_per_s_batch256");
    auto name = [&](int i) { return i >= 0 ? data.rows[i].name : std::string("–"); };
    std::string line = "Best quality (FID): " + name(q) + ". Best coverage (recall): " + name(c) +
                       ". Fastest (images/s at batch 256): " + name(v) + ".";
    if (q >= 0 && q == c && c == v)
      line += " " + name(q) + " leads all three corners.";
    else
      line += " No single row leads all three corners: that is the trilemma.";
    lines.push_back(line);
  }
  return lines;
}

namespace {

std::string protocol_notes() {
  return "Distances are computed on the 128-d penultimate features of trilemma's own MNIST "
         "classifier, not Inception: numbers are comparable only between evaluations with the "
         "same extractor (name and checksum) and the same N; the Fréchet distance is biased "
         "upwards at small N, KID is unbiased. Precision/recall use k = 3 (Kynkäänniemi et al. "
         "2019), density/coverage k = 5 (Naeem et al. 2020). A class counts as covered when "
         "it holds at least 1 % of the samples (by the classifier's argmax). Density is best "
         "near 1. Speed: median of timed calls after warm-up; batch-256 throughput from the "
         "timed sampling of the N evaluation images.";
}

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

std::string cell(const Json& result, const Column& column) {
  return format_number(column_value(result, column), column.decimals);
}

bool any_conditional(const ReportData& data) {
  for (const auto& row : data.rows)
    if (row.result.contains("conditional")) return true;
  return false;
}

// The conditional-generation tables as rows of cells: per model, accuracy and per-class
// FID; per guided model, one row per guidance weight. The first row is the header.
using Table = std::vector<std::vector<std::string>>;

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

Table guidance_table(const Json& curve) {
  Table table = {{"w", "NFE", "FID", "precision", "recall", "coverage", "conditional accuracy", "mean per-class FID"}};
  for (const auto& p : curve)
    table.push_back({format_number(number_at(p, "guidance"), 1), format_number(number_at(p, "nfe"), 0),
                     format_number(number_at(p, "fid"), 2), format_number(number_at(p, "precision"), 3),
                     format_number(number_at(p, "recall"), 3), format_number(number_at(p, "coverage"), 3),
                     format_number(number_at(p, "conditional_accuracy"), 3),
                     format_number(number_at(p, "mean_per_class_fid"), 2)});
  return table;
}

void markdown_table(std::ostream& md, const Table& table) {
  for (size_t r = 0; r < table.size(); ++r) {
    md << "|";
    for (const auto& cell_text : table[r]) md << " " << cell_text << " |";
    md << "\n";
    if (r == 0) {
      md << "|---|";
      for (size_t c = 1; c < table[r].size(); ++c) md << "---:|";
      md << "\n";
    }
  }
  md << "\n";
}

void html_table(std::ostream& h, const Table& table) {
  h << "<table>\n";
  for (size_t r = 0; r < table.size(); ++r) {
    h << "<tr>";
    for (const auto& cell_text : table[r])
      h << (r == 0 ? "<th>" : "<td>") << html_escape(cell_text) << (r == 0 ? "</th>" : "</td>");
    h << "</tr>\n";
  }
  h << "</table>\n";
}

const char* const kConditionalNotes =
    "Each conditional model is asked for every digit equally often (N/10 images each). "
    "Conditional accuracy: the share of images the evaluator classifies as the digit asked "
    "for. Per-class FID: the N/10 images asked for digit k against the ~1,000 test images of "
    "digit k (biased upwards at small N, so it compares only at equal N). Guidance "
    "curve: classifier-free guidance ε̂_u + w(ε̂_c − ε̂_u), w = 0 unconditional, w = 1 "
    "conditional; each point from its own class-balanced samples (N given in the table), so "
    "points compare with each other. Guided steps (w ≠ 0, 1) cost two network evaluations.";

}  // namespace

std::string render_markdown(const ReportData& data) {
  std::ostringstream md;
  const auto& columns = table_columns();
  const auto best = best_rows(data.rows);
  md << "# " << data.title << "\n\n";
  if (!data.generated_at.empty()) md << "Generated " << data.generated_at << ".\n\n";
  md << "## Reading\n\n";
  for (const auto& line : reading_of_results(data)) md << "- " << line << "\n";
  md << "\n## The trilemma\n\nQuality: FID, KID, precision, density. Coverage: recall, "
        "coverage, classes covered. Speed: NFE, latency, throughput. **Bold** = best in column.\n\n";
  md << "| Model |";
  for (const auto& c : columns) md << " " << c.title << " |";
  md << "\n|---|";
  for (size_t i = 0; i < columns.size(); ++i) md << "---:|";
  md << "\n";
  for (size_t r = 0; r < data.rows.size(); ++r) {
    md << "| " << data.rows[r].name << " |";
    for (size_t c = 0; c < columns.size(); ++c) {
      const std::string text = cell(data.rows[r].result, columns[c]);
      md << " " << (best[c] == static_cast<int>(r) && text != "–" ? "**" + text + "**" : text) << " |";
    }
    md << "\n";
  }
  if (data.references.is_object()) {
    for (const auto& key : {"train", "single_digit"}) {
      if (!data.references.contains(key)) continue;
      const Json& ref = data.references[key];
      md << "| *reference: " << ref.value("label", std::string(key)) << "* |";
      for (const auto& c : columns) md << " " << (c.corner == "speed" ? "" : cell(ref, c)) << " |";
      md << "\n";
    }
  }
  if (any_conditional(data)) {
    md << "\n## Conditional generation\n\n";
    markdown_table(md, conditional_table(data));
    for (const auto& row : data.rows) {
      if (!row.result.contains("guidance_curve")) continue;
      md << "Guidance curve of " << row.name << " (N = "
         << (row.result["guidance_curve"].empty() ? 0 : row.result["guidance_curve"][0].value("n", 0))
         << " per point):\n\n";
      markdown_table(md, guidance_table(row.result["guidance_curve"]));
    }
    md << kConditionalNotes << "\n";
  }
  md << "\n## Models\n\n";
  for (const auto& row : data.rows) {
    md << "### " << row.name << "\n\n";
    const auto shares = shares_of(row.result);
    if (!shares.empty()) {
      md << "Class shares (%):";
      for (size_t i = 0; i < shares.size(); ++i) md << " " << i << ": " << format_number(100 * shares[i], 1);
      md << "\n\n";
    }
    for (const auto& f : row.figures) md << "![" << f.caption << "](" << f.path << ")\n\n";
  }
  md << "## Protocol\n\n";
  std::vector<std::pair<std::string, std::string>> items;
  if (data.protocol.is_object()) flatten_protocol(data.protocol, "", items);
  for (const auto& [k, v] : items) md << "- " << k << ": " << v << "\n";
  md << "\n" << protocol_notes() << "\n";
  return md.str();
}

std::string render_html(const ReportData& data) {
  std::ostringstream h;
  const auto& columns = table_columns();
  const auto best = best_rows(data.rows);
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
    << html_escape(data.title) << "</title>\n<style>\n"
    << "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\n"
    << "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;"
       "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\n"
    << "td.best{font-weight:bold;background:#e6f4e6}tr.ref td{color:#666;font-style:italic}\n"
    << ".figs{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
       "figure{margin:0}figcaption{font-size:12px;color:#555}\n"
    << "img{image-rendering:pixelated;max-width:420px}\n</style></head><body>\n";
  h << "<h1>" << html_escape(data.title) << "</h1>\n";
  if (!data.generated_at.empty()) h << "<p>Generated " << html_escape(data.generated_at) << ".</p>\n";
  h << "<h2>Reading</h2>\n<ul>\n";
  for (const auto& line : reading_of_results(data)) h << "<li>" << html_escape(line) << "</li>\n";
  h << "</ul>\n<h2>The trilemma</h2>\n<table>\n<tr><th rowspan=\"2\">Model</th>"
       "<th colspan=\"4\">Quality</th><th colspan=\"3\">Coverage</th><th colspan=\"3\">Speed</th></tr>\n<tr>";
  for (const auto& c : columns) h << "<th>" << html_escape(c.title) << "</th>";
  h << "</tr>\n";
  for (size_t r = 0; r < data.rows.size(); ++r) {
    h << "<tr><td>" << html_escape(data.rows[r].name) << "</td>";
    for (size_t c = 0; c < columns.size(); ++c)
      h << "<td" << (best[c] == static_cast<int>(r) ? " class=\"best\"" : "") << ">"
        << cell(data.rows[r].result, columns[c]) << "</td>";
    h << "</tr>\n";
  }
  if (data.references.is_object()) {
    for (const auto& key : {"train", "single_digit"}) {
      if (!data.references.contains(key)) continue;
      const Json& ref = data.references[key];
      h << "<tr class=\"ref\"><td>reference: " << html_escape(ref.value("label", std::string(key)))
        << "</td>";
      for (const auto& c : columns) h << "<td>" << (c.corner == "speed" ? "" : cell(ref, c)) << "</td>";
      h << "</tr>\n";
    }
  }
  h << "</table>\n<p>Highlighted: best in column (density: closest to 1). Reference rows apply "
       "the same protocol to real images.</p>\n";
  h << "<h2>Three corners</h2>\n<div class=\"figs\">" << trilemma_chart_svg(data.rows, data.references)
    << "<p style=\"max-width:500px;font-size:13px\">Quality: FID on a log scale between the "
       "one-digit reference (0) and the training-set reference (1). Coverage: Naeem et al.'s "
       "coverage. Speed: log10 of images/s at batch 256 over five decades (1/s → 0, 100,000/s → 1)."
       "</p></div>\n";
  if (any_conditional(data)) {
    h << "<h2>Conditional generation</h2>\n";
    html_table(h, conditional_table(data));
    for (const auto& row : data.rows) {
      if (!row.result.contains("guidance_curve")) continue;
      const Json& curve = row.result["guidance_curve"];
      h << "<h3>Guidance curve: " << html_escape(row.name) << "</h3>\n<div class=\"figs\">"
        << guidance_curve_svg(curve, row.name + ", N = " +
                                         std::to_string(curve.empty() ? 0 : curve[0].value("n", 0)) +
                                         " per point");
      html_table(h, guidance_table(curve));
      h << "</div>\n";
    }
    h << "<p>" << html_escape(kConditionalNotes) << "</p>\n";
  }
  h << "<h2>Models</h2>\n";
  for (const auto& row : data.rows) {
    h << "<h3>" << html_escape(row.name) << "</h3>\n<p>" << html_escape(row.run_dir) << "</p>\n"
      << "<div class=\"figs\">\n";
    const auto shares = shares_of(row.result);
    if (!shares.empty()) h << class_histogram_svg(shares, "class shares (%), " + sampler_suffix(row.result));
    for (const auto& f : row.figures) {
      h << "<figure><img alt=\"" << html_escape(f.caption) << "\" src=\"data:image/png;base64,"
        << base64_encode(f.png_bytes) << "\"><figcaption>" << html_escape(f.caption)
        << "</figcaption></figure>\n";
    }
    h << "</div>\n";
  }
  if (data.references.is_object() && data.references.contains("single_digit")) {
    h << "<h3>References</h3>\n<div class=\"figs\">";
    for (const auto& key : {"train", "single_digit"})
      if (data.references.contains(key))
        h << class_histogram_svg(shares_of(data.references[key]),
                                 data.references[key].value("label", std::string(key)));
    h << "</div>\n";
  }
  h << "<h2>Protocol</h2>\n<table>\n";
  std::vector<std::pair<std::string, std::string>> items;
  if (data.protocol.is_object()) flatten_protocol(data.protocol, "", items);
  for (const auto& [k, v] : items)
    h << "<tr><td>" << html_escape(k) << "</td><td style=\"text-align:left\">" << html_escape(v)
      << "</td></tr>\n";
  h << "</table>\n<p>" << html_escape(protocol_notes()) << "</p>\n</body></html>\n";
  return h.str();
}

}  // namespace trilemma::report
