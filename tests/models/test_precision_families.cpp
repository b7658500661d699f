// bf16 mixed precision across the registered families (core/precision.h): every preset of
// every family trains a step and samples under the guard, keeping fp32 weights, optimiser
// state and samples; the U-Net in bf16 stays close to fp32; the sampling chunk rule.
#include <gtest/gtest.h>

#include "core/precision.h"
#include "models/ddpm.h"
#include "models/registry.h"
#include "models/unet.h"

using namespace trilemma;

namespace {

bool all_fp32(const std::vector<torch::Tensor>& tensors) {
  for (const auto& t : tensors)
    if (t.defined() && t.is_floating_point() && t.scalar_type() != torch::kFloat) return false;
  return true;
}

}  // namespace

TEST(PrecisionFamilies, EveryPresetTrainsAndSamplesInBf16) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  for (const ModelFamily& family : model_families()) {
    for (const std::string& preset : family.presets) {
      // The article's and the GPU-sized U-Nets take seconds per step on 2 cores; their
      // layers are the quick U-Net's (ResBlock, attention) at other widths.
      if ((family.name == "ddpm" || family.name == "ddgan") && preset != "quick") continue;
      SCOPED_TRACE(family.name + " " + preset);
      Json settings = family.preset_settings(preset);
      settings["batch_size"] = 4;
      settings["precision"] = "bf16";
      torch::manual_seed(0);
      auto model = family.create(family.validate(settings), torch::kCPU);
      if (!family.teacher_family.empty()) model->start_from_teacher(*untrained_teacher(family, settings, torch::kCPU));
      LossTerms terms;
      {
        const PrecisionGuard guard(Precision::kBf16, torch::kCPU);  // as the training loop does
        terms = model->train_step(torch::rand({4, 1, 28, 28}), torch::randint(0, 10, {4}, torch::kLong));
      }
      for (const auto& [name, value] : terms) EXPECT_TRUE(std::isfinite(value)) << name;
      SampleOptions options;
      options.precision = Precision::kBf16;
      const auto images = model->sample(3, options);
      EXPECT_EQ(images.scalar_type(), torch::kFloat);
      EXPECT_EQ(images.sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
      EXPECT_GE(images.min().item<double>(), 0.0);
      EXPECT_LE(images.max().item<double>(), 1.0);
    }
  }
}

TEST(PrecisionFamilies, DdpmKeepsFp32WeightsAndOptimiserStateUnderBf16) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  DdpmSettings s = ddpm_preset("quick");
  s.unet.base_width = 8;
  s.unet.groups = 4;
  s.common.batch_size = 4;
  torch::manual_seed(0);
  Ddpm model(s, torch::kCPU);
  {
    const PrecisionGuard guard(Precision::kBf16, torch::kCPU);
    model.train_step(torch::rand({4, 1, 28, 28}), torch::Tensor());
  }
  EXPECT_TRUE(all_fp32(model.network()->parameters()));
  EXPECT_TRUE(all_fp32(model.ema_network()->parameters()));
  for (const auto& p : model.network()->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
  }
}

TEST(PrecisionFamilies, UNetInBf16StaysCloseToFp32) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  torch::manual_seed(0);
  UNetSettings s = ddpm_preset("quick").unet;
  s.base_width = 16;
  UNet net(s);
  {
    torch::NoGradGuard no_grad;  // the zero-initialised last layers would hide every error
    for (auto& p : net->parameters())
      if (p.abs().sum().item<double>() == 0.0) p.normal_(0.0, 0.05);
  }
  c10::InferenceMode inference;
  const auto x = torch::randn({4, 1, 28, 28});
  const auto t = torch::tensor({1, 50, 400, 900});
  const auto exact = net->forward(x, t);
  torch::Tensor mixed;
  {
    const PrecisionGuard guard(Precision::kBf16, torch::kCPU);
    mixed = net->forward(x, t);
  }
  EXPECT_EQ(mixed.scalar_type(), torch::kFloat);  // the network returns its input's dtype
  const double relative = ((mixed - exact).norm() / exact.norm()).item<double>();
  EXPECT_GT(relative, 1e-5);  // bf16 did run
  EXPECT_LT(relative, 2e-2);
}

TEST(DdpmSampling, ChunkFollowsTheActivationBudget) {
  // quick: 32 channels × 28² + one head × (7²)² scores = 27,489 per image; 32 · 27,489 < 2^20.
  EXPECT_EQ(sampling_chunk(ddpm_preset("quick").unet), 32);
  // seed: 64 × 32² + (32²)² per image exceeds the budget alone: the floor of 8.
  EXPECT_EQ(sampling_chunk(ddpm_preset("seed").unet), 8);
  UNetSettings plain = ddpm_preset("quick").unet;
  plain.base_width = 8;
  plain.attention_levels = {};
  plain.middle_attention = false;
  EXPECT_EQ(sampling_chunk(plain), 128);  // 8 × 784 = 6,272; 128 · 6,272 = 802,816 ≤ 2^20 < 256 · 6,272
}
