#pragma once
// Helpers shared by tests: temporary directories, MNIST location, running the CLI.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace trilemma::testing {

/// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// $TRILEMMA_DATA_DIR if it holds MNIST, else "" (tests that need MNIST skip then).
std::string mnist_dir();

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs the trilemma CLI with `arguments` (a shell-quoted string) and captures its output.
CommandResult run_cli(const std::string& arguments);

}  // namespace trilemma::testing
