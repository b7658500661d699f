#pragma once
// The article's GAN (Goodfellow et al. 2014) with DCGAN-style networks (Radford et al. 2016).
#include <torch/torch.h>

#include "models/generative_model.h"

namespace trilemma {

/// Every hyperparameter of a DCGAN run. Presets are named values of this struct.
struct DcganSettings {
  std::string architecture = "seed";  ///< "seed" (the article's networks, quirks included)
                                      ///< or "dcgan" (the DCGAN paper's guidelines)
  int64_t latent_dim = 100;           ///< size of z ~ N(0, I)
  int64_t width = 64;                 ///< channels of the widest conv layer ("seed": 64)
  std::string upsampling = "transposed";  ///< "transposed" or "subpixel" (see models/layers.h)
  bool fakes_from_eval_generator = true;  ///< the article's quirk: D's fakes come from
                                          ///< G.predict_on_batch (BatchNorm running statistics)
  double beta1 = 0.9;                 ///< Adam β1 (Keras default 0.9; DCGAN paper 0.5)
  std::string objective = "bce";      ///< "bce" (the article's: D's cross-entropy, G's
                                      ///< non-saturating -log D(G(z))) or "hinge" (Lim & Ye
                                      ///< 2017; Miyato et al. 2018)
  bool spectral_norm = false;         ///< D's weights divided by their spectral norm instead
                                      ///< of BatchNorm after its second conv
  int64_t latent_categories = 0;      ///< InfoGAN (Chen et al. 2016): a uniform categorical
                                      ///< code of this many values joins z (one-hot), and a
                                      ///< head on D's features must recover it from G(z, c)
  double info_weight = 1.0;           ///< λ of that head's cross-entropy, in both G's and
                                      ///< D's losses
  int64_t clusters = 0;               ///< self-conditioning (Liu et al. 2020): G and D are
                                      ///< conditioned on each training image's k-means
                                      ///< cluster of pixels (this many clusters) as a
                                      ///< conditional GAN is on its label; sampling draws
                                      ///< clusters by their share of the training set
  /// lr: Adam's for both networks; the image shape sizes both networks; conditional: the
  /// one-hot label joins z in G and D adds a projection term (Miyato & Koyama 2018).
  CommonSettings common{/*epochs=*/100, /*max_steps=*/0, /*batch_size=*/32, /*lr=*/1e-4};
};

/// The DCGAN's settings table: config.json, flags, --help and range checks.
const SettingsTable<DcganSettings>& dcgan_settings_table();

/// Binary cross-entropy on logits against a constant target: stable for any logit.
torch::Tensor bce_with_logits(const torch::Tensor& logits, double target);

/// The hinge losses: D's mean relu(1 − real) + mean relu(1 + fake); G's −mean fake.
torch::Tensor hinge_discriminator_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);
torch::Tensor hinge_generator_loss(const torch::Tensor& fake_logits);

/// Keras' ReLU(max_value=0.2): a clamp to [0, 0.2], as the article wrote it.
torch::Tensor clamped_relu(const torch::Tensor& x, double max_value = 0.2);

/// The classes G and D are conditioned on: the self-conditioning clusters, else the labels
/// of a conditional GAN, else 0.
int64_t conditioning_classes(const DcganSettings& settings);

/// Self-conditioning's state: the k-means centroids of the training images (K×C·S·S, pixels
/// in [0,1]), each cluster's share of the training set (K) and whether they were fitted
/// (0-d int64). Buffers of the generator, so that checkpoints and the zoo carry them.
struct SelfConditioningImpl : torch::nn::Module {
  SelfConditioningImpl(int64_t clusters, int64_t pixels);
  bool is_fitted() const { return fitted.item<int64_t>() != 0; }
  /// Each image's nearest centroid: N int64 for N×C×S×S images in [0,1].
  torch::Tensor clusters_of(const torch::Tensor& images) const;
  /// n clusters drawn by their shares with the global generator: n int64.
  torch::Tensor draw(int64_t n) const;
  /// The smallest and largest share in percent, e.g. "0.0967–0.95 %".
  std::string share_range() const;
  torch::Tensor centroids, shares, fitted;
};
TORCH_MODULE(SelfConditioning);

struct GeneratorImpl : torch::nn::Module {
  explicit GeneratorImpl(const DcganSettings& settings);
  /// Images in [-1, 1], N×C×S×S. labels: N int64 (classes or clusters), required iff
  /// conditioning_classes > 0.
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels = {});
  std::string architecture;
  int64_t width;
  int64_t num_classes;  ///< conditioning_classes
  SelfConditioning self_conditioning{nullptr};  ///< with clusters > 0
  int64_t base_size;  ///< S/4, the side the upsamplings start from
  torch::nn::Linear dense{nullptr};
  torch::nn::BatchNorm1d dense_norm{nullptr};
  torch::nn::Sequential up1{nullptr}, mid{nullptr}, up2{nullptr};
  torch::nn::BatchNorm2d norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(Generator);

