#include "diffusion/samplers.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <utility>

#include "core/error.h"

namespace trilemma::diffusion {
namespace {

int64_t resolve_start(const NoiseSchedule& schedule, const SamplerSettings& settings) {
  const int64_t total = schedule.timesteps();
  const int64_t start = settings.start_t < 0 ? total - 1 : settings.start_t;
  if (start >= total)
    throw UserError("sampler: start timestep " + std::to_string(start) + " is beyond T = " +
                    std::to_string(total));
  return start;
}

torch::Tensor timestep_tensor(const torch::Tensor& x, int64_t t) {
  return torch::full({x.size(0)}, t, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
}

// x̂_0 from ε̂ by inverting x_t = √ᾱ x_0 + √(1-ᾱ) ε (Ho et al. 2020, eq. 4).
torch::Tensor predict_x0(const torch::Tensor& x, const torch::Tensor& eps, double alpha_bar) {
  return (x - std::sqrt(1.0 - alpha_bar) * eps) / std::sqrt(alpha_bar);
}

torch::Tensor maybe_clip(const torch::Tensor& x0, double clip) {
  return clip > 0 ? x0.clamp(-clip, clip) : x0;
}

// Shared step loop: snapshots (through which callers also show progress), NFE. `step(k, t, t_prev, x)` returns the new
// state and the x_0 prediction it used.
template <typename StepFn>
SampleResult run_steps(const std::vector<int64_t>& timesteps, torch::Tensor x,
                       const SamplerSettings& settings, StepFn step) {
  const int64_t steps = static_cast<int64_t>(timesteps.size());
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = timesteps[k];
    const int64_t t_prev = k + 1 < steps ? timesteps[k + 1] : -1;
    auto [next, x0_pred] = step(k, t, t_prev, x);
    x = next;
    if (settings.on_step) settings.on_step(SamplerSnapshot{k + 1, steps, t_prev, x, x0_pred});
  }
  return SampleResult{x, steps};
}

}  // namespace

std::vector<int64_t> sampling_timesteps(int64_t start_t, int64_t steps) {
  const int64_t available = start_t + 1;
  if (steps <= 0 || steps >= available) steps = available;
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(steps));
  if (steps == 1) return {start_t};
  for (int64_t k = 0; k < steps; ++k) {
    const double position = static_cast<double>(start_t) * (steps - 1 - k) / (steps - 1);
    out.push_back(static_cast<int64_t>(std::llround(position)));
  }
  return out;
}

std::vector<int64_t> logsnr_timesteps(const NoiseSchedule& schedule, int64_t start_t, int64_t steps) {
  const int64_t available = start_t + 1;
  if (steps <= 0 || steps >= available) return sampling_timesteps(start_t, steps);
  if (steps == 1) return {start_t};
  auto lambda = [&](int64_t t) {
    const double ab = schedule.alpha_bar_at(t);
    return 0.5 * std::log(ab / (1.0 - ab));
  };
  const double low = lambda(start_t), high = lambda(0);
  std::vector<int64_t> out(static_cast<size_t>(steps));
  for (int64_t k = 0; k < steps; ++k) {
    const double target = low + (high - low) * k / (steps - 1);
    // λ decreases with t: find the first t in [0, start_t] with λ(t) <= target, then the
    // nearer of it and its predecessor.
    int64_t lo = 0, hi = start_t;
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (lambda(mid) <= target) hi = mid;
      else lo = mid + 1;
    }
    if (lo > 0 && std::abs(lambda(lo - 1) - target) < std::abs(lambda(lo) - target)) --lo;
    out[k] = lo;
  }
  // Rounding can merge neighbours where λ is steep; push them apart within [0, start_t].
  out.front() = start_t;
  out.back() = 0;
  for (int64_t k = 1; k < steps; ++k) out[k] = std::min(out[k], out[k - 1] - 1);
  out.back() = std::max<int64_t>(out.back(), 0);
  for (int64_t k = steps - 2; k >= 0; --k) out[k] = std::max(out[k], out[k + 1] + 1);
  return out;
}

