#include "report/html.h"

#include <cctype>
#include <ostream>
#include <sstream>

#include "report/content.h"
#include "report/encoding.h"
#include "report/reading.h"
#include "report/svg.h"

namespace trilemma::report {
namespace {

std::string sampler_suffix(const Json& result) {
  return result.is_object() && result.contains("sampler") ? result.at("sampler").get<std::string>()
                                                          : std::string();
}

}  // namespace

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


std::string render_html(const ReportData& data) {
  std::ostringstream h;
  const auto columns = table_columns(data.rows);
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
  h << "</ul>\n<h2>The trilemma</h2>\n<table>\n<tr><th rowspan=\"2\">Model</th>";
  // One header cell over each run of columns of the same corner.
  for (size_t c = 0; c < columns.size();) {
    size_t end = c;
    while (end < columns.size() && columns[end].corner == columns[c].corner) ++end;
    std::string corner = columns[c].corner;
    corner[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(corner[0])));
    h << "<th colspan=\"" << end - c << "\">" << corner << "</th>";
    c = end;
  }
  h << "</tr>\n<tr>";
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
    for (const auto& key : reference_row_keys()) {
      if (!data.references.contains(key)) continue;
      const Json& ref = data.references[key];
      h << "<tr class=\"ref\"><td>reference: " << html_escape(ref.value("label", key))
        << "</td>";
      for (const auto& c : columns) h << "<td>" << (c.corner == "speed" || c.corner == "human" ? "" : cell(ref, c)) << "</td>";
      h << "</tr>\n";
    }
  }
  h << "</table>\n<p>Highlighted: best in column (density: closest to 1). Reference rows apply "
       "the same protocol to real images.</p>\n";
  h << "<h2>Three corners</h2>\n<div class=\"figs\">" << trilemma_chart_svg(data.rows, data.references)
    << "<p style=\"max-width:500px;font-size:13px\">Quality: FID on a log scale between the "
    << "one-" << class_noun(data)
    << " reference (0) and the training-set reference (1). Coverage: Naeem et al.'s "
       "coverage. Speed: log10 of images/s at batch 256 over five decades (1/s → 0, 100,000/s → 1)."
       "</p></div>\n";
  if (any_conditional(data)) {
    h << "<h2>Conditional generation</h2>\n";
    html_table(h, conditional_table(data));
    h << "<p>" << html_escape(conditional_notes(data)) << "</p>\n";
  }
  if (any_guidance_curve(data)) {
    h << "<h2>Guidance curves</h2>\n<p>" << html_escape(guidance_notes()) << "</p>\n";
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
  }
  if (any_human(data.rows)) {
    h << "<h2>Human evaluation</h2>\n";
    html_table(h, human_table(data));
    h << "<p>" << html_escape(human_notes()) << "</p>\n";
  }
  h << "<h2>Models</h2>\n";
  // Another dataset's histogram bars are numbered; say what the numbers are.
  if (dataset_title(data) != "MNIST" && data.dataset.is_object()) {
    std::string legend;
    const Json names = data.dataset.value("class_names", Json::array());
    for (size_t k = 0; k < names.size(); ++k)
      legend += (k ? ", " : "") + std::to_string(k) + " = " + names[k].get<std::string>();
    if (!legend.empty()) h << "<p>" << html_escape(dataset_title(data) + " classes: " + legend) << "</p>\n";
  }
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
  for (const auto& [k, v] : protocol_items(data.protocol))
    h << "<tr><td>" << html_escape(k) << "</td><td style=\"text-align:left\">" << html_escape(v)
      << "</td></tr>\n";
  h << "</table>\n<p>" << html_escape(protocol_notes(data)) << "</p>\n</body></html>\n";
  return h.str();
}

}  // namespace trilemma::report
