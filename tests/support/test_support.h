#pragma once
// Helpers shared by tests: temporary directories, MNIST location, running the CLI.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace trilemma::testing {

/// Whether this build runs under AddressSanitizer (-DTRILEMMA_SANITIZE=ON), whose
/// allocator replaces glibc's malloc and which cannot run under `ulimit -v`.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

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

/// Runs the trilemma CLI with `arguments` (a shell-quoted string) and captures its output
/// (through a pipe, which a file-size limit in `shell_prefix`, e.g. "ulimit -f 64;", does
/// not cover).
CommandResult run_cli(const std::string& arguments, const std::string& shell_prefix = "");

}  // namespace trilemma::testing

#include <vector>

namespace trilemma::testing {

/// A trilemma CLI process running in the background, for tests that signal or kill it.
/// `arguments` is shell-quoted like run_cli's; stdout and stderr go to `output_path`.
/// The pid is trilemma's own (the shell execs it), so signals reach it directly.
class CliProcess {
 public:
  CliProcess(const std::string& arguments, const std::string& output_path,
             const std::string& shell_prefix = "");
  ~CliProcess();  ///< SIGKILLs and reaps a process still running
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;
  int pid() const { return pid_; }
  void send(int signal) const;
  bool finished();  ///< non-blocking: true once it has exited (status then known)
  int wait();       ///< exit code, or 128 + signal number when a signal ended it

 private:
  int pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

/// Runs several CLI commands at once (`parallel` at a time) and returns their results
/// in order; `shell_prefix` (e.g. "ulimit -f 64;") runs before each.
std::vector<CommandResult> run_cli_all(const std::vector<std::string>& arguments, int parallel = 4,
                                       const std::string& shell_prefix = "");

/// Reads a whole file ("" when missing).
std::string slurp(const std::string& path);

/// The highest step in RUN_DIR/metrics.jsonl so far (0 when none); skips a line still being
/// written, so it may be polled while a run trains.
int64_t last_logged_step(const std::string& run_dir);

}  // namespace trilemma::testing
