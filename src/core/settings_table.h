#pragma once
// A settings struct's fields declared once, as a table: name, member, help and valid values.
// Reading and writing config.json, parsing a flag's text, `--help` and range checks all
// come from the table, so a new hyperparameter is one line in it plus its use (the
// pattern of llama.cpp's common/arg.cpp, for structs instead of argv).
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/settings.h"

namespace trilemma {

/// What the CLI, `--help` and tests see of one field, whatever struct holds it.
struct SettingField {
  std::string name;   ///< snake_case key in config.json; the flag is --kebab-case
  std::string help;
  std::string type;   ///< "integer", "number", "boolean", "choice" or "integer list"
  std::string range;  ///< the valid values in words, e.g. "between 1 and 4096", "in [0, 1)"
  std::vector<std::string> choices;  ///< a choice's valid values
  bool from_data = false;  ///< set from the training data by `train`, not by a flag
};

/// The valid values of a real-valued field: from min to max, each end open or closed.
/// An infinite max means "no upper bound" (values must still be finite).
struct Interval {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;
  bool max_open = false;
  static Interval at_least(double min) { return {min, std::numeric_limits<double>::infinity()}; }
  static Interval closed_open(double min, double max) { return {min, max, false, true}; }
  static Interval open(double min, double max) { return {min, max, true, true}; }
  static Interval closed(double min, double max) { return {min, max, false, false}; }
};

/// The field-level pieces the table is built from; typed helpers below, shared by every table.
namespace settings_detail {
std::string integer_range(int64_t min, int64_t max);
std::string interval_range(const Interval& interval);
bool in_interval(double value, const Interval& interval);
std::string choices_range(const std::vector<std::string>& choices);
/// A flag's text as the JSON value of a field of this type; throws UserError naming the flag.
Json parse_text(const std::string& type, const std::string& flag, const std::string& text);
/// Throws UserError "settings: 'key' must be ..." when json is not of the field's type.
void require_type(const std::string& type, const std::string& key, const Json& value);
}  // namespace settings_detail

/// The table of one settings struct S. Each field is reached through an accessor
/// `T& (S&)` (a lambda, so that nested members such as `s.unet.base_width` work too).
template <class S>
class SettingsTable {
 public:
  template <class T>
  using Access = std::function<T&(S&)>;

  SettingsTable& integer(std::string name, Access<int64_t> access, int64_t min, int64_t max,
                         std::string help) {
    const std::string range = settings_detail::integer_range(min, max);
    return add({std::move(name), std::move(help), "integer", range, {}},
               [access](S& s) { return Json(access(s)); },
               [access](S& s, const Json& j) { access(s) = j.get<int64_t>(); },
               [access, min, max, range](S& s) {
                 const int64_t v = access(s);
                 return v >= min && v <= max ? std::string() : "must be " + range + ", got " + std::to_string(v);
               });
  }

  SettingsTable& number(std::string name, Access<double> access, Interval interval, std::string help) {
    const std::string range = settings_detail::interval_range(interval);
    return add({std::move(name), std::move(help), "number", range, {}},
               [access](S& s) { return Json(access(s)); },
               [access](S& s, const Json& j) { access(s) = j.get<double>(); },
               [access, interval, range](S& s) {
                 const double v = access(s);
                 return settings_detail::in_interval(v, interval) ? std::string()
                                                                  : "must be " + range + ", got " + Json(v).dump();
               });
  }

  SettingsTable& boolean(std::string name, Access<bool> access, std::string help) {
    return add({std::move(name), std::move(help), "boolean", "true or false", {}},
               [access](S& s) { return Json(access(s)); },
               [access](S& s, const Json& j) { access(s) = j.get<bool>(); },
               [](S&) { return std::string(); });
  }

  SettingsTable& choice(std::string name, Access<std::string> access, std::vector<std::string> choices,
                        std::string help) {
    const std::string range = settings_detail::choices_range(choices);
    return add({std::move(name), std::move(help), "choice", range, choices},
               [access](S& s) { return Json(access(s)); },
               [access](S& s, const Json& j) { access(s) = j.get<std::string>(); },
               [access, choices, range](S& s) {
                 for (const auto& c : choices)
                   if (access(s) == c) return std::string();
                 return "expected " + range + ", got '" + access(s) + "'";
               });
  }

  /// A comma-separated list of integers, each in min..max. With may_be_empty, the text
  /// "none" (or a single -1, as older runs wrote it) is the empty list.
  SettingsTable& integer_list(std::string name, Access<std::vector<int64_t>> access, int64_t min,
                              int64_t max, bool may_be_empty, std::string help) {
    const std::string range = (may_be_empty ? "none, or " : "") + std::string("entries ") +
                              settings_detail::integer_range(min, max);
    return add({std::move(name), std::move(help), may_be_empty ? "integer list or none" : "integer list", range, {}},
               [access](S& s) { return Json(access(s)); },
               [access, may_be_empty](S& s, const Json& j) {
                 auto list = j.get<std::vector<int64_t>>();
                 if (may_be_empty && list == std::vector<int64_t>{-1}) list.clear();
                 access(s) = list;
               },
               [access, min, max, may_be_empty, range](S& s) {
                 const auto& list = access(s);
                 if (list.empty() && !may_be_empty) return std::string("needs at least one entry");
                 for (int64_t v : list)
                   if (v < min || v > max) return "must be " + range + ", got " + std::to_string(v);
                 return std::string();
               });
  }

  /// Marks the last field as one that runs written before it existed lack: reading such
  /// a config.json gives the struct's default instead of an error.
  SettingsTable& absent_in_older_runs() {
    entries_.back().optional = true;
    return *this;
  }

