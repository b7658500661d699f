// Guards the k-means the self-conditioned DCGAN clusters its training images with: against
// answers computed by hand, and data whose clusters are known.
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/kmeans.h"

namespace trilemma {
namespace {

TEST(KMeans, NearestCentroidMatchesTheHandComputedDistances) {
  // (0, 4): 3.5² = 12.25 to (0, 0.5) against 3² + 3² = 18 to (3, 1).
  const torch::Tensor points = torch::tensor({{0.0f, 0.0f}, {3.0f, 0.0f}, {0.0f, 4.0f}, {2.0f, 1.0f}});
  const torch::Tensor centroids = torch::tensor({{0.0f, 0.5f}, {3.0f, 1.0f}});
  EXPECT_TRUE(nearest_centroid(points, centroids).equal(torch::tensor({0, 1, 0, 1}, torch::kLong)));
}

TEST(KMeans, TwoPairsOnALineSplitIntoTheirMeans) {
  // Whichever two points k-means++ seeds with, Lloyd ends at {0, 1} and {10, 11}: a seed pair
  // inside one group is split by the first reassignment (the far group joins the nearer seed,
  // then the centroid of three moves and the fourth point changes side).
  for (uint64_t seed = 0; seed < 20; ++seed) {
    torch::manual_seed(seed);
    const KMeansFit fit = fit_kmeans(torch::tensor({{0.0f}, {1.0f}, {10.0f}, {11.0f}}), 2);
    const torch::Tensor sorted = std::get<0>(fit.centroids.flatten().sort());
    EXPECT_TRUE(sorted.allclose(torch::tensor({0.5f, 10.5f}))) << "seed " << seed << ": " << sorted;
    EXPECT_TRUE(fit.converged);
    EXPECT_EQ(fit.assignments[0].item<int64_t>(), fit.assignments[1].item<int64_t>());
    EXPECT_EQ(fit.assignments[2].item<int64_t>(), fit.assignments[3].item<int64_t>());
    EXPECT_NE(fit.assignments[0].item<int64_t>(), fit.assignments[2].item<int64_t>());
  }
}

TEST(KMeans, RecoversWellSeparatedBlobsAndTheirMeans) {
  // Four blobs 10 apart in 5-D with spread 0.1: every point's cluster is its blob's, and each
  // centroid is its blob's mean exactly.
  torch::manual_seed(3);
  const int64_t per_blob = 50;
  const torch::Tensor centres = 10 * torch::eye(5).narrow(0, 0, 4);
  const torch::Tensor blob = torch::arange(4, torch::kLong).repeat_interleave(per_blob);
  const torch::Tensor points = centres.index_select(0, blob) + 0.1 * torch::randn({4 * per_blob, 5});
  const KMeansFit fit = fit_kmeans(points, 4);
  ASSERT_TRUE(fit.converged);
  for (int64_t b = 0; b < 4; ++b) {
    const torch::Tensor members = fit.assignments.narrow(0, b * per_blob, per_blob);
    const int64_t cluster = members[0].item<int64_t>();
    EXPECT_TRUE(members.eq(cluster).all().item<bool>()) << "blob " << b << " split";
    EXPECT_TRUE(fit.centroids[cluster].allclose(points.narrow(0, b * per_blob, per_blob).mean(0), 1e-5, 1e-5));
  }
  EXPECT_EQ(std::get<0>(at::_unique(fit.assignments)).size(0), 4) << "two blobs share a cluster";
}

TEST(KMeans, RefusesMoreClustersThanPoints) {
  EXPECT_THROW(fit_kmeans(torch::rand({3, 2}), 4), UserError);
  // Fewer distinct points than clusters is not an error: the spare clusters stay empty.
  const KMeansFit fit = fit_kmeans(torch::ones({5, 2}), 3);
  EXPECT_TRUE(fit.assignments.eq(fit.assignments[0]).all().item<bool>());
}

}  // namespace
}  // namespace trilemma
