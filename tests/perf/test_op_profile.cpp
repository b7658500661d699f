#include <gtest/gtest.h>

#include "perf/machine.h"
#include "perf/op_profile.h"

namespace trilemma::perf {
namespace {

// The counter must agree with a hand count for one layer of each kind the models use;
// a wrong count would silently skew gflops_per_image and peak_fraction.
TEST(OpProfile, CountsAConvolutionLikeTheHandCount) {
  // The seed U-Net's first down-block conv: 64 -> 64, 3×3, pad 1, 32×32, batch 2.
  // Hand count: 2 FLOPs · (2·64·32·32 outputs) · (64·3·3 multiply-adds each).
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(64, 64, 3).padding(1));
  const auto x = torch::randn({2, 64, 32, 32});
  const int64_t hand = 2LL * (2 * 64 * 32 * 32) * (64 * 3 * 3);
  EXPECT_EQ(count_flops([&] { c10::InferenceMode guard; conv(x); }), hand);
}

TEST(OpProfile, CountsStridedAndTransposedConvolutions) {
  // Stride 2, no padding (the VAE encoder): 28 -> 13.
  torch::nn::Conv2d down(torch::nn::Conv2dOptions(1, 64, 3).stride(2));
  EXPECT_EQ(count_flops([&] { down(torch::randn({4, 1, 28, 28})); }), 2LL * 4 * 64 * 13 * 13 * 1 * 9);
  // Transposed stride 2 (the seed decoder): every one of the 4·64·7·7 inputs meets 64·9 taps.
  torch::nn::ConvTranspose2d up(torch::nn::ConvTranspose2dOptions(64, 64, 3).stride(2).padding(1).output_padding(1));
  EXPECT_EQ(count_flops([&] { up(torch::randn({4, 64, 7, 7})); }), 2LL * 4 * 64 * 7 * 7 * 64 * 9);
}

TEST(OpProfile, CountsLinearAndBatchedProductsOnce) {
  torch::nn::Linear linear(100, 6272);  // the seed generator's dense layer
  EXPECT_EQ(count_flops([&] { linear(torch::randn({8, 100})); }), 2LL * 8 * 100 * 6272);
  // aten::matmul dispatches to aten::bmm: counted there, not twice.
  const auto a = torch::randn({3, 5, 7}), b = torch::randn({3, 7, 11});
  EXPECT_EQ(count_flops([&] { torch::matmul(a, b); }), 2LL * 3 * 5 * 7 * 11);
  // Element-wise work is not counted.
  EXPECT_EQ(count_flops([&] { torch::relu(a); }), 0);
}

TEST(OpProfile, AttributesTimeToOutermostOperators) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 8, 3).padding(1));
  const auto x = torch::randn({1, 8, 16, 16});
  const OpProfile profile = profile_ops([&] { torch::relu(conv(x)); });
  std::vector<std::string> names;
  for (const auto& op : profile.ops) names.push_back(op.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "aten::conv2d"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "aten::relu"), names.end());
  // The inner aten::convolution is nested inside aten::conv2d: it holds no time of its own.
  for (const auto& op : profile.ops)
    if (op.name == "aten::convolution") { EXPECT_EQ(op.calls, 0); }
  EXPECT_EQ(profile.flops, 2LL * 8 * 16 * 16 * 8 * 9);
}

TEST(Machine, MeasuresAPositiveMatmulRateAndMemory) {
  const MatmulPeak peak = measure_matmul_peak(256, {1, 3, 5.0});
  EXPECT_GT(peak.gflops, 0.0);
  EXPECT_GT(peak_rss_mb(), 0.0);
  EXPECT_GE(peak_rss_mb() + 1e-9, current_rss_mb() - 1.0);
}

}  // namespace
}  // namespace trilemma::perf
