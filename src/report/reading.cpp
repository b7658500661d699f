#include "report/reading.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include "perf/machine.h"
#include "report/content.h"

namespace trilemma::report {
namespace {

std::string percent(double share, int decimals = 0) {
  return format_number(100.0 * share, decimals) + " %";
}

/// Index of the largest and of the smallest class share.
std::pair<int, int> extreme_classes(const std::vector<double>& shares) {
  if (shares.empty()) return {-1, -1};
  const auto max_it = std::max_element(shares.begin(), shares.end());
  const auto min_it = std::min_element(shares.begin(), shares.end());
  return {static_cast<int>(max_it - shares.begin()), static_cast<int>(min_it - shares.begin())};
}

/// The machine a row's speed was measured on: the CPU's name (eval.json's speed.cpu) and
/// the thread count; "" when the row has no speed.
std::string speed_machine(const Json& result) {
  if (!result.is_object() || !result.contains("speed") || !result["speed"].is_object()) return "";
  const Json& speed = result["speed"];
  const std::string cpu = speed.value("cpu", std::string());
  const double threads = number_at(speed, "threads");
  return (cpu.empty() ? std::string("an unrecorded CPU") : cpu) +
         (std::isfinite(threads) ? ", " + format_number(threads, 0) + (threads == 1 ? " thread" : " threads")
                                 : std::string());
}

/// A sentence when the rows' speeds were measured on more than one machine (a zoo entry's
/// on the machine that shipped it, a run just trained on this one): the speed columns then
/// compare machines as well as models. "" when they share one.
std::string speed_machines(const std::vector<ModelRow>& rows) {
  std::vector<std::pair<std::string, std::string>> groups;  // machine, its rows; in first-seen order
  for (const auto& row : rows) {
    const std::string machine = speed_machine(row.result);
    if (machine.empty()) continue;
    auto group = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == machine; });
    if (group == groups.end())
      groups.emplace_back(machine, row.name);
    else
      group->second += ", " + row.name;
  }
  if (groups.size() < 2) return "";
  std::string line = "Speed was measured on " + std::to_string(groups.size()) + " machines (";
  for (size_t i = 0; i < groups.size(); ++i)
    line += (i == 0 ? "" : "; ") + groups[i].first + ": " + groups[i].second;
  return line + "): images/s and ms/image compare models only between rows measured on the same machine.";
}

/// A sentence naming the rows whose speed was measured while other processes took at least
/// perf::kBusyMachineShare of the CPUs (eval.json's speed.other_processes_cpu_share); ""
/// when none was.
std::string busy_speed_rows(const std::vector<ModelRow>& rows) {
  std::string named;
  for (const auto& row : rows) {
    if (!row.result.is_object() || !row.result.contains("speed")) continue;
    const double others = number_at(row.result["speed"], "other_processes_cpu_share");
    if (!(others >= perf::kBusyMachineShare)) continue;
    named += (named.empty() ? "" : ", ") + row.name + " (" + percent(others) + ")";
  }
  if (named.empty()) return "";
  return "Speed was measured while other processes used part of the CPUs for " + named +
         ": those rows' images/s and ms/image read slower than on an idle machine.";
}

}  // namespace

