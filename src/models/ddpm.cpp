#include "models/ddpm.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/module_io.h"
#include "distributed/data_parallel.h"
#include "models/conditioning.h"
#include "models/layers.h"

namespace trilemma {
namespace {

// Activations per network call while sampling (elements of the largest feature map plus the
// attention scores, summed over the chunk's images). A chunk that stays near the caches runs
// faster per image than a large batch: the quick U-Net evaluates 1.3× more images per
// second at 32 than at 256, and the seed U-Net (1024² attention scores per image at 32×32)
// 2.07× more at 64 than at 256, in a third of the memory (BENCHMARKS.md, sampling chunks).
constexpr int64_t kChunkActivations = int64_t{1} << 20;
constexpr int64_t kMinSampleChunk = 8, kMaxSampleChunk = 256;
// Above this √ᾱ_T the forward process does not reach noise, yet sampling starts from
// N(0, I): `trilemma info` warns (the article's T = 200 linear schedule has 0.36).
constexpr double kSignalWarningThreshold = 0.05;

std::string format_number(double value, int precision = 3) {
  std::ostringstream out;
  out.precision(precision);
  out << value;
  return out.str();
}

}  // namespace

int64_t sampling_chunk(const UNetSettings& unet, int64_t image_size) {
  const int64_t size = working_size(unet, image_size);
  int64_t per_image = unet.base_width * size * size;
  if (!unet.attention_levels.empty()) {
    const int64_t level = *std::min_element(unet.attention_levels.begin(), unet.attention_levels.end());
    const int64_t positions = (size >> level) * (size >> level);
    per_image += unet.attention_heads * positions * positions;
  }
  int64_t chunk = kMaxSampleChunk;
  while (chunk > kMinSampleChunk && chunk * per_image > kChunkActivations) chunk /= 2;
  return chunk;
}

void ema_update(torch::nn::Module& target, const torch::nn::Module& source, double decay) {
  torch::NoGradGuard no_grad;
  auto target_params = target.parameters();
  auto source_params = source.parameters();
  TORCH_CHECK(target_params.size() == source_params.size(), "ema_update: modules differ");
  for (size_t i = 0; i < target_params.size(); ++i)
    target_params[i].mul_(decay).add_(source_params[i].detach(), 1.0 - decay);
  auto target_buffers = target.buffers();
  auto source_buffers = source.buffers();
  TORCH_CHECK(target_buffers.size() == source_buffers.size(), "ema_update: modules differ");
  for (size_t i = 0; i < target_buffers.size(); ++i) target_buffers[i].copy_(source_buffers[i]);
}

torch::Tensor guided_prediction(UNet& network, const torch::Tensor& x_t, const torch::Tensor& t, bool conditional,
                                const torch::Tensor& labels, double w) {
  if (!conditional) return network->forward(x_t, t);
  if (!labels.defined() || w == 0.0) return network->forward(x_t, t);  // null class
  if (w == 1.0) return network->forward(x_t, t, labels);
  // Both predictions in one batch of 2N: [conditional; unconditional].
  const torch::Tensor null_labels = torch::full_like(labels, network->settings().num_classes);
  const auto both =
      network->forward(torch::cat({x_t, x_t}), torch::cat({t, t}), torch::cat({labels, null_labels})).chunk(2);
  return guided_epsilon(both[1], both[0], w);
}

double ema_decay_at(double decay, int64_t update) {
  return std::min(decay, (1.0 + static_cast<double>(update)) / (10.0 + static_cast<double>(update)));
}

Ddpm::Ddpm(const DdpmSettings& settings, torch::Device device)
    : settings_(settings),
      device_(device),
      schedule_(diffusion::make_noise_schedule(settings.schedule, settings.timesteps)) {
  validate_ddpm_settings(settings_);
  // The U-Net makes images of the data's channels; a conditional one embeds its classes
  // plus the null class of classifier-free guidance.
  settings_.unet.in_channels = settings_.common.image_channels;
  settings_.unet.num_classes = conditional_classes(settings_.common);
  net_ = UNet(settings_.unet);
  ema_ = UNet(settings_.unet);
  net_->to(device_);
  ema_->to(device_);
  ema_update(*ema_, *net_, 0.0);  // start the average at the initial weights
  for (auto& p : ema_->parameters()) p.set_requires_grad(false);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(),
                                                    torch::optim::AdamOptions(settings_.common.lr));
  // A private generator, so that drawing the fixed noise leaves the global stream alone.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(settings_.common.seed) + 1);
  epoch_noise_ = torch::randn(image_batch_shape(36, settings_.common), generator).to(device_);
}

