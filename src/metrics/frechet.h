#pragma once
// Fréchet distance between Gaussians fitted to feature sets (Heusel et al. 2017, "GANs
// trained by a two time-scale update rule converge to a local Nash equilibrium", eq. 6;
// Dowson & Landau 1982). On MNIST the features are the penultimate activations of
// trilemma's own evaluator classifier, not Inception's: numbers are comparable only between
// evaluations that use the same extractor (same version and checksum) and the same N, since
// the estimator is biased upwards by O(1/N) (Chong & Forsyth 2020).
#include <torch/torch.h>

#include <cstdint>

namespace trilemma::metrics {

/// First and second moments of a feature set, float64 on the CPU.
struct FeatureStats {
  torch::Tensor mean;        ///< D
  torch::Tensor covariance;  ///< D×D, unbiased (divided by N−1)
  int64_t count = 0;         ///< N
};

/// Mean and N−1 covariance of N×D features, computed in double in two passes (mean first,
/// then the centred cross-product) because the one-pass E[xxᵀ] − μμᵀ loses the small
/// eigenvalues to cancellation. Throws std::invalid_argument if N < 2 or not 2-D.
FeatureStats feature_statistics(const torch::Tensor& features);

/// ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁^½ Σ₂ Σ₁^½), the raw (uncorrected) value.
/// tr √(Σ₁Σ₂) is taken through the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½, which has the same
/// eigenvalues as Σ₁Σ₂, with eigh and negative round-off eigenvalues clamped at 0: it stays
/// real and finite for rank-deficient covariances (N ≤ D), where scipy's non-symmetric
/// sqrtm returns complex parts or NaN.
double frechet_distance(const torch::Tensor& mean1, const torch::Tensor& cov1,
                        const torch::Tensor& mean2, const torch::Tensor& cov2);
double frechet_distance(const FeatureStats& a, const FeatureStats& b);

}  // namespace trilemma::metrics
