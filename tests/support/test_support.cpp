#include "support/test_support.h"

#include "core/runtime.h"

#include <unistd.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

namespace trilemma::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device device;
  path_ = fs::temp_directory_path() /
          ("trilemma-test-" + std::to_string(getpid()) + "-" + std::to_string(device()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string mnist_dir() {
  const char* env = std::getenv("TRILEMMA_DATA_DIR");
  std::string dir = env && *env ? env : std::string(TRILEMMA_SOURCE_DIR) + "/data/mnist";
  return fs::exists(fs::path(dir) / "train-images-idx3-ubyte") ? dir : "";
}

CommandResult run_cli(const std::string& arguments, const std::string& shell_prefix) {
  const std::string command = shell_prefix + " exec " + std::string(TRILEMMA_CLI) + " " + arguments + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace trilemma::testing

// The test binary runs with the allocator setting the CLI uses (core/runtime.h).
static const bool kFreedMemoryKept = trilemma::keep_freed_memory();

// Background processes for the reliability tests (tests/reliability/).
#include <cerrno>
#include <csignal>
#include <fstream>
#include <memory>

namespace trilemma::testing {

CliProcess::CliProcess(const std::string& arguments, const std::string& output_path,
                       const std::string& shell_prefix) {
  const std::string command = shell_prefix + " exec " + std::string(TRILEMMA_CLI) + " " + arguments +
                              " > '" + output_path + "' 2>&1";
  pid_ = fork();
  if (pid_ == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
}

CliProcess::~CliProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    wait();
  }
}

void CliProcess::send(int signal) const {
  if (pid_ > 0 && !reaped_) ::kill(pid_, signal);
}

bool CliProcess::finished() {
  if (reaped_) return true;
  if (pid_ <= 0) return true;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

int CliProcess::wait() {
  if (!reaped_ && pid_ > 0) {
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (pid_ <= 0) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<CommandResult> run_cli_all(const std::vector<std::string>& arguments, int parallel,
                                       const std::string& shell_prefix) {
  TempDir outputs;
  std::vector<CommandResult> results(arguments.size());
  for (size_t start = 0; start < arguments.size(); start += static_cast<size_t>(parallel)) {
    std::vector<std::unique_ptr<CliProcess>> running;
    const size_t end = std::min(arguments.size(), start + static_cast<size_t>(parallel));
    for (size_t i = start; i < end; ++i)
      running.push_back(std::make_unique<CliProcess>(arguments[i], outputs.file(std::to_string(i)), shell_prefix));
    for (size_t i = start; i < end; ++i) {
      results[i].exit_code = running[i - start]->wait();
      results[i].output = slurp(outputs.file(std::to_string(i)));
    }
  }
  return results;
}

int64_t last_logged_step(const std::string& run_dir) {
  int64_t last = 0;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_object()) last = std::max(last, json.value("step", int64_t{0}));
  }
  return last;
}

}  // namespace trilemma::testing