SampleResult sample_ddpm(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                         torch::Tensor x, const SamplerSettings& settings) {
  const auto timesteps = sampling_timesteps(resolve_start(schedule, settings), settings.steps);
  return run_steps(timesteps, std::move(x), settings,
                   [&](int64_t, int64_t t, int64_t t_prev, const torch::Tensor& x_t) {
    // With a subsequence of timesteps the chain is respaced: β'_t = 1 - ᾱ_t/ᾱ_prev
    // (Nichol & Dhariwal 2021, section 4); with every timestep this is β_t itself.
    const double ab = schedule.alpha_bar_at(t);
    const double ab_prev = schedule.alpha_bar_at(t_prev);
    const double beta = 1.0 - ab / ab_prev;
    const auto eps = predict_eps(x_t, timestep_tensor(x_t, t));
    const auto x0 = maybe_clip(predict_x0(x_t, eps, ab), settings.clip_x0);
    // Posterior mean μ̃(x_t, x̂_0) (eq. 7); algebraically equal to Algorithm 2's
    // (x_t - β/√(1-ᾱ) ε̂)/√α when x̂_0 is not clipped.
    const double coef_x0 = std::sqrt(ab_prev) * beta / (1.0 - ab);
    const double coef_xt = std::sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab);
    auto mean = coef_x0 * x0 + coef_xt * x_t;
    if (t_prev < 0) return std::make_pair(mean, x0);  // Algorithm 2: z = 0 at t = 1
    const double variance = settings.ddpm_variance == DdpmVariance::kBeta
                                ? beta
                                : (1.0 - ab_prev) / (1.0 - ab) * beta;
    return std::make_pair(mean + std::sqrt(variance) * torch::randn_like(x_t), x0);
  });
}

torch::Tensor ddim_ode_step(const NoiseSchedule& schedule, const torch::Tensor& x_t, const torch::Tensor& eps,
                            const torch::Tensor& t, const torch::Tensor& t_prev, double clip_x0) {
  // ᾱ per row, broadcast over the image dimensions; index -1 (clean) has ᾱ = 1.
  std::vector<int64_t> shape(static_cast<size_t>(x_t.dim()), 1);
  shape[0] = x_t.size(0);
  const auto padded = torch::cat({torch::ones({1}, torch::kDouble),
                                  torch::tensor(schedule.alpha_bars(), torch::kDouble)});
  auto gather = [&](const torch::Tensor& index) {
    return padded.index_select(0, (index.to(torch::kCPU) + 1)).to(x_t.options()).view(shape);
  };
  const auto ab = gather(t), ab_prev = gather(t_prev);
  auto x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt();
  auto e = eps;
  if (clip_x0 > 0) {
    x0 = x0.clamp(-clip_x0, clip_x0);
    e = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt();
  }
  return ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * e;
}

SampleResult sample_ddim(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                         torch::Tensor x, const SamplerSettings& settings) {
  if (settings.eta < 0) throw UserError("--eta: must be >= 0");
  const auto timesteps = sampling_timesteps(resolve_start(schedule, settings), settings.steps);
  return run_steps(timesteps, std::move(x), settings,
                   [&](int64_t, int64_t t, int64_t t_prev, const torch::Tensor& x_t) {
    const double ab = schedule.alpha_bar_at(t);
    const double ab_prev = schedule.alpha_bar_at(t_prev);
    auto eps = predict_eps(x_t, timestep_tensor(x_t, t));
    auto x0 = predict_x0(x_t, eps, ab);
    if (settings.clip_x0 > 0) {
      // Keep ε consistent with the clipped x̂_0 so that the step stays on the line
      // through x_t (as in the DDIM reference implementation).
      x0 = x0.clamp(-settings.clip_x0, settings.clip_x0);
      eps = (x_t - std::sqrt(ab) * x0) / std::sqrt(1.0 - ab);
    }
    // Song et al. 2021, eq. 16: σ = η √((1-ᾱ_prev)/(1-ᾱ_t)) √(1 - ᾱ_t/ᾱ_prev).
    const double sigma =
        settings.eta * std::sqrt((1.0 - ab_prev) / (1.0 - ab)) * std::sqrt(1.0 - ab / ab_prev);
    // Eq. 12: x_prev = √ᾱ_prev x̂_0 + √(1-ᾱ_prev-σ²) ε̂ + σ z.
    const double dir = std::sqrt(std::max(0.0, 1.0 - ab_prev - sigma * sigma));
    auto next = std::sqrt(ab_prev) * x0 + dir * eps;
    if (sigma > 0) next = next + sigma * torch::randn_like(x_t);
    return std::make_pair(next, x0);
  });
}

