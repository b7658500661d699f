#include "models/ddgan.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/module_io.h"
#include "distributed/data_parallel.h"
#include "models/conditioning.h"
#include "models/ddpm.h"
#include "models/layers.h"

namespace trilemma {
namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// D's time embedding is widened like the U-Net's (Ho et al. 2020, appendix B).
constexpr int64_t kDiscriminatorTimeWidening = 4;
constexpr double kLeakySlope = 0.2;

nn::Conv2d conv3x3(int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }

torch::Tensor leaky(const torch::Tensor& x) { return torch::leaky_relu(x, kLeakySlope); }

}  // namespace

const SettingsTable<DdganSettings>& ddgan_settings_table() {
  using S = DdganSettings;
  static const SettingsTable<S> table =
      SettingsTable<S>()
          .integer("timesteps", [](S& s) -> int64_t& { return s.timesteps; }, 1, 1000,
                   "T, denoising steps (= network evaluations per sample)")
          .number("beta_min", [](S& s) -> double& { return s.beta_min; }, Interval::open(0, 100),
                  "the VP SDE's beta at t = 0")
          .number("beta_max", [](S& s) -> double& { return s.beta_max; }, Interval::open(0, 100),
                  "the VP SDE's beta at t = 1")
          .integer("latent_dim", [](S& s) -> int64_t& { return s.generator.latent_dim; }, 0, 4096,
                   "size of the generator's z ~ N(0, I) (0 = no z)")
          .integer("latent_mapping_layers", [](S& s) -> int64_t& { return s.generator.latent_mapping_layers; }, 1,
                   16, "layers of the MLP that maps z into the generator's embedding")
          .integer("base_width", [](S& s) -> int64_t& { return s.generator.base_width; }, 1, 1024,
                   "generator U-Net channels at full resolution")
          .integer_list("channel_mults", [](S& s) -> std::vector<int64_t>& { return s.generator.channel_mults; },
                        1, 16, false, "width multiplier per generator U-Net level, e.g. 1,2,2")
          .integer_list("attention_levels",
                        [](S& s) -> std::vector<int64_t>& { return s.generator.attention_levels; }, 0, 15, true,
                        "generator levels with self-attention, 0 = full resolution (none = no attention)")
          .boolean("middle_attention", [](S& s) -> bool& { return s.generator.middle_attention; },
                   "self-attention in the generator U-Net's middle block")
          .integer("num_res_blocks", [](S& s) -> int64_t& { return s.generator.num_res_blocks; }, 1, 16,
                   "ResNet blocks per generator level and direction")
          .integer("groups", [](S& s) -> int64_t& { return s.generator.groups; }, 1, 1024,
                   "GroupNorm groups (divides base_width)")
          .boolean("pad_to_32", [](S& s) -> bool& { return s.generator.pad_to_32; },
                   "zero-pad images inside the generator to a side every level halves evenly, a multiple of "
                   "8 at least (28x28 -> 32x32, as 4 levels need); cropped back")
          .integer("disc_width", [](S& s) -> int64_t& { return s.disc_width; }, 1, 1024,
                   "discriminator channels at full resolution")
          .boolean("minibatch_std", [](S& s) -> bool& { return s.minibatch_std; },
                   "D also sees the standard deviation of its batch's features (against mode collapse)")
          .absent_in_older_runs()
          .number("d_lr", [](S& s) -> double& { return s.d_lr; }, Interval::open(0, 1),
                  "discriminator learning rate (lr is the generator's)")
          .number("beta1", [](S& s) -> double& { return s.beta1; }, Interval::closed_open(0, 1),
                  "Adam beta1 of both optimisers")
          .number("beta2", [](S& s) -> double& { return s.beta2; }, Interval::closed_open(0, 1),
                  "Adam beta2 of both optimisers")
          .number("r1_gamma", [](S& s) -> double& { return s.r1_gamma; }, Interval::closed(0, 1000),
                  "R1 penalty weight on real pairs (0 = none)")
          .integer("r1_interval", [](S& s) -> int64_t& { return s.r1_interval; }, 1, 1000,
                   "apply R1 every this many discriminator steps (lazy regularisation)")
          .number("ema_decay", [](S& s) -> double& { return s.ema_decay; }, Interval::closed_open(0, 1),
                  "EMA decay of the generator's sampling weights (0 = none)")
          .include(common_settings_table(), [](S& s) -> CommonSettings& { return s.common; });
  return table;
}

