// docs/settings.md lists every setting of every family with its value in each preset; it
// is generated from the settings tables, and this test fails (printing the new text) when
// the code and the document disagree, so that the README's preset descriptions can point
// to a table that is always true.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/settings.h"
#include "models/registry.h"

namespace trilemma {
namespace {

std::string settings_markdown() {
  std::ostringstream out;
  out << "# Settings of every model family\n\n"
      << "Generated from the settings tables in `src/models/` (tests/models/test_settings_doc.cpp\n"
      << "checks that this file matches them). Each setting is a flag of `trilemma train MODEL`\n"
      << "(`--kebab-case`), recorded in the run's config.json; `trilemma train MODEL --help`\n"
      << "prints the same.\n";
  for (const ModelFamily& family : model_families()) {
    out << "\n## `" << family.name << "`: " << family.summary << "\n\n| setting |";
    for (const std::string& preset : family.presets)
      out << " `" << preset << "`" << (preset == family.presets.front() ? " (default)" : "") << " |";
    out << " valid values | what it is |\n|---|";
    for (size_t i = 0; i < family.presets.size(); ++i) out << "---|";
    out << "---|---|\n";
    std::vector<Json> presets;
    for (const std::string& preset : family.presets) presets.push_back(family.preset_settings(preset));
    for (const SettingField& field : family.settings) {
      if (field.from_data) continue;  // not a flag: `train` takes it from the dataset
      out << "| `" << flag_name(field.name) << "` |";
      for (const Json& preset : presets) out << " " << setting_text(preset.at(field.name)) << " |";
      out << " " << field.range << " | " << field.help << " |\n";
    }
  }
  return out.str();
}

// TRILEMMA_UPDATE_DOCS=1 rewrites the file instead (then review the diff and commit it).
TEST(SettingsDoc, DocsSettingsMdMatchesTheSettingsTables) {
  const std::string path = std::string(TRILEMMA_SOURCE_DIR) + "/docs/settings.md";
  if (const char* update = std::getenv("TRILEMMA_UPDATE_DOCS"); update && std::string(update) == "1")
    std::ofstream(path) << settings_markdown();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string expected = settings_markdown();
  EXPECT_EQ(text.str(), expected) << path << " is out of date: run this test with TRILEMMA_UPDATE_DOCS=1";
}

}  // namespace
}  // namespace trilemma