LossTerms Ddpm::train_step(const torch::Tensor& images, const torch::Tensor& labels) {
  net_->train();
  const auto x0 = to_model_space(images.to(device_));
  const int64_t n = x0.size(0);
  // Uniform t and ε-prediction MSE: the simplified objective L_simple (Ho et al. 2020, eq. 14).
  const auto t = distributed::shard_randint(0, settings_.timesteps, {n});
  const auto noise = distributed::shard_randn_like(x0);
  const auto x_t = schedule_.q_sample(x0, t, noise);
  // Classifier-free guidance trains p(x|y) and p(x) in one network: some labels become
  // the null class.
  const torch::Tensor classes =
      settings_.common.conditional ? drop_labels(labels.to(device_), settings_.label_dropout, num_classes())
                            : torch::Tensor();
  const auto predicted = net_->forward(x_t, t.to(device_), classes);
  const auto loss = torch::mse_loss(predicted, noise);

  optimizer_->zero_grad();
  loss.backward();
  distributed::average_gradients(net_->parameters());
  double grad_norm = 0.0;
  if (settings_.grad_clip > 0)
    grad_norm = torch::nn::utils::clip_grad_norm_(net_->parameters(), settings_.grad_clip);
  if (settings_.warmup_steps > 0) {
    const double scale = std::min(1.0, static_cast<double>(steps_done_ + 1) / settings_.warmup_steps);
    for (auto& group : optimizer_->param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(settings_.common.lr * scale);
  }
  optimizer_->step();
  ema_update(*ema_, *net_, ema_decay_at(settings_.ema_decay, steps_done_));
  ++steps_done_;

  LossTerms terms{{"loss", loss.item<double>()}};
  if (settings_.grad_clip > 0) terms["grad_norm"] = grad_norm;
  return terms;
}

LossTerms Ddpm::eval_loss(const torch::Tensor& images, const torch::Tensor& labels) {
  // The sampling (EMA) network's L_simple on held-out images.
  c10::InferenceMode guard;
  ema_->eval();
  const auto x0 = to_model_space(images.to(device_));
  const auto t = torch::randint(0, settings_.timesteps, {x0.size(0)}, torch::TensorOptions().dtype(torch::kLong));
  const auto noise = torch::randn_like(x0);
  // A conditional model is scored on its conditional predictions.
  const torch::Tensor classes = settings_.common.conditional ? labels.to(device_) : torch::Tensor();
  const auto predicted = ema_->forward(schedule_.q_sample(x0, t, noise), t.to(device_), classes);
  return {{"loss", torch::mse_loss(predicted, noise).item<double>()}};
}

diffusion::SamplerSettings Ddpm::sampler_settings(const SampleOptions& options) const {
  diffusion::SamplerSettings s;
  const std::string name = options.sampler.empty() ? settings_.sampler : options.sampler;
  s.kind = diffusion::parse_sampler_kind(name);
  if (options.steps < 0) throw UserError("--steps: must be >= 0 (0 = the model's default)");
  if (options.steps > settings_.timesteps)
    throw UserError("--steps: at most T = " + std::to_string(settings_.timesteps) + ", got " +
                    std::to_string(options.steps));
  // Defaults: ancestral DDPM runs the full chain (Algorithm 2); the fast samplers use
  // the configured step count.
  if (options.steps > 0) s.steps = options.steps;
  else s.steps = s.kind == diffusion::SamplerKind::kDdpm ? settings_.timesteps : settings_.sample_steps;
  if (options.eta && !(*options.eta >= 0)) throw UserError("--eta: must be >= 0");
  s.eta = options.eta ? *options.eta : settings_.eta;
  s.ddpm_variance = settings_.ddpm_variance == "posterior" ? diffusion::DdpmVariance::kPosterior
                                                            : diffusion::DdpmVariance::kBeta;
  s.clip_x0 = settings_.clip_denoised ? 1.0 : 0.0;
  return s;
}

std::vector<std::string> Ddpm::sampling_options() const { return {"sampler", "steps", "eta"}; }

diffusion::SampleResult Ddpm::denoise(const torch::Tensor& x, const diffusion::SamplerSettings& settings,
                                      const torch::Tensor& labels, double guidance) {
  c10::InferenceMode guard;
  ema_->eval();
  const bool autoguided = guide_ && guidance != 1.0;
  if (autoguided) guide_->ema_->eval();
  diffusion::EpsilonPredictor predict = [&](const torch::Tensor& x_t, const torch::Tensor& t) {
    if (autoguided) {
      // w = 0 is the guide alone, as classifier-free guidance's w = 0 is the unconditional model.
      const auto weak = guide_->ema_->forward(x_t, t);
      return guidance == 0.0 ? weak : guided_epsilon(weak, ema_->forward(x_t, t), guidance);
    }
    return guided_prediction(ema_, x_t, t, settings_.common.conditional, labels, guidance);
  };
  return diffusion::run_sampler(schedule_, predict, x.to(device_), settings);
}

int64_t Ddpm::num_classes() const { return conditional_classes(settings_.common); }

double Ddpm::guidance_weight(const SampleOptions& options) const {
  if (!supports_guidance()) return 1.0;
  return options.guidance ? *options.guidance : settings_.guidance;
}

void Ddpm::attach_guide(std::shared_ptr<GenerativeModel> guide) {
  if (settings_.common.conditional)
    throw UserError("--guide: autoguidance is for unconditional models (a conditional one has classifier-free "
                    "guidance, --guidance)");
  if (!guide) {
    guide_.reset();
    return;
  }
  auto weak = std::dynamic_pointer_cast<Ddpm>(guide);
  if (!weak) throw UserError("--guide: the guide must be a ddpm run");
  const DdpmSettings& g = weak->settings_;
  if (g.common.conditional) throw UserError("--guide: the guide must be unconditional, as the model is");
  if (weak->guide_) throw UserError("--guide: the guide must not be guided itself");
  if (g.common.image_size != settings_.common.image_size ||
      g.common.image_channels != settings_.common.image_channels)
    throw UserError("--guide: the guide draws " + std::to_string(g.common.image_channels) + "x" +
                    std::to_string(g.common.image_size) + "x" + std::to_string(g.common.image_size) +
                    " images, the model " + std::to_string(settings_.common.image_channels) + "x" +
                    std::to_string(settings_.common.image_size) + "x" + std::to_string(settings_.common.image_size));
  if (g.timesteps != settings_.timesteps || g.schedule != settings_.schedule)
    throw UserError("--guide: the guide's noise schedule (" + g.schedule + ", T = " + std::to_string(g.timesteps) +
                    ") differs from the model's (" + settings_.schedule + ", T = " +
                    std::to_string(settings_.timesteps) + ")");
  guide_ = std::move(weak);
}

torch::Tensor Ddpm::sample(int64_t n, const SampleOptions& options) {
  check_class_request(options, num_classes(), supports_guidance());
  const auto settings = sampler_settings(options);
  const double guidance = guidance_weight(options);
  c10::InferenceMode guard;
  const PrecisionGuard precision(options.precision, device_);
  const int64_t chunk_size = sampling_chunk(settings_.unet, settings_.common.image_size);
  std::vector<torch::Tensor> chunks;
  for (int64_t start = 0; start < n; start += chunk_size) {
    const int64_t count = std::min(chunk_size, n - start);
    auto chunk_settings = settings;
    if (options.progress) {
      std::string label = "sampling " + diffusion::sampler_kind_name(settings.kind);
      if (n > chunk_size)
        label += " " + std::to_string(start / chunk_size + 1) + "/" +
                 std::to_string((n + chunk_size - 1) / chunk_size);
      chunk_settings.on_step = [&options, label](const diffusion::SamplerSnapshot& snap) {
        options.progress(label, snap.step, snap.steps);
      };
    }
    auto noise = torch::randn(image_batch_shape(count, settings_.common), torch::TensorOptions().device(device_));
    const torch::Tensor labels = settings_.common.conditional
                                     ? labels_to_sample(count, options, num_classes(), device_)
                                     : torch::Tensor();
    chunks.push_back(to_image_space(denoise(noise, chunk_settings, labels, guidance).x));
  }
  if (chunks.empty()) return torch::empty(image_batch_shape(0, settings_.common), torch::TensorOptions().device(device_));
  return torch::cat(chunks, 0);
}

int64_t Ddpm::network_evaluations(const SampleOptions& options) const {
  // Guidance between the pure cases evaluates the network twice per step (the batch of 2N).
  const double w = guidance_weight(options);
  const int64_t per_step = supports_guidance() && w != 0.0 && w != 1.0 ? 2 : 1;
  return per_step * diffusion::sampler_nfe(schedule_, sampler_settings(options));
}

std::string Ddpm::sampler_name(const SampleOptions& options) const {
  const auto s = sampler_settings(options);
  std::string name = diffusion::sampler_kind_name(s.kind) + "-" + std::to_string(diffusion::sampler_nfe(schedule_, s));
  if (s.kind == diffusion::SamplerKind::kDdim && s.eta > 0) name += "-eta" + format_number(s.eta);
  if (settings_.common.conditional) name += "-w" + format_number(guidance_weight(options));
  else if (guide_) name += "-guided" + format_number(guidance_weight(options));
  return name;
}

void Ddpm::save(torch::serialize::OutputArchive& archive) {
  write_module(archive, "network", *net_);
  write_module(archive, "ema", *ema_);
  write_optimizer(archive, "optimizer", *optimizer_);
  archive.write("steps_done", torch::tensor(steps_done_));
}

void Ddpm::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "network", *net_);
  read_module(archive, "ema", *ema_);
  read_optimizer(archive, "optimizer", *optimizer_);
  torch::Tensor steps;
  archive.read("steps_done", steps);
  steps_done_ = steps.item<int64_t>();
  net_->to(device_);
  ema_->to(device_);
}

