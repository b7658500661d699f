#include "support/test_support.h"

#include "core/runtime.h"

#include <unistd.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <random>

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

CommandResult run_cli(const std::string& arguments) {
  const std::string command = std::string(TRILEMMA_CLI) + " " + arguments + " 2>&1";
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
