#include <gtest/gtest.h>

#include <cmath>

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

// The counters a speed figure is flagged by, read from hand-written /proc lines: a wrong
// field would flag idle machines as busy or miss the busy ones.
TEST(Machine, ReadsTheCpuCountersFromProcText) {
  // user nice system idle iowait irq softirq steal guest guest_nice
  const std::string machine = "cpu  100 5 20 800 10 3 2 0 7 0";
  // The command name holds a space and a ')'; utime 37 and stime 11 are fields 14 and 15.
  const std::string self = "1234 (my) name) R 1 2 3 4 5 6 7 8 9 10 37 11 0 0 20 0 3";
  const CpuTicks ticks = parse_cpu_ticks(machine, self);
  EXPECT_EQ(ticks.machine_total, 940);  // guest time is already counted in user
  EXPECT_EQ(ticks.machine_busy, 130);   // without idle (800) and iowait (10)
  EXPECT_EQ(ticks.process, 48);
  const CpuTicks garbage = parse_cpu_ticks("intr 1 2 3", "1234 (x");
  EXPECT_EQ(garbage.machine_total, 0);
  EXPECT_EQ(garbage.process, 0);
}

TEST(Machine, OtherProcessesShareIsTheBusyTimeThisProcessDidNotUse) {
  const CpuTicks before{130, 940, 48};
  // 400 ticks of machine time pass: 200 busy, 100 of them this process's.
  EXPECT_DOUBLE_EQ(other_processes_cpu_share(before, {330, 1340, 148}), 0.25);
  EXPECT_DOUBLE_EQ(other_processes_cpu_share(before, {230, 1340, 148}), 0.0);  // only this process ran
  EXPECT_DOUBLE_EQ(other_processes_cpu_share(before, {530, 1340, 48}), 1.0);   // others kept every CPU busy
  EXPECT_TRUE(std::isnan(other_processes_cpu_share(before, before)));          // no time passed
  // This machine's own counters are live and consistent.
  const CpuTicks now = read_cpu_ticks();
  EXPECT_GT(now.machine_total, 0);
  EXPECT_LE(now.machine_busy, now.machine_total);
  EXPECT_GT(now.process, 0);  // loading LibTorch alone takes more than one 10 ms tick
}

}  // namespace
}  // namespace trilemma::perf