SampleResult sample_dpm_solver(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                               torch::Tensor x, const SamplerSettings& settings) {
  const auto timesteps = logsnr_timesteps(schedule, resolve_start(schedule, settings), settings.steps);
  // Half log-SNR λ = log(α/σ) with α = √ᾱ, σ = √(1-ᾱ) (Lu et al. 2022, section 2).
  auto lambda = [](double ab) { return 0.5 * std::log(ab / (1.0 - ab)); };
  torch::Tensor previous_x0;
  double previous_h = 0.0;
  return run_steps(timesteps, std::move(x), settings,
                   [&](int64_t k, int64_t t, int64_t t_prev, const torch::Tensor& x_t) {
    const double ab = schedule.alpha_bar_at(t);
    const auto eps = predict_eps(x_t, timestep_tensor(x_t, t));
    const auto x0 = maybe_clip(predict_x0(x_t, eps, ab), settings.clip_x0);
    if (t_prev < 0) {
      // The last step ends at σ = 0 (λ = ∞), where the first-order update reduces to x̂_0
      // and the second-order ratio r = h_prev/h vanishes ("lower order final").
      return std::make_pair(x0, x0);
    }
    const double ab_prev = schedule.alpha_bar_at(t_prev);
    const double h = lambda(ab_prev) - lambda(ab);
    torch::Tensor d = x0;
    if (k > 0) {
      // DPM-Solver++(2M), Lu et al. 2022 Algorithm 2: D = (1 + 1/(2r)) x̂_0,i - 1/(2r) x̂_0,i-1.
      const double r = previous_h / h;
      d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous_x0;
    }
    // x_t = (σ_t/σ_s) x_s - α_t (e^{-h} - 1) D (eq. 9 in data-prediction form).
    const double ratio = std::sqrt((1.0 - ab_prev) / (1.0 - ab));
    const double coef = -std::sqrt(ab_prev) * std::expm1(-h);
    auto next = ratio * x_t + coef * d;
    previous_x0 = x0;
    previous_h = h;
    return std::make_pair(next, x0);
  });
}

SampleResult run_sampler(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                         torch::Tensor x, const SamplerSettings& settings) {
  switch (settings.kind) {
    case SamplerKind::kDdpm: return sample_ddpm(schedule, predict_eps, std::move(x), settings);
    case SamplerKind::kDdim: return sample_ddim(schedule, predict_eps, std::move(x), settings);
    case SamplerKind::kDpmSolver:
      return sample_dpm_solver(schedule, predict_eps, std::move(x), settings);
  }
  throw std::logic_error("run_sampler: unknown sampler kind");
}

SamplerKind parse_sampler_kind(const std::string& name) {
  if (name == "ddpm") return SamplerKind::kDdpm;
  if (name == "ddim") return SamplerKind::kDdim;
  if (name == "dpm-solver" || name == "dpm-solver++" || name == "dpmsolver")
    return SamplerKind::kDpmSolver;
  throw UserError("--sampler: unknown sampler '" + name + "' (known: ddpm, ddim, dpm-solver)");
}

std::string sampler_kind_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kDdpm: return "ddpm";
    case SamplerKind::kDdim: return "ddim";
    case SamplerKind::kDpmSolver: return "dpm-solver";
  }
  return "unknown";
}

int64_t sampler_nfe(const NoiseSchedule& schedule, const SamplerSettings& settings) {
  const int64_t start = settings.start_t < 0 ? schedule.timesteps() - 1 : settings.start_t;
  return static_cast<int64_t>(sampling_timesteps(start, settings.steps).size());
}

}  // namespace trilemma::diffusion
