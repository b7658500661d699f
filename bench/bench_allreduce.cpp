// The gradient all-reduce of data-parallel training on its own: two ranks (two threads of
// this process, each with its own Gloo group over loopback, as two launched workers have)
// average a gradient of the quick models' sizes, both ranks ready (a barrier before each),
// so the time is the transfer and reduction alone, without waiting for a slower rank.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <thread>

#include "distributed/data_parallel.h"
#include "distributed/launcher.h"
#include "distributed/process_group.h"

namespace {

using namespace trilemma::distributed;

constexpr int kIterations = 40;

std::unique_ptr<Collectives> join(int rank, int port) {
  LaunchEnvironment env;
  env.rank = rank;
  env.world_size = 2;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return connect(env, "gloo", std::chrono::seconds(60));
}

void average_often(Collectives& group, torch::Tensor parameter, benchmark::State* state) {
  parameter.mutable_grad() = torch::randn_like(parameter);
  const std::vector<torch::Tensor> parameters{parameter};
  if (state != nullptr) {
    for (auto _ : *state) {
      state->PauseTiming();
      group.barrier();
      state->ResumeTiming();
      average_gradients(group, parameters);
    }
  } else {
    for (int i = 0; i < kIterations; ++i) {
      group.barrier();
      average_gradients(group, parameters);
    }
  }
}

void BM_AverageGradients(benchmark::State& state) {
  const int64_t elements = state.range(0) * 1000 / 4;  // range: kB of fp32 gradient
  const int port = free_local_port();
  std::thread peer([&] {
    auto group = join(1, port);
    average_often(*group, torch::zeros({elements}).requires_grad_(true), nullptr);
  });
  {
    auto group = join(0, port);
    average_often(*group, torch::zeros({elements}).requires_grad_(true), &state);
  }
  peer.join();
  state.counters["MB"] = static_cast<double>(elements) * 4 / 1e6;
}
// 590 kB: the quick VAE; 1,780: the quick DCGAN (G and D); 3,440: the quick DDPM; 3,770: the quick DDGAN.
BENCHMARK(BM_AverageGradients)->Arg(590)->Arg(1780)->Arg(3440)->Arg(3770)->Iterations(kIterations)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
