#include "models/vae.h"


#include <chrono>
#include <sstream>

#include "core/error.h"
#include "core/module_io.h"
#include "distributed/data_parallel.h"
#include "models/conditioning.h"
#include "models/layers.h"

namespace trilemma {
namespace nn = torch::nn;

const SettingsTable<VaeSettings>& vae_settings_table() {
  using S = VaeSettings;
  static const SettingsTable<S> table =
      SettingsTable<S>()
          .integer("latent_dim", [](S& s) -> int64_t& { return s.latent_dim; }, 1, 4096,
                   "size of the latent z (2 adds the latent-plane figures)")
          .integer("channels", [](S& s) -> int64_t& { return s.channels; }, 1, 1024,
                   "width of every conv layer")
          .choice("upsampling", [](S& s) -> std::string& { return s.upsampling; }, {"transposed", "subpixel"},
                  "decoder upsampling: transposed (the article) or subpixel (faster on CPU)")
          .number("kl_weight", [](S& s) -> double& { return s.kl_weight; }, Interval::at_least(0),
                  "weight of the KL term (1 = the true ELBO)")
          .integer("prior_components", [](S& s) -> int64_t& { return s.prior_components; }, 0, 256,
                   "Gaussians in the mixture fitted to the training codes after training, which "
                   "sampling draws z from (0 = N(0, I), the article's)")
          .absent_in_older_runs()
          .include(common_settings_table(), [](S& s) -> CommonSettings& { return s.common; });
  return table;
}

VaeEncoderImpl::VaeEncoderImpl(const VaeSettings& s) : num_classes(conditional_classes(s.common)) {
  // 3×3 stride-2 "valid" convolutions, as in the article: S -> ⌊(S-3)/2⌋+1, 28 -> 13 -> 6.
  auto valid_conv_size = [](int64_t size) { return (size - 3) / 2 + 1; };
  const int64_t side = valid_conv_size(valid_conv_size(s.common.image_size));
  const int64_t c = s.channels;
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(s.common.image_channels, c, 3).stride(2)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(c, c, 3).stride(2)));
  dense = register_module("dense", nn::Linear(c * side * side + num_classes, 2 * s.latent_dim));
}

std::pair<torch::Tensor, torch::Tensor> VaeEncoderImpl::forward(const torch::Tensor& x,
                                                                const torch::Tensor& labels) {
  torch::Tensor h = torch::relu(conv2(torch::relu(conv1(x)))).flatten(1);
  if (num_classes > 0) h = torch::cat({h, one_hot_labels(labels, num_classes).to(h.device())}, 1);
  torch::Tensor stats = dense(h);
  auto halves = stats.chunk(2, 1);
  return {halves[0], halves[1]};
}

VaeDecoderImpl::VaeDecoderImpl(const VaeSettings& s)
    : channels(s.channels), num_classes(conditional_classes(s.common)), base_size(s.common.image_size / 4) {
  const int64_t image_channels = s.common.image_channels;
  dense = register_module("dense", nn::Linear(s.latent_dim + num_classes, channels * base_size * base_size));
  up1 = register_module("up1", make_upsampling(channels, channels, s.upsampling));
  up2 = register_module("up2", make_upsampling(channels, channels, s.upsampling));
  // A stride-1 "same" ConvTranspose equals a conv with a flipped kernel; the plain conv
  // avoids LibTorch's slow transposed-convolution path on CPU.
  out = register_module(
      "out", s.upsampling == "transposed"
                 ? nn::Sequential(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(channels, image_channels, 3).padding(1)))
                 : nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, image_channels, 3).padding(1))));
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& z_in, const torch::Tensor& labels) {
  torch::Tensor z = z_in;
  if (num_classes > 0) z = torch::cat({z, one_hot_labels(labels, num_classes).to(z.device())}, 1);
  torch::Tensor h = torch::relu(dense(z)).view({-1, channels, base_size, base_size});
  return out->forward(torch::relu(up2->forward(torch::relu(up1->forward(h)))));
}

torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& log_var,
                             const torch::Tensor& eps) {
  return mu + eps * torch::exp(0.5 * log_var);
}

VaeLoss vae_loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& mu,
                 const torch::Tensor& log_var, double kl_weight) {
  VaeLoss loss;
  const int64_t n = logits.size(0);
  loss.reconstruction =
      torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::Sum) / n;
  // Closed-form KL between N(mu, sigma^2) and N(0, 1), summed over latent dimensions.
  loss.kl = (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp())).sum() / n;
  loss.total = loss.reconstruction + kl_weight * loss.kl;
  return loss;
}

