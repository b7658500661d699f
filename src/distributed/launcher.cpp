#include "distributed/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "core/error.h"

namespace trilemma::distributed {
namespace {

std::atomic<int> g_forward_signal{0};

extern "C" void on_launcher_signal(int signal) { g_forward_signal.store(signal); }

int exit_status(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    return "was killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

[[noreturn]] void exec_worker(const std::vector<std::string>& arguments, int rank, int nproc, int port) {
  // A worker outlives no launcher: if it dies, the worker stops as on SIGTERM.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  // Its own process group: a terminal's Ctrl-C reaches the launcher alone, which passes it
  // on once (a second SIGINT would end a worker before its checkpoint).
  setpgid(0, 0);
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  execv("/proc/self/exe", argv.data());
  std::cerr << "error: cannot start worker rank " << rank << ": " << std::strerror(errno) << "\n";
  _exit(127);
}

}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw UserError(std::string("cannot open a socket to find a free port: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  close(fd);
  if (!ok) throw UserError(std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(error));
  return ntohs(address.sin_port);
}

int launch_local_workers(int nproc, const std::vector<std::string>& arguments, double grace_seconds) {
  const int port = free_local_port();
  struct sigaction action {}, old_int {}, old_term {};
  action.sa_handler = on_launcher_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  g_forward_signal.store(0);

  std::cout.flush();
  std::fflush(nullptr);  // nothing buffered before fork() is printed twice
  std::vector<pid_t> workers(nproc, -1);
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) exec_worker(arguments, rank, nproc, port);
    if (pid < 0) {
      std::cerr << "error: cannot start worker rank " << rank << ": " << std::strerror(errno) << "\n";
      for (pid_t started : workers)
        if (started > 0) kill(started, SIGKILL);
      break;
    }
    workers[rank] = pid;
  }

  int result = 0;
  bool failed = false, stopping = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  int running = 0;
  for (pid_t pid : workers) running += pid > 0;
  if (running < nproc) failed = true, result = 1;
  while (running > 0) {
    if (const int signal = g_forward_signal.exchange(0)) {
      for (pid_t pid : workers)
        if (pid > 0) kill(pid, signal);
    }
    if (std::chrono::steady_clock::now() > kill_deadline) {
      for (pid_t pid : workers)
        if (pid > 0) kill(pid, SIGKILL);
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
    int status = 0;
    const pid_t done = waitpid(-1, &status, WNOHANG);
    if (done <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int rank = 0;
    while (rank < nproc && workers[rank] != done) ++rank;
    if (rank == nproc) continue;  // not a worker
    workers[rank] = -1;
    --running;
    const int code = exit_status(status);
    // A worker that printed its own error exits 1-3; one that died without a word (a
    // signal, a crash) is named here, unless this launcher was stopping it.
    if (code != 0 && !stopping && (WIFSIGNALED(status) || code > 3) && code != 130 && code != 143)
      std::cerr << "error: rank " << rank << " (pid " << done << ") " << describe_exit(status)
                << (running > 0 ? "; stopping the other ranks" : "") << "\n";
    if (code == 0 || failed) continue;
    // The first failure decides the run's status; a worker stopped by a passed-on signal
    // (130, 143 after its checkpoint) is a stop, not a failure, and its peers stop with it.
    result = code;
    failed = true;
    if (code != 130 && code != 143) {
      stopping = true;
      for (pid_t pid : workers)
        if (pid > 0) kill(pid, SIGTERM);
      kill_deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace trilemma::distributed
