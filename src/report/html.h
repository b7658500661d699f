#pragma once
// The report as one self-contained HTML file: images embedded as data URIs and charts as
// inline SVG, so that it opens offline and can be mailed.
#include <string>

#include "report/report_data.h"

namespace trilemma::report {

std::string render_html(const ReportData& data);

}  // namespace trilemma::report