Vae::Vae(const VaeSettings& settings, torch::Device device)
    : settings_(settings),
      device_(device),
      encoder_(settings),
      decoder_(settings) {
  encoder_->to(device_);
  decoder_->to(device_);
  if (settings.prior_components > 0) {
    latent_mixture_ = GaussianMixture(settings.prior_components, settings.latent_dim);
    latent_mixture_->to(device_);
  }
  std::vector<torch::Tensor> params = encoder_->parameters();
  for (auto& p : decoder_->parameters()) params.push_back(p);
  optimizer_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(settings.common.lr));
}

VaeOutput Vae::forward(const torch::Tensor& images, const torch::Tensor& labels) {
  auto [mu, log_var] = encoder_->forward(images, labels);
  torch::Tensor z = reparameterize(mu, log_var, distributed::shard_randn_like(mu));
  return {decoder_->forward(z, labels), mu, log_var};
}

int64_t Vae::num_classes() const { return conditional_classes(settings_.common); }

LossTerms Vae::train_step(const torch::Tensor& images, const torch::Tensor& labels) {
  // A mixture fitted to the codes of an earlier encoder no longer describes them: a run
  // extended past its end refits it when it completes again.
  if (latent_mixture_ && latent_mixture_->is_fitted()) latent_mixture_->fitted.fill_(0);
  encoder_->train();
  decoder_->train();
  VaeOutput out = forward(images, labels);
  VaeLoss loss = vae_loss(out.reconstruction_logits, images, out.mu, out.log_var, settings_.kl_weight);
  optimizer_->zero_grad();
  loss.total.backward();
  distributed::average_gradients(optimizer_->param_groups()[0].params());
  optimizer_->step();
  return {{"loss", loss.total.item<double>()},
          {"bce", loss.reconstruction.item<double>()},
          {"kl", loss.kl.item<double>()}};
}

LossTerms Vae::eval_loss(const torch::Tensor& images, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  encoder_->eval();
  decoder_->eval();
  VaeOutput out = forward(images, labels);
  VaeLoss loss = vae_loss(out.reconstruction_logits, images, out.mu, out.log_var, settings_.kl_weight);
  return {{"loss", loss.total.item<double>()},
          {"bce", loss.reconstruction.item<double>()},
          {"kl", loss.kl.item<double>()}};
}

torch::Tensor Vae::decode(const torch::Tensor& z, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  decoder_->eval();
  return torch::sigmoid(decoder_->forward(z.to(device_), labels));
}

bool Vae::use_mixture(const SampleOptions& options) const {
  const bool fitted = latent_mixture_ && latent_mixture_->is_fitted();
  if (options.sampler.empty()) return fitted;
  if (options.sampler == kVaeNormalSampler) return false;
  if (options.sampler != kVaeMixtureSampler)
    throw UserError("--sampler: a vae samples with 'normal' (z from N(0, I)) or 'mixture' (z from the latent "
                    "mixture fitted after training), got '" + options.sampler + "'");
  if (!latent_mixture_)
    throw UserError("--sampler mixture: this VAE has no latent mixture (prior_components 0); use --sampler normal");
  if (!fitted)
    throw UserError("--sampler mixture: this VAE's latent mixture is not fitted yet (it is fitted when training "
                    "completes; finish it with `trilemma train --resume RUN`)");
  return true;
}

std::string Vae::sampler_name(const SampleOptions& options) const {
  // "decoder" for N(0, I) keeps the name eval.json files of earlier VAEs use.
  return use_mixture(options) ? "decoder-gmm" + std::to_string(settings_.prior_components) : "decoder";
}

