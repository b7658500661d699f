#pragma once
// The pages `trilemma hype` serves: the rating page (one self-contained HTML file, its
// script and style inline, no external fonts or scripts, usable at phone width) and the
// results page rendered from Study::results().
#include <string>

#include <nlohmann/json.hpp>

namespace trilemma::human {

/// The rating page: asks the server for a rater id (kept in the browser's localStorage, so
/// that a reload or a restarted server continues), shows one image at a time with Real and
/// Fake buttons (keys R and F), and the rater's accuracy at the end of each session.
const std::string& rating_page();

/// The results as an HTML page: per-model HYPE∞ with its interval and split, per class.
std::string results_page(const nlohmann::json& results);

/// The results as a Markdown table (for `hype-report` and the README).
std::string results_table(const nlohmann::json& results);

}  // namespace trilemma::human
