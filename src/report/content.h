#pragma once
// What the report says, whatever its format: the table's columns and best cells, the corner
// scores, the conditional and guidance tables, the protocol listing and the notes on method.
// Both renderers take these from here, so the Markdown and the HTML cannot disagree on a
// number, a marked cell or a sentence.
#include <string>
#include <utility>
#include <vector>

#include "report/report_data.h"

namespace trilemma::report {

/// Fixed-point formatting with `decimals`, or "–" for NaN.
std::string format_number(double value, int decimals);

/// `json[key]` as a number, or NaN when `json` is not an object or the key is absent or not
/// a number: a metric missing from an eval.json shows as "–" rather than failing the report.
double number_at(const Json& json, const std::string& key);

/// FID of the reference `which` ("train" or "single_digit"), or NaN when absent.
double reference_fid(const Json& references, const std::string& which);

/// The keys of the reference rows metrics::reference_rows writes, in the order the report
/// lists them: the floor, then the failure modes from mild to severe as the evaluator
/// rates them (measured at N = 10,000: noise σ 16 5.2, blur 11.3, two digits 94,
/// one digit 128, noise σ 64 150).
const std::vector<std::string>& reference_row_keys();

/// A result's class shares (eval.json's "class_shares"), or none.
std::vector<double> shares_of(const Json& result);

/// A table as rows of cells, the first row being the header; each renderer draws it in its
/// own syntax.
using Table = std::vector<std::vector<std::string>>;

/// Which columns the table shows, how to read them and which way is better.
struct Column {
  std::string key;      ///< key in the result (speed keys live under "speed")
  std::string title;
  std::string corner;   ///< "quality", "coverage", "speed" or "human"
  int better = -1;      ///< -1 lower is better, +1 higher, 0 closest to 1 (density)
  int decimals = 3;
};
/// The table's columns; with the human column (HYPE∞, from `compare --hype`) when any of
/// `rows` has a human score.
std::vector<Column> table_columns(const std::vector<ModelRow>& rows = {});

/// Whether any row has a human score (result["human"], from `compare --hype`).
bool any_human(const std::vector<ModelRow>& rows);

/// Per row with a human score: HYPE∞, its interval, the split and the counts.
Table human_table(const ReportData& data);

/// How to read the human scores.
std::string human_notes();

/// For each column, the index of the best row among `rows` (-1 when no row has a value, and
/// everywhere when there are fewer than two rows).
std::vector<int> best_rows(const std::vector<ModelRow>& rows);

/// Value of a column in a result (a dotted key "a.b" reads result["a"]["b"]), or NaN when
/// absent.
double column_value(const Json& result, const Column& column);

/// The text of a table cell: the column's value at its decimals, or "–".
std::string cell(const Json& result, const Column& column);

/// The three corners scored in [0,1] for the chart: quality from the FID on a log scale
/// between the one-digit reference (0) and the training-set reference (1); coverage is
/// Naeem et al.'s coverage; speed is log10(images/s at batch 256) over 5 decades (1 image/s
/// → 0, 100,000 images/s → 1).
struct CornerScores {
  double quality = 0.0, coverage = 0.0, speed = 0.0;
};
CornerScores corner_scores(const Json& result, const Json& references);

/// Whether any row has conditional results; the conditional section is shown only then.
bool any_conditional(const ReportData& data);

/// Per conditional model: conditional accuracy, mean per-class FID and the FID of each digit.
Table conditional_table(const ReportData& data);

/// Whether any row has a guidance curve (a conditional diffusion model, or an autoguided one).
bool any_guidance_curve(const ReportData& data);
/// How to read a guidance curve: what w = 0 and w = 1 are under either kind of guidance.
std::string guidance_notes();

/// One row per guidance weight of a guidance curve (eval.json's "guidance_curve").
Table guidance_table(const Json& curve);

/// The protocol as (dotted key, value) pairs, e.g. ("extractor.name", "evaluator-v1").
std::vector<std::pair<std::string, std::string>> protocol_items(const Json& protocol);

/// How to read the metrics: extractor, N, k, the covered-class threshold, speed timing.
std::string protocol_notes(const ReportData& data);

/// How to read the conditional section: accuracy, per-class FID, the guidance formula.
std::string conditional_notes(const ReportData& data);

/// What the dataset's classes are called in sentences: "digit 3" on MNIST, else
/// "class 'Sneaker'" (its own names); the noun alone ("digit" or "class"); and its title
/// ("MNIST" when the data name none).
std::string class_label(const ReportData& data, int64_t k);
std::string class_noun(const ReportData& data);
std::string dataset_title(const ReportData& data);

}  // namespace trilemma::report