std::vector<std::pair<std::string, torch::nn::Module*>> Ddpm::sampling_networks() {
  return {{"ema", ema_.ptr().get()}};
}

int64_t Ddpm::parameter_count() const { return count_parameters(*net_); }

Json Ddpm::info() const {
  const double alpha_bar_T = schedule_.alpha_bars().back();
  const double signal = std::sqrt(alpha_bar_T);
  Json j = {{"timesteps", settings_.timesteps},
            {"schedule", settings_.schedule},
            {"alpha_bar_T", alpha_bar_T},
            {"sqrt_alpha_bar_T", signal},
            {"parameters", parameter_count()},
            {"default_sampler", sampler_name({})},
            {"ema_decay", settings_.ema_decay},
            {"conditional", settings_.common.conditional}};
  if (settings_.common.conditional) {
    j["label_dropout"] = settings_.label_dropout;
    j["default_guidance"] = settings_.guidance;
  }
  if (signal > kSignalWarningThreshold)
    j["warning"] = "sqrt(alpha_bar_T) = " + format_number(signal, 2) + ": x_T keeps " +
                   format_number(100 * signal, 2) +
                   "% of the image, but sampling starts from pure noise (use --schedule cosine "
                   "or linear-scaled)";
  return j;
}

std::vector<Figure> Ddpm::epoch_figures(const FigureInputs& inputs) {
  diffusion::SamplerSettings s;
  s.kind = diffusion::SamplerKind::kDdim;  // deterministic: the same x_T gives comparable grids
  s.steps = std::min<int64_t>(10, settings_.timesteps);
  s.clip_x0 = settings_.clip_denoised ? 1.0 : 0.0;
  char name[64];
  std::snprintf(name, sizeof(name), "samples_epoch_%03lld", static_cast<long long>(inputs.epoch));
  // A conditional model draws the classes 0..K-1 in turn, one per tile, guided as by default.
  const torch::Tensor labels =
      settings_.common.conditional
          ? torch::arange(epoch_noise_.size(0), torch::kLong).remainder(num_classes()).to(device_)
          : torch::Tensor();
  const auto images = to_image_space(denoise(epoch_noise_, s, labels, settings_.guidance).x).cpu();
  return {Figure::grid(name, images, 6)};
}

