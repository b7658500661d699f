#include "models/dcgan.h"

#include <chrono>
#include <sstream>

#include "core/error.h"
#include "core/module_io.h"
#include "distributed/data_parallel.h"
#include "models/conditioning.h"
#include "models/kmeans.h"
#include "models/layers.h"

namespace trilemma {
namespace nn = torch::nn;

const SettingsTable<DcganSettings>& dcgan_settings_table() {
  using S = DcganSettings;
  static const SettingsTable<S> table =
      SettingsTable<S>()
          .choice("architecture", [](S& s) -> std::string& { return s.architecture; }, {"seed", "dcgan"},
                  "seed (the article's networks, clamp activation) or dcgan (paper guidelines)")
          .integer("latent_dim", [](S& s) -> int64_t& { return s.latent_dim; }, 1, 4096,
                   "size of z ~ N(0, I) (2 adds the latent-plane figure)")
          .integer("width", [](S& s) -> int64_t& { return s.width; }, 1, 1024, "channels of the conv layers")
          .choice("upsampling", [](S& s) -> std::string& { return s.upsampling; }, {"transposed", "subpixel"},
                  "generator upsampling: transposed or subpixel (faster on CPU)")
          .boolean("fakes_from_eval_generator", [](S& s) -> bool& { return s.fakes_from_eval_generator; },
                   "draw D's fakes with BatchNorm running statistics (the article's quirk)")
          .number("beta1", [](S& s) -> double& { return s.beta1; }, Interval::closed_open(0, 1),
                  "Adam beta1 of both networks' optimisers")
          .choice("objective", [](S& s) -> std::string& { return s.objective; }, {"bce", "hinge"},
                  "GAN losses: bce (cross-entropy, non-saturating G) or hinge")
          .absent_in_older_runs()
          .boolean("spectral_norm", [](S& s) -> bool& { return s.spectral_norm; },
                   "spectrally normalise D's weights (replacing its BatchNorm)")
          .absent_in_older_runs()
          .integer("latent_categories", [](S& s) -> int64_t& { return s.latent_categories; }, 0, 1000,
                   "InfoGAN: values of a categorical code joining z, recovered by a head on D (0 = none)")
          .absent_in_older_runs()
          .number("info_weight", [](S& s) -> double& { return s.info_weight; }, Interval::closed(0, 100),
                  "InfoGAN: weight of the code's cross-entropy in G's and D's losses")
          .absent_in_older_runs()
          .integer("clusters", [](S& s) -> int64_t& { return s.clusters; }, 0, 1000,
                   "self-conditioning: G and D conditioned on each training image's k-means cluster (this "
                   "many), sampling draws clusters by their share (0 = off)")
          .absent_in_older_runs()
          .include(common_settings_table(), [](S& s) -> CommonSettings& { return s.common; });
  return table;
}

torch::Tensor clamped_relu(const torch::Tensor& x, double max_value) { return x.clamp(0.0, max_value); }

int64_t conditioning_classes(const DcganSettings& s) {
  return s.clusters > 0 ? s.clusters : conditional_classes(s.common);
}

SelfConditioningImpl::SelfConditioningImpl(int64_t clusters, int64_t pixels) {
  centroids = register_buffer("centroids", torch::zeros({clusters, pixels}));
  shares = register_buffer("shares", torch::full({clusters}, 1.0 / static_cast<double>(clusters)));
  fitted = register_buffer("fitted", torch::zeros({}, torch::kLong));
}

torch::Tensor SelfConditioningImpl::clusters_of(const torch::Tensor& images) const {
  return nearest_centroid(images.flatten(1), centroids);
}

torch::Tensor SelfConditioningImpl::draw(int64_t n) const {
  return torch::multinomial(shares.to(torch::kFloat), n, /*replacement=*/true);
}

std::string SelfConditioningImpl::share_range() const {
  std::ostringstream range;
  range.precision(3);
  range << 100 * shares.min().item<double>() << "–" << 100 * shares.max().item<double>() << " %";
  return range.str();
}

GeneratorImpl::GeneratorImpl(const DcganSettings& s)
    : architecture(s.architecture),
      width(s.width),
      num_classes(conditioning_classes(s)),
      base_size(s.common.image_size / 4) {
  const int64_t w = s.width;
  const int64_t dense_features = 2 * w * base_size * base_size;
  dense = register_module("dense", nn::Linear(s.latent_dim + s.latent_categories + num_classes, dense_features));
  if (architecture == "dcgan") dense_norm = register_module("dense_norm", nn::BatchNorm1d(dense_features));
  up1 = register_module("up1", make_upsampling(2 * w, w, s.upsampling));  // S/4 -> S/2 (7 -> 14)
  norm1 = register_module("norm1", nn::BatchNorm2d(w));
  // The article's middle layer is a stride-1 "same" ConvTranspose; DCGAN uses a plain conv.
  mid = register_module("mid", architecture == "seed"
                                   ? nn::Sequential(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(w, w, 3).padding(1)))
                                   : nn::Sequential(nn::Conv2d(nn::Conv2dOptions(w, w, 3).padding(1))));
  norm2 = register_module("norm2", nn::BatchNorm2d(w));
  up2 = register_module("up2", make_upsampling(w, s.common.image_channels, s.upsampling));  // S/2 -> S
  if (s.clusters > 0)
    self_conditioning = register_module(
        "self_conditioning",
        SelfConditioning(s.clusters, s.common.image_channels * s.common.image_size * s.common.image_size));
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& z_in, const torch::Tensor& labels) {
  // The seed's ReLU(max_value=0.2) is kept as written (probably meant as LeakyReLU(0.2)).
  auto activation = [this](const torch::Tensor& x) {
    return architecture == "seed" ? clamped_relu(x) : torch::relu(x);
  };
  torch::Tensor z = z_in;
  if (num_classes > 0) z = torch::cat({z, one_hot_labels(labels, num_classes).to(z.device())}, 1);
  torch::Tensor h = dense(z);
  if (dense_norm) h = torch::relu(distributed::batch_norm(dense_norm, h));
  h = h.view({-1, 2 * width, base_size, base_size});
  h = activation(distributed::batch_norm(norm1, up1->forward(h)));
  h = activation(distributed::batch_norm(norm2, mid->forward(h)));
  return torch::tanh(up2->forward(h));
}

