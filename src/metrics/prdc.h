#pragma once
// Manifold-based fidelity and diversity metrics on feature sets:
//  - improved precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall
//    metric for assessing generative models", eq. 1–3): the real (fake) manifold is the
//    union of balls around each real (fake) point reaching its k-th nearest neighbour;
//    precision is the share of fakes inside the real manifold, recall the share of reals
//    inside the fake manifold. The paper uses k = 3.
//  - density and coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics for
//    generative models", eq. 3–4): density counts how many real balls hold each fake
//    (divided by k, so ≈ 1 when the distributions match; it can exceed 1), coverage is the
//    share of real balls holding at least one fake. The paper uses k = 5.
// Balls are closed (distance ≤ radius), as in Kynkäänniemi et al.'s definition; with
// continuous features ties have probability zero.
#include <torch/torch.h>

#include <cstdint>

namespace trilemma::metrics {

struct PrdcOptions {
  int64_t k_precision_recall = 3;  ///< k for improved precision/recall
  int64_t k_density_coverage = 5;  ///< k for density/coverage
  int64_t chunk_rows = 1024;       ///< rows per block of the pairwise-distance matrix, so that
                                   ///< 10k×10k needs chunk_rows×10k doubles at a time
  /// Fewer rows per block when a block would hold more distances than this (16 Mi = 128 MiB
  /// of doubles), so that eval --n 1000000 stays in bounded memory; N = 10,000 keeps the
  /// full chunk_rows (16 Mi / 10,000 > 1024), so its numbers do not change.
  int64_t max_block_elements = int64_t{16} << 20;
};

struct PrdcResult {
  double precision = 0.0;
  double recall = 0.0;
  double density = 0.0;
  double coverage = 0.0;
};

/// Distance from each row of `points` to its k-th nearest other row (self excluded), in
/// double, computed in row blocks. Throws std::invalid_argument if k >= N.
torch::Tensor kth_neighbour_distances(const torch::Tensor& points, int64_t k,
                                      int64_t chunk_rows = 1024,
                                      int64_t max_block_elements = int64_t{16} << 20);

/// Precision, recall, density and coverage of `fake` against `real` (N×D and M×D).
PrdcResult precision_recall_density_coverage(const torch::Tensor& real, const torch::Tensor& fake,
                                             const PrdcOptions& options = {});

}  // namespace trilemma::metrics