  /// Marks the last field as one `train` sets from the training data: it is recorded like
  /// any other, but no flag sets it.
  SettingsTable& from_data() {
    entries_.back().field.from_data = true;
    return *this;
  }

  /// Appends `other`'s fields (all, or only those named in `only`), reached through
  /// part_of: e.g. the common settings, or a distilled student's copy of its teacher's
  /// architecture fields, declared once in the teacher's table.
  template <class P, class Part>
  SettingsTable& include(const SettingsTable<P>& other, Part part_of, const std::vector<std::string>& only = {}) {
    const Access<P> part = part_of;
    for (const std::string& name : only)
      if (!other.has(name)) throw std::logic_error("settings table: no field '" + name + "' to include");
    for (const auto& e : other.entries()) {
      if (!only.empty() && std::find(only.begin(), only.end(), e.field.name) == only.end()) continue;
      auto write = e.write;
      auto read = e.read;
      auto violation = e.violation;
      add(e.field, [part, write](S& s) { return write(part(s)); },
          [part, read](S& s, const Json& j) { read(part(s), j); },
          [part, violation](S& s) { return violation(part(s)); });
      entries_.back().optional = e.optional;
    }
    return *this;
  }

  std::vector<SettingField> fields() const {
    std::vector<SettingField> out;
    for (const auto& e : entries_) out.push_back(e.field);
    return out;
  }

  /// Every field, as config.json records it.
  Json to_json(const S& settings) const {
    S copy = settings;
    Json j = Json::object();
    for (const auto& e : entries_) j[e.field.name] = e.write(copy);
    return j;
  }

  /// Reads every field (types checked, ranges not: see check). Fields not in the table
  /// are refused, so a typo in a hand-edited config.json is not silently dropped.
  S from_json(const Json& json) const {
    S s = read_fields(json);
    for (const auto& [key, value] : json.items())
      if (!has(key)) throw UserError("settings: unknown field '" + key + "'");
    return s;
  }

  /// Reads this table's fields from an object that may hold others (e.g. the common
  /// settings out of a family's settings).
  S read_fields(const Json& json) const {
    if (!json.is_object()) throw UserError("settings: expected a JSON object");
    S s;
    for (const auto& e : entries_) {
      auto it = json.find(e.field.name);
      if (it == json.end()) {
        if (e.optional) continue;
        throw UserError("settings: missing field '" + e.field.name + "'");
      }
      settings_detail::require_type(e.field.type, e.field.name, *it);
      e.read(s, *it);
    }
    return s;
  }

  /// Sets json[name] from a flag's text, typed by the table. Throws UserError on text that
  /// is not a value of the field's type, and for a name that is not a field.
  void set_from_text(Json& json, const std::string& name, const std::string& text) const {
    for (const auto& e : entries_)
      if (e.field.name == name) {
        json[name] = settings_detail::parse_text(e.field.type, flag_name(name), text);
        return;
      }
    throw UserError(flag_name(name) + ": not a setting of this model");
  }

  /// Throws UserError "--flag: must be ..." for the first field out of its range.
  void check(const S& settings) const {
    S copy = settings;
    for (const auto& e : entries_) {
      const std::string problem = e.violation(copy);
      if (!problem.empty()) throw UserError(flag_name(e.field.name) + ": " + problem);
    }
  }

  bool has(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.field.name == name) return true;
    return false;
  }

  struct Entry {
    SettingField field;
    std::function<Json(S&)> write;
    std::function<void(S&, const Json&)> read;
    std::function<std::string(S&)> violation;  ///< "" when in range, else what is wrong
    bool optional = false;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  SettingsTable& add(SettingField field, std::function<Json(S&)> write, std::function<void(S&, const Json&)> read,
                     std::function<std::string(S&)> violation) {
    if (has(field.name)) throw std::logic_error("settings table: '" + field.name + "' declared twice");
    entries_.push_back({std::move(field), std::move(write), std::move(read), std::move(violation)});
    return *this;
  }

  std::vector<Entry> entries_;
};

/// The settings every family has, read by the training loop.
struct CommonSettings {
  int64_t epochs = 1;       ///< passes over the training images
  int64_t max_steps = 0;    ///< stop after this many optimiser steps (0 = no limit)
  int64_t batch_size = 32;  ///< images per optimiser step
  double lr = 1e-4;         ///< learning rate of the family's optimiser(s)
  int64_t seed = 0;         ///< same seed + same threads on the same CPU = identical run
  bool conditional = false; ///< class-conditional model (runs from before it existed: false)
  std::string precision = "fp32";  ///< training arithmetic: "fp32" or "bf16" (mixed precision,
                                   ///< core/precision.h); runs from before it existed: fp32
  // The shape of what the model makes, taken from the training data (data/dataset.h) unless
  // --image-size / --image-channels ask for the data to be resized; runs from before
  // datasets existed were MNIST: 28×28 grey, 10 classes.
  int64_t image_size = 28;     ///< side of the square images, in pixels
  int64_t image_channels = 1;  ///< 1 = grey, 3 = RGB
  int64_t classes = 10;        ///< classes of the training data (0 = unlabelled): what a
                               ///< conditional model draws on request (set from the data,
                               ///< never a flag)
};

/// The common fields, appended after a family's own so that they read the same in every
/// `train MODEL --help`.
const SettingsTable<CommonSettings>& common_settings_table();

/// The common settings of any family's settings JSON (other fields are ignored).
CommonSettings common_settings_from_json(const Json& settings);

/// Throws UserError when the combination is invalid (neither --epochs nor --max-steps set).
void check_common_settings(const CommonSettings& settings);

}  // namespace trilemma
