#pragma once
// Reverse-process samplers for an ε-prediction diffusion model. They see the network only
// through EpsilonPredictor, so the tests can drive them with a closed-form (exact)
// denoiser and check the distribution they produce.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "diffusion/schedule.h"

namespace trilemma::diffusion {

/// ε̂(x_t, t): predicted noise for a batch x (N×...) at timestep indices t (int64, N).
using EpsilonPredictor = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

/// State after one sampler step, for trajectory figures.
struct SamplerSnapshot {
  int64_t step = 0;        ///< steps done so far (1..steps)
  int64_t steps = 0;       ///< total steps of this run
  int64_t t = 0;           ///< timestep index x now sits at; -1 = clean (after the last step)
  torch::Tensor x;         ///< the current state
  torch::Tensor x0_pred;   ///< the x_0 prediction the step was built from
};
using SnapshotCallback = std::function<void(const SamplerSnapshot&)>;

enum class SamplerKind {
  kDdpm,       ///< ancestral sampling, Ho et al. 2020 Algorithm 2 (respaced if steps < T)
  kDdim,       ///< Song et al. 2021, eq. 12, any number of steps and η
  kDpmSolver,  ///< DPM-Solver++(2M), Lu et al. 2022, Algorithm 2 (multistep, data
               ///< prediction), on logsnr_timesteps
};

/// Variance of DDPM's reverse steps (Ho et al. 2020, section 3.2: both give similar results;
/// β_t is optimal for x_0 ~ N(0, I), β̃_t for a deterministic x_0).
enum class DdpmVariance { kBeta, kPosterior };

struct SamplerSettings {
  SamplerKind kind = SamplerKind::kDdim;  ///< which update rule
  int64_t steps = 0;                      ///< network evaluations; 0 = every timestep
  double eta = 0.0;                       ///< DDIM: 0 = deterministic ODE, 1 = DDPM-like noise
  DdpmVariance ddpm_variance = DdpmVariance::kBeta;  ///< DDPM: σ_t² = β_t or β̃_t
  double clip_x0 = 0.0;     ///< > 0: clamp predicted x_0 to [-clip_x0, clip_x0] (images)
  int64_t start_t = -1;     ///< index of the input state; -1 = T-1 (start from pure noise)
  SnapshotCallback on_step; ///< called after every step when set (snapshots, progress)
};

struct SampleResult {
  torch::Tensor x;    ///< final samples (the x_0 estimate after the last step)
  int64_t nfe = 0;    ///< network evaluations per sample
};

/// Decreasing timestep indices from start_t to 0 inclusive, `steps` of them, evenly spaced
/// and rounded ("linspace" spacing). Starting at T-1 matters because sampling starts from
/// pure noise (Lin et al. 2024, "Common diffusion noise schedules and sample steps are
/// flawed"); ending at 0 keeps the final jump to x_0 tiny, whereas DDIM's original
/// spacing ends higher and the last step then returns a blurred E[x_0 | x_t].
/// steps <= 0 or > start_t + 1 gives every index.
std::vector<int64_t> sampling_timesteps(int64_t start_t, int64_t steps);

/// Decreasing timestep indices from start_t to 0 whose half log-SNR λ = ½ log(ᾱ/(1-ᾱ)) is
/// evenly spaced (nearest index, made distinct). DPM-Solver's step size is h = Δλ, and its
/// authors recommend uniform λ for low-resolution images (Lu et al. 2022, section 3.3 and
/// appendix); with steps uniform in t the multistep ratio h_prev/h swings wildly near
/// t = 0 and the 2M extrapolation overshoots.
std::vector<int64_t> logsnr_timesteps(const NoiseSchedule& schedule, int64_t start_t, int64_t steps);

/// Runs the sampler described by `settings` from `x` (the state at start_t; pure noise for
/// sampling). Throws UserError for settings that make no sense (e.g. start_t >= T).
SampleResult run_sampler(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                         torch::Tensor x, const SamplerSettings& settings);

SampleResult sample_ddpm(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                         torch::Tensor x, const SamplerSettings& settings);
SampleResult sample_ddim(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                         torch::Tensor x, const SamplerSettings& settings);
SampleResult sample_dpm_solver(const NoiseSchedule& schedule, const EpsilonPredictor& predict_eps,
                               torch::Tensor x, const SamplerSettings& settings);

/// One deterministic DDIM step (η = 0, Song et al. 2021, eq. 12) of the probability-flow
/// ODE from index t to index t_prev for every row of x_t, each with its own pair (int64
/// tensors of N indices; t_prev = -1 means clean): x̂_0 from ε̂, clamped to ±clip_x0 when
/// clip_x0 > 0 (with ε̂ made consistent, as the DDIM sampler does), then
/// √ᾱ_prev x̂_0 + √(1-ᾱ_prev) ε̂. Consistency distillation's teacher step.
torch::Tensor ddim_ode_step(const NoiseSchedule& schedule, const torch::Tensor& x_t, const torch::Tensor& eps,
                            const torch::Tensor& t, const torch::Tensor& t_prev, double clip_x0);

/// "ddpm", "ddim", "dpm-solver" (also accepts "dpm-solver++" and "dpmsolver").
/// Throws UserError listing the known names otherwise.
SamplerKind parse_sampler_kind(const std::string& name);
std::string sampler_kind_name(SamplerKind kind);

/// Network evaluations per sample of a full run from pure noise.
int64_t sampler_nfe(const NoiseSchedule& schedule, const SamplerSettings& settings);

}  // namespace trilemma::diffusion
