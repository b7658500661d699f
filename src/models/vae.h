#pragma once
// The article's variational autoencoder (Kingma & Welling 2014), built for the training
// data's image shape (the article's: 28×28 grey digits).
#include <torch/torch.h>

#include "models/gaussian_mixture.h"
#include "models/generative_model.h"

namespace trilemma {

/// Every hyperparameter of a VAE run. Presets are named values of this struct.
struct VaeSettings {
  int64_t latent_dim = 2;        ///< size of z; 2 gives the article's latent-plane figures
  int64_t channels = 64;         ///< width of every conv layer (the article: 64)
  std::string upsampling = "transposed";  ///< decoder upsampling: "transposed" (the article's
                                          ///< ConvTranspose) or "subpixel" (conv + PixelShuffle,
                                          ///< 3-4x cheaper on CPU, see reference notes)
  double kl_weight = 1.0;        ///< β in BCE + β·KL; 1 is the true ELBO
  /// Components of the Gaussian mixture fitted to the training images' latent means when
  /// training completes, which sampling then draws z from instead of N(0, I); 0 = none
  /// (the article's sampling from the prior).
  int64_t prior_components = 0;
  /// epochs, batch, Adam learning rate, seed, image shape; conditional = a conditional VAE
  /// (Sohn et al. 2015): the one-hot label joins the encoder's features and the decoder's z.
  CommonSettings common{/*epochs=*/200, /*max_steps=*/0, /*batch_size=*/32, /*lr=*/1e-4};
};

/// The VAE's settings table: config.json, flags, --help and range checks.
const SettingsTable<VaeSettings>& vae_settings_table();

/// What the VAE's forward pass returns (named, not a tuple).
struct VaeOutput {
  torch::Tensor reconstruction_logits;  ///< N×C×S×S; sigmoid gives the decoded image
  torch::Tensor mu;                      ///< N×latent
  torch::Tensor log_var;                 ///< N×latent
};

/// Encoder of C×S×S images: two stride-2 valid 3×3 convs with ReLU, then a dense layer to
/// 2·latent. A conditional encoder concatenates the one-hot label (K classes) to the dense
/// layer's input.
struct VaeEncoderImpl : torch::nn::Module {
  explicit VaeEncoderImpl(const VaeSettings& settings);
  /// Returns (mu, log_var). labels: N int64, required iff num_classes > 0.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x,
                                                  const torch::Tensor& labels = {});
  int64_t num_classes;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(VaeEncoder);

/// Decoder: dense to channels×(S/4)×(S/4), two ×2 upsamplings, a 3×3 conv to C channels of
/// logits. A conditional decoder concatenates the one-hot label (K classes) to z.
struct VaeDecoderImpl : torch::nn::Module {
  explicit VaeDecoderImpl(const VaeSettings& settings);
  /// Logits N×C×S×S. labels: N int64, required iff num_classes > 0.
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels = {});
  int64_t channels, num_classes;
  int64_t base_size;  ///< S/4, the side the upsamplings start from
  torch::nn::Linear dense{nullptr};
  torch::nn::Sequential up1{nullptr}, up2{nullptr};
  torch::nn::Sequential out{nullptr};
};
TORCH_MODULE(VaeDecoder);

/// z = μ + σ·ε with σ = exp(½·log_var): the reparameterisation trick.
torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& log_var,
                             const torch::Tensor& eps);

struct VaeLoss {
  torch::Tensor total;           ///< mean over the batch of (bce + kl_weight·kl)
  torch::Tensor reconstruction;  ///< per-image BCE summed over pixels (= mean BCE · C·S²), batch mean
  torch::Tensor kl;              ///< KL(q(z|x) ‖ N(0, I)), batch mean
};

/// The negative ELBO. BCE is computed from logits, which is stable where sigmoid + BCE
/// would take log(0).
VaeLoss vae_loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& mu,
                 const torch::Tensor& log_var, double kl_weight = 1.0);

class Vae : public GenerativeModel {
 public:
  Vae(const VaeSettings& settings, torch::Device device);
  LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) override;
  LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) override;
  torch::Tensor sample(int64_t n, const SampleOptions& options) override;
  std::string sampler_name(const SampleOptions& options) const override;
  std::vector<std::string> sampling_options() const override { return {"sampler"}; }
  /// Fits the latent mixture (prior_components > 0) to the training images' posterior means.
  std::string finish_training(const torch::Tensor& images, const torch::Tensor& labels) override;
  Json info() const override;
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<Figure> figures(const FigureInputs& inputs) override;
  int64_t parameter_count() const override;
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override;
  int64_t num_classes() const override;

  VaeOutput forward(const torch::Tensor& images, const torch::Tensor& labels);
  /// Images in [0,1]; labels: N int64 for a conditional VAE, ignored otherwise.
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& labels = {});
  VaeEncoder& encoder() { return encoder_; }
  VaeDecoder& decoder() { return decoder_; }

 private:
  /// Whether these options sample z from the latent mixture (UserError for a sampler this
  /// VAE cannot use).
  bool use_mixture(const SampleOptions& options) const;
  VaeSettings settings_;
  torch::Device device_;
  VaeEncoder encoder_;
  VaeDecoder decoder_;
  GaussianMixture latent_mixture_{nullptr};  ///< only when prior_components > 0
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

/// The VAE's samplers: "normal" draws z from N(0, I), "mixture" from the fitted latent
/// mixture; "" = mixture when the model has a fitted one, else normal.
inline constexpr const char* kVaeNormalSampler = "normal";
inline constexpr const char* kVaeMixtureSampler = "mixture";

/// Presets: "quick" (a few minutes on 2 cores; z from N(0, I)), "standard" (30 epochs; z from
/// a 20-Gaussian latent mixture), "seed" (the article, faithfully).
VaeSettings vae_preset(const std::string& name);
ModelFamily vae_family();

}  // namespace trilemma