void check_ddgan_combinations(const DdganSettings& s) {
  diffusion::make_vp_schedule(s.timesteps, s.beta_min, s.beta_max);  // throws for β_min >= β_max or β_t = 1
  validate_unet_settings(s.generator, s.common.image_size);
}

torch::Tensor r1_penalty(const torch::Tensor& logits, const torch::Tensor& x, double gamma) {
  const auto gradient = torch::autograd::grad({logits.sum()}, {x}, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                              /*create_graph=*/true)[0];
  return 0.5 * gamma * gradient.pow(2).flatten(1).sum(1).mean();
}

PairDownBlockImpl::PairDownBlockImpl(int64_t in, int64_t out, int64_t time_dim) {
  conv1 = register_module("conv1", conv3x3(in, out));
  // Strided convolutions halve the size: LibTorch 1.13's CPU average pooling and its
  // backward took 9 % of a training step (trilemma bench --model ddgan --profile).
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).stride(2).padding(1)));
  skip = register_module("skip", nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(2).bias(false)));
  time_proj = register_module("time_proj", nn::Linear(time_dim, out));
}

torch::Tensor PairDownBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& time_embedding) {
  auto h = conv1(leaky(x)) + time_proj(time_embedding).unsqueeze(-1).unsqueeze(-1);
  h = conv2(leaky(h));
  return (h + skip(x)) * (1.0 / std::sqrt(2.0));
}

torch::Tensor minibatch_std_channel(const torch::Tensor& features) {
  const int64_t n = features.size(0);
  const int64_t group = n % kMinibatchStdGroup == 0 ? kMinibatchStdGroup : n;
  // Row r belongs to group r % (n / group), as in Karras et al.'s reshape.
  const auto grouped = features.reshape({group, n / group, -1});
  const auto spread = (grouped.var(0, /*unbiased=*/false) + 1e-8).sqrt().mean(1);  // n/group
  return spread.repeat({group}).view({n, 1, 1, 1}).expand({n, 1, features.size(2), features.size(3)});
}

PairDiscriminatorImpl::PairDiscriminatorImpl(int64_t width_, int64_t num_classes, int64_t image_channels,
                                             bool minibatch_std_)
    : width(width_), minibatch_std(minibatch_std_) {
  const int64_t time_dim = kDiscriminatorTimeWidening * width;
  input = register_module("input", conv3x3(2 * image_channels, width));
  time_fc1 = register_module("time_fc1", nn::Linear(width, time_dim));
  time_fc2 = register_module("time_fc2", nn::Linear(time_dim, time_dim));
  block1 = register_module("block1", PairDownBlock(width, 2 * width, time_dim));      // S -> S/2
  block2 = register_module("block2", PairDownBlock(2 * width, 4 * width, time_dim));  // S/2 -> S/4
  dense = register_module("dense", nn::Linear(4 * width + (minibatch_std ? 1 : 0), 1));
  if (num_classes > 0) {
    projection = register_module("projection", nn::Embedding(num_classes, 4 * width));
    // As in the DCGAN: D starts as the unconditional discriminator.
    torch::NoGradGuard no_grad;
    projection->weight.normal_(0.0, 0.02);
  }
}

torch::Tensor PairDiscriminatorImpl::forward(const torch::Tensor& x_prev, const torch::Tensor& x_t,
                                             const torch::Tensor& t, const torch::Tensor& labels) {
  // The sinusoidal embedding needs an even width of at least 4.
  const int64_t embedding_dim = std::max<int64_t>(4, width + width % 2);
  auto time = sinusoidal_embedding(t.to(x_t.device()), embedding_dim).narrow(1, 0, width).to(x_t.scalar_type());
  time = time_fc2(leaky(time_fc1(time)));
  auto h = input(torch::cat({x_prev, x_t}, 1));
  h = block1(h, time);
  h = block2(h, time);
  const auto features = leaky(h).sum({2, 3});
  auto logits = minibatch_std ? dense(torch::cat({features, minibatch_std_channel(h).sum({2, 3})}, 1))
                              : dense(features);
  if (projection) logits = logits + (projection(labels.to(features.device())) * features).sum(1, true);
  return logits;
}

