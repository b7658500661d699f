#include "core/settings.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace trilemma {
namespace {

const Json& field(const Json& settings, const std::string& key) {
  auto it = settings.find(key);
  if (it == settings.end()) throw UserError("settings: missing field '" + key + "'");
  return *it;
}

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

}  // namespace

std::string flag_name(const std::string& key) {
  std::string flag = "--" + key;
  for (auto& c : flag)
    if (c == '_') c = '-';
  return flag;
}

int64_t setting_int(const Json& settings, const std::string& key) {
  const Json& v = field(settings, key);
  if (!v.is_number_integer()) throw UserError("settings: '" + key + "' must be an integer");
  return v.get<int64_t>();
}

double setting_double(const Json& settings, const std::string& key) {
  const Json& v = field(settings, key);
  if (!v.is_number()) throw UserError("settings: '" + key + "' must be a number");
  return v.get<double>();
}

bool setting_bool(const Json& settings, const std::string& key) {
  const Json& v = field(settings, key);
  if (!v.is_boolean()) throw UserError("settings: '" + key + "' must be true or false");
  return v.get<bool>();
}

std::string setting_string(const Json& settings, const std::string& key) {
  const Json& v = field(settings, key);
  if (!v.is_string()) throw UserError("settings: '" + key + "' must be a string");
  return v.get<std::string>();
}

std::vector<int64_t> setting_int_list(const Json& settings, const std::string& key) {
  const Json& v = field(settings, key);
  std::vector<int64_t> out;
  if (!v.is_array()) throw UserError("settings: '" + key + "' must be a list of integers");
  for (const auto& e : v) {
    if (!e.is_number_integer()) throw UserError("settings: '" + key + "' must be a list of integers");
    out.push_back(e.get<int64_t>());
  }
  return out;
}

void override_setting(Json& settings, const std::string& key, const std::string& text) {
  auto it = settings.find(key);
  const std::string flag = flag_name(key);
  if (it == settings.end()) throw UserError(flag + ": not a setting of this model");
  Json& v = *it;
  if (v.is_boolean()) {
    if (text == "true" || text == "1" || text == "on") v = true;
    else if (text == "false" || text == "0" || text == "off") v = false;
    else throw UserError(flag + ": expected true or false, got '" + text + "'");
  } else if (v.is_number_integer()) {
    int64_t parsed;
    if (!parse_int(text, parsed)) throw UserError(flag + ": expected an integer, got '" + text + "'");
    v = parsed;
  } else if (v.is_number()) {
    double parsed;
    if (!parse_double(text, parsed)) throw UserError(flag + ": expected a number, got '" + text + "'");
    v = parsed;
  } else if (v.is_array()) {
    Json list = Json::array();
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
      int64_t parsed;
      if (!parse_int(item, parsed))
        throw UserError(flag + ": expected comma-separated integers, got '" + text + "'");
      list.push_back(parsed);
    }
    if (list.empty()) throw UserError(flag + ": expected comma-separated integers, got ''");
    v = list;
  } else {
    v = text;
  }
}

void validate_common_settings(const Json& s) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UserError(message);
  };
  require(setting_int(s, "epochs") >= 0, "--epochs: must be >= 0");
  require(setting_int(s, "max_steps") >= 0, "--max-steps: must be >= 0 (0 = no limit)");
  const int64_t batch = setting_int(s, "batch_size");
  require(batch >= 1 && batch <= 65536, "--batch-size: must be between 1 and 65536, got " +
                                            std::to_string(batch));
  const double lr = setting_double(s, "lr");
  require(lr > 0 && lr < 10, "--lr: must be in (0, 10), got " + std::to_string(lr));
  require(setting_int(s, "seed") >= 0, "--seed: must be >= 0");
  require(setting_int(s, "epochs") > 0 || setting_int(s, "max_steps") > 0,
          "--epochs and --max-steps: at least one must be positive");
}

}  // namespace trilemma
