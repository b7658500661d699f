#include "metrics/frechet.h"

#include <stdexcept>
#include <string>

namespace trilemma::metrics {
namespace {

torch::Tensor as_double_cpu(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
}

/// Square root of a symmetric PSD matrix by eigendecomposition, eigenvalues clamped at 0.
torch::Tensor psd_sqrt(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg::eigh(m, "L");
  return torch::matmul(vectors * values.clamp_min(0.0).sqrt().unsqueeze(0), vectors.t());
}

}  // namespace

FeatureStats feature_statistics(const torch::Tensor& features) {
  if (features.dim() != 2)
    throw std::invalid_argument("feature_statistics: expected N×D features, got " +
                                std::to_string(features.dim()) + "-D");
  if (features.size(0) < 2)
    throw std::invalid_argument("feature_statistics: need at least 2 samples for a covariance");
  torch::NoGradGuard no_grad;
  const auto x = as_double_cpu(features);
  FeatureStats stats;
  stats.count = x.size(0);
  stats.mean = x.mean(0);
  const auto centred = x - stats.mean.unsqueeze(0);
  stats.covariance = torch::matmul(centred.t(), centred) / static_cast<double>(stats.count - 1);
  return stats;
}

double frechet_distance(const torch::Tensor& mean1, const torch::Tensor& cov1,
                        const torch::Tensor& mean2, const torch::Tensor& cov2) {
  torch::NoGradGuard no_grad;
  const auto m1 = as_double_cpu(mean1), m2 = as_double_cpu(mean2);
  auto s1 = as_double_cpu(cov1), s2 = as_double_cpu(cov2);
  const int64_t d = m1.numel();
  if (m1.dim() != 1 || m2.dim() != 1 || m2.numel() != d || s1.sizes() != torch::IntArrayRef{d, d} ||
      s2.sizes() != torch::IntArrayRef{d, d})
    throw std::invalid_argument("frechet_distance: means must be D and covariances D×D");
  // Symmetrise: covariances from matmul are symmetric only up to round-off, and eigh reads
  // one triangle.
  s1 = 0.5 * (s1 + s1.t());
  s2 = 0.5 * (s2 + s2.t());
  const auto root1 = psd_sqrt(s1);
  auto inner = torch::matmul(torch::matmul(root1, s2), root1);
  inner = 0.5 * (inner + inner.t());
  const double trace_sqrt =
      torch::linalg::eigvalsh(inner, "L").clamp_min(0.0).sqrt().sum().item<double>();
  const double mean_term = (m1 - m2).pow(2).sum().item<double>();
  return mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * trace_sqrt;
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  return frechet_distance(a.mean, a.covariance, b.mean, b.covariance);
}

}  // namespace trilemma::metrics
