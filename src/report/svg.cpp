#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "report/content.h"
#include "report/encoding.h"

namespace trilemma::report {
namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

std::string palette(size_t i) { return kPalette[i % (sizeof kPalette / sizeof *kPalette)]; }

}  // namespace

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
  // The legend lines are as long as the row names: widen the figure so that none is cut off
  // (7 px per character of 12 px sans-serif, a safe overestimate; the scores add ~25 characters).
  size_t longest_name = 0;
  for (const auto& row : rows) longest_name = std::max(longest_name, row.name.size());
  const double width = std::max(440.0, 40 + 7.0 * (longest_name + 25));
  const double height = 360 + 20.0 * rows.size();
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
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
  // The dashed line is a uniform share: 10 % for MNIST's ten digits.
  const double uniform = 1.0 / static_cast<double>(std::max<size_t>(shares.size(), 1));
  svg << "<line x1=\"" << left << "\" x2=\"" << width - 10 << "\" y1=\"" << y_of(uniform) << "\" y2=\""
      << y_of(uniform) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n"
      << "<text x=\"" << left - 4 << "\" y=\"" << y_of(uniform) + 3 << "\" text-anchor=\"end\">"
      << format_number(100 * uniform, 0) << "%</text>\n"
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
    if (points.empty()) continue;  // e.g. an unconditional model's conditional accuracy
    svg << "<polyline points=\"" << points << "\" fill=\"none\" stroke=\"" << palette(l)
        << "\" stroke-width=\"2\"/>\n<rect x=\"" << left + 10 + 100 * l << "\" y=\"" << height - 12
        << "\" width=\"10\" height=\"10\" fill=\"" << palette(l) << "\"/><text x=\"" << left + 24 + 100 * l
        << "\" y=\"" << height - 3 << "\">" << lines[l].name << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace trilemma::report
