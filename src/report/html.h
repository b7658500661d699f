#pragma once
// The report as one self-contained HTML file: images embedded as data URIs and charts as
// inline SVG, so that it opens offline and can be mailed.
#include <ostream>
#include <string>

#include "report/content.h"
#include "report/report_data.h"

namespace trilemma::report {

std::string render_html(const ReportData& data);

/// A table as HTML (the first row as header cells), every cell escaped.
void html_table(std::ostream& h, const Table& table);

}  // namespace trilemma::report
