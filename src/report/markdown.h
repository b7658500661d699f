#pragma once
// The report as Markdown: readable in a terminal or a repository browser, with the figures
// linked by path rather than embedded.
#include <string>

#include "report/report_data.h"

namespace trilemma::report {

std::string render_markdown(const ReportData& data);

}  // namespace trilemma::report
