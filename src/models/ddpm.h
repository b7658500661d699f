#pragma once
// Denoising diffusion probabilistic model (Ho et al. 2020) of C×S×S images: a U-Net trained
// to predict the noise ε of x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, an EMA of its weights for
// sampling, and DDPM / DDIM / DPM-Solver++ samplers (diffusion/samplers.h).
#include <torch/torch.h>

#include <memory>
#include <string>

#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "models/generative_model.h"
#include "models/unet.h"

namespace trilemma {

/// Every hyperparameter of a DDPM run. Presets are named values of this struct.
struct DdpmSettings {
  UNetSettings unet;              ///< the network (base width, levels, attention, ...)
  int64_t timesteps = 1000;       ///< T, the number of forward-process steps
  std::string schedule = "cosine";  ///< "linear", "linear-scaled" or "cosine" (schedule.h)
  double ema_decay = 0.999;       ///< EMA decay of the sampling weights; 0 = no averaging
  double grad_clip = 1.0;         ///< max global gradient norm; 0 = no clipping
  int64_t warmup_steps = 0;       ///< linear learning-rate warm-up (Ho et al.: 5000)
  std::string sampler = "ddim";   ///< default sampler: "ddpm", "ddim" or "dpm-solver"
  int64_t sample_steps = 20;      ///< default steps of ddim / dpm-solver (ddpm defaults to T)
  double eta = 0.0;               ///< default DDIM η
  std::string ddpm_variance = "beta";  ///< DDPM reverse variance: "beta" (β_t) or
                                       ///< "posterior" (β̃_t)
  bool clip_denoised = true;      ///< clamp predicted x_0 to [-1, 1] while sampling
  /// conditional: a class-conditional U-Net with classifier-free guidance; the image shape
  /// sets the U-Net's channels and (with pad_to_32) its working size.
  CommonSettings common{/*epochs=*/2, /*max_steps=*/0, /*batch_size=*/128, /*lr=*/1e-3};
  double label_dropout = 0.1;     ///< conditional: share of training labels replaced by the
                                  ///< null class, which teaches the unconditional model
                                  ///< (Ho & Salimans 2022 use 0.1 or 0.2)
  double guidance = 2.0;          ///< conditional: default guidance weight w (0 = unconditional,
                                  ///< 1 = conditional, > 1 = guided)
};

/// The DDPM's settings table: config.json, flags, --help and range checks.
const SettingsTable<DdpmSettings>& ddpm_settings_table();
/// Throws UserError (one line) for values that do not go together (the U-Net's shape
/// against the image size, sample_steps against T, guidance without label dropout).
void check_ddpm_combinations(const DdpmSettings& settings);
/// Every check: each field's range, the common settings, the combinations.
void validate_ddpm_settings(const DdpmSettings& settings);

/// One EMA step of every parameter and buffer: target ← decay·target + (1-decay)·source
/// (Polyak averaging, as Ho et al. 2020 use for sampling). Modules must have the same
/// structure.
void ema_update(torch::nn::Module& target, const torch::nn::Module& source, double decay);

/// ε̂ of `network` at (x_t, t) as a sampler asks for it: an unconditional network's own; a
/// conditional one's for `labels` with classifier-free guidance weight w — the null class
/// (the network's index num_classes) alone when labels are undefined or w = 0, the
/// conditional prediction at w = 1, else both in one batch of 2N combined by
/// guided_epsilon. The DDPM's samplers and a distilled student's teacher step
/// (models/consistency.h) share it.
torch::Tensor guided_prediction(UNet& network, const torch::Tensor& x_t, const torch::Tensor& t, bool conditional,
                                const torch::Tensor& labels, double w);

/// The decay used at the n-th update (n from 0): min(decay, (1+n)/(10+n)). The warm-up
/// keeps early, random weights from dominating the average of a short run (the same rule
/// as TensorFlow's ExponentialMovingAverage with num_updates).
double ema_decay_at(double decay, int64_t update);

class Ddpm : public GenerativeModel {
 public:
  Ddpm(const DdpmSettings& settings, torch::Device device);

  LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) override;
  LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) override;
  torch::Tensor sample(int64_t n, const SampleOptions& options) override;
  int64_t network_evaluations(const SampleOptions& options) const override;
  std::string sampler_name(const SampleOptions& options) const override;
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<Figure> epoch_figures(const FigureInputs& inputs) override;
  std::vector<Figure> figures(const FigureInputs& inputs) override;
  int64_t parameter_count() const override;
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override;
  Json info() const override;
  int64_t num_classes() const override;
  bool supports_guidance() const override { return settings_.common.conditional || guide_ != nullptr; }
  /// An unconditional model only (a conditional one has classifier-free guidance), guided
  /// by a ddpm of the same image shape, T and schedule that is unguided itself.
  void attach_guide(std::shared_ptr<GenerativeModel> guide) override;
  std::vector<std::string> sampling_options() const override;

  /// The guidance weight `options` resolve to (the run's default when unset); 1 for an
  /// unconditional model without a guide, whose one prediction is "the conditional one".
  double guidance_weight(const SampleOptions& options) const;

  /// The sampler configuration that `options` resolves to (defaults from the settings).
  /// Throws UserError for an unknown sampler, steps > T or a negative η.
  diffusion::SamplerSettings sampler_settings(const SampleOptions& options) const;
  /// Runs a sampler with the EMA network from x (in the model's [-1, 1] space). A conditional
  /// model predicts with classifier-free guidance weight `guidance` for `labels` (N int64),
  /// or with the null class alone when labels are undefined; an unconditional one ignores the
  /// labels, and with a guide attached combines its prediction with the guide's at weight
  /// `guidance` (autoguidance).
  diffusion::SampleResult denoise(const torch::Tensor& x, const diffusion::SamplerSettings& settings,
                                  const torch::Tensor& labels = {}, double guidance = 1.0);

  const DdpmSettings& settings() const { return settings_; }
  const diffusion::NoiseSchedule& schedule() const { return schedule_; }
  UNet& network() { return net_; }
  UNet& ema_network() { return ema_; }

 private:
  DdpmSettings settings_;
  torch::Device device_;
  diffusion::NoiseSchedule schedule_;
  UNet net_{nullptr};
  UNet ema_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t steps_done_ = 0;
  torch::Tensor epoch_noise_;  ///< fixed x_T for the per-epoch grids, so epochs compare
  std::shared_ptr<Ddpm> guide_;  ///< autoguidance's weaker model, when attached
};

/// Images the sampler sends through `unet` at once for images of side `image_size`
/// (default MNIST's 28): the largest power of two in 8..256 whose activations (largest
/// feature map plus attention scores) stay under 2^20 elements — at 28×28, 32 for the
/// quick U-Net, 8 for the seed one.
int64_t sampling_chunk(const UNetSettings& unet, int64_t image_size = 28);

/// Presets: "quick" (default; a lean U-Net for a 2-core CPU), "seed" (the article),
/// "full" (sized for a GPU). Throws UserError for other names.
DdpmSettings ddpm_preset(const std::string& name);
ModelFamily ddpm_family();

}  // namespace trilemma
