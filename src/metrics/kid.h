#pragma once
// Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", sec. 4 and
// appendix D): the unbiased estimator of the squared maximum mean discrepancy with the
// cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets. Unlike
// the Fréchet distance it is unbiased, so values at different N are comparable in
// expectation; small negative values are legitimate estimates of a zero distance.
#include <torch/torch.h>

#include <cstdint>

namespace trilemma::metrics {

struct KidOptions {
  int64_t subsets = 100;       ///< number of random subsets (as in the KID paper's code)
  int64_t subset_size = 1000;  ///< m; capped at min(n_x, n_y)
  uint64_t seed = 0;           ///< seeds the subset draws, so a result is reproducible
};

struct KidResult {
  double mean = 0.0;  ///< mean MMD² over subsets
  double std = 0.0;   ///< population standard deviation over subsets (np.std, as torch-fidelity)
  int64_t subsets = 0;
  int64_t subset_size = 0;
};

/// Unbiased MMD² between two equal-size sets (m×d each, m ≥ 2), cubic kernel, in double:
/// (Σ_{i≠j} k(xᵢ,xⱼ) + Σ_{i≠j} k(yᵢ,yⱼ)) / (m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ) / m².
double mmd2_unbiased_cubic(const torch::Tensor& x, const torch::Tensor& y);

/// KID over `subsets` draws of m = min(subset_size, n_x, n_y) rows from each set, each draw
/// without replacement. Throws std::invalid_argument for mismatched widths or m < 2.
KidResult kernel_inception_distance(const torch::Tensor& x, const torch::Tensor& y,
                                    const KidOptions& options = {});

}  // namespace trilemma::metrics
