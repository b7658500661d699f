// Guards precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al.
// 2020) against a 1-D example small enough to check by hand, and the chunking against
// the unchunked result.
#include <gtest/gtest.h>

#include "metrics/prdc.h"

using namespace trilemma::metrics;

namespace {

void expect_same_prdc(const PrdcResult& a, const PrdcResult& b) {
  EXPECT_DOUBLE_EQ(a.precision, b.precision);
  EXPECT_DOUBLE_EQ(a.recall, b.recall);
  EXPECT_DOUBLE_EQ(a.density, b.density);
  EXPECT_DOUBLE_EQ(a.coverage, b.coverage);
}

}  // namespace

TEST(Prdc, OneDimensionalKnownValues) {
  auto real = torch::tensor({0.0, 1.0, 2.0, 3.0, 10.0}).view({5, 1});
  auto fake = torch::tensor({0.5, 1.5, 9.0, 20.0}).view({4, 1});
  PrdcOptions options;
  options.k_precision_recall = 1;
  options.k_density_coverage = 1;
  const auto r = precision_recall_density_coverage(real, fake, options);
  EXPECT_DOUBLE_EQ(r.precision, 0.75);
  EXPECT_DOUBLE_EQ(r.recall, 1.0);
  EXPECT_DOUBLE_EQ(r.density, 1.25);
  EXPECT_DOUBLE_EQ(r.coverage, 0.8);
}

TEST(Prdc, KthNeighbourExcludesSelf) {
  auto points = torch::tensor({0.0, 1.0, 3.0, 7.0}).view({4, 1});
  const auto r1 = kth_neighbour_distances(points, 1);
  const auto r2 = kth_neighbour_distances(points, 2);
  EXPECT_DOUBLE_EQ(r1[0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r1[3].item<double>(), 4.0);
  EXPECT_DOUBLE_EQ(r2[0].item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(r2[2].item<double>(), 3.0);
  EXPECT_THROW(kth_neighbour_distances(points, 4), std::invalid_argument);
}

TEST(Prdc, ChunkingDoesNotChangeResult) {
  torch::manual_seed(3);
  auto real = torch::randn({300, 8}), fake = torch::randn({250, 8}) * 1.3 + 0.2;
  PrdcOptions whole, chunked;
  whole.chunk_rows = 100000;
  chunked.chunk_rows = 37;
  const auto a = precision_recall_density_coverage(real, fake, whole);
  const auto b = precision_recall_density_coverage(real, fake, chunked);
  expect_same_prdc(a, b);
  EXPECT_GT(a.precision, 0.3);
  EXPECT_LT(a.precision, 1.0);
}

// A set against itself: every point is in its own ball, so precision, recall and coverage
// are exactly 1.
TEST(Prdc, IdenticalSetsArePerfect) {
  torch::manual_seed(4);
  auto x = torch::randn({200, 5});
  const auto r = precision_recall_density_coverage(x, x);
  EXPECT_DOUBLE_EQ(r.precision, 1.0);
  EXPECT_DOUBLE_EQ(r.recall, 1.0);
  EXPECT_DOUBLE_EQ(r.coverage, 1.0);
}

TEST(Prdc, BlocksShrinkToTheElementBoundWithTheSameAnswer) {
  // 500 points on a line, one apart, at most 2,000 distances per block: 4 rows per block
  // instead of chunk_rows. The k-th neighbour distance is known in closed form: inside the
  // line ⌈k/2⌉ (neighbours on both sides), at the two ends k.
  const int64_t n = 500, k = 3;
  const auto points = torch::arange(n, torch::kFloat64).unsqueeze(1);
  const auto radii = kth_neighbour_distances(points, k, 1024, 2000);
  ASSERT_EQ(radii.size(0), n);
  EXPECT_DOUBLE_EQ(radii[0].item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(radii[1].item<double>(), 2.0);  // neighbours 1, 1 and 2 away
  EXPECT_DOUBLE_EQ(radii[n - 1].item<double>(), 3.0);
  EXPECT_EQ((radii == 2.0).sum().item<int64_t>(), n - 2);
  // The whole metric agrees with one block per set.
  torch::manual_seed(5);
  const auto real = torch::randn({300, 4}), fake = torch::randn({400, 4}) * 1.2;
  PrdcOptions bounded, whole;
  bounded.max_block_elements = 1000;
  whole.chunk_rows = 100000;
  const auto a = precision_recall_density_coverage(real, fake, bounded);
  const auto b = precision_recall_density_coverage(real, fake, whole);
  expect_same_prdc(a, b);
}
