#pragma once
// The comparison report of `trilemma compare`: the trilemma table, the reference rows,
// charts, sample grids and the protocol, as Markdown and as one self-contained HTML file
// (images embedded as data URIs, charts as inline SVG: it opens offline and can be mailed).
// Pure functions from data to text; the command gathers the data.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trilemma::report {

using Json = nlohmann::json;

/// A PNG to show: its caption, its bytes (for HTML) and its path (for Markdown links).
struct Figure {
  std::string caption;
  std::string path;       ///< relative to the report's directory when possible
  std::string png_bytes;  ///< raw PNG file contents
};

/// One row of the trilemma table: one model and sampler, from a run's eval.json.
struct ModelRow {
  std::string name;     ///< e.g. "vae-quick (decoder)"
  std::string run_dir;
  Json result;          ///< the sampler's entry in eval.json (metrics, speed, run)
  std::vector<Figure> figures;  ///< sample grid first
};

struct ReportData {
  std::string title = "trilemma report";
  std::vector<ModelRow> rows;
  Json references;      ///< {"train": {...}, "single_digit": {...}} or null
  Json protocol;        ///< extractor, N, seed, device, threads, versions
  std::string generated_at;
};

/// Which columns the table shows, how to read them and which way is better.
struct Column {
  std::string key;      ///< key in the result (speed keys live under "speed")
  std::string title;
  std::string corner;   ///< "quality", "coverage" or "speed"
  int better = -1;      ///< -1 lower is better, +1 higher, 0 closest to 1 (density)
  int decimals = 3;
};
const std::vector<Column>& table_columns();

/// For each column, the index of the best row among `rows` (-1 when no row has a value, and
/// everywhere when there are fewer than two rows).
std::vector<int> best_rows(const std::vector<ModelRow>& rows);

/// Value of a column in a result, or NaN when absent.
double column_value(const Json& result, const Column& column);

/// The three corners scored in [0,1] for the chart: quality from the FID on a log scale
/// between the one-digit reference (0) and the training-set reference (1); coverage is
/// Naeem et al.'s coverage; speed is log10(images/s at batch 256) over 5 decades (1 image/s
/// → 0, 100,000 images/s → 1).
struct CornerScores {
  double quality = 0.0, coverage = 0.0, speed = 0.0;
};
CornerScores corner_scores(const Json& result, const Json& references);

/// Inline SVG: one triangle per row on the quality/coverage/speed axes.
std::string trilemma_chart_svg(const std::vector<ModelRow>& rows, const Json& references);
/// Inline SVG bar chart of a class histogram (shares), with the uniform 10 % line.
std::string class_histogram_svg(const std::vector<double>& shares, const std::string& title);

/// Inline SVG of a guidance curve (eval.json's "guidance_curve": points with guidance, fid,
/// precision, recall, coverage, conditional_accuracy): FID on the left axis, the shares on
/// a 0–1 right axis, guidance weight along x.
std::string guidance_curve_svg(const Json& curve, const std::string& title);

/// Sentences that read the table, e.g. "DCGAN covers 7/10 classes; digit 1 takes 31 % of
/// its samples."
std::vector<std::string> reading_of_results(const ReportData& data);

std::string render_markdown(const ReportData& data);
std::string render_html(const ReportData& data);

std::string base64_encode(const std::string& bytes);
std::string html_escape(const std::string& text);
/// Fixed-point formatting with `decimals`, or "–" for NaN.
std::string format_number(double value, int decimals);

}  // namespace trilemma::report
