#pragma once
// Settings are JSON objects in config.json; settings_table.h declares each struct's fields.
#include <nlohmann/json.hpp>
#include <string>

namespace trilemma {

using Json = nlohmann::json;

/// "batch_size" -> "--batch-size".
std::string flag_name(const std::string& key);

/// A setting's value as one would type it after its flag: cosine, 0.001, 1,2,2, none.
std::string setting_text(const Json& value);

}  // namespace trilemma
