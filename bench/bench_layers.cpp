// Single layers of the seed models, and the layout/formulation levers on them.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>

#include "models/layers.h"
#include "perf/layout.h"

namespace {

// The seed VAE/DCGAN decoders' stride-2 upsampling (64 -> 64 channels, batch 32), forward
// and backward: LibTorch's transposed convolution (slow_conv_transpose2d on CPU) against
// the sub-pixel formulation of the same output shape (models/layers.h).
void BM_UpsamplingTrainStep(benchmark::State& state, const std::string& kind) {
  const int64_t size = state.range(0);
  auto layer = trilemma::make_upsampling(64, 64, kind);
  const auto x = torch::randn({32, 64, size, size}, torch::requires_grad());
  layer->forward(x).sum().backward();  // warm-up
  for (auto _ : state) {
    auto y = layer->forward(x);
    y.sum().backward();
  }
  state.counters["images/s"] = benchmark::Counter(32, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_UpsamplingTrainStep, transposed, std::string("transposed"))
    ->Arg(7)->Arg(14)->ArgName("in")->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsamplingTrainStep, subpixel, std::string("subpixel"))
    ->Arg(7)->Arg(14)->ArgName("in")->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();

// The seed U-Net's widest 3×3 convolution shapes, inference, contiguous (NCHW) against
// channels-last (NHWC, oneDNN's native layout: no reorder around each call).
void BM_Conv3x3(benchmark::State& state, bool channels_last, bool bf16) {
  const int64_t batch = state.range(0), channels = state.range(1), size = state.range(2);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(channels, channels, 3).padding(1));
  auto x = torch::randn({batch, channels, size, size});
  if (bf16) {
    conv->to(torch::kBFloat16);
    x = x.to(torch::kBFloat16);
  }
  if (channels_last) {
    trilemma::perf::to_channels_last(*conv);
    x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  c10::InferenceMode guard;
  conv(x);  // warm-up: oneDNN primitive creation
  for (auto _ : state) benchmark::DoNotOptimize(conv(x));
  const double flops = 2.0 * batch * channels * size * size * channels * 9;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK_CAPTURE(BM_Conv3x3, nchw, false, false)
    ->Args({64, 64, 32})->Args({64, 256, 8})->Args({1, 64, 32})->ArgNames({"batch", "channels", "size"})
    ->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv3x3, channels_last, true, false)
    ->Args({64, 64, 32})->Args({64, 256, 8})->Args({1, 64, 32})->ArgNames({"batch", "channels", "size"})
    ->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();
// bf16 through oneDNN: worth an opt-in only on CPUs with avx512_bf16 (this one has it).
BENCHMARK_CAPTURE(BM_Conv3x3, bf16_channels_last, true, true)
    ->Args({64, 64, 32})->Args({64, 256, 8})->Args({1, 64, 32})->ArgNames({"batch", "channels", "size"})
    ->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();

// GroupNorm + SiLU, the memory-bound pair in every U-Net ResNet block.
void BM_GroupNormSilu(benchmark::State& state) {
  const int64_t batch = state.range(0);
  torch::nn::GroupNorm norm(8, 64);
  const auto x = torch::randn({batch, 64, 32, 32});
  c10::InferenceMode guard;
  norm(x);  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(torch::silu(norm(x)));
  state.counters["GB/s"] = benchmark::Counter(4.0 * 4 * x.numel(), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_GroupNormSilu)->Arg(1)->Arg(64)->ArgName("batch")->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();

}  // namespace

namespace {

// The attention scores of the seed U-Net's full-resolution blocks (1024 positions, one head
// of 64 channels): as models/unet.cpp writes them, softmax(bmm(qᵀ, k) / √d), the division
// is a pass over the N×1024×1024 score tensor of its own; folding 1/√d into the product
// (baddbmm's alpha) or into q (N×64×1024, 16× smaller) removes that pass.
enum class ScoreScaling { kDivideScores, kAlphaInProduct, kScaleQuery };

void BM_AttentionScores(benchmark::State& state, ScoreScaling scaling) {
  const int64_t batch = state.range(0), dim = 64, positions = 1024;
  const auto q = torch::randn({batch, dim, positions}), k = torch::randn({batch, dim, positions});
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  c10::InferenceMode guard;
  auto scores = [&] {
    switch (scaling) {
      case ScoreScaling::kDivideScores:
        return torch::softmax(torch::bmm(q.transpose(1, 2), k) / std::sqrt(static_cast<double>(dim)), -1);
      case ScoreScaling::kAlphaInProduct:
        return torch::softmax(torch::baddbmm(torch::empty({batch, positions, positions}), q.transpose(1, 2), k,
                                             /*beta=*/0.0, /*alpha=*/scale),
                              -1);
      case ScoreScaling::kScaleQuery:
        return torch::softmax(torch::bmm((q * scale).transpose(1, 2), k), -1);
    }
    return torch::Tensor();
  };
  scores();  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(scores());
}
BENCHMARK_CAPTURE(BM_AttentionScores, divide_scores, ScoreScaling::kDivideScores)
    ->Arg(8)->ArgName("batch")->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_AttentionScores, alpha_in_product, ScoreScaling::kAlphaInProduct)
    ->Arg(8)->ArgName("batch")->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_AttentionScores, scale_query, ScoreScaling::kScaleQuery)
    ->Arg(8)->ArgName("batch")->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();

}  // namespace
