#pragma once
// Denoising diffusion GAN (Xiao, Kreis & Vahdat, ICLR 2022): diffusion with a handful of
// large steps. Over a large step the true denoising distribution q(x_{t-1} | x_t) is
// multimodal, not the Gaussian a DDPM assumes, so each step is a conditional GAN: the
// generator G(x_t, z, t) proposes x̂_0, the step x_{t-1} is drawn from the Gaussian
// posterior q(x_{t-1} | x_t, x̂_0), and the discriminator D(x_{t-1}, x_t, t) tells these
// pairs from the forward process's. Sampling costs exactly T generator evaluations.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "diffusion/schedule.h"
#include "models/generative_model.h"
#include "models/unet.h"

namespace trilemma {

/// Every hyperparameter of a DDGAN run. Presets are named values of this struct.
struct DdganSettings {
  UNetSettings generator;         ///< G's U-Net: norms modulated by t and z (adaptive_norm),
                                  ///< z of generator.latent_dim (0 = no z, the paper's ablation)
  int64_t timesteps = 4;          ///< T, denoising steps (= network evaluations per sample)
  double beta_min = 0.1;          ///< the VP SDE's β(0) (Song et al. 2021; the paper's 0.1)
  double beta_max = 20.0;         ///< the VP SDE's β(1) (the paper's 20)
  int64_t disc_width = 64;        ///< D's channels at full resolution (×2, ×4 below)
  bool minibatch_std = false;     ///< D also sees the spread of its batch's features (Karras
                                  ///< et al. 2018), so a collapsed G is told apart from data
  double d_lr = 1.25e-4;          ///< D's Adam learning rate (lr is G's)
  double beta1 = 0.5;             ///< Adam β1 of both optimisers
  double beta2 = 0.9;             ///< Adam β2 of both optimisers
  double r1_gamma = 0.02;         ///< R1 weight γ: γ/2·E‖∇_{x_{t-1}} D‖² on real pairs (Mescheder et al. 2018)
  int64_t r1_interval = 15;       ///< R1 every this many D steps, scaled by it (lazy
                                  ///< regularisation, Karras et al. 2020); 1 = every step
  double ema_decay = 0.9999;      ///< EMA decay of G's sampling weights; 0 = no averaging
  /// lr: G's Adam learning rate; the image shape sizes both networks; conditional: the class
  /// joins G's embedding and D adds a projection term (Miyato & Koyama 2018).
  CommonSettings common{/*epochs=*/20, /*max_steps=*/0, /*batch_size=*/64, /*lr=*/1.6e-4};
};

/// The DDGAN's settings table: config.json, flags, --help and range checks.
const SettingsTable<DdganSettings>& ddgan_settings_table();

/// The R1 penalty γ/2 · mean over rows of ‖∂ sum(logits)/∂x‖², with the graph kept for a
/// second backward (the double backward that lets the penalty train D). `x` must require
/// gradients and `logits` depend on it.
torch::Tensor r1_penalty(const torch::Tensor& logits, const torch::Tensor& x, double gamma);

/// D's residual down-block: LeakyReLU → conv → + time projection → LeakyReLU → stride-2
/// conv, plus a stride-2 1×1 skip, summed with a 1/√2 (so the scale is kept).
struct PairDownBlockImpl : torch::nn::Module {
  PairDownBlockImpl(int64_t in, int64_t out, int64_t time_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_embedding);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear time_proj{nullptr};
};
TORCH_MODULE(PairDownBlock);

/// D(x_{t-1}, x_t, t): the pair as 2·C channels, two residual down-blocks (S → S/2 → S/4)
/// conditioned on t, a sum over positions, a linear logit; conditional: plus the
/// projection ⟨embed(y), φ⟩. No normalisation layers: R1 differentiates D twice. With
/// minibatch_std, the last features gain one channel: the standard deviation of the features
/// across groups of kMinibatchStdGroup rows of the batch, averaged (Karras et al. 2018, §3).
struct PairDiscriminatorImpl : torch::nn::Module {
  PairDiscriminatorImpl(int64_t width, int64_t num_classes, int64_t image_channels, bool minibatch_std = false);
  /// Logits N×1; t: N int64 step indices; labels N int64, required iff num_classes > 0.
  torch::Tensor forward(const torch::Tensor& x_prev, const torch::Tensor& x_t, const torch::Tensor& t,
                        const torch::Tensor& labels = {});
  int64_t width;
  bool minibatch_std;
  torch::nn::Conv2d input{nullptr};
  torch::nn::Linear time_fc1{nullptr}, time_fc2{nullptr};
  PairDownBlock block1{nullptr}, block2{nullptr};
  torch::nn::Linear dense{nullptr};
  torch::nn::Embedding projection{nullptr};
};
TORCH_MODULE(PairDiscriminator);

/// Rows per group of the minibatch standard deviation (a batch it does not divide is one group).
constexpr int64_t kMinibatchStdGroup = 4;

/// features N×C×H×W → N×1×H×W: per group of rows, the standard deviation of each feature
/// across the group's rows, averaged over C, H and W, the same value for every row of the group.
torch::Tensor minibatch_std_channel(const torch::Tensor& features);

class Ddgan : public GenerativeModel {
 public:
  Ddgan(const DdganSettings& settings, torch::Device device);
  LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) override;
  LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) override;
  torch::Tensor sample(int64_t n, const SampleOptions& options) override;
  int64_t network_evaluations(const SampleOptions& options) const override { return settings_.timesteps; }
  std::string sampler_name(const SampleOptions& options) const override;
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<Figure> epoch_figures(const FigureInputs& inputs) override;
  std::vector<Figure> figures(const FigureInputs& inputs) override;
  int64_t parameter_count() const override;
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override;
  int64_t num_classes() const override;
  Json info() const override;

  /// n step indices drawn uniformly from 0..T-1 (training and held-out losses).
  torch::Tensor random_steps(int64_t n) const;
  /// A real training pair from clean images x_0 in [-1, 1] and step indices t (N int64):
  /// x_{t-1} ~ q(x_{t-1} | x_0) (x_0 itself at t = 0), then x_t ~ q(x_t | x_{t-1}).
  std::pair<torch::Tensor, torch::Tensor> real_pair(const torch::Tensor& x0, const torch::Tensor& t) const;
  /// x̂_0 = tanh(G(x_t, z, t)) with the training or the EMA generator.
  torch::Tensor predict_x0(UNet& generator, const torch::Tensor& x_t, const torch::Tensor& t,
                           const torch::Tensor& z, const torch::Tensor& labels);
  /// The reverse chain from x_T (in [-1, 1]) with the EMA generator: T steps, each x̂_0 then
  /// a posterior draw, z and noise from `generator` (the global one when unset).
  /// `on_step(k, x)` sees x after k steps (k = 1..T), when set. Returns x_0 in [-1, 1].
  torch::Tensor denoise(const torch::Tensor& x_T, const torch::Tensor& labels,
                        c10::optional<at::Generator> generator = c10::nullopt,
                        const std::function<void(int64_t, const torch::Tensor&)>& on_step = {});
  /// z ~ N(0, I) for n rows; undefined when the generator takes no latent.
  torch::Tensor draw_latent(int64_t n, c10::optional<at::Generator> generator = c10::nullopt) const;

  const DdganSettings& settings() const { return settings_; }
  const diffusion::NoiseSchedule& schedule() const { return schedule_; }
  UNet& generator() { return generator_; }
  UNet& ema_generator() { return ema_; }
  PairDiscriminator& discriminator() { return discriminator_; }

 private:
  DdganSettings settings_;
  torch::Device device_;
  diffusion::NoiseSchedule schedule_;
  UNet generator_{nullptr}, ema_{nullptr};
  PairDiscriminator discriminator_{nullptr};
  std::unique_ptr<torch::optim::Adam> g_optimizer_, d_optimizer_;
  int64_t steps_done_ = 0;
  torch::Tensor epoch_noise_;  ///< fixed x_T for the per-epoch progress, so epochs compare
};

/// Presets: "quick" (default; a 2-core CPU in minutes), "paper" (the paper's CIFAR-10
/// recipe scaled to MNIST's 28×28), "full" (sized for a GPU). Throws UserError for other names.
DdganSettings ddgan_preset(const std::string& name);
/// Throws UserError (one line) for values that do not go together.
void check_ddgan_combinations(const DdganSettings& settings);
ModelFamily ddgan_family();

}  // namespace trilemma
