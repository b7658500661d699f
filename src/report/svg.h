#pragma once
// The report's charts as inline SVG text: drawn by hand rather than through a plotting
// library so that the HTML stays one self-contained file with no script to run.
#include <string>
#include <vector>

#include "report/report_data.h"

namespace trilemma::report {

/// Inline SVG: one triangle per row on the quality/coverage/speed axes (see corner_scores).
std::string trilemma_chart_svg(const std::vector<ModelRow>& rows, const Json& references);

/// Inline SVG bar chart of a class histogram (shares), with the uniform 10 % line.
std::string class_histogram_svg(const std::vector<double>& shares, const std::string& title);

/// Inline SVG of a guidance curve (eval.json's "guidance_curve": points with guidance, fid,
/// precision, recall, coverage, conditional_accuracy): FID on the left axis, the shares on
/// a 0–1 right axis, guidance weight along x.
std::string guidance_curve_svg(const Json& curve, const std::string& title);

}  // namespace trilemma::report