std::string Vae::finish_training(const torch::Tensor& images, const torch::Tensor& labels) {
  if (!latent_mixture_ || latent_mixture_->is_fitted()) return "";
  if (images.size(0) < settings_.prior_components)
    throw UserError("prior_components " + std::to_string(settings_.prior_components) + " exceeds the " +
                    std::to_string(images.size(0)) + " training images; the run samples z from N(0, I) (train "
                    "with fewer components to fit a mixture)");
  const auto start = std::chrono::steady_clock::now();
  torch::manual_seed(settings_.common.seed);  // the same run fits the same mixture
  // 20,000 codes fit as well as all 60,000 of MNIST (FID at N = 2,000 of the standard VAE
  // with K = 20: 1.49 against 1.38, within the noise; 10,000: 1.28) in a third of the time.
  constexpr int64_t kMaxFitImages = 20000;
  const torch::Tensor rows = images.size(0) > kMaxFitImages
                                 ? torch::randperm(images.size(0), torch::kLong).narrow(0, 0, kMaxFitImages)
                                 : torch::arange(images.size(0), torch::kLong);
  std::vector<torch::Tensor> means;
  {
    c10::InferenceMode guard;
    encoder_->eval();
    constexpr int64_t kChunk = 1000;
    for (int64_t i = 0; i < rows.size(0); i += kChunk) {
      const torch::Tensor chunk = rows.narrow(0, i, std::min(kChunk, rows.size(0) - i));
      const torch::Tensor chunk_labels =
          num_classes() > 0 ? labels.index_select(0, chunk).to(device_) : torch::Tensor();
      means.push_back(encoder_->forward(images.index_select(0, chunk).to(device_), chunk_labels).first.to(torch::kFloat));
    }
  }
  const torch::Tensor codes = torch::cat(means);
  const MixtureFit fit = fit_gaussian_mixture(*latent_mixture_, codes);
  // How much better the mixture explains the codes than the N(0, I) the decoder was trained against.
  const double normal_ll =
      (-0.5 * (codes.to(torch::kDouble).pow(2).sum(1) + settings_.latent_dim * std::log(2 * M_PI))).mean().item<double>();
  std::ostringstream line;
  line.precision(4);
  line << "fitted a " << settings_.prior_components << "-component Gaussian mixture to " << codes.size(0)
       << " training images' latent means in " << fit.mean_log_likelihood.size() << " EM iterations ("
       << (fit.converged ? "converged" : "not converged") << ", "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
       << " s): mean log-likelihood " << fit.mean_log_likelihood.back() << " against " << normal_ll
       << " under N(0, I); samples now draw z from it";
  return line.str();
}

Json Vae::info() const {
  if (!latent_mixture_) return {{"latent_sampling", "N(0, I)"}};
  return {{"latent_sampling", latent_mixture_->is_fitted() ? "fitted Gaussian mixture" : "N(0, I) (mixture not fitted yet)"},
          {"prior_components", settings_.prior_components},
          {"default_sampler", sampler_name({})}};
}

torch::Tensor Vae::sample(int64_t n, const SampleOptions& options) {
  check_class_request(options, num_classes(), false);
  c10::InferenceMode guard;
  const PrecisionGuard precision(options.precision, device_);
  const torch::Tensor z = use_mixture(options) ? latent_mixture_->sample(n)
                                               : torch::randn({n, settings_.latent_dim}, torch::TensorOptions().device(device_));
  const torch::Tensor labels =
      settings_.common.conditional ? labels_to_sample(n, options, num_classes(), device_) : torch::Tensor();
  return decode(z, labels).to(torch::kFloat);  // under bf16 autocast the decoder returns bf16
}

void Vae::save(torch::serialize::OutputArchive& archive) {
  write_module(archive, "encoder", *encoder_);
  write_module(archive, "decoder", *decoder_);
  if (latent_mixture_) write_module(archive, "latent_mixture", *latent_mixture_);
  write_optimizer(archive, "optimizer", *optimizer_);
}

void Vae::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "encoder", *encoder_);
  read_module(archive, "decoder", *decoder_);
  if (latent_mixture_) read_module(archive, "latent_mixture", *latent_mixture_);
  read_optimizer(archive, "optimizer", *optimizer_);
  encoder_->to(device_);
  decoder_->to(device_);
  if (latent_mixture_) latent_mixture_->to(device_);
}

std::vector<std::pair<std::string, torch::nn::Module*>> Vae::sampling_networks() {
  if (latent_mixture_) return {{"decoder", decoder_.ptr().get()}, {"latent_mixture", latent_mixture_.ptr().get()}};
  return {{"decoder", decoder_.ptr().get()}};
}

int64_t Vae::parameter_count() const {
  int64_t count = 0;
  for (const auto& p : decoder_->parameters()) count += p.numel();
  return count;
}

