#pragma once
// Wall-clock helpers shared by the commands and the library that records when and how long.
#include <chrono>
#include <ctime>
#include <string>

namespace trilemma {

/// Seconds since `start` on the monotonic clock (immune to the system clock being set).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// The current UTC time as ISO 8601, e.g. "2025-01-31T12:00:00Z", for "evaluated_at".
inline std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buffer;
}

}  // namespace trilemma
