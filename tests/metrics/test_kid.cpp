// Guards KID's unbiased MMD² estimator (Bińkowski et al. 2018) against a hand-computed
// value, and the subset machinery against seeding and size rules.
#include <gtest/gtest.h>

#include "metrics/kid.h"

using namespace trilemma::metrics;

namespace {
torch::Tensor x_set() { return torch::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0}).view({3, 2}); }
torch::Tensor y_set() { return torch::tensor({0.0, 0.0, 1.0, 0.0, 2.0, 1.0}).view({3, 2}); }
}  // namespace

TEST(Kid, HandComputedMmd) {
  EXPECT_NEAR(mmd2_unbiased_cubic(x_set(), y_set()), -89.0 / 36.0, 1e-12);
}

TEST(Kid, OneFullSubsetEqualsMmd) {
  KidOptions options;
  options.subsets = 1;
  const auto kid = kernel_inception_distance(x_set(), y_set(), options);
  EXPECT_EQ(kid.subset_size, 3);
  EXPECT_NEAR(kid.mean, -89.0 / 36.0, 1e-12);
  EXPECT_NEAR(kid.std, 0.0, 1e-12);
}

TEST(Kid, SeededAndNearZeroForSameDistribution) {
  torch::manual_seed(1);
  auto a = torch::randn({400, 16}, torch::kFloat64), b = torch::randn({300, 16}, torch::kFloat64);
  KidOptions options;
  options.subsets = 20;
  options.subset_size = 1000;
  const auto k1 = kernel_inception_distance(a, b, options);
  const auto k2 = kernel_inception_distance(a, b, options);
  EXPECT_EQ(k1.subset_size, 300);
  EXPECT_EQ(k1.mean, k2.mean);
  EXPECT_NEAR(k1.mean, 0.0, 0.05);
  options.seed = 7;
  EXPECT_NE(kernel_inception_distance(a, b, options).mean, k1.mean);
  // A shifted distribution is clearly apart.
  EXPECT_GT(kernel_inception_distance(a, b + 1.0, options).mean, 1.0);
}
