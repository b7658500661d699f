// Guards the Gaussian mixture the VAE samples its latent codes from: its density against
// closed forms, its samples' moments, and EM against data whose answer is known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "models/gaussian_mixture.h"

namespace trilemma {
namespace {

double normal_log_pdf(double x, double mean, double sd) {
  return -0.5 * std::pow((x - mean) / sd, 2) - std::log(sd) - 0.5 * std::log(2 * M_PI);
}

TEST(GaussianMixture, UnfittedIsTheStandardNormal) {
  GaussianMixture mixture(4, 2);
  EXPECT_FALSE(mixture->is_fitted());
  // log N((1, 2); 0, I) = -(1 + 4)/2 - log 2π, whatever K.
  const torch::Tensor x = torch::tensor({{1.0f, 2.0f}, {0.0f, 0.0f}});
  const torch::Tensor log_p = mixture->log_density(x);
  EXPECT_NEAR(log_p[0].item<double>(), -2.5 - std::log(2 * M_PI), 1e-9);
  EXPECT_NEAR(log_p[1].item<double>(), -std::log(2 * M_PI), 1e-9);
}

TEST(GaussianMixture, LogDensityMatchesTheClosedFormIn1D) {
  GaussianMixture mixture(2, 1);
  mixture->weights.copy_(torch::tensor({0.3f, 0.7f}));
  mixture->means.copy_(torch::tensor({{-1.0f}, {2.0f}}));
  mixture->scale_tril.copy_(torch::tensor({0.5f, 2.0f}).reshape({2, 1, 1}));
  for (double x : {-3.0, 0.5, 2.0, 7.0}) {
    const double expected =
        std::log(0.3 * std::exp(normal_log_pdf(x, -1, 0.5)) + 0.7 * std::exp(normal_log_pdf(x, 2, 2)));
    EXPECT_NEAR(mixture->log_density(torch::tensor({{static_cast<float>(x)}}))[0].item<double>(), expected, 1e-6)
        << "x = " << x;
  }
}

TEST(GaussianMixture, SamplesHaveTheMixturesMeanAndCovariance) {
  // Mean Σ w_k μ_k; covariance Σ w_k (Σ_k + μ_k μ_kᵀ) − m mᵀ.
  GaussianMixture mixture(2, 2);
  mixture->weights.copy_(torch::tensor({0.25f, 0.75f}));
  mixture->means.copy_(torch::tensor({{-4.0f, 0.0f}, {2.0f, 1.0f}}));
  mixture->scale_tril.copy_(torch::tensor({{{1.0f, 0.0f}, {0.5f, 0.5f}}, {{0.5f, 0.0f}, {0.0f, 2.0f}}}));
  const torch::Tensor w = mixture->weights.to(torch::kDouble), mu = mixture->means.to(torch::kDouble);
  const torch::Tensor l = mixture->scale_tril.to(torch::kDouble);
  const torch::Tensor mean = (w.unsqueeze(1) * mu).sum(0);
  const torch::Tensor second = (w.reshape({2, 1, 1}) * (l.bmm(l.transpose(1, 2)) + mu.unsqueeze(2).bmm(mu.unsqueeze(1)))).sum(0);
  const torch::Tensor covariance = second - mean.unsqueeze(1).mm(mean.unsqueeze(0));

  torch::manual_seed(3);
  const torch::Tensor z = mixture->sample(40000).to(torch::kDouble);
  ASSERT_EQ(z.sizes(), torch::IntArrayRef({40000, 2}));
  EXPECT_TRUE(torch::allclose(z.mean(0), mean, 0, 0.05)) << z.mean(0) << mean;
  EXPECT_TRUE(torch::allclose(torch::cov(z.t()), covariance, 0.03, 0.05)) << torch::cov(z.t()) << covariance;
  // Which component drew each point: the share left of x = -1 is the first one's weight.
  EXPECT_NEAR((z.select(1, 0) < -1).to(torch::kDouble).mean().item<double>(), 0.25, 0.015);
}

TEST(GaussianMixture, OneComponentFitIsTheSampleMeanAndCovariance) {
  torch::manual_seed(0);
  const torch::Tensor points = torch::randn({500, 3}).mm(torch::tensor({{2.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 0.0f}, {0.0f, -0.5f, 0.3f}})) + 4;
  GaussianMixture mixture(1, 3);
  const MixtureFit fit = fit_gaussian_mixture(*mixture, points);
  EXPECT_TRUE(mixture->is_fitted());
  EXPECT_TRUE(fit.converged);
  EXPECT_LE(fit.mean_log_likelihood.size(), 3u);  // one M-step is the answer
  const torch::Tensor x = points.to(torch::kDouble);
  const torch::Tensor centred = x - x.mean(0);
  const torch::Tensor biased_covariance = centred.t().mm(centred) / x.size(0);  // the maximum-likelihood one
  const torch::Tensor l = mixture->scale_tril[0].to(torch::kDouble);
  EXPECT_DOUBLE_EQ(mixture->weights[0].item<double>(), 1.0);
  EXPECT_TRUE(torch::allclose(mixture->means[0].to(torch::kDouble), x.mean(0), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(l.mm(l.t()), biased_covariance, 1e-4, 1e-4)) << l.mm(l.t()) << biased_covariance;
  // The maximum-likelihood Gaussian's mean log-likelihood: -(D/2)(1 + log 2π) - ½ log|Σ|.
  const double expected = -1.5 * (1 + std::log(2 * M_PI)) - 0.5 * torch::logdet(biased_covariance).item<double>();
  EXPECT_NEAR(mixture->log_density(points).mean().item<double>(), expected, 1e-4);
}

TEST(GaussianMixture, EmRecoversTwoSeparatedClusters) {
  torch::manual_seed(1);
  const int64_t n_left = 1200, n_right = 2800;  // weights 0.3, 0.7
  const torch::Tensor left = torch::randn({n_left, 2}) * 0.5 + torch::tensor({-5.0f, 0.0f});
  const torch::Tensor right = torch::randn({n_right, 2}) * torch::tensor({1.0f, 0.5f}) + torch::tensor({5.0f, 1.0f});
  const torch::Tensor points = torch::cat({left, right}).index_select(0, torch::randperm(n_left + n_right));
  GaussianMixture mixture(2, 2);
  const MixtureFit fit = fit_gaussian_mixture(*mixture, points);
  ASSERT_TRUE(fit.converged);
  for (size_t i = 1; i < fit.mean_log_likelihood.size(); ++i)
    EXPECT_GE(fit.mean_log_likelihood[i], fit.mean_log_likelihood[i - 1] - 1e-9) << "EM lowered it at " << i;

  const int64_t l = mixture->means[0][0].item<float>() < 0 ? 0 : 1, r = 1 - l;
  EXPECT_NEAR(mixture->weights[l].item<double>(), 0.3, 1e-3);  // separated: each point is all one component's
  EXPECT_NEAR(mixture->means[l][0].item<double>(), left.select(1, 0).mean().item<double>(), 1e-3);
  EXPECT_NEAR(mixture->means[r][1].item<double>(), right.select(1, 1).mean().item<double>(), 1e-3);
  const torch::Tensor lr = mixture->scale_tril[r];
  const torch::Tensor covariance_r = lr.mm(lr.t());
  EXPECT_NEAR(covariance_r[0][0].item<double>(), 1.0, 0.1);
  EXPECT_NEAR(covariance_r[1][1].item<double>(), 0.25, 0.025);
  EXPECT_NEAR(covariance_r[0][1].item<double>(), 0.0, 0.03);
  // EM's M-step keeps the data's mean exactly: Σ w_k μ_k = mean of the points.
  EXPECT_TRUE(torch::allclose((mixture->weights.unsqueeze(1) * mixture->means).sum(0), points.mean(0), 1e-4, 1e-4));
}

TEST(GaussianMixture, RefusesTooFewPoints) {
  GaussianMixture mixture(5, 2);
  EXPECT_THROW(fit_gaussian_mixture(*mixture, torch::randn({4, 2})), std::invalid_argument);
  EXPECT_THROW(fit_gaussian_mixture(*mixture, torch::randn({10, 3})), std::invalid_argument);
  EXPECT_FALSE(mixture->is_fitted());
}

}  // namespace
}  // namespace trilemma
