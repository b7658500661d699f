#pragma once
// Variance schedules of the DDPM forward process q(x_t | x_{t-1}) = N(√(1-β_t) x_{t-1}, β_t I)
// and the closed forms derived from them (Ho et al. 2020, eqs. 4, 6, 7).
//
// Indexing: arrays are indexed by i = 0..T-1 and entry i holds the paper's step t = i + 1,
// so alpha_bar[i] = ∏_{j<=i} α_j (not the article's off-by-one `concat([1], cumprod[:-1])`).
// The network is conditioned on the index i. ᾱ before the first step (the paper's ᾱ_0)
// is 1 and is not stored.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace trilemma::diffusion {

/// Names accepted by make_noise_schedule, in the order `--help` lists them.
const std::vector<std::string>& schedule_names();

/// A discrete noise schedule. Values are computed in double (ᾱ is a product of up to
/// thousands of factors) and kept both as doubles, for the samplers' per-step scalars,
/// and as float32 tensors, for batched gathers during training.
class NoiseSchedule {
 public:
  NoiseSchedule() = default;
  /// Builds from explicit betas (each in (0, 1)); throws UserError otherwise.
  NoiseSchedule(std::string name, std::vector<double> betas);

  const std::string& name() const { return name_; }
  int64_t timesteps() const { return static_cast<int64_t>(betas_.size()); }

  // Per-step values, index i = paper's t - 1.
  const std::vector<double>& betas() const { return betas_; }
  const std::vector<double>& alphas() const { return alphas_; }
  const std::vector<double>& alpha_bars() const { return alpha_bars_; }
  /// β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t) β_t, the variance of q(x_{t-1} | x_t, x_0) (eq. 7).
  const std::vector<double>& posterior_variance() const { return posterior_variance_; }
  /// μ̃_t = coef1 · x_0 + coef2 · x_t with coef1 = √ᾱ_{t-1} β_t/(1-ᾱ_t) and
  /// coef2 = √α_t (1-ᾱ_{t-1})/(1-ᾱ_t) (eq. 7).
  const std::vector<double>& posterior_mean_coef1() const { return posterior_mean_coef1_; }
  const std::vector<double>& posterior_mean_coef2() const { return posterior_mean_coef2_; }

  /// ᾱ at index i, with alpha_bar_at(-1) = 1 (no noise).
  double alpha_bar_at(int64_t i) const;

  /// The same values as float32 tensors of length T on the CPU.
  const torch::Tensor& betas_tensor() const { return betas_t_; }
  const torch::Tensor& alpha_bars_tensor() const { return alpha_bars_t_; }
  const torch::Tensor& posterior_variance_tensor() const { return posterior_variance_t_; }

  /// x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε (eq. 4 with reparameterisation), t an int64 tensor of
  /// indices (one per row of x0), on any device.
  torch::Tensor q_sample(const torch::Tensor& x0, const torch::Tensor& t,
                         const torch::Tensor& noise) const;

  /// One forward step from the previous step's image: x_t = √α_t x_{t-1} + √β_t ε
  /// (eq. 2 with reparameterisation), t an int64 tensor of indices, one per row.
  torch::Tensor q_step(const torch::Tensor& x_prev, const torch::Tensor& t,
                       const torch::Tensor& noise) const;

  /// A draw from the posterior q(x_{t-1} | x_t, x_0) = N(μ̃_t, β̃_t I) (eq. 7): x_0 may be a
  /// network's estimate. At index 0 the variance is 0 and the draw is x_0 itself.
  torch::Tensor q_posterior_sample(const torch::Tensor& x0, const torch::Tensor& x_t,
                                   const torch::Tensor& t, const torch::Tensor& noise) const;

 private:
  std::string name_;
  std::vector<double> betas_, alphas_, alpha_bars_;
  std::vector<double> posterior_variance_, posterior_mean_coef1_, posterior_mean_coef2_;
  torch::Tensor betas_t_, alpha_bars_t_, posterior_variance_t_;
  torch::Tensor sqrt_alpha_bars_t_, sqrt_one_minus_alpha_bars_t_;
  torch::Tensor sqrt_alphas_t_, sqrt_betas_t_;
  torch::Tensor posterior_mean_coef1_t_, posterior_mean_coef2_t_, posterior_std_t_;
};

/// "linear":        β from 1e-4 to 0.02 (Ho et al. 2020, chosen for T = 1000). With the
///                  article's T = 200 it leaves ᾱ_T ≈ 0.13, i.e. √ᾱ_T ≈ 0.36 of the signal.
/// "linear-scaled": the same line scaled by 1000/T (Nichol & Dhariwal 2021, improved-diffusion
///                  `get_named_beta_schedule`), so ᾱ_T ≈ 0 for any T; needs T > 20.
/// "cosine":        ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008, with
///                  β clipped at 0.999 (Nichol & Dhariwal 2021, eq. 17).
/// Throws UserError for an unknown name or T < 1.
NoiseSchedule make_noise_schedule(const std::string& name, int64_t timesteps);

/// The variance-preserving SDE (Song et al. 2021), β(τ) = β_min + τ(β_max − β_min) on
/// τ ∈ [0, 1], discretised to T steps as Xiao et al. 2022 do for denoising diffusion GANs
/// (appendix A): β_t = 1 − exp(−β_min/T − (β_max − β_min)(2t − 1)/(2T²)), t = 1..T, so that
/// ᾱ_t = exp(−β_min·t/T − (β_max − β_min)·t²/(2T²)) is the SDE's ᾱ(τ) at τ = t/T. Named
/// "vp". Throws UserError for T < 1 or not 0 < β_min < β_max.
NoiseSchedule make_vp_schedule(int64_t timesteps, double beta_min, double beta_max);

}  // namespace trilemma::diffusion
