// The settings table: one declaration per field gives JSON, flag parsing, help and ranges.
// The registry-wide tests guard every family, present and future: a field that does not
// round-trip through config.json, or lacks help or a range, fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/settings_table.h"
#include "models/registry.h"
#include "training/run_dir.h"

namespace trilemma {
namespace {

struct Inner {
  int64_t width = 4;
};

struct Toy {
  int64_t count = 3;
  double rate = 0.5;
  bool flag = false;
  std::string mode = "a";
  std::vector<int64_t> levels = {1, 2};
  std::vector<int64_t> maybe = {0};
  Inner inner;
};

const SettingsTable<Inner>& inner_table() {
  static const SettingsTable<Inner> table =
      SettingsTable<Inner>().integer("width", [](Inner& s) -> int64_t& { return s.width; }, 1, 8, "inner width");
  return table;
}

const SettingsTable<Toy>& toy_table() {
  static const SettingsTable<Toy> table =
      SettingsTable<Toy>()
          .integer("count", [](Toy& s) -> int64_t& { return s.count; }, 1, 10, "a count")
          .number("rate", [](Toy& s) -> double& { return s.rate; }, Interval::closed_open(0, 1), "a rate")
          .boolean("flag", [](Toy& s) -> bool& { return s.flag; }, "a switch")
          .absent_in_older_runs()
          .choice("mode", [](Toy& s) -> std::string& { return s.mode; }, {"a", "b", "c"}, "a mode")
          .integer_list("levels", [](Toy& s) -> std::vector<int64_t>& { return s.levels; }, 0, 3, false, "levels")
          .integer_list("maybe", [](Toy& s) -> std::vector<int64_t>& { return s.maybe; }, 0, 3, true, "or none")
          .include(inner_table(), [](Toy& s) -> Inner& { return s.inner; });
  return table;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(SettingsTable, WritesReadsAndDescribesEveryField) {
  const auto& table = toy_table();
  Toy toy;
  toy.count = 7;
  toy.rate = 0.25;
  toy.flag = true;
  toy.mode = "c";
  toy.levels = {3};
  toy.maybe = {};
  toy.inner.width = 2;
  const Json json = table.to_json(toy);
  EXPECT_EQ(json, Json::parse(R"({"count": 7, "rate": 0.25, "flag": true, "mode": "c", "levels": [3],
                                  "maybe": [], "width": 2})"));
  EXPECT_EQ(table.to_json(table.from_json(json)), json);
  const auto fields = table.fields();
  ASSERT_EQ(fields.size(), 7u);
  EXPECT_EQ(fields[0].range, "between 1 and 10");
  EXPECT_EQ(fields[1].range, "in [0, 1)");
  EXPECT_EQ(fields[3].range, "a, b or c");
  EXPECT_EQ(fields[3].choices, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(fields[5].range, "none, or entries between 0 and 3");
  EXPECT_EQ(fields[6].name, "width");  // the included table's fields come after
}

TEST(SettingsTable, ParsesFlagTextByTheFieldsType) {
  const auto& table = toy_table();
  Json json = table.to_json(Toy{});
  table.set_from_text(json, "count", "9");
  table.set_from_text(json, "rate", "0.125");
  table.set_from_text(json, "flag", "on");
  table.set_from_text(json, "levels", "0,3");
  table.set_from_text(json, "maybe", "none");
  table.set_from_text(json, "width", "5");
  const Toy toy = table.from_json(json);
  EXPECT_EQ(toy.count, 9);
  EXPECT_DOUBLE_EQ(toy.rate, 0.125);
  EXPECT_TRUE(toy.flag);
  EXPECT_EQ(toy.levels, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(toy.maybe.empty());
  EXPECT_EQ(toy.inner.width, 5);
  // A single -1, as older runs recorded "no attention", also reads as none.
  json["maybe"] = Json::array({-1});
  EXPECT_TRUE(table.from_json(json).maybe.empty());

  EXPECT_EQ(error_of([&] { table.set_from_text(json, "count", "1.5"); }), "--count: expected an integer, got '1.5'");
  EXPECT_EQ(error_of([&] { table.set_from_text(json, "rate", "nan"); }), "--rate: expected a number, got 'nan'");
  EXPECT_EQ(error_of([&] { table.set_from_text(json, "flag", "maybe"); }),
            "--flag: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of([&] { table.set_from_text(json, "levels", "1,x"); }),
            "--levels: expected comma-separated integers, got '1,x'");
  EXPECT_EQ(error_of([&] { table.set_from_text(json, "levels", "none"); }),
            "--levels: expected comma-separated integers, got 'none'");
  EXPECT_EQ(error_of([&] { table.set_from_text(json, "nope", "1"); }), "--nope: not a setting of this model");
}

TEST(SettingsTable, RangeChecksNameTheFlagAndTheValue) {
  const auto& table = toy_table();
  auto problem = [&](const std::function<void(Toy&)>& change) {
    Toy toy;
    change(toy);
    return error_of([&] { table.check(toy); });
  };
  EXPECT_EQ(problem([](Toy&) {}), "");
  EXPECT_EQ(problem([](Toy& t) { t.count = 0; }), "--count: must be between 1 and 10, got 0");
  EXPECT_EQ(problem([](Toy& t) { t.count = 11; }), "--count: must be between 1 and 10, got 11");
  EXPECT_EQ(problem([](Toy& t) { t.rate = 1.0; }), "--rate: must be in [0, 1), got 1.0");
  EXPECT_EQ(problem([](Toy& t) { t.rate = -0.5; }), "--rate: must be in [0, 1), got -0.5");
  EXPECT_EQ(problem([](Toy& t) { t.rate = std::nan(""); }).substr(0, 22), "--rate: must be in [0,");
  EXPECT_EQ(problem([](Toy& t) { t.mode = "d"; }), "--mode: expected a, b or c, got 'd'");
  EXPECT_EQ(problem([](Toy& t) { t.levels = {}; }), "--levels: needs at least one entry");
  EXPECT_EQ(problem([](Toy& t) { t.levels = {1, 4}; }), "--levels: must be entries between 0 and 3, got 4");
  EXPECT_EQ(problem([](Toy& t) { t.inner.width = 9; }), "--width: must be between 1 and 8, got 9");
}

TEST(SettingsTable, ReadingRefusesMissingWrongTypedAndUnknownFields) {
  const auto& table = toy_table();
  const Json good = table.to_json(Toy{});
  Json json = good;
  json.erase("count");
  EXPECT_EQ(error_of([&] { table.from_json(json); }), "settings: missing field 'count'");
  json = good;
  json.erase("flag");  // absent in older runs: the struct's default
  EXPECT_FALSE(table.from_json(json).flag);
  json = good;
  json["count"] = "7";
  EXPECT_EQ(error_of([&] { table.from_json(json); }), "settings: 'count' must be an integer");
  json = good;
  json["levels"] = Json::array({1, 2.5});
  EXPECT_EQ(error_of([&] { table.from_json(json); }), "settings: 'levels' must be a list of integers");
  json = good;
  json["extra"] = 1;
  EXPECT_EQ(error_of([&] { table.from_json(json); }), "settings: unknown field 'extra'");
  // read_fields takes the table's own fields out of a larger object.
  EXPECT_EQ(table.read_fields(json).count, 3);
  EXPECT_THROW(SettingsTable<Toy>()
                   .integer("count", [](Toy& s) -> int64_t& { return s.count; }, 1, 2, "a")
                   .integer("count", [](Toy& s) -> int64_t& { return s.count; }, 1, 2, "b"),
               std::logic_error);
}

// Values of a field to try, other than `current`, from its declaration alone.
std::vector<std::string> candidates(const SettingField& field, const Json& current) {
  std::vector<std::string> out;
  if (field.type == "boolean") return {current.get<bool>() ? "false" : "true"};
  if (field.type == "choice") {
    for (const auto& c : field.choices)
      if (c != current.get<std::string>()) out.push_back(c);
    return out;
  }
  if (field.type == "integer") {
    const int64_t v = current.get<int64_t>();
    for (int64_t c : {v + 1, v - 1, v * 2, v + 2, int64_t{1}, int64_t{2}, int64_t{0}})
      if (c != v) out.push_back(std::to_string(c));
    return out;
  }
  if (field.type == "number") {
    const double v = current.get<double>();
    for (double c : {v * 0.5, v + 0.125, 0.5, 0.25, 0.0, 1.0, 2.0})
      if (c != v) {
        std::ostringstream text;
        text.precision(17);
        text << c;
        out.push_back(text.str());
      }
    return out;
  }
  // Integer lists: every entry plus one, one entry fewer, or none.
  std::vector<int64_t> list = current.get<std::vector<int64_t>>();
  std::string plus_one, shorter;
  for (size_t i = 0; i < list.size(); ++i) {
    plus_one += (i ? "," : "") + std::to_string(list[i] + 1);
    if (i + 1 < list.size()) shorter += (i ? "," : "") + std::to_string(list[i]);
  }
  for (const std::string& c : {plus_one, shorter, std::string("none"), std::string("0"), std::string("1")})
    if (!c.empty()) out.push_back(c);
  return out;
}

TEST(ModelSettings, EveryFieldOfEveryFamilyHasHelpAndARangeAndRoundTripsThroughConfigJson) {
  for (const ModelFamily& family : model_families()) {
    const Json preset = family.preset_settings(family.presets.front());
    EXPECT_EQ(preset.size(), family.settings.size()) << family.name << ": every field is in the table";
    for (const SettingField& field : family.settings) {
      SCOPED_TRACE(family.name + " " + flag_name(field.name));
      EXPECT_FALSE(field.help.empty());
      EXPECT_FALSE(field.range.empty());
      ASSERT_TRUE(preset.contains(field.name));
      int accepted = 0;
      for (const std::string& text : candidates(field, preset[field.name])) {
        Json settings = preset;
        Json recorded;
        try {
          family.set_setting(settings, field.name, text);
          if (settings[field.name] == preset[field.name]) continue;
          recorded = family.validate(settings);
        } catch (const UserError&) {
          continue;  // not a value of this field, or against another: not this test's business
        }
        // Through config.json and back, as a resumed run or `sample` reads it.
        training::RunConfig config;
        config.model = family.name;
        config.preset = family.presets.front();
        config.settings = recorded;
        const auto reread = training::RunConfig::from_json(Json::parse(config.to_json().dump(2)), "config.json");
        const Json again = family.validate(reread.settings);
        EXPECT_EQ(again[field.name], settings[field.name]) << text;
        EXPECT_EQ(again, recorded) << text;
        ++accepted;
      }
      EXPECT_GT(accepted, 0) << "no value other than the preset's was accepted, so none was seen to round-trip";
    }
  }
}

TEST(ModelSettings, EveryPresetIsValidAndRecordedAsItIs) {
  for (const ModelFamily& family : model_families())
    for (const std::string& preset : family.presets) {
      SCOPED_TRACE(family.name + " --preset " + preset);
      const Json json = family.preset_settings(preset);
      EXPECT_EQ(family.validate(json), json);
      EXPECT_NO_THROW(common_settings_from_json(json));
    }
}

}  // namespace
}  // namespace trilemma
