#pragma once
// Line and scatter plots rendered by gnuplot (Debian's gnuplot-nox, pngcairo terminal).
// Plots are optional decoration: when gnuplot is missing these return false and warn once.
#include <string>
#include <vector>

namespace trilemma::io {

struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_y = false;
  int width = 800;
  int height = 500;
  bool log_x = false;
  double y_min = 0, y_max = 0;  ///< plot_panels: a fixed y range when y_max > y_min
};

/// Lines through each series. Returns false (with a warning) if gnuplot failed.
bool plot_lines(const std::vector<Series>& series, const PlotSpec& spec, const std::string& path);

/// One panel of plot_panels: lines with points through each series.
struct Panel {
  PlotSpec spec;  ///< title, axis labels and log scales (its size is ignored)
  std::vector<Series> series;
};

/// Panels side by side in one PNG of width × height under one title, e.g. a sweep's
/// quality, coverage and speed against the swept value. Returns false if gnuplot failed.
bool plot_panels(const std::vector<Panel>& panels, const std::string& title, int width, int height,
                 const std::string& path);

/// Points, one colour per series (e.g. one series per digit class) with a legend.
bool plot_scatter(const std::vector<Series>& series, const PlotSpec& spec,
                  const std::string& path);

/// Vertical bars, one per label (e.g. a class histogram).
bool plot_bars(const std::vector<std::string>& labels, const std::vector<double>& values,
               const PlotSpec& spec, const std::string& path);

}  // namespace trilemma::io
