// The fp32 matrix-multiply peak that `trilemma bench` divides by, per thread count: the
// ceiling for every convolution (oneDNN) and matmul (OpenBLAS) in the models.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

static void BM_Matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int previous = torch::get_num_threads();
  torch::set_num_threads(static_cast<int>(state.range(1)));
  c10::InferenceMode guard;
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  for (auto _ : state) torch::mm_out(c, a, b);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  torch::set_num_threads(previous);
}
BENCHMARK(BM_Matmul)->ArgsProduct({{512, 2048}, {1, 2}})->ArgNames({"n", "threads"})->Unit(benchmark::kMillisecond)
    ->MinTime(0.5)->UseRealTime();