DiscriminatorImpl::DiscriminatorImpl(const DcganSettings& s)
    : use_norm(s.architecture == "dcgan" && !s.spectral_norm) {
  const int64_t w = s.width;
  // seed: 3×3 "same" stride-2 convs; dcgan: 4×4 stride-2 (Radford et al.); both halve an
  // even side, S -> S/2 -> S/4 (28 -> 14 -> 7).
  const bool paper_shapes = s.architecture == "dcgan";
  const int64_t k = paper_shapes ? 4 : 3;
  const int64_t w2 = paper_shapes ? 2 * w : w;
  const int64_t side = s.common.image_size / 4;
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(s.common.image_channels, w, k).stride(2).padding(1)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(w, w2, k).stride(2).padding(1)));
  if (use_norm) norm2 = register_module("norm2", nn::BatchNorm2d(w2));
  dense = register_module("dense", nn::Linear(w2 * side * side, 1));
  if (s.spectral_norm) {
    auto unit = [](int64_t n) { return torch::nn::functional::normalize(torch::randn({n}), torch::nn::functional::NormalizeFuncOptions().dim(0)); };
    conv1_u = register_buffer("conv1_u", unit(w));
    conv2_u = register_buffer("conv2_u", unit(w2));
    dense_u = register_buffer("dense_u", unit(1));
  }
  if (conditioning_classes(s) > 0) {
    projection = register_module("projection", nn::Embedding(conditioning_classes(s), w2 * side * side));
    // Small initial projections: the conditional term starts near zero, so D begins as the
    // unconditional discriminator and learns the class evidence on top.
    torch::NoGradGuard no_grad;
    projection->weight.normal_(0.0, 0.02);
  }
  if (s.latent_categories > 0)
    category_head = register_module("category_head", nn::Linear(w2 * side * side, s.latent_categories));
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& x, const torch::Tensor& labels) {
  return logits(features(x), labels);
}

