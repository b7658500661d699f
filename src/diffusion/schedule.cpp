#include "diffusion/schedule.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"

namespace trilemma::diffusion {
namespace {

// Ho et al. 2020, section 4: β_1 = 1e-4 to β_T = 0.02 for T = 1000.
constexpr double kLinearBetaStart = 1e-4;
constexpr double kLinearBetaEnd = 0.02;
constexpr double kLinearReferenceSteps = 1000.0;
// Nichol & Dhariwal 2021, section 3.2: the offset keeps β_1 from being vanishingly small,
// and the clip avoids the singularity of ᾱ → 0 at t = T.
constexpr double kCosineOffset = 0.008;
constexpr double kCosineMaxBeta = 0.999;

std::vector<double> linspace(double start, double end, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    out[i] = n == 1 ? start : start + (end - start) * static_cast<double>(i) / (n - 1);
  return out;
}

torch::Tensor to_tensor(const std::vector<double>& values) {
  return torch::tensor(values, torch::kFloat64).to(torch::kFloat32);
}

}  // namespace

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names = {"linear", "linear-scaled", "cosine"};
  return names;
}

NoiseSchedule::NoiseSchedule(std::string name, std::vector<double> betas)
    : name_(std::move(name)), betas_(std::move(betas)) {
  if (betas_.empty()) throw UserError("noise schedule: needs at least one timestep");
  const size_t n = betas_.size();
  alphas_.resize(n);
  alpha_bars_.resize(n);
  posterior_variance_.resize(n);
  posterior_mean_coef1_.resize(n);
  posterior_mean_coef2_.resize(n);
  double alpha_bar = 1.0;
  for (size_t i = 0; i < n; ++i) {
    const double beta = betas_[i];
    if (!(beta > 0.0 && beta < 1.0))
      throw UserError("noise schedule '" + name_ + "': beta " + std::to_string(beta) +
                      " at step " + std::to_string(i + 1) + " is outside (0, 1)");
    const double alpha_bar_prev = alpha_bar;
    alphas_[i] = 1.0 - beta;
    alpha_bar *= alphas_[i];
    alpha_bars_[i] = alpha_bar;
    // Eq. 7; at the first step ᾱ_0 = 1, so β̃_1 = 0 and μ̃_1 = x_0.
    posterior_variance_[i] = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta;
    posterior_mean_coef1_[i] = std::sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar);
    posterior_mean_coef2_[i] = std::sqrt(alphas_[i]) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar);
  }
  betas_t_ = to_tensor(betas_);
  alpha_bars_t_ = to_tensor(alpha_bars_);
  posterior_variance_t_ = to_tensor(posterior_variance_);
  std::vector<double> sqrt_ab(n), sqrt_1mab(n);
  for (size_t i = 0; i < n; ++i) {
    sqrt_ab[i] = std::sqrt(alpha_bars_[i]);
    sqrt_1mab[i] = std::sqrt(1.0 - alpha_bars_[i]);
  }
  sqrt_alpha_bars_t_ = to_tensor(sqrt_ab);
  sqrt_one_minus_alpha_bars_t_ = to_tensor(sqrt_1mab);
}

double NoiseSchedule::alpha_bar_at(int64_t i) const {
  if (i < 0) return 1.0;
  return alpha_bars_.at(static_cast<size_t>(i));
}

torch::Tensor NoiseSchedule::q_sample(const torch::Tensor& x0, const torch::Tensor& t,
                                      const torch::Tensor& noise) const {
  const auto index = t.to(torch::kCPU, torch::kLong);
  std::vector<int64_t> shape(static_cast<size_t>(x0.dim()), 1);
  shape[0] = x0.size(0);
  auto a = sqrt_alpha_bars_t_.index_select(0, index).to(x0.device(), x0.scalar_type()).view(shape);
  auto b = sqrt_one_minus_alpha_bars_t_.index_select(0, index)
               .to(x0.device(), x0.scalar_type())
               .view(shape);
  return a * x0 + b * noise;
}

NoiseSchedule make_noise_schedule(const std::string& name, int64_t timesteps) {
  if (timesteps < 1) throw UserError("--timesteps: must be >= 1, got " + std::to_string(timesteps));
  if (name == "linear") {
    return NoiseSchedule(name, linspace(kLinearBetaStart, kLinearBetaEnd, timesteps));
  }
  if (name == "linear-scaled") {
    const double scale = kLinearReferenceSteps / static_cast<double>(timesteps);
    if (scale * kLinearBetaEnd >= 1.0)
      throw UserError("--schedule linear-scaled: needs --timesteps > 20, got " +
                      std::to_string(timesteps));
    return NoiseSchedule(name, linspace(scale * kLinearBetaStart, scale * kLinearBetaEnd, timesteps));
  }
  if (name == "cosine") {
    const double pi = std::acos(-1.0);
    auto f = [&](double t) {
      const double c = std::cos((t / timesteps + kCosineOffset) / (1.0 + kCosineOffset) * pi / 2);
      return c * c;
    };
    std::vector<double> betas(static_cast<size_t>(timesteps));
    for (int64_t i = 0; i < timesteps; ++i) {
      const double beta = 1.0 - f(i + 1.0) / f(static_cast<double>(i));
      betas[i] = std::min(beta, kCosineMaxBeta);
    }
    return NoiseSchedule(name, std::move(betas));
  }
  std::string known;
  for (const auto& n : schedule_names()) known += (known.empty() ? "" : ", ") + n;
  throw UserError("--schedule: unknown schedule '" + name + "' (known: " + known + ")");
}

}  // namespace trilemma::diffusion
