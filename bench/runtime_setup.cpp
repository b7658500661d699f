// Every benchmark in trilemma_bench runs under the CLI's runtime: glibc keeps freed memory
// (keep_freed_memory) and LibTorch uses every core, unless a benchmark sets its own threads.
// OpenMP's wait policy is read from the environment when libgomp loads, so it can only be
// varied from outside: OMP_WAIT_POLICY=PASSIVE build/bench/trilemma_bench.
#include "core/runtime.h"

namespace {
const bool kRuntimeConfigured = [] {
  trilemma::keep_freed_memory();
  trilemma::configure_threads(0);
  return true;
}();
}  // namespace