torch::Tensor DiscriminatorImpl::features(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  torch::Tensor h;
  if (conv1_u.defined()) {
    // Both convs are stride 2, padding 1 (the constructor's).
    auto conv = [this](nn::Conv2d& layer, torch::Tensor& u, const torch::Tensor& input) {
      return F::conv2d(input, spectrally_normalized(layer->weight, u, is_training()),
                       F::Conv2dFuncOptions().bias(layer->bias).stride(2).padding(1));
    };
    h = torch::leaky_relu(conv(conv1, conv1_u, x), 0.2);
    return torch::leaky_relu(conv(conv2, conv2_u, h), 0.2).flatten(1);
  }
  h = torch::leaky_relu(conv1(x), 0.2);
  h = conv2(h);
  if (use_norm) h = distributed::batch_norm(norm2, h);
  return torch::leaky_relu(h, 0.2).flatten(1);
}

torch::Tensor DiscriminatorImpl::logits(const torch::Tensor& h, const torch::Tensor& labels) {
  torch::Tensor logits = dense_u.defined()
      ? torch::nn::functional::linear(h, spectrally_normalized(dense->weight, dense_u, is_training()), dense->bias)
      : dense(h);
  if (projection) logits = logits + (projection(labels.to(h.device())) * h).sum(1, true);
  return logits;
}

Dcgan::Dcgan(const DcganSettings& settings, torch::Device device)
    : settings_(settings), device_(device), generator_(settings), discriminator_(settings) {
  generator_->to(device_);
  discriminator_->to(device_);
  auto options = torch::optim::AdamOptions(settings.common.lr).betas(std::make_tuple(settings.beta1, 0.999));
  g_optimizer_ = std::make_unique<torch::optim::Adam>(generator_->parameters(), options);
  d_optimizer_ = std::make_unique<torch::optim::Adam>(discriminator_->parameters(), options);
}

torch::Tensor bce_with_logits(const torch::Tensor& logits, double target) {
  return torch::binary_cross_entropy_with_logits(logits, torch::full_like(logits, target));
}

namespace {

// D's loss on reals alone (target 1) and on fakes alone (target 0), under `objective`; they
// sum to D's loss, as the article's two train_on_batch calls need them apart.
torch::Tensor real_side_loss(const std::string& objective, const torch::Tensor& logits) {
  return objective == "hinge" ? torch::relu(1 - logits).mean() : bce_with_logits(logits, 1.0);
}
torch::Tensor fake_side_loss(const std::string& objective, const torch::Tensor& logits) {
  return objective == "hinge" ? torch::relu(1 + logits).mean() : bce_with_logits(logits, 0.0);
}
torch::Tensor generator_loss(const std::string& objective, const torch::Tensor& fake_logits) {
  return objective == "hinge" ? -fake_logits.mean() : bce_with_logits(fake_logits, 1.0);
}

}  // namespace

torch::Tensor hinge_discriminator_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits) {
  return real_side_loss("hinge", real_logits) + fake_side_loss("hinge", fake_logits);
}

torch::Tensor hinge_generator_loss(const torch::Tensor& fake_logits) { return generator_loss("hinge", fake_logits); }

