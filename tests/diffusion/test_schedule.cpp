// Guards the noise schedules of issue 4 against closed forms written out independently
// here: the β lines, ᾱ as a plain product, the posterior q(x_{t-1} | x_t, x_0) derived by
// Gaussian conditioning (not by the formula the library uses), and q(x_t | x_0) against
// running the forward chain step by step.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "diffusion/schedule.h"

using trilemma::UserError;
using namespace trilemma::diffusion;

namespace {

double cosine_f(double t, double T) {
  const double s = 0.008;
  const double c = std::cos((t / T + s) / (1 + s) * std::acos(-1.0) / 2);
  return c * c;
}

}  // namespace

TEST(DiffusionSchedule, LinearBetasAndAlphaBarProduct) {
  const auto schedule = make_noise_schedule("linear", 1000);
  ASSERT_EQ(schedule.timesteps(), 1000);
  EXPECT_DOUBLE_EQ(schedule.betas().front(), 1e-4);
  EXPECT_NEAR(schedule.betas().back(), 0.02, 1e-15);
  EXPECT_NEAR(schedule.betas()[500], 1e-4 + (0.02 - 1e-4) * 500 / 999, 1e-15);
  double product = 1.0;
  for (int64_t i = 0; i < 1000; ++i) {
    product *= 1.0 - (1e-4 + (0.02 - 1e-4) * i / 999.0);
    EXPECT_NEAR(schedule.alphas()[i], 1.0 - schedule.betas()[i], 1e-15);
    EXPECT_NEAR(schedule.alpha_bars()[i], product, 1e-12 * product + 1e-15) << i;
  }
  // Ho et al.'s schedule reaches noise: ᾱ_T ≈ 4.0e-5.
  EXPECT_NEAR(schedule.alpha_bars().back(), 4.04e-5, 0.05e-5);
  EXPECT_DOUBLE_EQ(schedule.alpha_bar_at(-1), 1.0);
}

TEST(DiffusionSchedule, ArticleScheduleKeepsAThirdOfTheSignal) {
  // The article's T = 200 with the T = 1000 betas: √ᾱ_T ≈ 0.36 (reference notes).
  const auto schedule = make_noise_schedule("linear", 200);
  EXPECT_NEAR(std::sqrt(schedule.alpha_bars().back()), 0.36, 0.01);
  // The rescaled line reaches noise at the same T.
  const auto scaled = make_noise_schedule("linear-scaled", 200);
  EXPECT_NEAR(scaled.betas().front(), 5e-4, 1e-15);
  EXPECT_NEAR(scaled.betas().back(), 0.1, 1e-15);
  EXPECT_LT(scaled.alpha_bars().back(), 1e-4);
}

TEST(DiffusionSchedule, CosineMatchesClosedForm) {
  const int64_t T = 1000;
  const auto schedule = make_noise_schedule("cosine", T);
  for (int64_t i = 0; i < T; ++i) {
    const double beta = 1.0 - cosine_f(i + 1.0, T) / cosine_f(i, T);
    if (beta < 0.999) {
      EXPECT_NEAR(schedule.betas()[i], beta, 1e-12) << i;
      // Unclipped prefix: ᾱ_t = f(t)/f(0) (Nichol & Dhariwal 2021, eq. 17).
      EXPECT_NEAR(schedule.alpha_bars()[i], cosine_f(i + 1.0, T) / cosine_f(0, T), 1e-9) << i;
    } else {
      EXPECT_DOUBLE_EQ(schedule.betas()[i], 0.999) << i;
    }
  }
  EXPECT_LT(schedule.alpha_bars().back(), 1e-6);
}

