// The sampling loop around the network: the library's DDIM sampler (a fresh timestep
// tensor and fresh result tensors every step) against the same arithmetic with in-place
// updates into preallocated tensors. Measured with a free predictor (ε̂ = 0.1·x, no
// network) so that only the loop's own cost shows (one iteration = 20 steps);
// `trilemma bench` gives the network's.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>

#include "diffusion/samplers.h"

namespace {

namespace d = trilemma::diffusion;

constexpr int64_t kSteps = 20;

const d::NoiseSchedule& schedule() {
  static const d::NoiseSchedule s = d::make_noise_schedule("cosine", 1000);
  return s;
}

void BM_DdimLoopLibrary(benchmark::State& state) {
  const int64_t batch = state.range(0);
  d::SamplerSettings settings;
  settings.kind = d::SamplerKind::kDdim;
  settings.steps = kSteps;
  settings.clip_x0 = 1.0;
  const auto noise = torch::randn({batch, 1, 28, 28});
  const d::EpsilonPredictor predict = [](const torch::Tensor& x, const torch::Tensor&) { return 0.1 * x; };
  c10::InferenceMode guard;
  for (auto _ : state) benchmark::DoNotOptimize(d::run_sampler(schedule(), predict, noise, settings).x);
}
BENCHMARK(BM_DdimLoopLibrary)->Arg(1)->Arg(256)->ArgName("batch")->Unit(benchmark::kMicrosecond)->MinTime(0.3)->UseRealTime();

// The same DDIM (η = 0, clipped x̂_0) with every intermediate preallocated and updated in place.
void BM_DdimLoopPreallocated(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const auto timesteps = d::sampling_timesteps(999, kSteps);
  const auto noise = torch::randn({batch, 1, 28, 28});
  c10::InferenceMode guard;
  auto x = torch::empty_like(noise), eps = torch::empty_like(noise), x0 = torch::empty_like(noise);
  auto t = torch::empty({batch}, torch::kLong);
  for (auto _ : state) {
    x.copy_(noise);
    for (size_t k = 0; k < timesteps.size(); ++k) {
      const double ab = schedule().alpha_bar_at(timesteps[k]);
      const double ab_prev = schedule().alpha_bar_at(k + 1 < timesteps.size() ? timesteps[k + 1] : -1);
      t.fill_(timesteps[k]);
      torch::mul_out(eps, x, 0.1);                                      // the predictor
      torch::add_out(x0, x, eps, -std::sqrt(1.0 - ab)).div_(std::sqrt(ab)).clamp_(-1.0, 1.0);
      torch::add_out(eps, x, x0, -std::sqrt(ab)).div_(std::sqrt(1.0 - ab));
      x.copy_(x0).mul_(std::sqrt(ab_prev)).add_(eps, std::sqrt(1.0 - ab_prev));
    }
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_DdimLoopPreallocated)->Arg(1)->Arg(256)->ArgName("batch")->Unit(benchmark::kMicrosecond)->MinTime(0.3)->UseRealTime();

}  // namespace