LossTerms Dcgan::discriminator_step(const torch::Tensor& real, const torch::Tensor& z,
                                     const torch::Tensor& labels) {
  // The article draws D's fakes with G.predict_on_batch, i.e. with BatchNorm's running
  // statistics; the DCGAN preset uses the training-mode generator.
  torch::Tensor fake;
  {
    torch::NoGradGuard no_grad;
    if (settings_.fakes_from_eval_generator) generator_->eval();
    fake = generator_->forward(z, labels);
    generator_->train();
  }
  discriminator_->train();
  torch::Tensor real_logits, fake_logits, d_loss, info;
  if (settings_.architecture == "seed") {
    // The article calls train_on_batch twice: one Adam step on reals, then one on fakes.
    d_optimizer_->zero_grad();
    real_logits = discriminator_->forward(real, labels);
    torch::Tensor real_loss = real_side_loss(settings_.objective, real_logits);
    real_loss.backward();
    distributed::average_gradients(discriminator_->parameters());
    d_optimizer_->step();
    d_optimizer_->zero_grad();
    const torch::Tensor fake_features = discriminator_->features(fake);
    fake_logits = discriminator_->logits(fake_features, labels);
    torch::Tensor fake_loss = fake_side_loss(settings_.objective, fake_logits);
    info = category_loss(fake_features, z);
    (info.defined() ? fake_loss + info : fake_loss).backward();
    distributed::average_gradients(discriminator_->parameters());
    d_optimizer_->step();
    d_loss = real_loss.detach() + fake_loss.detach();
  } else {
    d_optimizer_->zero_grad();
    real_logits = discriminator_->forward(real, labels);
    const torch::Tensor fake_features = discriminator_->features(fake);
    fake_logits = discriminator_->logits(fake_features, labels);
    d_loss = real_side_loss(settings_.objective, real_logits) + fake_side_loss(settings_.objective, fake_logits);
    info = category_loss(fake_features, z);
    (info.defined() ? d_loss + info : d_loss).backward();
    distributed::average_gradients(discriminator_->parameters());
    d_optimizer_->step();
  }
  LossTerms terms{{"d_loss", d_loss.item<double>()},
                  {"d_real", torch::sigmoid(real_logits).mean().item<double>()},
                  {"d_fake", torch::sigmoid(fake_logits).mean().item<double>()}};
  if (info.defined()) terms["d_info"] = info.item<double>();
  return terms;
}

LossTerms Dcgan::generator_step(const torch::Tensor& z, const torch::Tensor& labels) {
  // G(z) through D, labelled real; only G's optimiser steps, and D's gradients from this
  // phase are cleared so they cannot leak into D's next step.
  generator_->train();
  g_optimizer_->zero_grad();
  const torch::Tensor fake_features = discriminator_->features(generator_->forward(z, labels));
  const torch::Tensor g_loss = generator_loss(settings_.objective, discriminator_->logits(fake_features, labels));
  // InfoGAN: G is also rewarded for fakes whose code D's head recovers.
  const torch::Tensor info = category_loss(fake_features, z);
  (info.defined() ? g_loss + info : g_loss).backward();
  distributed::average_gradients(generator_->parameters());
  g_optimizer_->step();
  d_optimizer_->zero_grad();
  LossTerms terms{{"g_loss", g_loss.item<double>()}};
  if (info.defined()) terms["g_info"] = info.item<double>();
  return terms;
}

LossTerms Dcgan::train_step(const torch::Tensor& images, const torch::Tensor& labels) {
  const torch::Tensor real = images * 2 - 1;  // the generator's tanh range
  // The same z serves both phases, as in the article; a conditional GAN's fakes take the
  // real batch's labels, so both sides of D see the same class mix.
  const torch::Tensor z = draw_latent(images.size(0), real.options(), /*sharded=*/true);
  const torch::Tensor classes = conditioning(images, labels);
  LossTerms terms = discriminator_step(real, z, classes);
  terms.merge(generator_step(z, classes));
  terms["loss"] = terms["d_loss"] + terms["g_loss"];
  return terms;
}