std::vector<std::string> reading_of_results(const ReportData& data) {
  std::vector<std::string> lines;
  const Json& refs = data.references;
  const double train_fid = reference_fid(refs, "train");
  const double digit_fid = reference_fid(refs, "single_digit");
  if (std::isfinite(train_fid) && std::isfinite(digit_fid))
    lines.push_back("Scale: real training images score FID " + format_number(train_fid, 2) +
                    " against the test set (the floor at this N); the test images of a single " +
                    class_noun(data) + " score " + format_number(digit_fid, 2) + " (total mode collapse).");
  for (const auto& row : data.rows) {
    const Json& r = row.result;
    std::ostringstream s;
    s << row.name << ": FID " << format_number(number_at(r, "fid"), 2);
    const double fid = number_at(r, "fid");
    if (std::isfinite(fid) && std::isfinite(train_fid) && train_fid > 0)
      s << " (" << format_number(fid / train_fid, 1) << "× the training-set floor)";
    const auto shares = shares_of(r);
    s << "; covers " << format_number(number_at(r, "classes_covered"), 0) << "/" << shares.size() << " classes";
    const auto [top, bottom] = extreme_classes(shares);
    if (top >= 0)
      s << "; " << class_label(data, top) << " takes " << percent(shares[top]) << " of its samples, "
        << class_label(data, bottom) << " " << percent(shares[bottom], 1);
    s << "; precision " << format_number(number_at(r, "precision"), 2) << ", recall "
      << format_number(number_at(r, "recall"), 2);
    if (r.contains("speed")) {
      const Json& sp = r["speed"];
      s << "; " << format_number(number_at(sp, "nfe"), 0) << " network evaluation(s) per image, "
        << format_number(number_at(sp, "ms_per_image_batch1"), 2) << " ms/image at batch 1, "
        << format_number(number_at(sp, "images_per_s_batch256"), 0) << " images/s at batch 256";
    }
    s << ".";
    lines.push_back(s.str());
    if (r.contains("conditional")) {
      const Json& c = r["conditional"];
      const std::string noun = class_noun(data);
      lines.push_back(row.name + ": asked for a " + noun + ", it draws one the evaluator reads as that " + noun + " " +
                      percent(number_at(c, "conditional_accuracy"), 1) +
                      " of the time; mean per-class FID " +
                      format_number(number_at(c, "mean_per_class_fid"), 2) + ".");
    }
    if (r.contains("guidance_curve") && r["guidance_curve"].size() >= 2) {
      const Json& first = r["guidance_curve"].front();
      const Json& last = r["guidance_curve"].back();
      lines.push_back(row.name + ": raising guidance from w = " + format_number(number_at(first, "guidance"), 1) +
                      " to " + format_number(number_at(last, "guidance"), 1) + " takes FID from " +
                      format_number(number_at(first, "fid"), 2) + " to " + format_number(number_at(last, "fid"), 2) +
                      ", precision " + format_number(number_at(first, "precision"), 2) + " → " +
                      format_number(number_at(last, "precision"), 2) + ", recall " +
                      format_number(number_at(first, "recall"), 2) + " → " +
                      format_number(number_at(last, "recall"), 2) +
                      (first.contains("conditional_accuracy")
                           ? ", conditional accuracy " + percent(number_at(first, "conditional_accuracy")) + " → " +
                                 percent(number_at(last, "conditional_accuracy"))
                           : std::string()) +
                      ".");
    }
  }
  if (data.rows.size() >= 2) {
    const auto best = best_rows(data.rows);
    const auto columns = table_columns(data.rows);
    auto best_of = [&](const std::string& key) {
      for (size_t c = 0; c < columns.size(); ++c)
        if (columns[c].key == key) return best[c];
      return -1;
    };
    const int q = best_of("fid"), c = best_of("recall"), v = best_of("speed.images_per_s_batch256");
    auto name = [&](int i) { return i >= 0 ? data.rows[i].name : std::string("–"); };
    std::string line = "Best quality (FID): " + name(q) + ". Best coverage (recall): " + name(c) +
                       ". Fastest (images/s at batch 256): " + name(v) + ".";
    if (q >= 0 && q == c && c == v)
      line += " " + name(q) + " leads all three corners.";
    else
      line += " No single row leads all three corners: that is the trilemma.";
    lines.push_back(line);
    // Each row's own corners, so that a new family's row is read in one place.
    std::string led = "Corners each row leads:";
    for (size_t i = 0; i < data.rows.size(); ++i) {
      std::vector<std::string> corners;
      if (static_cast<int>(i) == q) corners.push_back("quality");
      if (static_cast<int>(i) == c) corners.push_back("coverage");
      if (static_cast<int>(i) == v) corners.push_back("speed");
      std::string list;
      for (const auto& corner : corners) list += (list.empty() ? "" : ", ") + corner;
      led += std::string(i == 0 ? " " : "; ") + data.rows[i].name + " – " + (list.empty() ? "none" : list);
    }
    lines.push_back(led + ".");
  }
  if (const std::string machines = speed_machines(data.rows); !machines.empty()) lines.push_back(machines);
  if (const std::string busy = busy_speed_rows(data.rows); !busy.empty()) lines.push_back(busy);
  return lines;
}

}  // namespace trilemma::report