std::vector<Figure> Ddpm::figures(const FigureInputs& inputs) {
  std::vector<Figure> out;
  const int64_t T = settings_.timesteps;
  torch::manual_seed(settings_.common.seed);  // figures are reproducible for a given checkpoint
  c10::InferenceMode guard;

  // Sample grid with the default sampler.
  out.push_back(Figure::grid("samples", sample(100, {}).cpu(), 10));

  // Evenly spaced timestep indices 0 = x_0 (clean) ... T-1, `count` of them.
  auto spaced = [&](int64_t count) {
    std::vector<int64_t> out;
    for (int64_t k = 0; k < count; ++k)
      out.push_back(static_cast<int64_t>(std::llround(static_cast<double>(T - 1) * k / (count - 1))));
    return out;
  };

  const bool have_test = inputs.test_images.defined() && inputs.test_images.size(0) > 0;
  if (have_test) {
    // Forward process: one x_0 noised to increasing t with one shared ε, so the strip shows
    // only the schedule (the article's forward-diffusion figure); the first tile is x_0.
    const auto x0 = to_model_space(inputs.test_images.narrow(0, 0, 1).to(device_));
    const auto noise = torch::randn_like(x0);
    std::vector<torch::Tensor> tiles = {x0};
    for (int64_t t : spaced(10)) {
      if (t == 0 && T > 1) continue;
      tiles.push_back(schedule_.q_sample(x0, torch::tensor({t}), noise));
    }
    out.push_back(Figure::grid("forward_process", to_image_space(torch::cat(tiles, 0)).cpu(),
                               static_cast<int64_t>(tiles.size()), 3));
  }

  {
    // Denoising trajectory: ancestral DDPM over all T steps (the article's Algorithm 2),
    // x_T then 9 evenly spaced snapshots, the last the final sample; one row per sample.
    constexpr int64_t kRows = 4, kSnapshots = 9;
    SampleOptions ancestral;
    ancestral.sampler = "ddpm";
    auto s = sampler_settings(ancestral);
    std::vector<int64_t> keep;
    for (int64_t k = 1; k <= kSnapshots; ++k)
      keep.push_back(static_cast<int64_t>(std::llround(static_cast<double>(T) * k / kSnapshots)));
    const auto x_T = torch::randn(image_batch_shape(kRows, settings_.common), torch::TensorOptions().device(device_));
    std::vector<torch::Tensor> columns = {x_T};
    s.on_step = [&](const diffusion::SamplerSnapshot& snap) {
      if (std::find(keep.begin(), keep.end(), snap.step) != keep.end()) columns.push_back(snap.x.clone());
    };
    // A conditional model denoises toward the classes 0..kRows-1 (mod K), guided as by default.
    const torch::Tensor labels = settings_.common.conditional
                                     ? torch::arange(kRows, torch::kLong).remainder(num_classes()).to(device_)
                                     : torch::Tensor();
    denoise(x_T, s, labels, settings_.guidance);
    // Row-major grid: sample r's snapshots side by side.
    const auto stacked = torch::stack(columns, 1).flatten(0, 1);
    out.push_back(Figure::grid("denoising_trajectory", to_image_space(stacked).cpu(),
                               static_cast<int64_t>(columns.size()), 3));
  }

  if (have_test) {
    // "Reverse engineering" (the article): test images noised to t, then denoised by the
    // stochastic ancestral sampler (respaced to ≤ 100 steps from t). Per row: the original,
    // then (x_t, reconstruction) pairs for increasing t.
    constexpr int64_t kRows = 8;
    constexpr int64_t kMaxSteps = 100;
    const int64_t rows = std::min<int64_t>(kRows, inputs.test_images.size(0));
    const auto x0 = to_model_space(inputs.test_images.narrow(0, 0, rows).to(device_));
    std::vector<torch::Tensor> columns = {x0};
    for (double fraction : {0.1, 0.3, 0.5, 0.7, 0.9}) {
      const int64_t t = std::max<int64_t>(0, static_cast<int64_t>(std::llround(fraction * T)) - 1);
      const auto x_t = schedule_.q_sample(x0, torch::full({rows}, t, torch::kLong), torch::randn_like(x0));
      SampleOptions ancestral;
      ancestral.sampler = "ddpm";
      auto s = sampler_settings(ancestral);
      s.start_t = t;
      s.steps = std::min<int64_t>(t + 1, std::max<int64_t>(1, std::llround(kMaxSteps * fraction)));
      columns.push_back(x_t);
      columns.push_back(denoise(x_t, s).x);
    }
    const auto stacked = torch::stack(columns, 1).flatten(0, 1);
    out.push_back(Figure::grid("reconstruction", to_image_space(stacked).cpu(),
                               static_cast<int64_t>(columns.size()), 3));
  }
  return out;
}

}  // namespace trilemma