LossTerms Dcgan::eval_loss(const torch::Tensor& images, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  generator_->eval();
  discriminator_->eval();
  const torch::Tensor z = draw_latent(images.size(0), images.options());
  const torch::Tensor classes = conditioning(images, labels);
  const torch::Tensor real_logits = discriminator_->forward(images * 2 - 1, classes);
  const torch::Tensor fake_logits = discriminator_->forward(generator_->forward(z, classes), classes);
  const double d_loss =
      (real_side_loss(settings_.objective, real_logits) + fake_side_loss(settings_.objective, fake_logits)).item<double>();
  const double g_loss = generator_loss(settings_.objective, fake_logits).item<double>();
  generator_->train();
  discriminator_->train();
  return {{"loss", d_loss + g_loss}, {"d_loss", d_loss}, {"g_loss", g_loss},
          {"d_real", torch::sigmoid(real_logits).mean().item<double>()},
          {"d_fake", torch::sigmoid(fake_logits).mean().item<double>()}};
}

torch::Tensor Dcgan::generate(const torch::Tensor& z, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  generator_->eval();
  torch::Tensor images = (generator_->forward(z.to(device_), labels) + 1) / 2;
  generator_->train();
  return images;
}

int64_t Dcgan::num_classes() const { return conditional_classes(settings_.common); }

torch::Tensor Dcgan::sample(int64_t n, const SampleOptions& options) {
  check_class_request(options, num_classes(), false);
  const PrecisionGuard precision(options.precision, device_);
  const torch::Tensor z = draw_latent(n, torch::TensorOptions().device(device_));
  torch::Tensor labels;
  if (settings_.common.conditional) labels = labels_to_sample(n, options, num_classes(), device_);
  if (generator_->self_conditioning) labels = generator_->self_conditioning->draw(n).to(device_);
  return generate(z, labels).to(torch::kFloat);  // under bf16 autocast the generator returns bf16
}

torch::Tensor Dcgan::draw_latent(int64_t n, const torch::TensorOptions& options, bool sharded) const {
  const int64_t k = settings_.latent_categories;
  auto normal = [&](int64_t columns) {
    return sharded ? distributed::shard_randn({n, columns}, options) : torch::randn({n, columns}, options);
  };
  const torch::Tensor z = normal(settings_.latent_dim);
  if (k == 0) return z;
  // The arg-max of k i.i.d. normals is uniform over the k values, and drawn this way
  // the code shards across ranks like z.
  const torch::Tensor codes = normal(k).argmax(1);
  return torch::cat({z, torch::one_hot(codes, k).to(z.dtype())}, 1);
}

torch::Tensor Dcgan::latent_codes(const torch::Tensor& latent) const {
  return latent.narrow(1, settings_.latent_dim, settings_.latent_categories).argmax(1);
}

torch::Tensor Dcgan::category_loss(const torch::Tensor& fake_features, const torch::Tensor& latent) {
  if (settings_.latent_categories == 0) return {};
  const torch::Tensor logits = discriminator_->category_head(fake_features);
  return settings_.info_weight * torch::cross_entropy_loss(logits.to(torch::kFloat), latent_codes(latent).to(logits.device()));
}

torch::Tensor Dcgan::fixed_noise(int64_t n) const {
  torch::manual_seed(static_cast<uint64_t>(settings_.common.seed) + 7919);
  return draw_latent(n, torch::TensorOptions());
}

torch::Tensor Dcgan::fixed_labels(int64_t n) const {
  if (generator_->num_classes == 0) return {};
  return torch::arange(n, torch::kLong).remainder(generator_->num_classes).to(device_);
}

torch::Tensor Dcgan::conditioning(const torch::Tensor& images, const torch::Tensor& labels) const {
  if (generator_->self_conditioning) return generator_->self_conditioning->clusters_of(images.to(device_));
  return settings_.common.conditional ? labels : torch::Tensor();
}

