#pragma once
// Consistency distillation (Song, Dhariwal, Chen & Sutskever, "Consistency Models", ICML
// 2023, Algorithm 2) of a trained DDPM into a 1–4-step sampler. The student f(x_t, t) ≈ x_0
// is the teacher's U-Net read through the consistency parameterisation
//   f(x, t) = c_skip(t)·x + c_out(t)·x̂_0(x, t),  x̂_0 = (x − √(1−ᾱ_t)·ε_θ(x, t)) / √ᾱ_t,
// with c_skip(0) = 1 and c_out(0) = 0, so that f(x, t_0) = x exactly at the boundary
// t_0 = index 0 (the skip and output scalings of Luo et al. 2023, "Latent Consistency
// Models", which distil an ε-prediction teacher the same way). Training pairs are one
// teacher DDIM (probability-flow ODE) step apart on a grid of N indices; the loss compares
// the student at the noisier point with an EMA target network at the teacher's step.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "diffusion/schedule.h"
#include "models/ddpm.h"
#include "models/generative_model.h"
#include "models/unet.h"

namespace trilemma {

/// Every hyperparameter of a distilled student. `teacher` holds the teacher's architecture
/// and noise schedule (copied from its run by `trilemma distill`, not chosen); the rest is
/// the distillation's own.
struct ConsistencySettings {
  DdpmSettings teacher;          ///< the U-Net fields, timesteps and schedule are used (the
                                 ///< image shape and classes are `common`'s)
  int64_t grid_points = 40;      ///< N: the teacher's ODE is discretised at N indices from
                                 ///< 0 (the boundary) to the grid's top, evenly spaced
  double target_ema = 0.95;      ///< μ of the target network θ⁻ (the paper's CD: 0.95)
  double ema_decay = 0.999;      ///< EMA of the student's weights, used for sampling
  std::string distance = "pseudo-huber";  ///< "pseudo-huber": √(‖a−b‖² + c²) − c with
                                          ///< c = 0.00054·√d (Song & Dhariwal 2023), or "l2"
  int64_t sample_steps = 2;      ///< default K of the multistep consistency sampler
  double grad_clip = 1.0;        ///< max global gradient norm; 0 = no clipping
  double guidance = 2.0;         ///< conditional: the teacher's guidance weight w folded into
                                 ///< the student (it samples at this w, with one evaluation)
  CommonSettings common{/*epochs=*/1, /*max_steps=*/500, /*batch_size=*/32, /*lr=*/1e-4};
};

/// The student's settings table: the teacher's fields (declared once, in the DDPM's table),
/// then the distillation's.
const SettingsTable<ConsistencySettings>& consistency_settings_table();
/// The fields `trilemma distill` copies from the teacher's settings (and refuses as flags).
const std::vector<std::string>& consistency_teacher_fields();

/// The consistency scalings at timestep index t (Luo et al. 2023 with σ_data = 0.5 and
/// timestep scaling 10): c_skip = σ_d² / ((10t)² + σ_d²), c_out = 10t / √((10t)² + σ_d²).
/// c_skip(0) = 1 and c_out(0) = 0 exactly.
std::pair<double, double> consistency_scalings(int64_t t);
/// The same for a tensor of indices (one per row), as double tensors on t's device.
std::pair<torch::Tensor, torch::Tensor> consistency_scalings(const torch::Tensor& t);

/// The distillation grid: N indices from 0 up to the top, evenly spaced (rounded). The top
/// is the largest index with ᾱ ≥ 0.005 (√ᾱ ≥ 0.07, the end of Stable Diffusion's schedule
/// that latent consistency models distil): above it, x̂_0 from ε̂ divides by a vanishing √ᾱ
/// (the cosine schedule's last index has √ᾱ ≈ 5·10⁻⁵), and sampling from pure noise at the
/// top changes x_T by a signal-to-noise ratio of under 0.005.
std::vector<int64_t> consistency_grid(const diffusion::NoiseSchedule& schedule, int64_t points);

/// The K times, on the grid, at which the multistep sampler evaluates the student: grid
/// positions (N−1)(K−k)/K for k = 0..K−1 (the first is the top; none is the boundary).
std::vector<int64_t> consistency_sampling_times(const std::vector<int64_t>& grid, int64_t steps);

/// The distance of a student prediction from its target, per image then averaged.
torch::Tensor consistency_distance(const torch::Tensor& prediction, const torch::Tensor& target,
                                   const std::string& distance);

class ConsistencyModel : public GenerativeModel {
 public:
  ConsistencyModel(const ConsistencySettings& settings, torch::Device device);

  LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) override;
  LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) override;
  torch::Tensor sample(int64_t n, const SampleOptions& options) override;
  int64_t network_evaluations(const SampleOptions& options) const override;
  std::string sampler_name(const SampleOptions& options) const override;
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override;
  void start_from_teacher(GenerativeModel& teacher) override;
  std::vector<Figure> epoch_figures(const FigureInputs& inputs) override;
  std::vector<Figure> figures(const FigureInputs& inputs) override;
  int64_t parameter_count() const override;
  int64_t num_classes() const override;
  std::vector<std::string> sampling_options() const override { return {"steps"}; }
  Json info() const override;

  /// f(x, t) of `network` (the student, its target or its EMA): per-row timestep indices t
  /// (int64, N) and, for a conditional student, labels (N int64).
  torch::Tensor consistency_function(UNet& network, const torch::Tensor& x, const torch::Tensor& t,
                                     const torch::Tensor& labels);
  /// The teacher's ODE step from index t to t_prev (per row), guided at the settings' w when
  /// conditional: x̂_{t_prev} of the distillation pair.
  torch::Tensor teacher_step(const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& t_prev,
                             const torch::Tensor& labels);
  /// The multistep consistency sampler (Algorithm 1) from x_top (noise) with the EMA network.
  torch::Tensor multistep_sample(const torch::Tensor& x_top, int64_t steps, const torch::Tensor& labels);

  const std::vector<int64_t>& grid() const { return grid_; }
  const diffusion::NoiseSchedule& schedule() const { return schedule_; }

 private:
  /// Neighbouring grid times per image and x_0 noised to the higher one.
  struct TrainingPair {
    torch::Tensor t_high, t_low, x_high;
  };
  TrainingPair draw_pair(const torch::Tensor& x0) const;
  int64_t resolve_steps(const SampleOptions& options) const;

  ConsistencySettings settings_;
  torch::Device device_;
  diffusion::NoiseSchedule schedule_;
  std::vector<int64_t> grid_;
  UNet teacher_{nullptr}, net_{nullptr}, target_{nullptr}, ema_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t steps_done_ = 0;
  bool has_teacher_ = false;  ///< the teacher's weights are in teacher_ (set by
                              ///< start_from_teacher or a loaded checkpoint)
  torch::Tensor epoch_noise_;
};

/// Presets: "quick" (default; distils the demo's quick DDPM in about 5 minutes on a 2-core
/// CPU) and "paper" (the paper's choices for MNIST: N = 18, μ = 0.95, LPIPS replaced by the
/// pseudo-Huber distance, lr 4e-4, batch 512, 800k steps scaled down — see the .cpp).
ConsistencySettings consistency_preset(const std::string& name);
ModelFamily consistency_family();

}  // namespace trilemma
