#include "io/plot.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace trilemma::io {
namespace {

// Ten distinguishable colours (matplotlib's tab10), one per digit class.
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// noenhanced: names such as d_fake are plain text, not "d" with subscript "fake".
std::string preamble(const PlotSpec& spec, const std::string& path) {
  std::ostringstream s;
  s << "set terminal pngcairo size " << spec.width << "," << spec.height
    << " font 'sans,10' noenhanced\nset output " << quote(path) << "\n"
    << "set title " << quote(spec.title) << "\nset xlabel " << quote(spec.x_label)
    << "\nset ylabel " << quote(spec.y_label) << "\nset grid\nset key outside right\n";
  if (spec.log_y) s << "set logscale y\n";
  if (spec.log_x) s << "set logscale x\n";
  return s.str();
}

// Runs gnuplot on a script whose inline data blocks hold the series.
bool run_gnuplot(const std::string& script, const std::string& path) {
  namespace fs = std::filesystem;
  const std::string script_path =
      (fs::temp_directory_path() / ("trilemma-plot-" + std::to_string(getpid()) + ".gp")).string();
  {
    std::ofstream out(script_path);
    out << script;
    if (!out) return false;
  }
  const std::string command = "gnuplot " + quote(script_path) + " 2>/dev/null";
  const int status = std::system(command.c_str());
  std::remove(script_path.c_str());
  if (status != 0) {
    static bool warned = false;
    if (!warned)
      std::cerr << "warning: gnuplot failed or is missing; skipping plot " << path
                << " (install gnuplot-nox)\n";
    warned = true;
    return false;
  }
  return true;
}

std::string data_block(const std::string& name, const Series& series) {
  std::ostringstream s;
  s.precision(9);
  s << "$" << name << " << EOD\n";
  for (size_t i = 0; i < series.x.size() && i < series.y.size(); ++i)
    s << series.x[i] << " " << series.y[i] << "\n";
  s << "EOD\n";
  return s.str();
}

bool plot_series(const std::vector<Series>& series, const PlotSpec& spec, const std::string& path,
                 const std::string& style) {
  std::string script = preamble(spec, path);
  for (size_t i = 0; i < series.size(); ++i) script += data_block("d" + std::to_string(i), series[i]);
  script += "plot ";
  for (size_t i = 0; i < series.size(); ++i) {
    if (i) script += ", ";
    script += "$d" + std::to_string(i) + " using 1:2 " + style + " lc rgb '" +
              kPalette[i % 10] + "' title " + quote(series[i].name);
  }
  script += "\n";
  return run_gnuplot(script, path);
}

}  // namespace

bool plot_lines(const std::vector<Series>& series, const PlotSpec& spec, const std::string& path) {
  return plot_series(series, spec, path, "with lines lw 2");
}

bool plot_panels(const std::vector<Panel>& panels, const std::string& title, int width, int height,
                 const std::string& path) {
  std::ostringstream s;
  s << "set terminal pngcairo size " << width << "," << height << " font 'sans,10' noenhanced\nset output "
    << quote(path) << "\nset multiplot layout 1," << panels.size() << " title " << quote(title) << "\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    s << "unset logscale\nset title " << quote(panel.spec.title) << "\nset xlabel " << quote(panel.spec.x_label)
      << "\nset ylabel " << quote(panel.spec.y_label) << "\nset grid\nset key bottom right\n";
    if (panel.spec.log_x) s << "set logscale x\n";
    if (panel.spec.log_y) s << "set logscale y\n";
    if (panel.spec.y_max > panel.spec.y_min) s << "set yrange [" << panel.spec.y_min << ":" << panel.spec.y_max << "]\n";
    else s << "set autoscale y\n";
    for (size_t i = 0; i < panel.series.size(); ++i)
      s << data_block("p" + std::to_string(p) + "s" + std::to_string(i), panel.series[i]);
    s << "plot ";
    for (size_t i = 0; i < panel.series.size(); ++i)
      s << (i ? ", " : "") << "$p" << p << "s" << i << " using 1:2 with linespoints lw 2 pt 7 lc rgb '"
        << kPalette[i % 10] << "' title " << quote(panel.series[i].name);
    s << "\n";
  }
  s << "unset multiplot\n";
  return run_gnuplot(s.str(), path);
}

bool plot_scatter(const std::vector<Series>& series, const PlotSpec& spec,
                  const std::string& path) {
  return plot_series(series, spec, path, "with points pt 7 ps 0.35");
}

bool plot_bars(const std::vector<std::string>& labels, const std::vector<double>& values,
               const PlotSpec& spec, const std::string& path) {
  std::ostringstream s;
  s << preamble(spec, path) << "set style fill solid 0.8\nset boxwidth 0.7\nset yrange [0:*]\n"
    << "unset key\n$bars << EOD\n";
  for (size_t i = 0; i < labels.size() && i < values.size(); ++i)
    s << i << " " << quote(labels[i]) << " " << values[i] << "\n";
  s << "EOD\nplot $bars using 1:3:xtic(2) with boxes lc rgb '#1f77b4'\n";
  return run_gnuplot(s.str(), path);
}

}  // namespace trilemma::io