std::vector<Figure> Vae::figures(const FigureInputs& inputs) {
  std::vector<Figure> out;
  torch::manual_seed(settings_.common.seed);  // figures are reproducible for a given checkpoint
  out.push_back(Figure::grid("samples", sample(100, {}).cpu(), 10));

  c10::InferenceMode guard;
  encoder_->eval();
  const int64_t shown = std::min<int64_t>(10, inputs.test_images.size(0));
  if (shown > 0) {
    // Reconstructions: inputs above, their decoded posterior means below.
    torch::Tensor images = inputs.test_images.narrow(0, 0, shown).to(device_);
    torch::Tensor labels = inputs.test_labels.narrow(0, 0, shown).to(device_);
    torch::Tensor recon = decode(encoder_->forward(images, labels).first, labels);
    out.push_back(Figure::grid("reconstructions", torch::cat({images.cpu(), recon.cpu()}), shown, 3));
  }
  if (settings_.common.conditional) {
    // The conditional VAE separates content from style: each column keeps one z, each row
    // asks for another class, so a column shows one style (a digit's handwriting) across them.
    constexpr int64_t kStyles = 10;
    const int64_t classes = num_classes();
    torch::manual_seed(settings_.common.seed);
    const torch::Tensor z = torch::randn({kStyles, settings_.latent_dim}).to(device_);
    const torch::Tensor rows = torch::arange(classes, torch::kLong).repeat_interleave(kStyles);
    out.push_back(Figure::grid("styles_by_class", decode(z.repeat({classes, 1}), rows.to(device_)).cpu(), kStyles));
  }
  if (settings_.latent_dim != 2) return out;

  if (!settings_.common.conditional) {
    // The decoder manifold: a 20×20 grid of z at standard-normal quantiles.
    constexpr int64_t kSide = 20;
    out.push_back(Figure::grid("latent_manifold", decode(latent_plane_grid(kSide)).cpu(), kSide, 2, 0));
  }

  // Test-set latent means coloured by class.
  const int64_t n = std::min<int64_t>(5000, inputs.test_images.size(0));
  if (n == 0) return out;
  torch::Tensor labels = inputs.test_labels.narrow(0, 0, n).cpu();
  torch::Tensor mu =
      encoder_->forward(inputs.test_images.narrow(0, 0, n).to(device_), labels.to(device_)).first.cpu();
  Figure scatter;
  scatter.kind = Figure::Kind::kScatter;
  scatter.name = "latent_scatter";
  scatter.title = "Test-set latent means by class";
  scatter.x_label = "z[0]";
  scatter.y_label = "z[1]";
  const int64_t classes = settings_.common.classes;
  scatter.series.resize(classes);
  for (int64_t k = 0; k < classes; ++k) scatter.series[k].name = std::to_string(k);
  auto mu_a = mu.accessor<float, 2>();
  auto labels_a = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    scatter.series[labels_a[i]].x.push_back(mu_a[i][0]);
    scatter.series[labels_a[i]].y.push_back(mu_a[i][1]);
  }
  out.push_back(std::move(scatter));
  return out;
}

VaeSettings vae_preset(const std::string& name) {
  VaeSettings s;  // the defaults are the article's ("seed")
  if (name == "seed") return s;
  if (name == "quick") {
    // Under three minutes on a 2-core CPU (2:41 measured, ~650 images/s): a 16-D latent
    // gives sharper prior samples than 2-D,
    // sub-pixel upsampling avoids the slow transposed-conv backward, and a larger batch
    // with a larger learning rate makes each of the few epochs count.
    s.latent_dim = 16;
    s.channels = 32;
    s.upsampling = "subpixel";
    s.common.epochs = 2;
    s.common.batch_size = 128;
    s.common.lr = 2e-3;
    return s;
  }
  if (name == "standard") {
    // The quick network trained 15× longer: ~30 minutes on an idle 2-core CPU at the ~1,000
    // training images/s measured for it (BENCHMARKS.md). Its learning curve is in the README.
    s = vae_preset("quick");
    s.common.epochs = 30;
    // Samples draw z from a 20-Gaussian mixture fitted to the training codes, not the prior
    // N(0, I) the quick preset keeps (the article's): FID at N = 2,000 10.5 -> 1.4 (K = 10:
    // 1.9, K = 50: 1.6) for a few seconds after training (README, "Sampling the VAE's latent
    // space").
    s.prior_components = 20;
    return s;
  }
  throw UserError("unknown vae preset '" + name + "' (known: quick, standard, seed)");
}

ModelFamily vae_family() {
  return make_model_family<Vae>("vae", "variational autoencoder (Kingma & Welling 2014), the article's architecture",
                                {"quick", "standard", "seed"}, vae_settings_table(), vae_preset, nullptr);
}

}  // namespace trilemma
