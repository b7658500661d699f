#pragma once
// The report as Markdown: readable in a terminal or a repository browser, with the figures
// linked by path rather than embedded.
#include <ostream>
#include <string>

#include "report/content.h"
#include "report/report_data.h"

namespace trilemma::report {

std::string render_markdown(const ReportData& data);

/// A table as Markdown (the header row, a rule, right-aligned columns after the first),
/// followed by a blank line.
void markdown_table(std::ostream& md, const Table& table);

}  // namespace trilemma::report