/// Conditional: logit = dense(φ(x)) + ⟨embed(y), φ(x)⟩ — the projection discriminator,
/// which asks "is this a real image of class y" through one inner product per class.
struct DiscriminatorImpl : torch::nn::Module {
  explicit DiscriminatorImpl(const DcganSettings& settings);
  /// Logits N×1. labels: N int64, required iff conditioning_classes > 0.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels = {});
  /// forward in two halves: the flattened features, then the logits from them.
  torch::Tensor features(const torch::Tensor& x);
  torch::Tensor logits(const torch::Tensor& features, const torch::Tensor& labels = {});
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d norm2{nullptr};
  torch::nn::Linear dense{nullptr};
  torch::nn::Embedding projection{nullptr};
  torch::nn::Linear category_head{nullptr};  ///< InfoGAN's Q: the code's logits, N×K
  bool use_norm;
  /// Spectral normalisation: the power-iteration vectors of conv1, conv2 and dense
  /// (buffers, so checkpoints keep them); undefined without it.
  torch::Tensor conv1_u, conv2_u, dense_u;
};
TORCH_MODULE(Discriminator);

class Dcgan : public GenerativeModel {
 public:
  Dcgan(const DcganSettings& settings, torch::Device device);
  LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) override;
  LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) override;
  torch::Tensor sample(int64_t n, const SampleOptions& options) override;
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  std::vector<Figure> epoch_figures(const FigureInputs& inputs) override;
  std::vector<Figure> figures(const FigureInputs& inputs) override;
  int64_t parameter_count() const override;
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override;
  int64_t num_classes() const override;
  std::string sampler_name(const SampleOptions& options) const override { return "generator"; }
  /// Self-conditioning: fits the k-means clusters to the training images, once.
  std::string start_training(const torch::Tensor& images, const torch::Tensor& labels) override;
  Json info() const override;

  /// The two phases of train_step, public for tests. real in [-1, 1]; labels (N int64) are
  /// those of the real images and of the fakes, used only by a conditional GAN.
  LossTerms discriminator_step(const torch::Tensor& real, const torch::Tensor& z,
                               const torch::Tensor& labels = {});
  LossTerms generator_step(const torch::Tensor& z, const torch::Tensor& labels = {});

  /// Images in [0,1] from given latents (and labels, if conditional), in eval mode
  /// (BatchNorm running statistics).
  torch::Tensor generate(const torch::Tensor& z, const torch::Tensor& labels = {});
  Generator& generator() { return generator_; }
  Discriminator& discriminator() { return discriminator_; }
  /// G's input besides the class label: z ~ N(0, I), then the one-hot categorical code
  /// when latent_categories > 0 (N × (latent_dim + K)). sharded: this rank's share of the
  /// global batch (training), so that any rank count draws the same batch.
  torch::Tensor draw_latent(int64_t n, const torch::TensorOptions& options, bool sharded = false) const;
  /// The categorical codes (N int64) inside latents from draw_latent.
  torch::Tensor latent_codes(const torch::Tensor& latent) const;
  /// InfoGAN's λ·cross-entropy of D's category head on fakes' features against their
  /// codes; undefined without latent categories.
  torch::Tensor category_loss(const torch::Tensor& fake_features, const torch::Tensor& latent);
  /// The fixed latents of the per-epoch progress figures (derived from the seed).
  torch::Tensor fixed_noise(int64_t n) const;
  /// Their labels: 0, 1, ..., K-1, 0, ... for a conditional or self-conditioned GAN (its
  /// classes or clusters), undefined otherwise.
  torch::Tensor fixed_labels(int64_t n) const;
  /// What G and D are conditioned on for a batch: its labels (conditional), its images'
  /// clusters (self-conditioned), or nothing.
  torch::Tensor conditioning(const torch::Tensor& images, const torch::Tensor& labels) const;

 private:
  DcganSettings settings_;
  torch::Device device_;
  Generator generator_;
  Discriminator discriminator_;
  std::unique_ptr<torch::optim::Adam> g_optimizer_, d_optimizer_;
};

/// Presets: "quick" (aimed at ~5 minutes on 2 cores), "dcgan" (paper guidelines), "seed" (the article).
DcganSettings dcgan_preset(const std::string& name);
ModelFamily dcgan_family();

}  // namespace trilemma
