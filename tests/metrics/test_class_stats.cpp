// Guards the classifier score (Salimans et al. 2016) and the class-histogram numbers
// against one-hot posteriors whose answers are known exactly.
#include <gtest/gtest.h>

#include <cmath>

#include "metrics/class_stats.h"
#include "metrics/speed.h"

using namespace trilemma::metrics;

namespace {
/// n one-hot rows over 10 classes, row i of class (i mod classes_used).
torch::Tensor one_hot_cycle(int64_t n, int64_t classes_used) {
  auto labels = torch::arange(n, torch::kInt64).remainder(classes_used);
  return torch::one_hot(labels, 10).to(torch::kFloat64);
}
}  // namespace

TEST(ClassStats, BalancedOverTenScoresTen) {
  const auto s = classifier_score(one_hot_cycle(1000, 10), 10);
  EXPECT_NEAR(s.mean, 10.0, 1e-9);
  EXPECT_NEAR(s.std, 0.0, 1e-9);
  const auto c = class_statistics(one_hot_cycle(1000, 10));
  EXPECT_EQ(c.classes_covered, 10);
  EXPECT_NEAR(c.entropy, std::log(10.0), 1e-12);
  EXPECT_NEAR(c.kl_uniform, 0.0, 1e-12);
}

TEST(ClassStats, SingleClassScoresOne) {
  const auto s = classifier_score(one_hot_cycle(500, 1), 10);
  EXPECT_NEAR(s.mean, 1.0, 1e-12);
  const auto c = class_statistics(one_hot_cycle(500, 1));
  EXPECT_EQ(c.classes_covered, 1);
  EXPECT_EQ(c.histogram[0], 500);
  EXPECT_NEAR(c.entropy, 0.0, 1e-12);
  EXPECT_NEAR(c.kl_uniform, std::log(10.0), 1e-12);
}

TEST(ClassStats, BalancedOverFive) {
  const auto s = classifier_score(one_hot_cycle(1000, 5), 10);
  EXPECT_NEAR(s.mean, 5.0, 1e-9);
  const auto c = class_statistics(one_hot_cycle(1000, 5));
  EXPECT_EQ(c.classes_covered, 5);
  EXPECT_NEAR(c.kl_uniform, std::log(2.0), 1e-12);
  EXPECT_NEAR(c.entropy, std::log(5.0), 1e-12);
  EXPECT_NEAR(c.mean_confidence, 1.0, 1e-12);
  EXPECT_NEAR(c.shares[4], 0.2, 1e-12);
  EXPECT_EQ(c.histogram[7], 0);
}

// The 1 % rule: 9 of 1000 samples (0.9 %) do not cover a class, 10 (1.0 %) do.
TEST(ClassStats, CoveredShareThreshold) {
  auto labels = torch::zeros({1000}, torch::kInt64);
  labels.slice(0, 0, 9).fill_(3);
  labels.slice(0, 9, 19).fill_(5);
  const auto c = class_statistics(torch::one_hot(labels, 10).to(torch::kFloat64));
  EXPECT_EQ(c.histogram[3], 9);
  EXPECT_EQ(c.histogram[5], 10);
  EXPECT_EQ(c.classes_covered, 2);
}

TEST(ClassStats, UniformPosteriorsHaveLowConfidence) {
  auto p = torch::full({100, 10}, 0.1, torch::kFloat64);
  EXPECT_NEAR(classifier_score(p).mean, 1.0, 1e-12);
  EXPECT_NEAR(class_statistics(p).mean_confidence, 0.1, 1e-12);
}

TEST(ClassStatsSpeed, MedianAndTiming) {
  EXPECT_DOUBLE_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(median({4.0, 1.0, 2.0, 3.0}), 2.5);
  int calls = 0;
  TimingOptions options;
  options.warmup = 2;
  options.repeats = 3;
  const auto t = time_median([&] { ++calls; }, options);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(t.seconds.size(), 3u);
}
