// Guards the Fréchet distance against the closed forms of issue 5: each case checks one
// term (mean, trace, cross term, dimension scaling) and the rank-deficient case checks
// that the symmetric eigh route stays finite where a non-symmetric sqrtm breaks down.
#include <gtest/gtest.h>

#include <cmath>

#include "metrics/frechet.h"

using namespace trilemma::metrics;

namespace {
torch::Tensor vec(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }
torch::Tensor diag(std::vector<double> v) { return torch::diag(vec(v)); }
}  // namespace

TEST(Frechet, DiagonalSwapGivesFour) {
  EXPECT_NEAR(frechet_distance(vec({0, 0}), diag({1, 4}), vec({1, 1}), diag({4, 1})), 4.0, 1e-12);
}

TEST(Frechet, ThreeDimensionalDiagonal) {
  EXPECT_NEAR(frechet_distance(vec({0.5, 0, -1}), diag({1, 2, 3}), vec({0, 0, 1}),
                               diag({4, 2, 0.25})),
              6.767949192431123, 1e-12);
}

TEST(Frechet, NonDiagonalCrossTerm) {
  auto s1 = torch::tensor({2.0, 1.0, 1.0, 2.0}, torch::kFloat64).view({2, 2});
  const double expected = 9.0 - 2.0 * std::sqrt(10.0 + 4.0 * std::sqrt(3.0));
  EXPECT_NEAR(expected, 0.7712204476543416, 1e-15);
  EXPECT_NEAR(frechet_distance(vec({0, 0}), s1, vec({0, 0}), diag({1, 4})), expected, 1e-12);
}

TEST(Frechet, HighDimensionalMeanShift) {
  const int64_t d = 2048;
  auto eye = torch::eye(d, torch::kFloat64);
  EXPECT_NEAR(frechet_distance(torch::zeros({d}, torch::kFloat64), eye,
                               torch::ones({d}, torch::kFloat64), eye),
              2048.0, 1e-8);
}

TEST(Frechet, ScaledIdentity) {
  auto eye = torch::eye(10, torch::kFloat64);
  auto zero = torch::zeros({10}, torch::kFloat64);
  EXPECT_NEAR(frechet_distance(zero, eye, zero, 4.0 * eye), 10.0, 1e-12);
}

TEST(Frechet, IdenticalStatisticsGiveZero) {
  torch::manual_seed(0);
  auto features = torch::randn({500, 64}, torch::kFloat64);
  const auto stats = feature_statistics(features);
  EXPECT_LT(std::abs(frechet_distance(stats, stats)), 1e-9);
}

TEST(Frechet, RankDeficientCovarianceStaysFinite) {
  auto f1 = torch::tensor({1.6243453637, -0.6117564137, -0.5281717523, -1.0729686222,
                           0.8654076293, -2.3015386969, 1.7448117642, -0.7612069009,
                           0.3190390961, -0.2493703755, 1.4621079370, -2.0601407095,
                           -0.3224172040, -0.3840543547, 1.1337694423, -1.0998912673},
                          torch::kFloat64).view({4, 4});
  auto f2 = torch::tensor({-0.1724282076, -0.8778584179, 0.0422137467, 0.5828152137,
                           -1.1006191772, 1.1447237098, 0.9015907206, 0.5024943389,
                           0.9008559493, -0.6837278592, -0.1228902255, -0.9357694343,
                           -0.2678880796, 0.5303554667, -0.6916607517, -0.3967535269},
                          torch::kFloat64).view({4, 4});
  const double fid = frechet_distance(feature_statistics(f1), feature_statistics(f2));
  ASSERT_TRUE(std::isfinite(fid));
  EXPECT_NEAR(fid, 4.7538376174720, 1e-9);
}

// Guards the N−1 normalisation and the two-pass mean: features with a large common offset
// (1e8) would lose the variance to cancellation in a one-pass float computation.
TEST(Frechet, StatisticsUnbiasedAndOffsetStable) {
  auto x = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).view({4, 1}) + 1e8;
  const auto stats = feature_statistics(x);
  EXPECT_NEAR(stats.mean.item<double>(), 1e8 + 2.5, 1e-6);
  EXPECT_NEAR(stats.covariance.item<double>(), 5.0 / 3.0, 1e-9);
  EXPECT_EQ(stats.count, 4);
}

TEST(Frechet, RejectsTooFewSamples) {
  EXPECT_THROW(feature_statistics(torch::zeros({1, 3})), std::invalid_argument);
}