std::string Dcgan::start_training(const torch::Tensor& images, const torch::Tensor& labels) {
  if (!generator_->self_conditioning || generator_->self_conditioning->is_fitted()) return "";
  SelfConditioningImpl& state = *generator_->self_conditioning;
  const auto start = std::chrono::steady_clock::now();
  const int64_t k = settings_.clusters;
  if (images.size(0) < k)
    throw UserError("--clusters " + std::to_string(k) + ": more clusters than the " + std::to_string(images.size(0)) +
                    " training images");
  torch::manual_seed(settings_.common.seed);  // every rank and every rerun fits the same clusters
  const KMeansFit fit = fit_kmeans(images.flatten(1).to(device_), k);
  torch::NoGradGuard no_grad;
  state.centroids.copy_(fit.centroids);
  state.shares.copy_(torch::bincount(fit.assignments, {}, k).to(torch::kFloat) / images.size(0));
  state.fitted.fill_(1);
  std::ostringstream line;
  line.precision(3);
  line << "self-conditioning: " << k << " k-means clusters of the " << images.size(0) << " training images' pixels in "
       << fit.iterations << " Lloyd iterations (" << (fit.converged ? "converged" : "not converged") << ", "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s), "
       << state.share_range() << " of the images each; G and D are conditioned on them";
  return line.str();
}

Json Dcgan::info() const {
  if (!generator_->self_conditioning) return Json::object();
  const SelfConditioningImpl& state = *generator_->self_conditioning;
  if (!state.is_fitted())
    return {{"self_conditioning", std::to_string(settings_.clusters) + " k-means clusters (fitted when training starts)"}};
  return {{"self_conditioning", std::to_string(settings_.clusters) + " k-means clusters of the training images, " +
                                    state.share_range() + " of them each; samples draw a cluster by its share"}};
}

void Dcgan::save(torch::serialize::OutputArchive& archive) {
  write_module(archive, "generator", *generator_);
  write_module(archive, "discriminator", *discriminator_);
  write_optimizer(archive, "g_optimizer", *g_optimizer_);
  write_optimizer(archive, "d_optimizer", *d_optimizer_);
}

void Dcgan::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "generator", *generator_);
  read_module(archive, "discriminator", *discriminator_);
  read_optimizer(archive, "g_optimizer", *g_optimizer_);
  read_optimizer(archive, "d_optimizer", *d_optimizer_);
  generator_->to(device_);
  discriminator_->to(device_);
}

std::vector<std::pair<std::string, torch::nn::Module*>> Dcgan::sampling_networks() {
  return {{"generator", generator_.ptr().get()}};
}

int64_t Dcgan::parameter_count() const {
  int64_t count = 0;
  for (const auto& p : generator_->parameters()) count += p.numel();
  return count;
}

std::vector<Figure> Dcgan::epoch_figures(const FigureInputs& inputs) {
  // The same 64 latents after every epoch, so the evolution (and any early collapse onto a
  // few classes) is visible: one row of 16 per epoch in progress.png, and an animation.
  Figure progress;
  progress.kind = Figure::Kind::kEpochHistory;
  progress.name = "progress";
  progress.images = generate(fixed_noise(64), fixed_labels(64)).cpu();
  progress.columns = 16;
  return {progress};
}

