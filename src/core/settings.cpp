#include "core/settings.h"

#include "core/precision.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "core/precision.h"
#include "core/settings_table.h"

namespace trilemma {
namespace {

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// Shortest text that reads back as the same number: 0.1 rather than 0.100000.
std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

std::string flag_name(const std::string& key) {
  std::string flag = "--" + key;
  for (auto& c : flag)
    if (c == '_') c = '-';
  return flag;
}

std::string setting_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array() && value.empty()) return "none";
  if (value.is_array()) {
    std::string text;
    for (const auto& v : value) text += (text.empty() ? "" : ",") + v.dump();
    return text;
  }
  return value.dump();
}

namespace settings_detail {

std::string integer_range(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) return ">= " + std::to_string(min);
  return "between " + std::to_string(min) + " and " + std::to_string(max);
}

std::string interval_range(const Interval& r) {
  if (std::isinf(r.max)) return std::string("a finite number ") + (r.min_open ? "> " : ">= ") + number_text(r.min);
  return std::string("in ") + (r.min_open ? "(" : "[") + number_text(r.min) + ", " + number_text(r.max) +
         (r.max_open ? ")" : "]");
}

bool in_interval(double v, const Interval& r) {
  if (!std::isfinite(v)) return false;
  const bool above = r.min_open ? v > r.min : v >= r.min;
  const bool below = r.max_open ? v < r.max : v <= r.max;
  return above && below;
}

std::string choices_range(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i)
    out += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
  return out;
}

Json parse_text(const std::string& type, const std::string& flag, const std::string& text) {
  if (type == "boolean") {
    if (text == "true" || text == "1" || text == "on") return true;
    if (text == "false" || text == "0" || text == "off") return false;
    throw UserError(flag + ": expected true or false, got '" + text + "'");
  }
  if (type == "integer") {
    int64_t parsed;
    if (!parse_int(text, parsed)) throw UserError(flag + ": expected an integer, got '" + text + "'");
    return parsed;
  }
  if (type == "number") {
    double parsed;
    if (!parse_double(text, parsed)) throw UserError(flag + ": expected a number, got '" + text + "'");
    return parsed;
  }
  if (type == "integer list" || type == "integer list or none") {
    Json list = Json::array();
    if (type == "integer list or none" && (text == "none" || text == "-1")) return list;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
      int64_t parsed;
      if (!parse_int(item, parsed))
        throw UserError(flag + ": expected comma-separated integers, got '" + text + "'");
      list.push_back(parsed);
    }
    if (list.empty()) throw UserError(flag + ": expected comma-separated integers, got ''");
    return list;
  }
  return text;  // a choice: its value is checked against the choices by the table's check
}

void require_type(const std::string& type, const std::string& key, const Json& v) {
  bool ok = false;
  std::string expected;
  if (type == "boolean") ok = v.is_boolean(), expected = "true or false";
  else if (type == "integer") ok = v.is_number_integer(), expected = "an integer";
  else if (type == "number") ok = v.is_number(), expected = "a number";
  else if (type == "choice") ok = v.is_string(), expected = "a string";
  else {
    ok = v.is_array();
    for (const auto& e : v) ok = ok && e.is_number_integer();
    expected = "a list of integers";
  }
  if (!ok) throw UserError("settings: '" + key + "' must be " + expected);
}

}  // namespace settings_detail

const SettingsTable<CommonSettings>& common_settings_table() {
  constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();
  static const SettingsTable<CommonSettings> table =
      SettingsTable<CommonSettings>()
          .integer("epochs", [](CommonSettings& s) -> int64_t& { return s.epochs; }, 0, kUnbounded,
                   "passes over the 60,000 training images")
          .integer("max_steps", [](CommonSettings& s) -> int64_t& { return s.max_steps; }, 0, kUnbounded,
                   "stop after this many optimiser steps (0 = no limit)")
          .integer("batch_size", [](CommonSettings& s) -> int64_t& { return s.batch_size; }, 1, 65536,
                   "images per optimiser step")
          .number("lr", [](CommonSettings& s) -> double& { return s.lr; }, Interval::open(0, 10),
                  "Adam learning rate")
          .integer("seed", [](CommonSettings& s) -> int64_t& { return s.seed; }, 0, kUnbounded,
                   "random seed (same seed + threads on CPU = identical run)")
          .boolean("conditional", [](CommonSettings& s) -> bool& { return s.conditional; },
                   "class-conditional model: sample a digit with `sample --class K`")
          .absent_in_older_runs()
          .choice("precision", [](CommonSettings& s) -> std::string& { return s.precision; }, precision_names(),
                  "training arithmetic: fp32, or bf16 mixed precision (CPUs with AVX512-BF16, CUDA)")
          .absent_in_older_runs()
          .integer("image_size", [](CommonSettings& s) -> int64_t& { return s.image_size; }, 8, 128,
                   "side of the square images the model makes; the training data are resized to it "
                   "(default: the dataset's)")
          .absent_in_older_runs()
          .integer("image_channels", [](CommonSettings& s) -> int64_t& { return s.image_channels; }, 1, 3,
                   "1 = grey, 3 = RGB; the training data are converted (default: the dataset's)")
          .absent_in_older_runs()
          .integer("classes", [](CommonSettings& s) -> int64_t& { return s.classes; }, 0, 1000,
                   "classes of the training data (set from the dataset; 0 = unlabelled)")
          .absent_in_older_runs()
          .from_data();
  return table;
}

CommonSettings common_settings_from_json(const Json& settings) {
  return common_settings_table().read_fields(settings);
}

void check_common_settings(const CommonSettings& s) {
  common_settings_table().check(s);
  if (s.epochs <= 0 && s.max_steps <= 0)
    throw UserError("--epochs and --max-steps: at least one must be positive");
  if (s.image_size % 4 != 0)
    throw UserError("--image-size: must be a multiple of 4 (the networks halve it twice), got " +
                    std::to_string(s.image_size));
  if (s.conditional && s.classes < 2)
    throw UserError("--conditional: the training data have " + std::to_string(s.classes) +
                    " classes; a conditional model needs at least 2");
  if (s.image_channels == 2) throw UserError("--image-channels: must be 1 (grey) or 3 (RGB), got 2");
}

}  // namespace trilemma