Ddgan::Ddgan(const DdganSettings& settings, torch::Device device)
    : settings_(settings),
      device_(device),
      schedule_(diffusion::make_vp_schedule(settings.timesteps, settings.beta_min, settings.beta_max)) {
  settings_.generator.adaptive_norm = true;
  settings_.generator.zero_init = false;
  settings_.generator.in_channels = settings_.common.image_channels;
  settings_.generator.num_classes = conditional_classes(settings_.common);
  check_ddgan_combinations(settings_);
  generator_ = UNet(settings_.generator);
  ema_ = UNet(settings_.generator);
  discriminator_ =
      PairDiscriminator(settings_.disc_width, settings_.generator.num_classes, settings_.common.image_channels,
                        settings_.minibatch_std);
  generator_->to(device_);
  ema_->to(device_);
  discriminator_->to(device_);
  ema_update(*ema_, *generator_, 0.0);
  for (auto& p : ema_->parameters()) p.set_requires_grad(false);
  const auto betas = std::make_tuple(settings_.beta1, settings_.beta2);
  g_optimizer_ = std::make_unique<torch::optim::Adam>(generator_->parameters(),
                                                      torch::optim::AdamOptions(settings_.common.lr).betas(betas));
  d_optimizer_ = std::make_unique<torch::optim::Adam>(discriminator_->parameters(),
                                                      torch::optim::AdamOptions(settings_.d_lr).betas(betas));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(settings_.common.seed) + 1);
  epoch_noise_ = torch::randn(image_batch_shape(64, settings_.common), generator).to(device_);
}

torch::Tensor Ddgan::draw_latent(int64_t n, c10::optional<at::Generator> generator) const {
  if (settings_.generator.latent_dim == 0) return {};
  if (!generator) return distributed::shard_randn({n, settings_.generator.latent_dim}).to(device_);
  return torch::randn({n, settings_.generator.latent_dim}, generator).to(device_);
}

torch::Tensor Ddgan::random_steps(int64_t n) const {
  return distributed::shard_randint(0, settings_.timesteps, {n}).to(device_);
}

std::pair<torch::Tensor, torch::Tensor> Ddgan::real_pair(const torch::Tensor& x0, const torch::Tensor& t) const {
  // x_{t-1} at index t-1 of the schedule; rows at t = 0 keep x_0 (ᾱ before the first step is 1).
  const auto previous = (t - 1).clamp_min(0);
  const auto noised = schedule_.q_sample(x0, previous, distributed::shard_randn_like(x0));
  const auto at_start = (t == 0).to(x0.device()).view({-1, 1, 1, 1});
  const auto x_prev = torch::where(at_start, x0, noised);
  return {x_prev, schedule_.q_step(x_prev, t, distributed::shard_randn_like(x0))};
}

torch::Tensor Ddgan::predict_x0(UNet& generator, const torch::Tensor& x_t, const torch::Tensor& t,
                                const torch::Tensor& z, const torch::Tensor& labels) {
  // tanh keeps x̂_0 in the data's range, so the posterior never extrapolates.
  return torch::tanh(generator->forward(x_t, t.to(device_), labels, z));
}

LossTerms Ddgan::train_step(const torch::Tensor& images, const torch::Tensor& labels) {
  generator_->train();
  discriminator_->train();
  const auto x0 = to_model_space(images.to(device_));
  const int64_t n = x0.size(0);
  const auto t = random_steps(n);
  const torch::Tensor classes = settings_.common.conditional ? labels.to(device_) : torch::Tensor();
  auto [x_prev, x_t] = real_pair(x0, t);

  // D: non-saturating loss, softplus(−D(real)) + softplus(D(fake)), and lazy R1 on real pairs.
  const bool regularise = settings_.r1_gamma > 0 && steps_done_ % settings_.r1_interval == 0;
  if (regularise) x_prev.requires_grad_(true);
  d_optimizer_->zero_grad();
  const auto real_logits = discriminator_->forward(x_prev, x_t, t, classes);
  auto d_loss = F::softplus(-real_logits).mean();
  double r1 = 0.0;
  if (regularise) {
    const auto penalty = r1_penalty(real_logits, x_prev, settings_.r1_gamma);
    r1 = penalty.item<double>();
    d_loss = d_loss + static_cast<double>(settings_.r1_interval) * penalty;
  }
  torch::Tensor fake_prev;
  {
    torch::NoGradGuard no_grad;
    const auto x0_hat = predict_x0(generator_, x_t, t, draw_latent(n), classes);
    fake_prev = schedule_.q_posterior_sample(x0_hat, x_t, t, distributed::shard_randn_like(x_t));
  }
  const auto fake_logits = discriminator_->forward(fake_prev, x_t, t, classes);
  d_loss = d_loss + F::softplus(fake_logits).mean();
  d_loss.backward();
  distributed::average_gradients(discriminator_->parameters());
  d_optimizer_->step();

  // G: a fresh z for the same x_t; only G steps, and D's gradients from this phase are cleared.
  g_optimizer_->zero_grad();
  const auto x0_hat = predict_x0(generator_, x_t, t, draw_latent(n), classes);
  const auto g_prev = schedule_.q_posterior_sample(x0_hat, x_t, t, distributed::shard_randn_like(x_t));
  const auto g_loss = F::softplus(-discriminator_->forward(g_prev, x_t, t, classes)).mean();
  g_loss.backward();
  distributed::average_gradients(generator_->parameters());
  g_optimizer_->step();
  d_optimizer_->zero_grad();
  ema_update(*ema_, *generator_, ema_decay_at(settings_.ema_decay, steps_done_));
  ++steps_done_;

  const double d = d_loss.item<double>(), g = g_loss.item<double>();
  LossTerms terms{{"loss", d + g},
                  {"d_loss", d},
                  {"g_loss", g},
                  {"d_real", torch::sigmoid(real_logits).mean().item<double>()},
                  {"d_fake", torch::sigmoid(fake_logits).mean().item<double>()}};
  if (regularise) terms["r1"] = r1;
  return terms;
}