std::vector<Figure> Dcgan::figures(const FigureInputs& inputs) {
  std::vector<Figure> out;
  torch::manual_seed(settings_.common.seed);
  out.push_back(Figure::grid("samples", sample(100, {}).cpu(), 10));

  // Interpolation strips: 6 pairs of latents, 10 linear steps each.
  const int64_t latent_width = settings_.latent_dim + settings_.latent_categories;
  const torch::Tensor ends = fixed_noise(12).view({6, 2, latent_width});
  const torch::Tensor t = torch::linspace(0, 1, 10).view({1, 10, 1});
  torch::Tensor z = ends.select(1, 0).unsqueeze(1) * (1 - t) + ends.select(1, 1).unsqueeze(1) * t;
  const int64_t k = settings_.latent_categories;
  if (k > 0) {
    // Only z moves along a strip; its categorical code stays the start's.
    z.narrow(2, settings_.latent_dim, k).copy_(ends.select(1, 0).narrow(1, settings_.latent_dim, k).unsqueeze(1).expand({6, 10, k}));
  }
  // A conditional GAN interpolates within one class per strip (row r: class r mod K), a
  // self-conditioned one within one cluster.
  const torch::Tensor strip_labels = generator_->num_classes > 0 ? fixed_labels(6).repeat_interleave(10) : torch::Tensor();
  out.push_back(Figure::grid("interpolation", generate(z.reshape({-1, latent_width}), strip_labels).cpu(), 10));

  if (k > 0) {
    // What each value of the code draws: row c holds code c with the same 10 z's, as the
    // conditional model's by-class figure does with labels.
    const torch::Tensor noise = fixed_noise(10).narrow(1, 0, settings_.latent_dim);
    const torch::Tensor codes = torch::one_hot(torch::arange(k).repeat_interleave(10), k).to(torch::kFloat);
    const torch::Tensor latent = torch::cat({noise.repeat({k, 1}), codes}, 1);
    const torch::Tensor labels = generator_->num_classes > 0 ? fixed_labels(k * 10) : torch::Tensor();
    out.push_back(Figure::grid("categories", generate(latent, labels).cpu(), 10));
  }

  if (generator_->self_conditioning) {
    // What each cluster draws: row c holds cluster c with the same 10 z's (at most 50 rows).
    const int64_t rows = std::min<int64_t>(settings_.clusters, 50);
    const torch::Tensor noise = fixed_noise(10).repeat({rows, 1});
    const torch::Tensor clusters = torch::arange(rows, torch::kLong).repeat_interleave(10).to(device_);
    out.push_back(Figure::grid("clusters", generate(noise, clusters).cpu(), 10));
  }

  if (settings_.latent_dim == 2 && generator_->num_classes == 0 && k == 0) {
    // The generator's output over the z plane (the article's "latent space" figure).
    constexpr int64_t kSide = 20;
    out.push_back(Figure::grid("latent_manifold", generate(latent_plane_grid(kSide)).cpu(), kSide, 2, 0));
  }
  return out;
}

DcganSettings dcgan_preset(const std::string& name) {
  DcganSettings s;  // the defaults are the article's ("seed")
  if (name == "seed") return s;
  if (name == "dcgan" || name == "quick") {
    // Radford et al. 2016: BatchNorm in G and D, ReLU in G, LeakyReLU(0.2) in D,
    // Adam(2e-4, β1 = 0.5), batch 128; fakes from the training-mode generator.
    s.architecture = "dcgan";
    s.fakes_from_eval_generator = false;
    s.common.lr = 2e-4;
    s.beta1 = 0.5;
    s.common.batch_size = 128;
    s.common.epochs = 20;
  }
  if (name == "dcgan") return s;
  if (name == "quick") {
    // Meant for ~5 minutes on an idle 2-core CPU (17 min measured on a busy one):
    // narrower networks and sub-pixel upsampling.
    s.width = 32;
    s.upsampling = "subpixel";
    s.common.batch_size = 64;
    s.common.epochs = 3;
    return s;
  }
  if (name == "standard") {
    // The quick networks trained 70 epochs: ~50 minutes on an idle 2-core CPU at the ~1,390
    // training images/s measured for them on the EPYC. Its learning curve (README) still
    // falls at 70 epochs, slowly (FID 4.96 -> 4.16 over the last 20 of them), so the hour is
    // used up to a margin for slower CPUs.
    s = dcgan_preset("quick");
    s.common.epochs = 70;
    return s;
  }
  throw UserError("unknown dcgan preset '" + name + "' (known: quick, standard, dcgan, seed)");
}

ModelFamily dcgan_family() {
  return make_model_family<Dcgan>("dcgan", "generative adversarial network with DCGAN networks (the article's GAN)",
                                  {"quick", "standard", "dcgan", "seed"}, dcgan_settings_table(), dcgan_preset,
                                  [](const DcganSettings& s) {
                                    if (s.clusters > 0 && s.common.conditional)
                                      throw UserError("--clusters: a conditional dcgan is conditioned on its labels "
                                                      "already (self-conditioning is for unconditional runs)");
                                  });
}

}  // namespace trilemma
