#pragma once
// Typed access to a model's settings (a JSON object recorded verbatim in config.json).
#include <nlohmann/json.hpp>
#include <string>

namespace trilemma {

using Json = nlohmann::json;

/// Reads a field, throwing UserError when it is missing or of the wrong type.
int64_t setting_int(const Json& settings, const std::string& key);
double setting_double(const Json& settings, const std::string& key);
bool setting_bool(const Json& settings, const std::string& key);
std::string setting_string(const Json& settings, const std::string& key);
std::vector<int64_t> setting_int_list(const Json& settings, const std::string& key);

/// Sets settings[key] from command-line text, parsed as the type the field already has
/// (integer, number, boolean, string, or comma-separated integer list). Throws UserError
/// "--flag-name: expected ..., got '...'" on a bad value or an unknown key.
void override_setting(Json& settings, const std::string& key, const std::string& text);

/// Range checks shared by every family: epochs >= 0, max_steps >= 0, batch_size in
/// [1, 65536], lr > 0 and finite, seed >= 0. Throws UserError on the first violation.
void validate_common_settings(const Json& settings);

/// "batch_size" -> "--batch-size".
std::string flag_name(const std::string& key);

}  // namespace trilemma
