#pragma once
#include <stdexcept>
#include <string>

namespace trilemma {

/// An error caused by the user's input (a flag, a file, a run directory). The CLI prints
/// its message as one line and exits non-zero; it never means a bug in trilemma.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace trilemma