TEST(DiffusionSchedule, PosteriorMatchesGaussianConditioning) {
  // q(x_{t-1}, x_t | x_0): x_{t-1} = √ᾱ_{t-1} x_0 + √(1-ᾱ_{t-1}) e1, x_t = √α_t x_{t-1} + √β_t e2.
  // Conditioning x_{t-1} on x_t: mean = m1 + C/V (x_t - m2), var = V1 - C²/V.
  for (const std::string name : {"linear", "linear-scaled", "cosine"}) {
    const auto s = make_noise_schedule(name, 100);
    EXPECT_DOUBLE_EQ(s.posterior_variance()[0], 0.0);
    EXPECT_NEAR(s.posterior_mean_coef1()[0], 1.0, 1e-12);
    EXPECT_NEAR(s.posterior_mean_coef2()[0], 0.0, 1e-12);
    for (int64_t i = 1; i < 100; ++i) {
      const double ab_prev = s.alpha_bars()[i - 1], ab = s.alpha_bars()[i];
      const double alpha = s.alphas()[i];
      const double v1 = 1.0 - ab_prev;
      const double cov = std::sqrt(alpha) * v1;
      const double v = alpha * v1 + (1.0 - alpha);
      EXPECT_NEAR(v, 1.0 - ab, 1e-12);
      const double coef_xt = cov / v;
      const double coef_x0 = std::sqrt(ab_prev) - coef_xt * std::sqrt(ab);
      EXPECT_NEAR(s.posterior_mean_coef2()[i], coef_xt, 1e-12) << name << " " << i;
      EXPECT_NEAR(s.posterior_mean_coef1()[i], coef_x0, 1e-12) << name << " " << i;
      EXPECT_NEAR(s.posterior_variance()[i], v1 - cov * cov / v, 1e-12) << name << " " << i;
    }
  }
}

TEST(DiffusionSchedule, FloatTensorsMirrorDoubles) {
  const auto s = make_noise_schedule("cosine", 50);
  ASSERT_EQ(s.alpha_bars_tensor().scalar_type(), torch::kFloat32);
  ASSERT_EQ(s.alpha_bars_tensor().numel(), 50);
  for (int64_t i = 0; i < 50; ++i) {
    EXPECT_FLOAT_EQ(s.alpha_bars_tensor()[i].item<float>(), static_cast<float>(s.alpha_bars()[i]));
    EXPECT_FLOAT_EQ(s.betas_tensor()[i].item<float>(), static_cast<float>(s.betas()[i]));
    EXPECT_FLOAT_EQ(s.posterior_variance_tensor()[i].item<float>(),
                    static_cast<float>(s.posterior_variance()[i]));
  }
}

TEST(DiffusionSchedule, QSampleMatchesForwardChainMoments) {
  // x_t drawn in one step by q_sample and by running x_i = √α_i x_{i-1} + √β_i ε_i for
  // i <= t must both have mean √ᾱ_t x_0 and variance 1 - ᾱ_t.
  torch::manual_seed(0);
  const auto s = make_noise_schedule("linear", 1000);
  const int64_t n = 50000;
  const double x0_value = 0.7;
  for (int64_t t : {0, 99, 499, 999}) {
    const auto x0 = torch::full({n, 1}, x0_value);
    const auto direct = s.q_sample(x0, torch::full({n}, t, torch::kLong), torch::randn({n, 1}));
    auto chain = x0.to(torch::kFloat64);
    for (int64_t i = 0; i <= t; ++i)
      chain = std::sqrt(s.alphas()[i]) * chain + std::sqrt(s.betas()[i]) * torch::randn({n, 1}, torch::kFloat64);
    const double mean = std::sqrt(s.alpha_bars()[t]) * x0_value;
    const double var = 1.0 - s.alpha_bars()[t];
    const double tol_mean = 5 * std::sqrt(var / n) + 1e-6;
    for (const auto& x : {direct.to(torch::kFloat64), chain}) {
      EXPECT_NEAR(x.mean().item<double>(), mean, tol_mean) << t;
      EXPECT_NEAR(x.var().item<double>() / var, 1.0, 5 * std::sqrt(2.0 / n) + 1e-3) << t;
    }
  }
}

TEST(DiffusionSchedule, QSampleUsesPerRowTimesteps) {
  const auto s = make_noise_schedule("cosine", 10);
  const auto x0 = torch::ones({3, 1, 2, 2});
  const auto noise = torch::zeros({3, 1, 2, 2});
  const auto t = torch::tensor({0, 4, 9});
  const auto x = s.q_sample(x0, t, noise);
  for (int64_t r = 0; r < 3; ++r)
    EXPECT_FLOAT_EQ(x[r].max().item<float>(),
                    static_cast<float>(std::sqrt(s.alpha_bars()[t[r].item<int64_t>()])));
}

TEST(DiffusionSchedule, RejectsBadInput) {
  EXPECT_THROW(make_noise_schedule("quadratic", 100), UserError);
  EXPECT_THROW(make_noise_schedule("linear", 0), UserError);
  EXPECT_THROW(make_noise_schedule("linear-scaled", 20), UserError);
  EXPECT_NO_THROW(make_noise_schedule("linear-scaled", 21));
  EXPECT_THROW(NoiseSchedule("bad", {0.1, 1.0}), UserError);
}
