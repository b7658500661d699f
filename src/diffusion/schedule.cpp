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
  auto sqrt_of = [](std::vector<double> values) {
    for (double& v : values) v = std::sqrt(v);
    return to_tensor(values);
  };
  sqrt_alphas_t_ = sqrt_of(alphas_);
  sqrt_betas_t_ = sqrt_of(betas_);
  posterior_std_t_ = sqrt_of(posterior_variance_);
  posterior_mean_coef1_t_ = to_tensor(posterior_mean_coef1_);
  posterior_mean_coef2_t_ = to_tensor(posterior_mean_coef2_);
}

double NoiseSchedule::alpha_bar_at(int64_t i) const {
  if (i < 0) return 1.0;
  return alpha_bars_.at(static_cast<size_t>(i));
}

namespace {

// values[t[n]] for every row n, shaped to broadcast against `like` (N×1×1×...).
torch::Tensor per_row(const torch::Tensor& values, const torch::Tensor& t, const torch::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = like.size(0);
  return values.index_select(0, t.to(torch::kCPU, torch::kLong)).to(like.device(), like.scalar_type()).view(shape);
}

}  // namespace

torch::Tensor NoiseSchedule::q_sample(const torch::Tensor& x0, const torch::Tensor& t,
                                      const torch::Tensor& noise) const {
  return per_row(sqrt_alpha_bars_t_, t, x0) * x0 + per_row(sqrt_one_minus_alpha_bars_t_, t, x0) * noise;
}

torch::Tensor NoiseSchedule::q_step(const torch::Tensor& x_prev, const torch::Tensor& t,
                                    const torch::Tensor& noise) const {
  return per_row(sqrt_alphas_t_, t, x_prev) * x_prev + per_row(sqrt_betas_t_, t, x_prev) * noise;
}

torch::Tensor NoiseSchedule::q_posterior_sample(const torch::Tensor& x0, const torch::Tensor& x_t,
                                                const torch::Tensor& t, const torch::Tensor& noise) const {
  return per_row(posterior_mean_coef1_t_, t, x0) * x0 + per_row(posterior_mean_coef2_t_, t, x0) * x_t +
         per_row(posterior_std_t_, t, x0) * noise;
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

NoiseSchedule make_vp_schedule(int64_t timesteps, double beta_min, double beta_max) {
  if (timesteps < 1) throw UserError("--timesteps: must be >= 1, got " + std::to_string(timesteps));
  if (!(beta_min > 0 && beta_min < beta_max))
    throw UserError("--beta-min, --beta-max: need 0 < beta_min < beta_max, got " + std::to_string(beta_min) +
                    " and " + std::to_string(beta_max));
  const double steps = static_cast<double>(timesteps);
  std::vector<double> betas(static_cast<size_t>(timesteps));
  for (int64_t t = 1; t <= timesteps; ++t)
    // -expm1 keeps β_t accurate when it is tiny (large T).
    betas[t - 1] = -std::expm1(-beta_min / steps - (beta_max - beta_min) * (2.0 * t - 1.0) / (2.0 * steps * steps));
  return NoiseSchedule("vp", std::move(betas));
}

}  // namespace trilemma::diffusion