LossTerms Ddgan::eval_loss(const torch::Tensor& images, const torch::Tensor& labels) {
  // D against the sampling (EMA) generator's proposals on held-out pairs.
  c10::InferenceMode guard;
  ema_->eval();
  discriminator_->eval();
  const auto x0 = to_model_space(images.to(device_));
  const int64_t n = x0.size(0);
  const auto t = random_steps(n);
  const torch::Tensor classes = settings_.common.conditional ? labels.to(device_) : torch::Tensor();
  const auto [x_prev, x_t] = real_pair(x0, t);
  const auto x0_hat = predict_x0(ema_, x_t, t, draw_latent(n), classes);
  const auto fake_prev = schedule_.q_posterior_sample(x0_hat, x_t, t, torch::randn_like(x_t));
  const auto real_logits = discriminator_->forward(x_prev, x_t, t, classes);
  const auto fake_logits = discriminator_->forward(fake_prev, x_t, t, classes);
  const double d_loss = (F::softplus(-real_logits).mean() + F::softplus(fake_logits).mean()).item<double>();
  const double g_loss = F::softplus(-fake_logits).mean().item<double>();
  discriminator_->train();
  return {{"loss", d_loss + g_loss}, {"d_loss", d_loss}, {"g_loss", g_loss},
          {"d_real", torch::sigmoid(real_logits).mean().item<double>()},
          {"d_fake", torch::sigmoid(fake_logits).mean().item<double>()}};
}

torch::Tensor Ddgan::denoise(const torch::Tensor& x_T, const torch::Tensor& labels,
                             c10::optional<at::Generator> generator,
                             const std::function<void(int64_t, const torch::Tensor&)>& on_step) {
  c10::InferenceMode guard;
  ema_->eval();
  const int64_t n = x_T.size(0);
  torch::Tensor x = x_T.to(device_);
  for (int64_t i = settings_.timesteps - 1; i >= 0; --i) {
    const auto t = torch::full({n}, i, torch::TensorOptions().dtype(torch::kLong));
    const auto x0_hat = predict_x0(ema_, x, t, draw_latent(n, generator), labels);
    // At i = 0 the posterior's variance is 0: the last step returns x̂_0 itself.
    const auto noise = torch::randn(x.sizes(), generator).to(device_, x.scalar_type());
    x = schedule_.q_posterior_sample(x0_hat, x, t, noise);
    if (on_step) on_step(settings_.timesteps - i, x);
  }
  return x;
}

torch::Tensor Ddgan::sample(int64_t n, const SampleOptions& options) {
  check_class_request(options, num_classes(), false);
  const PrecisionGuard precision(options.precision, device_);
  const int64_t chunk_size = sampling_chunk(settings_.generator, settings_.common.image_size);
  std::vector<torch::Tensor> chunks;
  for (int64_t start = 0; start < n; start += chunk_size) {
    const int64_t count = std::min(chunk_size, n - start);
    const auto x_T = torch::randn(image_batch_shape(count, settings_.common), torch::TensorOptions().device(device_));
    const torch::Tensor labels = settings_.common.conditional
                                     ? labels_to_sample(count, options, num_classes(), device_)
                                     : torch::Tensor();
    chunks.push_back(to_image_space(denoise(x_T, labels)).to(torch::kFloat));
    if (options.progress) options.progress("sampling ddgan", std::min(n, start + count), n);
  }
  if (chunks.empty())
    return torch::empty(image_batch_shape(0, settings_.common), torch::TensorOptions().device(device_));
  return torch::cat(chunks, 0);
}

