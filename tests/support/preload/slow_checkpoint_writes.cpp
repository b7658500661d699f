// Preloaded (LD_PRELOAD) into `trilemma train` by the kill-and-resume test. The first
// write() into a checkpoint's temporary file writes only half of its bytes, sleeps, and
// returns that short count (POSIX allows it; write_file_atomic loops for the rest). So
// each checkpoint write stays open, half-written, for kStallMs: long enough for the test
// to see the temporary file and SIGKILL the process inside the write on any machine. Not
// slowed, a small checkpoint's write lasts microseconds on tmpfs, and polling for it
// missed all 60 under a loaded CI run (stop 12).
//
// Built without the sanitizers (it links no trilemma_options), and with no LibTorch.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace {

constexpr long kStallMs = 100;

// The fd's path, from /proc; true for "<run>/checkpoints/<name>.tmp-<pid>".
bool is_checkpoint_temp_file(int fd) {
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, "/checkpoints/") != nullptr && std::strstr(path, ".tmp-") != nullptr;
}

}  // namespace

extern "C" ssize_t write(int fd, const void* buffer, size_t count) {
  using WriteFunction = ssize_t (*)(int, const void*, size_t);
  static const auto real_write = reinterpret_cast<WriteFunction>(dlsym(RTLD_NEXT, "write"));
  // Only a write at offset 0 stalls: once per file, not once per remaining half.
  if (count < 2 || lseek(fd, 0, SEEK_CUR) != 0 || !is_checkpoint_temp_file(fd))
    return real_write(fd, buffer, count);
  const ssize_t written = real_write(fd, buffer, count / 2);
  const timespec stall{0, kStallMs * 1000000L};
  nanosleep(&stall, nullptr);
  return written;
}
