#include "metrics/prdc.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace trilemma::metrics {
namespace {

torch::Tensor as_double_cpu(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
}

/// Euclidean distances between the rows of a (n×D) and b (m×D) through
/// ‖a‖² + ‖b‖² − 2abᵀ, a matmul; in double the cancellation costs ~1e-8 relative accuracy,
/// far below the spread of neighbour distances.
torch::Tensor pairwise_distances(const torch::Tensor& a, const torch::Tensor& a_sq,
                                 const torch::Tensor& b, const torch::Tensor& b_sq) {
  auto d2 = a_sq.unsqueeze(1) + b_sq.unsqueeze(0) - 2.0 * torch::matmul(a, b.t());
  return d2.clamp_min_(0.0).sqrt_();
}

// Rows per block: chunk_rows, fewer when a block would hold more than max_elements
// distances, so that the memory stays bounded however large N grows.
int64_t block_rows(int64_t chunk_rows, int64_t columns, int64_t max_elements) {
  return std::clamp<int64_t>(std::max<int64_t>(max_elements, 1) / std::max<int64_t>(columns, 1), 1,
                             std::max<int64_t>(chunk_rows, 1));
}

void check_inputs(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
    throw std::invalid_argument("prdc: expected N×D and M×D features of equal width");
}

}  // namespace

torch::Tensor kth_neighbour_distances(const torch::Tensor& points_in, int64_t k,
                                      int64_t chunk_rows, int64_t max_block_elements) {
  torch::NoGradGuard no_grad;
  const auto points = as_double_cpu(points_in);
  check_inputs(points, points);
  const int64_t n = points.size(0);
  if (k < 1 || k >= n)
    throw std::invalid_argument("kth_neighbour_distances: need 1 <= k < N, got k=" +
                                std::to_string(k) + " N=" + std::to_string(n));
  const auto sq = points.pow(2).sum(1);
  auto radii = torch::empty({n}, torch::kFloat64);
  chunk_rows = block_rows(chunk_rows, n, max_block_elements);
  for (int64_t start = 0; start < n; start += chunk_rows) {
    const int64_t end = std::min(n, start + chunk_rows);
    auto d = pairwise_distances(points.slice(0, start, end), sq.slice(0, start, end), points, sq);
    // The k+1 smallest include the point itself (distance ~0); the largest of them is the
    // k-th neighbour. Setting the self-distance to -1 makes that exact even with round-off.
    auto rows = torch::arange(end - start, torch::kInt64);
    d.index_put_({rows, rows + start}, -1.0);
    auto smallest = std::get<0>(d.topk(k + 1, /*dim=*/1, /*largest=*/false, /*sorted=*/true));
    radii.slice(0, start, end).copy_(smallest.select(1, k));
  }
  return radii;
}

PrdcResult precision_recall_density_coverage(const torch::Tensor& real_in,
                                             const torch::Tensor& fake_in,
                                             const PrdcOptions& options) {
  torch::NoGradGuard no_grad;
  const auto real = as_double_cpu(real_in), fake = as_double_cpu(fake_in);
  check_inputs(real, fake);
  const int64_t kpr = options.k_precision_recall, kdc = options.k_density_coverage;
  const int64_t chunk = options.chunk_rows, max_elements = options.max_block_elements;
  const auto real_pr = kth_neighbour_distances(real, kpr, chunk, max_elements);
  const auto real_dc = kth_neighbour_distances(real, kdc, chunk, max_elements);
  const auto fake_pr = kth_neighbour_distances(fake, kpr, chunk, max_elements);
  const int64_t fake_block = block_rows(chunk, real.size(0), max_elements);
  const int64_t real_block = block_rows(chunk, fake.size(0), max_elements);
  const auto real_sq = real.pow(2).sum(1), fake_sq = fake.pow(2).sum(1);
  const int64_t n_real = real.size(0), n_fake = fake.size(0);

  // Blocks of fakes against all reals: precision (inside any real k-ball) and density
  // (how many real k-balls).
  int64_t precise = 0;
  double density_count = 0.0;
  for (int64_t start = 0; start < n_fake; start += fake_block) {
    const int64_t end = std::min(n_fake, start + fake_block);
    const auto d = pairwise_distances(fake.slice(0, start, end), fake_sq.slice(0, start, end),
                                      real, real_sq);
    precise += (d <= real_pr.unsqueeze(0)).any(1).sum().item<int64_t>();
    density_count += static_cast<double>((d <= real_dc.unsqueeze(0)).sum().item<int64_t>());
  }
  // Blocks of reals against all fakes: recall (inside any fake k-ball) and coverage (the
  // nearest fake lies inside the real point's own k-ball).
  int64_t recalled = 0, covered = 0;
  for (int64_t start = 0; start < n_real; start += real_block) {
    const int64_t end = std::min(n_real, start + real_block);
    const auto d = pairwise_distances(real.slice(0, start, end), real_sq.slice(0, start, end),
                                      fake, fake_sq);
    recalled += (d <= fake_pr.unsqueeze(0)).any(1).sum().item<int64_t>();
    const auto nearest = std::get<0>(d.min(1));
    covered += (nearest <= real_dc.slice(0, start, end)).sum().item<int64_t>();
  }
  PrdcResult result;
  result.precision = static_cast<double>(precise) / n_fake;
  result.recall = static_cast<double>(recalled) / n_real;
  result.density = density_count / (static_cast<double>(kdc) * n_fake);
  result.coverage = static_cast<double>(covered) / n_real;
  return result;
}

}  // namespace trilemma::metrics
