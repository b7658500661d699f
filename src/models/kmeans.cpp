#include "models/kmeans.h"

#include "core/error.h"

namespace trilemma {

namespace {

// N×K squared distances, expanded as |x|² − 2x·c + |c|² so that no N×K×D tensor is formed
// (60,000 MNIST images and 50 centroids would need 9 GB); clamped at 0 against rounding.
torch::Tensor squared_distances(const torch::Tensor& points, const torch::Tensor& centroids) {
  return (points.pow(2).sum(1, true) - 2 * points.matmul(centroids.t()) + centroids.pow(2).sum(1).unsqueeze(0))
      .clamp_min(0);
}

}  // namespace

torch::Tensor nearest_centroid(const torch::Tensor& points, const torch::Tensor& centroids) {
  return squared_distances(points.to(torch::kFloat), centroids.to(points.device(), torch::kFloat)).argmin(1);
}

KMeansFit fit_kmeans(const torch::Tensor& points_in, int64_t k, int max_iterations) {
  const torch::Tensor points = points_in.to(torch::kFloat).contiguous();
  const int64_t n = points.size(0);
  if (k < 1 || n < k)
    throw UserError(std::to_string(k) + " clusters need at least as many points (got " + std::to_string(n) + ")");
  // k-means++: each further seed is a point drawn with probability ∝ its squared distance to
  // the nearest seed so far (a point already chosen has weight 0 and is not drawn again).
  std::vector<int64_t> seeds{torch::randint(n, {1}, torch::kLong).item<int64_t>()};
  torch::Tensor nearest = (points - points[seeds[0]]).pow(2).sum(1);
  for (int64_t c = 1; c < k; ++c) {
    // Fewer distinct points than k: the remaining seeds repeat one, and those clusters stay empty.
    const int64_t next = nearest.sum().item<double>() > 0 ? torch::multinomial(nearest, 1).item<int64_t>() : seeds[0];
    seeds.push_back(next);
    nearest = torch::minimum(nearest, (points - points[next]).pow(2).sum(1));
  }
  KMeansFit fit;
  fit.centroids = points.index_select(0, torch::tensor(seeds, torch::kLong));
  for (fit.iterations = 1; fit.iterations <= max_iterations; ++fit.iterations) {
    const torch::Tensor assignments = nearest_centroid(points, fit.centroids);
    if (fit.assignments.defined() && assignments.equal(fit.assignments)) {
      fit.converged = true;
      break;
    }
    fit.assignments = assignments;
    const torch::Tensor counts = torch::bincount(assignments, {}, k).to(torch::kFloat);
    const torch::Tensor sums = torch::zeros_like(fit.centroids).index_add_(0, assignments, points);
    const torch::Tensor filled = (counts > 0).unsqueeze(1);
    fit.centroids = torch::where(filled, sums / counts.clamp_min(1).unsqueeze(1), fit.centroids);
  }
  fit.iterations = std::min(fit.iterations, max_iterations);
  return fit;
}

}  // namespace trilemma
