#include "report/markdown.h"

#include <ostream>
#include <sstream>

#include "report/content.h"
#include "report/reading.h"

namespace trilemma::report {

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

std::string render_markdown(const ReportData& data) {
  std::ostringstream md;
  const auto columns = table_columns(data.rows);
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
    for (const auto& key : reference_row_keys()) {
      if (!data.references.contains(key)) continue;
      const Json& ref = data.references[key];
      md << "| *reference: " << ref.value("label", key) << "* |";
      for (const auto& c : columns) md << " " << (c.corner == "speed" || c.corner == "human" ? "" : cell(ref, c)) << " |";
      md << "\n";
    }
  }
  if (any_conditional(data)) {
    md << "\n## Conditional generation\n\n";
    markdown_table(md, conditional_table(data));
    md << conditional_notes(data) << "\n";
  }
  if (any_guidance_curve(data)) {
    md << "\n## Guidance curves\n\n" << guidance_notes() << "\n\n";
    for (const auto& row : data.rows) {
      if (!row.result.contains("guidance_curve")) continue;
      md << "Guidance curve of " << row.name << " (N = "
         << (row.result["guidance_curve"].empty() ? 0 : row.result["guidance_curve"][0].value("n", 0))
         << " per point):\n\n";
      markdown_table(md, guidance_table(row.result["guidance_curve"]));
    }
  }
  if (any_human(data.rows)) {
    md << "\n## Human evaluation\n\n";
    markdown_table(md, human_table(data));
    md << human_notes() << "\n";
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
  for (const auto& [k, v] : protocol_items(data.protocol)) md << "- " << k << ": " << v << "\n";
  md << "\n" << protocol_notes(data) << "\n";
  return md.str();
}

}  // namespace trilemma::report
