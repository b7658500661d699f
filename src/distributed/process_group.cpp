#include "distributed/process_group.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <sstream>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "core/error.h"

namespace trilemma::distributed {
namespace {

Collectives* g_active = nullptr;

// c10d logs each refused connection and timeout of a rendezvous to stderr (through glog in
// Debian's LibTorch); the one-line error that follows says it all, so stderr is closed
// while the group forms and restored after.
class QuietStderr {
 public:
  QuietStderr() : saved_(dup(STDERR_FILENO)) {
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDERR_FILENO), close(null);
  }
  ~QuietStderr() {
    if (saved_ >= 0) dup2(saved_, STDERR_FILENO), close(saved_);
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  int saved_;
};

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::optional<int> integer_variable(const char* name, int low, int high) {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || value < low || value > high)
    throw UserError(std::string(name) + "=" + text + ": expected an integer from " + std::to_string(low) + " to " +
                    std::to_string(high));
  return static_cast<int>(value);
}

int required(std::optional<int> value, const char* name, const char* why) {
  if (!value) throw UserError(std::string(name) + " is not set, but " + why);
  return *value;
}

// One rank's end of a c10d process group.
class ProcessGroupCollectives : public Collectives {
 public:
  ProcessGroupCollectives(c10::intrusive_ptr<c10d::ProcessGroup> group, int rank, int world_size)
      : group_(std::move(group)), rank_(rank), world_size_(world_size) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    run([&] { group_->allreduce(tensors)->wait(); });
  }

  void barrier() override {
    run([&] { group_->barrier()->wait(); });
  }

 private:
  // A peer that died, or one that stopped answering for longer than the timeout, surfaces
  // here as a c10d error; it becomes one line naming this rank.
  template <class Call>
  void run(Call call) {
    try {
      call();
    } catch (const UserError&) {
      throw;
    } catch (const c10::Error& e) {
      throw lost_contact(e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw lost_contact(e.what());
    }
  }

  UserError lost_contact(const std::string& why) const {
    return UserError("rank " + std::to_string(rank_) + ": lost contact with the other ranks (" + first_line(why) + ")");
  }

  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  int rank_, world_size_;
};

}  // namespace

Collectives* active() { return g_active; }
void set_active(Collectives* group) { g_active = group; }
bool is_primary() { return g_active == nullptr || g_active->rank() == 0; }

std::optional<LaunchEnvironment> launch_environment() {
  constexpr int kMaxRanks = 1 << 16;
  const std::optional<int> rank = integer_variable("RANK", 0, kMaxRanks - 1);
  const std::optional<int> world_size = integer_variable("WORLD_SIZE", 1, kMaxRanks);
  if (!rank && !world_size) return std::nullopt;
  LaunchEnvironment env;
  env.rank = required(rank, "RANK", "WORLD_SIZE is (set both, or neither)");
  env.world_size = required(world_size, "WORLD_SIZE", "RANK is (set both, or neither)");
  if (env.rank >= env.world_size)
    throw UserError("RANK=" + std::to_string(env.rank) + " is not below WORLD_SIZE=" + std::to_string(env.world_size));
  env.local_world_size = integer_variable("LOCAL_WORLD_SIZE", 1, env.world_size).value_or(env.world_size);
  env.local_rank = integer_variable("LOCAL_RANK", 0, env.local_world_size - 1).value_or(env.rank);
  if (env.local_rank >= env.local_world_size)
    throw UserError("LOCAL_RANK=" + std::to_string(env.local_rank) + " is not below LOCAL_WORLD_SIZE=" +
                    std::to_string(env.local_world_size) + " (set LOCAL_RANK on each machine)");
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0')
    throw UserError("MASTER_ADDR is not set: name the machine of rank 0 (e.g. MASTER_ADDR=127.0.0.1)");
  env.master_addr = addr;
  env.master_port = required(integer_variable("MASTER_PORT", 1, 65535), "MASTER_PORT",
                             "a distributed run needs rank 0's port (e.g. MASTER_PORT=29500)");
  return env;
}

std::string default_backend(const torch::Device& device) { return device.is_cuda() ? "nccl" : "gloo"; }

std::unique_ptr<Collectives> connect(const LaunchEnvironment& env, const std::string& backend,
                                     std::chrono::milliseconds timeout) {
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string who = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  std::ostringstream seconds_text;
  seconds_text << timeout.count() / 1000.0;
  const std::string seconds = seconds_text.str();
  if (backend != "gloo" && backend != "nccl")
    throw UserError("--dist-backend: expected gloo or nccl, got '" + backend + "'");
#ifndef USE_C10D_NCCL
  if (backend == "nccl")
    throw UserError("--dist-backend nccl: this LibTorch build has no NCCL (a CPU build); use gloo");
#endif
  const QuietStderr quiet;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env.master_port);
    options.isServer = env.rank == 0;
    options.numWorkers = env.world_size;
    options.waitWorkers = true;
    options.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw UserError(who + ": the rendezvous at " + where + " did not form within " + seconds + " s (" +
                    first_line(what) + "); check MASTER_ADDR, MASTER_PORT and that every rank was started");
  }
  // A prefix per backend, as torch.distributed does, keeps the group's keys apart.
  store = c10::make_intrusive<c10d::PrefixStore>("trilemma/" + backend, store);
  try {
    c10::intrusive_ptr<c10d::ProcessGroup> group;
    if (backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // The address rank 0's peers already reach is the interface Gloo should use too.
      options->devices.push_back(env.master_addr == "127.0.0.1" || env.master_addr == "localhost"
                                     ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
      group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
    } else {
#ifdef USE_C10D_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options);
#endif
    }
    return std::make_unique<ProcessGroupCollectives>(group, env.rank, env.world_size);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw UserError(who + ": the rendezvous at " + where + " did not form within " + seconds + " s (" + backend +
                    ": " + first_line(what) + "); check MASTER_ADDR, MASTER_PORT and that every rank was started");
  }
}

}  // namespace trilemma::distributed
