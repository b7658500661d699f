#pragma once
// A Gaussian mixture with full covariances, fitted by expectation-maximisation. The VAE
// samples its latent codes from one fitted to the training set's posterior means ("ex-post
// density estimation", Ghosh et al. 2020): the ELBO's N(0, I) prior puts mass where the
// aggregate posterior has none, and the decoder turns those codes into malformed digits.
#include <torch/torch.h>

#include <vector>

namespace trilemma {

/// K weighted Gaussians over R^D. Its state is three buffers (so that it is saved, loaded
/// and shipped in the zoo like a network) and a flag saying whether it has been fitted;
/// unfitted, it is K copies of N(0, I).
struct GaussianMixtureImpl : torch::nn::Module {
  GaussianMixtureImpl(int64_t components, int64_t dim);

  /// log p(x) for N×D points: log Σ_k w_k N(x; μ_k, Σ_k), as float64 N.
  torch::Tensor log_density(const torch::Tensor& points) const;
  /// n points n×D (float32), drawn with the global generator: a component by weight, then
  /// μ_k + L_k ε.
  torch::Tensor sample(int64_t n) const;
  bool is_fitted() const { return fitted.item<int64_t>() != 0; }
  int64_t components() const { return weights.size(0); }
  int64_t dim() const { return means.size(1); }

  torch::Tensor weights;     ///< K, summing to 1
  torch::Tensor means;       ///< K×D
  torch::Tensor scale_tril;  ///< K×D×D lower-triangular L_k with Σ_k = L_k L_kᵀ
  torch::Tensor fitted;      ///< 0-d int64: 1 once fit_gaussian_mixture has run
};
TORCH_MODULE(GaussianMixture);

/// What a fit did: the points' mean log-likelihood under the parameters each EM iteration
/// started from (non-decreasing, as EM guarantees up to rounding), and whether it converged.
struct MixtureFit {
  std::vector<double> mean_log_likelihood;
  bool converged = false;
};

/// Fits `mixture`'s K components to N×D points (N ≥ K) by EM in float64: the means start at
/// K distinct points drawn with the global generator, the covariances at the points'
/// covariance. Stops when an iteration improves the mean log-likelihood by less than
/// `tolerance` (relative) or after `max_iterations`. Every covariance gets a ridge of 1e-6
/// of the points' mean variance, so that a component on a few points stays invertible.
MixtureFit fit_gaussian_mixture(GaussianMixtureImpl& mixture, const torch::Tensor& points,
                                int max_iterations = 300, double tolerance = 1e-6);

}  // namespace trilemma