std::string Ddgan::sampler_name(const SampleOptions& options) const {
  return "ddgan-" + std::to_string(settings_.timesteps);
}

int64_t Ddgan::num_classes() const { return conditional_classes(settings_.common); }

std::vector<std::pair<std::string, torch::nn::Module*>> Ddgan::sampling_networks() {
  return {{"ema", ema_.ptr().get()}};
}

int64_t Ddgan::parameter_count() const { return count_parameters(*generator_); }

Json Ddgan::info() const {
  return {{"timesteps", settings_.timesteps},
          {"schedule", "vp"},
          {"beta_min", settings_.beta_min},
          {"beta_max", settings_.beta_max},
          {"alpha_bars", schedule_.alpha_bars()},
          {"latent_dim", settings_.generator.latent_dim},
          {"parameters", parameter_count()},
          {"discriminator_parameters", count_parameters(*discriminator_)},
          {"default_sampler", sampler_name({})},
          {"ema_decay", settings_.ema_decay},
          {"r1_gamma", settings_.r1_gamma},
          {"conditional", settings_.common.conditional}};
}

void Ddgan::save(torch::serialize::OutputArchive& archive) {
  write_module(archive, "generator", *generator_);
  write_module(archive, "ema", *ema_);
  write_module(archive, "discriminator", *discriminator_);
  write_optimizer(archive, "g_optimizer", *g_optimizer_);
  write_optimizer(archive, "d_optimizer", *d_optimizer_);
  archive.write("steps_done", torch::tensor(steps_done_));
}

void Ddgan::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "generator", *generator_);
  read_module(archive, "ema", *ema_);
  read_module(archive, "discriminator", *discriminator_);
  read_optimizer(archive, "g_optimizer", *g_optimizer_);
  read_optimizer(archive, "d_optimizer", *d_optimizer_);
  torch::Tensor steps;
  archive.read("steps_done", steps);
  steps_done_ = steps.item<int64_t>();
  generator_->to(device_);
  ema_->to(device_);
  discriminator_->to(device_);
}

std::vector<Figure> Ddgan::epoch_figures(const FigureInputs& inputs) {
  // The same x_T, z and posterior noise after every epoch (a private generator), so that
  // rows compare; a conditional model draws the classes 0..K-1 in turn.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(settings_.common.seed) + 7919);
  const torch::Tensor labels =
      settings_.common.conditional
          ? torch::arange(epoch_noise_.size(0), torch::kLong).remainder(num_classes()).to(device_)
          : torch::Tensor();
  Figure progress;
  progress.kind = Figure::Kind::kEpochHistory;
  progress.name = "progress";
  progress.images = to_image_space(denoise(epoch_noise_, labels, generator)).to(torch::kFloat).cpu();
  progress.columns = 16;
  return {progress};
}

std::vector<Figure> Ddgan::figures(const FigureInputs& inputs) {
  std::vector<Figure> out;
  torch::manual_seed(settings_.common.seed);  // figures are reproducible for a given checkpoint
  out.push_back(Figure::grid("samples", sample(100, {}).cpu(), 10));

  // The denoising chain x_T, x_{T-1}, ..., x_0 of eight samples, one row each (a
  // conditional model: the classes 0..7, mod K).
  constexpr int64_t kRows = 8;
  const auto x_T = torch::randn(image_batch_shape(kRows, settings_.common), torch::TensorOptions().device(device_));
  const torch::Tensor labels = settings_.common.conditional
                                   ? torch::arange(kRows, torch::kLong).remainder(num_classes()).to(device_)
                                   : torch::Tensor();
  std::vector<torch::Tensor> columns = {x_T};
  denoise(x_T, labels, c10::nullopt, [&](int64_t, const torch::Tensor& x) { columns.push_back(x.clone()); });
  const auto chain = torch::stack(columns, 1).flatten(0, 1);
  out.push_back(Figure::grid("denoising_chain", to_image_space(chain).to(torch::kFloat).cpu(),
                             static_cast<int64_t>(columns.size()), 3));

  if (settings_.generator.latent_dim > 0) {
    // What z does: one x_T per row, ten latents per row. Identical columns would mean the
    // posterior collapsed to a point (the paper's ablation without z).
    constexpr int64_t kShownRows = 6, kLatents = 10;
    const auto x = torch::randn(image_batch_shape(kShownRows, settings_.common), torch::TensorOptions().device(device_))
                       .repeat_interleave(kLatents, 0);
    const torch::Tensor row_labels =
        settings_.common.conditional
            ? torch::arange(kShownRows, torch::kLong).remainder(num_classes()).repeat_interleave(kLatents).to(device_)
            : torch::Tensor();
    out.push_back(Figure::grid("latent_variation", to_image_space(denoise(x, row_labels)).to(torch::kFloat).cpu(),
                               kLatents));
  }
  return out;
}

