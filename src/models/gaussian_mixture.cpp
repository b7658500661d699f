#include "models/gaussian_mixture.h"

#include <cmath>
#include <stdexcept>

namespace trilemma {

GaussianMixtureImpl::GaussianMixtureImpl(int64_t components, int64_t dim) {
  if (components < 1 || dim < 1) throw std::invalid_argument("a Gaussian mixture needs K >= 1 and D >= 1");
  weights = register_buffer("weights", torch::full({components}, 1.0 / components));
  means = register_buffer("means", torch::zeros({components, dim}));
  scale_tril = register_buffer("scale_tril", torch::eye(dim).repeat({components, 1, 1}));
  fitted = register_buffer("fitted", torch::zeros({}, torch::kLong));
}

namespace {

// N×K: log w_k + log N(x_n; μ_k, L_k L_kᵀ), all float64.
torch::Tensor component_log_densities(const torch::Tensor& weights, const torch::Tensor& means,
                                      const torch::Tensor& scale_tril, const torch::Tensor& x) {
  const int64_t k_count = weights.size(0), dim = x.size(1);
  std::vector<torch::Tensor> columns;
  columns.reserve(k_count);
  for (int64_t k = 0; k < k_count; ++k) {
    // ‖L⁻¹(x − μ)‖² is the Mahalanobis distance; log|Σ| = 2 Σ log diag(L).
    const torch::Tensor whitened =
        torch::linalg_solve_triangular(scale_tril[k], (x - means[k]).t(), /*upper=*/false);
    const torch::Tensor log_det = 2 * scale_tril[k].diagonal().log().sum();
    columns.push_back(weights[k].log() -
                      0.5 * (whitened.pow(2).sum(0) + log_det + static_cast<double>(dim) * std::log(2 * M_PI)));
  }
  return torch::stack(columns, 1);
}

}  // namespace

torch::Tensor GaussianMixtureImpl::log_density(const torch::Tensor& points) const {
  const auto d = torch::kDouble;
  return torch::logsumexp(
      component_log_densities(weights.to(d), means.to(d), scale_tril.to(d), points.to(d).to(weights.device())), 1);
}

torch::Tensor GaussianMixtureImpl::sample(int64_t n) const {
  const torch::Tensor chosen = torch::multinomial(weights.to(torch::kDouble), n, /*replacement=*/true);
  const torch::Tensor eps = torch::randn({n, dim(), 1}, means.options());
  return means.index_select(0, chosen) + torch::bmm(scale_tril.index_select(0, chosen), eps).squeeze(2);
}

MixtureFit fit_gaussian_mixture(GaussianMixtureImpl& mixture, const torch::Tensor& points_in, int max_iterations,
                                double tolerance) {
  torch::NoGradGuard no_grad;
  if (points_in.dim() != 2 || points_in.size(1) != mixture.dim() || points_in.size(0) < mixture.components())
    throw std::invalid_argument("fit_gaussian_mixture: points must be N×D with D the mixture's and N >= K");
  const torch::Tensor x = points_in.to(torch::kDouble).to(mixture.means.device());
  const int64_t n = x.size(0), dim = x.size(1), k_count = mixture.components();

  torch::Tensor weights = torch::full({k_count}, 1.0 / k_count, x.options());
  torch::Tensor means = x.index_select(0, torch::randperm(n, torch::kLong).narrow(0, 0, k_count).to(x.device()));
  const torch::Tensor covariance = torch::cov(x.t()).reshape({dim, dim});
  const torch::Tensor ridge = 1e-6 * covariance.diagonal().mean() * torch::eye(dim, x.options());
  torch::Tensor scale_tril = torch::linalg_cholesky(covariance + ridge).expand({k_count, dim, dim}).clone();

  MixtureFit fit;
  for (int iteration = 0; iteration < max_iterations; ++iteration) {
    // E-step: responsibilities r_nk = p(k | x_n).
    const torch::Tensor log_joint = component_log_densities(weights, means, scale_tril, x);
    const torch::Tensor log_likelihood = torch::logsumexp(log_joint, 1);
    const torch::Tensor responsibilities = (log_joint - log_likelihood.unsqueeze(1)).exp();
    // M-step: weights, means and covariances from the responsibilities.
    const torch::Tensor mass = responsibilities.sum(0).clamp_min(1e-12);
    weights = mass / n;
    means = responsibilities.t().mm(x) / mass.unsqueeze(1);
    std::vector<torch::Tensor> factors;
    factors.reserve(k_count);
    for (int64_t k = 0; k < k_count; ++k) {
      const torch::Tensor centred = x - means[k];
      const torch::Tensor cov_k = (centred * responsibilities.select(1, k).unsqueeze(1)).t().mm(centred) / mass[k];
      factors.push_back(torch::linalg_cholesky(cov_k + ridge));
    }
    scale_tril = torch::stack(factors);

    // The likelihood of the parameters the E-step used: EM never lowers it.
    const double mean_ll = log_likelihood.mean().item<double>();
    const bool small_gain = !fit.mean_log_likelihood.empty() &&
                            mean_ll - fit.mean_log_likelihood.back() < tolerance * std::abs(mean_ll);
    fit.mean_log_likelihood.push_back(mean_ll);
    if (small_gain) {
      fit.converged = true;
      break;
    }
  }
  const auto f = mixture.weights.dtype();
  mixture.weights.copy_(weights.to(f));
  mixture.means.copy_(means.to(f));
  mixture.scale_tril.copy_(scale_tril.to(f));
  mixture.fitted.fill_(1);
  return fit;
}

}  // namespace trilemma
