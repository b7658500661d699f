#pragma once
// What `trilemma compare` gathers for the report: one row per model and sampler, the
// reference rows and the protocol. Every piece of the report reads these types, so they
// live apart from all of them.
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
  Json dataset;         ///< what the models learnt (data::DatasetInfo::to_json); null: MNIST
  Json protocol;        ///< extractor, N, seed, device, threads, versions
  std::string generated_at;
};

}  // namespace trilemma::report
