#pragma once
// `trilemma train ... --nproc N`: N worker processes of this program on this machine,
// each a rank of one data-parallel run, supervised like torchrun's local agent.
#include <string>
#include <vector>

namespace trilemma::distributed {

/// Runs `arguments` (this program's command line without --nproc; arguments[0] is ignored
/// and /proc/self/exe runs instead) as `nproc` workers with the torchrun variables set
/// (MASTER_ADDR 127.0.0.1, a free MASTER_PORT). SIGINT and SIGTERM are passed on to every
/// worker (they stop together, with a checkpoint). When a worker fails or is killed, one
/// line names its rank, the others get SIGTERM, then SIGKILL after `grace_seconds`.
/// Returns the first failed worker's exit status (128 + signal when killed), else 0.
int launch_local_workers(int nproc, const std::vector<std::string>& arguments, double grace_seconds = 10);

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick).
int free_local_port();

}  // namespace trilemma::distributed
