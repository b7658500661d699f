#pragma once
// The report's reading of its own table: generated sentences that put each row's numbers
// against the reference scale and name the corner each row leads, so a reader need not
// decode the table first. `trilemma compare` also prints them to the terminal.
#include <string>
#include <vector>

#include "report/report_data.h"

namespace trilemma::report {

/// Sentences that read the table, e.g. "DCGAN covers 7/10 classes; digit 1 takes 31 % of
/// its samples."
std::vector<std::string> reading_of_results(const ReportData& data);

}  // namespace trilemma::report
