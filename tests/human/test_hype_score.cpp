// HYPE∞ against hand counts and its bootstrap interval against the closed form of a
// binomial's standard error; the raters' balanced order.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "human/hype_score.h"
#include "human/study.h"

namespace trilemma::human {
namespace {

// `wrong` of `n` judgements of one kind wrong, each on its own image, by rater `rater`.
void add(std::vector<Judgement>& out, bool is_real, int n, int wrong, int64_t rater = 0, int64_t first_image = 0) {
  for (int k = 0; k < n; ++k)
    out.push_back({rater, first_image + k, is_real, k < wrong ? !is_real : is_real});
}

TEST(HypeScore, PointScoreIsTheBalancedErrorOfHandCounts) {
  std::vector<Judgement> judgements;
  add(judgements, /*is_real=*/false, 10, 4);          // 4 of 10 fakes judged real
  add(judgements, /*is_real=*/true, 20, 2, 0, 100);   // 2 of 20 reals judged fake
  const HypeScore score = hype_point_score(judgements);
  EXPECT_DOUBLE_EQ(score.fakes_judged_real, 0.4);
  EXPECT_DOUBLE_EQ(score.reals_judged_fake, 0.1);
  EXPECT_DOUBLE_EQ(score.score, 0.25);  // ½ (0.4 + 0.1); the unweighted 6/30 would be 0.2
  EXPECT_EQ(score.fake_judgements, 10);
  EXPECT_EQ(score.real_judgements, 20);
  EXPECT_EQ(score.raters, 1);
}

TEST(HypeScore, EqualCountsGiveThePapersPlainErrorRate) {
  std::vector<Judgement> judgements;
  add(judgements, false, 50, 20);
  add(judgements, true, 50, 5, 0, 100);
  EXPECT_DOUBLE_EQ(hype_point_score(judgements).score, 25.0 / 100.0);
}

TEST(HypeScore, UndefinedWithoutRealsOrWithoutFakes) {
  std::vector<Judgement> only_fakes;
  add(only_fakes, false, 5, 1);
  EXPECT_TRUE(std::isnan(hype_score(only_fakes, 200).score));
  EXPECT_TRUE(std::isnan(hype_score({}, 200).score));
}

TEST(HypeScore, BootstrapIntervalMatchesTheBinomialStandardError) {
  // One rater (resampling raters changes nothing), 400 fakes with 30 % judged real and 400
  // reals with 10 % judged fake: the score's standard error is
  // ½ sqrt(0.3·0.7/400 + 0.1·0.9/400) = 0.013693, so the 95 % interval spans ≈ 3.92 of it.
  std::vector<Judgement> judgements;
  add(judgements, false, 400, 120);
  add(judgements, true, 400, 40, 0, 1000);
  const HypeScore score = hype_score(judgements, 4000, 7);
  const double standard_error = 0.5 * std::sqrt(0.3 * 0.7 / 400 + 0.1 * 0.9 / 400);
  EXPECT_DOUBLE_EQ(score.score, 0.2);
  EXPECT_NEAR(score.ci_high - score.ci_low, 2 * 1.96 * standard_error, 0.1 * 2 * 1.96 * standard_error);
  EXPECT_NEAR(0.5 * (score.ci_low + score.ci_high), 0.2, 0.004);
}

TEST(HypeScore, PerfectRatersHaveAZeroWidthInterval) {
  std::vector<Judgement> judgements;
  add(judgements, false, 30, 0);
  add(judgements, true, 30, 0, 0, 100);
  const HypeScore score = hype_score(judgements, 500);
  EXPECT_EQ(score.score, 0.0);
  EXPECT_EQ(score.ci_low, 0.0);
  EXPECT_EQ(score.ci_high, 0.0);
}

TEST(HypeScore, RaterResamplingWidensTheIntervalWhenRatersDisagree) {
  // Same pooled counts either way: 4 raters × 50 fakes + 50 reals. Alike: each rater errs on
  // 25 % of fakes. Unlike: two err on 0 %, two on 50 %. Only the rater draw can tell them apart.
  auto study = [](const std::vector<int>& fake_errors) {
    std::vector<Judgement> judgements;
    for (size_t r = 0; r < fake_errors.size(); ++r) {
      add(judgements, false, 50, fake_errors[r], static_cast<int64_t>(r), 0);
      add(judgements, true, 50, 5, static_cast<int64_t>(r), 1000);
    }
    return hype_score(judgements, 3000, 3);
  };
  const HypeScore alike = study({12, 13, 12, 13}), unlike = study({0, 25, 0, 25});
  EXPECT_DOUBLE_EQ(alike.score, unlike.score);
  EXPECT_GT(unlike.ci_high - unlike.ci_low, 1.5 * (alike.ci_high - alike.ci_low));
}

TEST(HypeScore, SameSeedSameInterval) {
  std::vector<Judgement> judgements;
  add(judgements, false, 40, 13);
  add(judgements, true, 40, 6, 0, 100);
  const HypeScore a = hype_score(judgements, 300, 11), b = hype_score(judgements, 300, 11);
  EXPECT_EQ(a.ci_low, b.ci_low);
  EXPECT_EQ(a.ci_high, b.ci_high);
}

TEST(BalancedOrder, EverySessionIsHalfRealWithTheModelsInTurn) {
  // 60 reals, 3 models × 20 fakes, sessions of 12: each session 6 real + 6 fake, and the fakes
  // of a session come from every model twice.
  const std::vector<int64_t> order = balanced_order(60, {20, 20, 20}, 12, 5);
  ASSERT_EQ(order.size(), 120u);
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 120u);  // a permutation
  for (size_t start = 0; start < order.size(); start += 12) {
    int reals = 0;
    std::map<int64_t, int> per_model;
    for (size_t p = start; p < start + 12; ++p) {
      if (order[p] < 60) ++reals;
      else ++per_model[(order[p] - 60) / 20];
    }
    EXPECT_EQ(reals, 6) << "session at " << start;
    for (int m = 0; m < 3; ++m) EXPECT_EQ(per_model[m], 2) << "session at " << start << ", model " << m;
  }
}

TEST(BalancedOrder, UnevenCountsStillUseEveryImageOnce) {
  const std::vector<int64_t> order = balanced_order(7, {3}, 4, 1);
  ASSERT_EQ(order.size(), 10u);
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 10u);
  // The first session: 2 + 2; the second: 2 real + the last fake + 1 real to fill.
  int first_session_reals = 0;
  for (int p = 0; p < 4; ++p) first_session_reals += order[p] < 7;
  EXPECT_EQ(first_session_reals, 2);
}

TEST(BalancedOrder, DependsOnTheSeedOnly) {
  EXPECT_EQ(balanced_order(10, {5, 5}, 4, 9), balanced_order(10, {5, 5}, 4, 9));
  EXPECT_NE(balanced_order(10, {5, 5}, 4, 9), balanced_order(10, {5, 5}, 4, 10));
}

}  // namespace
}  // namespace trilemma::human