DdganSettings ddgan_preset(const std::string& name) {
  // The defaults are the paper's optimisation recipe (Xiao et al. 2022, CIFAR-10; the
  // values as the authors' published training command gives them, Adam's β as recalled): Adam
  // (β 0.5, 0.9), G 1.6e-4, D 1.25e-4, R1 γ 0.02 every 15 steps, EMA 0.9999, T = 4,
  // β_min 0.1, β_max 20, z of 100 through a 4-layer mapping.
  DdganSettings s;
  s.generator.pad_to_32 = false;  // 28-14-7 with three levels
  s.generator.channel_mults = {1, 2, 2};
  s.generator.attention_levels = {2};
  s.generator.latent_dim = 100;
  s.generator.latent_mapping_layers = 4;
  if (name == "paper") {
    // Their NCSN++ generator scaled to MNIST's 28×28: two ResNet blocks per level, attention at 7×7.
    s.generator.base_width = 64;
    s.generator.num_res_blocks = 2;
    s.disc_width = 64;
    return s;
  }
  if (name == "quick") {
    // For an idle 2-core CPU in under 8 minutes (the budget): a lean generator
    // (base 16, levels 28-14-7 at 16-32-64 channels, one block per level, no attention:
    // ~0.1 GFLOP per evaluation, so 4 of them still sample ~10x faster than the quick
    // DDPM's 20) and a shorter EMA, so that a short run's average is of trained weights.
    // 500 steps of 64 at the ~72 images/s measured idle.
    s.generator.base_width = 16;
    s.generator.channel_mults = {1, 2, 4};
    s.generator.num_res_blocks = 1;
    s.generator.attention_levels = {};
    s.generator.middle_attention = false;
    s.generator.latent_dim = 32;
    s.generator.latent_mapping_layers = 2;
    s.disc_width = 32;
    s.ema_decay = 0.999;
    s.common.epochs = 1;
    s.common.max_steps = 500;
    return s;
  }
  if (name == "standard") {
    // The quick networks for the hour on an idle 2-core CPU with --precision bf16 (164 training
    // images/s on the AVX512-BF16 EPYC, against ~107 in fp32: 9,000 steps of 64 in ~59 minutes).
    // Learning rates 3e-4 for both: at 1,000 steps they scored FID 44.5 at N = 2,000 against
    // 70.8 with the paper's 1.6e-4/1.25e-4 (a width-64 D: 46.9 at twice the time; T = 2:
    // 86.6). At 3e-4 without the minibatch spread, G collapsed onto one hooked stroke by step
    // 1,900; with it, D sees a batch of near-copies and G keeps drawing many shapes.
    s = ddgan_preset("quick");
    s.minibatch_std = true;
    s.common.lr = 3e-4;
    s.d_lr = 3e-4;
    s.common.epochs = 10;
    s.common.max_steps = 9000;
    return s;
  }
  if (name == "full") {
    // GPU-sized: wider networks, attention at 14×14 and 7×7, and long training.
    s.generator.base_width = 96;
    s.generator.num_res_blocks = 2;
    s.generator.attention_levels = {1, 2};
    s.generator.attention_heads = 4;
    s.generator.groups = 16;
    s.disc_width = 96;
    s.common.epochs = 200;
    s.common.batch_size = 128;
    return s;
  }
  throw UserError("unknown ddgan preset '" + name + "' (known: quick, standard, paper, full)");
}

ModelFamily ddgan_family() {
  return make_model_family<Ddgan>(
      "ddgan", "denoising diffusion GAN (Xiao et al. 2022): T = 4 large denoising steps, each a conditional GAN",
      {"quick", "standard", "paper", "full"}, ddgan_settings_table(), ddgan_preset, check_ddgan_combinations);
}

}  // namespace trilemma
