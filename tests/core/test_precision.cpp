// Mixed precision (core/precision.h): names, the autocast guard's scope, and what bf16
// autocast does to the arithmetic of a convolution (bf16) and of a normalisation (fp32).
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include "core/error.h"
#include "core/precision.h"

using namespace trilemma;

TEST(Precision, ParsesItsTwoNamesAndRefusesOthers) {
  EXPECT_EQ(parse_precision("fp32"), Precision::kFp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_EQ(precision_name(Precision::kBf16), "bf16");
  EXPECT_EQ(precision_name(Precision::kFp32), "fp32");
  for (const char* bad : {"fp16", "BF16", "", "float"}) EXPECT_THROW(parse_precision(bad), UserError) << bad;
  if (!cpu_has_bf16()) EXPECT_THROW(check_precision_supported(Precision::kBf16, torch::kCPU), UserError);
  EXPECT_NO_THROW(check_precision_supported(Precision::kFp32, torch::kCPU));
}

TEST(Precision, GuardEnablesBf16AutocastOnlyInItsScope) {
  ASSERT_FALSE(at::autocast::is_cpu_enabled());
  {
    const PrecisionGuard fp32(Precision::kFp32, torch::kCPU);
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
  }
  {
    const PrecisionGuard bf16(Precision::kBf16, torch::kCPU);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(at::autocast::get_autocast_cpu_dtype(), at::kBFloat16);
    {
      const PrecisionGuard nested(Precision::kBf16, torch::kCPU);
      EXPECT_TRUE(at::autocast::is_cpu_enabled());
    }
    EXPECT_TRUE(at::autocast::is_cpu_enabled());  // the inner guard restores the outer state
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
}

TEST(Precision, Bf16ConvolutionRoundsAndNormalisationReadsFp32) {
  torch::manual_seed(0);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 8, 3).padding(1));
  torch::nn::GroupNorm norm(2, 8);
  const auto x = torch::randn({2, 4, 6, 6});
  const auto exact = conv(x);
  torch::Tensor mixed;
  {
    const PrecisionGuard bf16(Precision::kBf16, torch::kCPU);
    mixed = conv(x);
    EXPECT_EQ(mixed.scalar_type(), torch::kBFloat16);
    // LibTorch 1.13's GroupNorm refuses a bf16 input with fp32 weights; in_fp32 fixes that.
    EXPECT_EQ(norm(in_fp32(mixed)).scalar_type(), torch::kFloat);
  }
  // bf16 keeps 8 significant bits: each product is rounded to ~2^-9 relative, so the error
  // is far above fp32's and far below the outputs' scale.
  const double scale = exact.abs().max().item<double>();
  const double error = (mixed.to(torch::kFloat) - exact).abs().max().item<double>();
  EXPECT_GT(error, 1e-6 * scale);
  EXPECT_LT(error, 3e-2 * scale);
  EXPECT_EQ(conv->weight.scalar_type(), torch::kFloat);  // the weights themselves stay fp32
}
