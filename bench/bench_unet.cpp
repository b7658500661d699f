// One U-Net forward (a diffusion sampler's network evaluation) under the levers: autograd
// mode, channels-last, and bf16 autocast (trilemma's --precision bf16: convolutions in
// bf16, norms in fp32). Seed = the article's U-Net (31 M parameters, 32×32 padded,
// attention at every level); quick = the lean 28×28 preset.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/precision.h"
#include "models/ddpm.h"
#include "perf/layout.h"
#include "perf/op_profile.h"

namespace {

enum class Mode { kGrad, kNoGrad, kInference };

void BM_UNetForward(benchmark::State& state, const std::string& preset, Mode mode, bool channels_last,
                    bool bf16) {
  const int64_t batch = state.range(0);
  torch::manual_seed(0);
  trilemma::UNet net(trilemma::ddpm_preset(preset).unet);
  net->eval();
  auto x = torch::randn({batch, 1, 28, 28});
  const auto t = torch::full({batch}, 100, torch::kLong);
  if (channels_last) {
    trilemma::perf::to_channels_last(*net);
    x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  const trilemma::Precision precision = bf16 ? trilemma::Precision::kBf16 : trilemma::Precision::kFp32;
  auto forward = [&] {
    const trilemma::PrecisionGuard guard(precision, torch::kCPU);
    if (mode == Mode::kInference) {
      c10::InferenceMode guard;
      return net->forward(x, t);
    }
    if (mode == Mode::kNoGrad) {
      torch::NoGradGuard guard;
      return net->forward(x, t);
    }
    return net->forward(x, t);
  };
  forward();  // warm-up: oneDNN primitives, first-touch allocations
  const int64_t flops = trilemma::perf::count_flops([&] { forward(); });
  for (auto _ : state) benchmark::DoNotOptimize(forward());
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(static_cast<double>(flops), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

#define UNET_CASE(name, preset, mode, cl, bf16, batches)                                         \
  BENCHMARK_CAPTURE(BM_UNetForward, name, std::string(preset), mode, cl, bf16) batches         \
      ->ArgName("batch")->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime()

#define QUICK_BATCHES ->Arg(1)->Arg(64)
#define SEED_BATCHES ->Arg(1)->Arg(8)
UNET_CASE(quick_grad, "quick", Mode::kGrad, false, false, QUICK_BATCHES);
UNET_CASE(quick_no_grad, "quick", Mode::kNoGrad, false, false, QUICK_BATCHES);
UNET_CASE(quick_inference, "quick", Mode::kInference, false, false, QUICK_BATCHES->Arg(32)->Arg(256));
UNET_CASE(quick_inference_channels_last, "quick", Mode::kInference, true, false, QUICK_BATCHES->Arg(32)->Arg(256));
UNET_CASE(quick_inference_bf16, "quick", Mode::kInference, false, true, QUICK_BATCHES->Arg(32)->Arg(256));
UNET_CASE(quick_inference_bf16_channels_last, "quick", Mode::kInference, true, true, QUICK_BATCHES->Arg(32)->Arg(256));
UNET_CASE(quick_grad_bf16, "quick", Mode::kGrad, false, true, QUICK_BATCHES);
UNET_CASE(quick_grad_bf16_channels_last, "quick", Mode::kGrad, true, true, QUICK_BATCHES);
UNET_CASE(seed_no_grad, "seed", Mode::kNoGrad, false, false, SEED_BATCHES);
UNET_CASE(seed_inference, "seed", Mode::kInference, false, false, SEED_BATCHES);
UNET_CASE(seed_inference_channels_last, "seed", Mode::kInference, true, false, SEED_BATCHES);

}  // namespace
