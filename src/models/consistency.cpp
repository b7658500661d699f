#include "models/consistency.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/module_io.h"
#include "diffusion/samplers.h"
#include "distributed/data_parallel.h"
#include "models/conditioning.h"
#include "models/layers.h"

namespace trilemma {
namespace {

// Luo et al. 2023's constants: σ_data of images in [-1, 1], and the factor that turns a
// timestep index into the scalings' argument (so that they leave the boundary quickly).
constexpr double kSigmaData = 0.5;
constexpr double kTimestepScaling = 10.0;
// The grid's top: the largest index with ᾱ at least this (see consistency_grid).
constexpr double kTopAlphaBar = 0.005;
// Pseudo-Huber's c = 0.00054·√d (Song & Dhariwal 2023, "Improved techniques for training
// consistency models", section 3.3), d the values per image.
constexpr double kHuberScale = 0.00054;

std::string format_number(double value) {
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

// ᾱ of each row's timestep index, shaped N×1×1×1, as x's dtype and device.
torch::Tensor alpha_bars_of(const diffusion::NoiseSchedule& schedule, const torch::Tensor& t, const torch::Tensor& x) {
  return schedule.alpha_bars_tensor().to(x.device()).index_select(0, t.to(x.device())).to(x.dtype()).view({-1, 1, 1, 1});
}

torch::Tensor index_tensor(const std::vector<int64_t>& values, torch::Device device) {
  return torch::tensor(values, torch::kLong).to(device);
}

// Copies `source`'s parameters and buffers into `target`, names and shapes checked first.
void copy_weights(torch::nn::Module& target, const torch::nn::Module& source, const std::string& what) {
  torch::NoGradGuard no_grad;
  const auto from = source.named_parameters(), to = target.named_parameters();
  const auto from_buffers = source.named_buffers(), to_buffers = target.named_buffers();
  if (from.size() != to.size() || from_buffers.size() != to_buffers.size())
    throw UserError(what + ": its network has another structure than the student's settings describe");
  for (const auto& item : to) {
    const torch::Tensor* found = from.find(item.key());
    if (found == nullptr || found->sizes() != item.value().sizes())
      throw UserError(what + ": its parameter '" + item.key() + "' does not match the student's");
    item.value().copy_(*found);
  }
  for (const auto& item : to_buffers) {
    const torch::Tensor* found = from_buffers.find(item.key());
    if (found == nullptr || found->sizes() != item.value().sizes())
      throw UserError(what + ": its buffer '" + item.key() + "' does not match the student's");
    item.value().copy_(*found);
  }
}

}  // namespace

const std::vector<std::string>& consistency_teacher_fields() {
  static const std::vector<std::string> fields = {
      "timesteps", "schedule", "base_width", "channel_mults", "attention_levels", "middle_attention",
      "attention_heads", "num_res_blocks", "dropout", "groups", "pad_to_32", "clip_denoised"};
  return fields;
}

const SettingsTable<ConsistencySettings>& consistency_settings_table() {
  using S = ConsistencySettings;
  static const SettingsTable<S> table =
      SettingsTable<S>()
          .include(ddpm_settings_table(), [](S& s) -> DdpmSettings& { return s.teacher; },
                   consistency_teacher_fields())
          .integer("grid_points", [](S& s) -> int64_t& { return s.grid_points; }, 2, 100000,
                   "N, points of the teacher's ODE grid (training pairs are neighbours on it)")
          .number("target_ema", [](S& s) -> double& { return s.target_ema; }, Interval::closed_open(0, 1),
                  "EMA decay mu of the target network (0 = the student itself)")
          .number("ema_decay", [](S& s) -> double& { return s.ema_decay; }, Interval::closed_open(0, 1),
                  "EMA decay of the sampling weights (0 = none)")
          .choice("distance", [](S& s) -> std::string& { return s.distance; }, {"pseudo-huber", "l2"},
                  "distance between student and target: pseudo-huber or l2")
          .integer("sample_steps", [](S& s) -> int64_t& { return s.sample_steps; }, 1, 100000,
                   "default steps K of the consistency sampler")
          .number("grad_clip", [](S& s) -> double& { return s.grad_clip; }, Interval::at_least(0),
                  "max gradient norm (0 = none)")
          .include(common_settings_table(), [](S& s) -> CommonSettings& { return s.common; })
          .number("guidance", [](S& s) -> double& { return s.guidance; }, Interval::at_least(0),
                  "conditional: the teacher's guidance weight folded into the student");
  return table;
}

std::pair<torch::Tensor, torch::Tensor> consistency_scalings(const torch::Tensor& t) {
  // In double, so that c_skip(0) = 0.25/0.25 = 1 and c_out(0) = 0/0.5 = 0 exactly.
  const auto s = kTimestepScaling * t.to(torch::kDouble);
  const double d2 = kSigmaData * kSigmaData;
  return {d2 / (s * s + d2), s / (s * s + d2).sqrt()};
}

std::pair<double, double> consistency_scalings(int64_t t) {
  const auto [c_skip, c_out] = consistency_scalings(torch::tensor({t}));
  return {c_skip.item<double>(), c_out.item<double>()};
}

std::vector<int64_t> consistency_grid(const diffusion::NoiseSchedule& schedule, int64_t points) {
  int64_t top = 0;
  while (top + 1 < schedule.timesteps() && schedule.alpha_bar_at(top + 1) >= kTopAlphaBar) ++top;
  if (points < 2 || points - 1 > top)
    throw UserError("--grid-points: must be in 2.." + std::to_string(top + 1) + " (the grid's top is index " +
                    std::to_string(top) + ")");
  std::vector<int64_t> grid;
  for (int64_t k = 0; k < points; ++k)
    grid.push_back(static_cast<int64_t>(std::llround(static_cast<double>(top) * k / (points - 1))));
  return grid;
}

std::vector<int64_t> consistency_sampling_times(const std::vector<int64_t>& grid, int64_t steps) {
  const int64_t last = static_cast<int64_t>(grid.size()) - 1;
  if (steps < 1 || steps > last)
    throw UserError("--steps: must be in 1.." + std::to_string(last) + " (the grid's points above the boundary)");
  std::vector<int64_t> times;
  for (int64_t k = 0; k < steps; ++k)
    times.push_back(grid[static_cast<size_t>(std::llround(static_cast<double>(last) * (steps - k) / steps))]);
  return times;
}

torch::Tensor consistency_distance(const torch::Tensor& prediction, const torch::Tensor& target,
                                   const std::string& distance) {
  const auto squared = (prediction - target).pow(2).flatten(1).sum(1);
  if (distance == "l2") return squared.mean();
  const double c = kHuberScale * std::sqrt(static_cast<double>(prediction[0].numel()));
  return ((squared + c * c).sqrt() - c).mean();
}

ConsistencyModel::ConsistencyModel(const ConsistencySettings& settings, torch::Device device)
    : settings_(settings),
      device_(device),
      schedule_(diffusion::make_noise_schedule(settings.teacher.schedule, settings.teacher.timesteps)),
      grid_(consistency_grid(schedule_, settings.grid_points)) {
  // The teacher's U-Net at the student's image shape and classes (`distill` gives the
  // student the teacher's).
  settings_.teacher.unet.in_channels = settings_.common.image_channels;
  settings_.teacher.unet.num_classes = conditional_classes(settings_.common);
  teacher_ = UNet(settings_.teacher.unet);
  net_ = UNet(settings_.teacher.unet);
  target_ = UNet(settings_.teacher.unet);
  ema_ = UNet(settings_.teacher.unet);
  for (UNet* network : {&teacher_, &net_, &target_, &ema_}) (*network)->to(device_);
  for (UNet* network : {&teacher_, &target_, &ema_}) {
    copy_weights(**network, *net_, "initial weights");
    for (auto& p : (*network)->parameters()) p.set_requires_grad(false);
  }
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(),
                                                    torch::optim::AdamOptions(settings_.common.lr));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(settings_.common.seed) + 1);
  epoch_noise_ = torch::randn(image_batch_shape(36, settings_.common), generator).to(device_);
}

void ConsistencyModel::start_from_teacher(GenerativeModel& teacher) {
  const auto networks = teacher.sampling_networks();
  if (networks.size() != 1 || networks.front().first != "ema")
    throw UserError("the teacher must be a diffusion model with an EMA network (a ddpm run)");
  copy_weights(*teacher_, *networks.front().second, "the teacher");
  for (UNet* network : {&net_, &target_, &ema_}) copy_weights(**network, *teacher_, "the teacher");
  has_teacher_ = true;
}

torch::Tensor ConsistencyModel::consistency_function(UNet& network, const torch::Tensor& x, const torch::Tensor& t,
                                                     const torch::Tensor& labels) {
  const auto eps = network->forward(x, t, settings_.common.conditional ? labels : torch::Tensor());
  const auto ab = alpha_bars_of(schedule_, t, x);
  const auto x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt();
  // Per-row scalings as columns of x's type, computed on the device without a host round trip.
  const auto [c_skip, c_out] = consistency_scalings(t);
  auto column = [&](const torch::Tensor& c) { return c.to(x.dtype()).view({-1, 1, 1, 1}); };
  return column(c_skip) * x + column(c_out) * x0;
}

torch::Tensor ConsistencyModel::teacher_step(const torch::Tensor& x_t, const torch::Tensor& t,
                                             const torch::Tensor& t_prev, const torch::Tensor& labels) {
  teacher_->eval();
  const auto eps = guided_prediction(teacher_, x_t, t, settings_.common.conditional, labels, settings_.guidance);
  return diffusion::ddim_ode_step(schedule_, x_t, eps, t, t_prev, settings_.teacher.clip_denoised ? 1.0 : 0.0);
}

ConsistencyModel::TrainingPair ConsistencyModel::draw_pair(const torch::Tensor& x0) const {
  // A random neighbouring pair (t_{k+1}, t_k) of the grid per image (Algorithm 2).
  const auto position = distributed::shard_randint(1, static_cast<int64_t>(grid_.size()), {x0.size(0)});
  const auto grid = index_tensor(grid_, torch::kCPU);
  TrainingPair pair;
  pair.t_high = grid.index_select(0, position).to(device_);
  pair.t_low = grid.index_select(0, position - 1).to(device_);
  pair.x_high = schedule_.q_sample(x0, pair.t_high, distributed::shard_randn_like(x0));
  return pair;
}

LossTerms ConsistencyModel::train_step(const torch::Tensor& images, const torch::Tensor& labels) {
  if (!has_teacher_)
    throw UserError("this consistency run holds no teacher weights (it stopped before its first checkpoint): "
                    "remove its directory and run `trilemma distill` again");
  net_->train();
  target_->eval();
  const auto x0 = to_model_space(images.to(device_));
  const auto classes = settings_.common.conditional ? labels.to(device_) : torch::Tensor();
  const TrainingPair pair = draw_pair(x0);
  torch::Tensor target;
  {
    torch::NoGradGuard no_grad;
    const auto x_low = teacher_step(pair.x_high, pair.t_high, pair.t_low, classes);
    target = consistency_function(target_, x_low, pair.t_low, classes);
  }
  const auto prediction = consistency_function(net_, pair.x_high, pair.t_high, classes);
  const auto loss = consistency_distance(prediction, target.to(prediction.dtype()), settings_.distance);

  optimizer_->zero_grad();
  loss.backward();
  distributed::average_gradients(net_->parameters());
  double grad_norm = 0.0;
  if (settings_.grad_clip > 0) grad_norm = torch::nn::utils::clip_grad_norm_(net_->parameters(), settings_.grad_clip);
  optimizer_->step();
  // θ⁻ ← μθ⁻ + (1−μ)θ, then the sampling average.
  ema_update(*target_, *net_, settings_.target_ema);
  ema_update(*ema_, *net_, ema_decay_at(settings_.ema_decay, steps_done_));
  ++steps_done_;
  LossTerms terms{{"loss", loss.item<double>()}};
  if (settings_.grad_clip > 0) terms["grad_norm"] = grad_norm;
  return terms;
}

LossTerms ConsistencyModel::eval_loss(const torch::Tensor& images, const torch::Tensor& labels) {
  // The sampling (EMA) network's consistency loss against the target on held-out images.
  c10::InferenceMode guard;
  ema_->eval();
  target_->eval();
  const auto x0 = to_model_space(images.to(device_));
  const auto classes = settings_.common.conditional ? labels.to(device_) : torch::Tensor();
  const TrainingPair pair = draw_pair(x0);
  const auto target =
      consistency_function(target_, teacher_step(pair.x_high, pair.t_high, pair.t_low, classes), pair.t_low, classes);
  const auto prediction = consistency_function(ema_, pair.x_high, pair.t_high, classes);
  return {{"loss", consistency_distance(prediction, target, settings_.distance).item<double>()}};
}

torch::Tensor ConsistencyModel::multistep_sample(const torch::Tensor& x_top, int64_t steps, const torch::Tensor& labels) {
  const auto times = consistency_sampling_times(grid_, steps);
  ema_->eval();
  auto at = [&](int64_t t) { return torch::full({x_top.size(0)}, t, torch::TensorOptions().dtype(torch::kLong).device(device_)); };
  auto x0 = consistency_function(ema_, x_top, at(times[0]), labels).clamp(-1, 1);
  for (size_t k = 1; k < times.size(); ++k) {
    // Re-noise the estimate to the next, lower time, then map it back to x_0 (Algorithm 1).
    const auto x_t = schedule_.q_sample(x0, at(times[k]), torch::randn_like(x0));
    x0 = consistency_function(ema_, x_t, at(times[k]), labels).clamp(-1, 1);
  }
  return x0;
}

int64_t ConsistencyModel::resolve_steps(const SampleOptions& options) const {
  if (options.steps < 0) throw UserError("--steps: must be >= 0 (0 = the model's default)");
  const int64_t steps = options.steps > 0 ? options.steps : settings_.sample_steps;
  consistency_sampling_times(grid_, steps);  // throws for steps beyond the grid
  return steps;
}

torch::Tensor ConsistencyModel::sample(int64_t n, const SampleOptions& options) {
  check_class_request(options, num_classes(), /*supports_guidance=*/false);
  const int64_t steps = resolve_steps(options);
  c10::InferenceMode guard;
  const PrecisionGuard precision(options.precision, device_);
  const int64_t chunk_size = sampling_chunk(settings_.teacher.unet, settings_.common.image_size);
  std::vector<torch::Tensor> chunks;
  for (int64_t start = 0; start < n; start += chunk_size) {
    const int64_t count = std::min(chunk_size, n - start);
    const auto noise = torch::randn(image_batch_shape(count, settings_.common), torch::TensorOptions().device(device_));
    const torch::Tensor labels = settings_.common.conditional
                                     ? labels_to_sample(count, options, num_classes(), device_)
                                     : torch::Tensor();
    chunks.push_back(to_image_space(multistep_sample(noise, steps, labels)));
    if (options.progress) options.progress("sampling consistency-" + std::to_string(steps), start + count, n);
  }
  if (chunks.empty()) return torch::empty(image_batch_shape(0, settings_.common), torch::TensorOptions().device(device_));
  return torch::cat(chunks, 0);
}

int64_t ConsistencyModel::network_evaluations(const SampleOptions& options) const {
  return resolve_steps(options);  // guidance is folded in: one evaluation per step
}

std::string ConsistencyModel::sampler_name(const SampleOptions& options) const {
  std::string name = "consistency-" + std::to_string(resolve_steps(options));
  if (settings_.common.conditional) name += "-w" + format_number(settings_.guidance);
  return name;
}

void ConsistencyModel::save(torch::serialize::OutputArchive& archive) {
  write_module(archive, "network", *net_);
  write_module(archive, "target", *target_);
  write_module(archive, "ema", *ema_);
  write_module(archive, "teacher", *teacher_);
  write_optimizer(archive, "optimizer", *optimizer_);
  archive.write("steps_done", torch::tensor(steps_done_));
}

void ConsistencyModel::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "network", *net_);
  read_module(archive, "target", *target_);
  read_module(archive, "ema", *ema_);
  read_module(archive, "teacher", *teacher_);
  read_optimizer(archive, "optimizer", *optimizer_);
  torch::Tensor steps;
  archive.read("steps_done", steps);
  steps_done_ = steps.item<int64_t>();
  for (UNet* network : {&teacher_, &net_, &target_, &ema_}) (*network)->to(device_);
  has_teacher_ = true;
}

std::vector<std::pair<std::string, torch::nn::Module*>> ConsistencyModel::sampling_networks() {
  return {{"ema", ema_.ptr().get()}};
}

int64_t ConsistencyModel::parameter_count() const { return count_parameters(*net_); }

int64_t ConsistencyModel::num_classes() const { return conditional_classes(settings_.common); }

Json ConsistencyModel::info() const {
  Json j = {{"grid_points", settings_.grid_points},
            {"grid_top", grid_.back()},
            {"sqrt_alpha_bar_top", std::sqrt(schedule_.alpha_bar_at(grid_.back()))},
            {"timesteps", settings_.teacher.timesteps},
            {"schedule", settings_.teacher.schedule},
            {"parameters", parameter_count()},
            {"default_sampler", sampler_name({})},
            {"distance", settings_.distance},
            {"target_ema", settings_.target_ema},
            {"conditional", settings_.common.conditional}};
  if (settings_.common.conditional) j["guidance"] = settings_.guidance;
  return j;
}

std::vector<Figure> ConsistencyModel::epoch_figures(const FigureInputs& inputs) {
  c10::InferenceMode guard;
  char name[64];
  std::snprintf(name, sizeof(name), "samples_epoch_%03lld", static_cast<long long>(inputs.epoch));
  const torch::Tensor labels =
      settings_.common.conditional
          ? torch::arange(epoch_noise_.size(0), torch::kLong).remainder(num_classes()).to(device_)
          : torch::Tensor();
  return {Figure::grid(name, to_image_space(multistep_sample(epoch_noise_, 1, labels)).cpu(), 6)};
}

std::vector<Figure> ConsistencyModel::figures(const FigureInputs& inputs) {
  torch::manual_seed(settings_.common.seed);  // figures are reproducible for a given checkpoint
  c10::InferenceMode guard;
  std::vector<Figure> out;
  out.push_back(Figure::grid("samples", sample(100, {}).cpu(), 10));
  // The same x_top drawn in 1, 2 and 4 steps, one row each: what each extra step buys.
  constexpr int64_t kColumns = 10;
  const auto noise = torch::randn(image_batch_shape(kColumns, settings_.common), torch::TensorOptions().device(device_));
  const torch::Tensor labels = settings_.common.conditional
                                   ? torch::arange(kColumns, torch::kLong).remainder(num_classes()).to(device_)
                                   : torch::Tensor();
  std::vector<torch::Tensor> rows;
  for (int64_t steps : {1, 2, 4})
    if (steps < static_cast<int64_t>(grid_.size())) rows.push_back(multistep_sample(noise, steps, labels));
  out.push_back(Figure::grid("samples_by_steps", to_image_space(torch::cat(rows, 0)).cpu(), kColumns, 3));
  return out;
}

void check_consistency_combinations(const ConsistencySettings& s) {
  const auto schedule = diffusion::make_noise_schedule(s.teacher.schedule, s.teacher.timesteps);
  validate_unet_settings(s.teacher.unet, s.common.image_size);
  const auto grid = consistency_grid(schedule, s.grid_points);
  if (s.sample_steps > static_cast<int64_t>(grid.size()) - 1)
    throw UserError("--sample-steps: must be in 1.." + std::to_string(grid.size() - 1) + " (--grid-points - 1)");
}

ConsistencySettings consistency_preset(const std::string& name) {
  ConsistencySettings s;
  s.teacher = ddpm_preset("quick");  // replaced by the teacher's own fields when distilled
  if (name == "quick") {
    // Sized to distil the demo's quick DDPM in about 5 minutes on an idle 2-core CPU: each
    // step runs the U-Net four times (student forward and backward, teacher, target), ~0.55 s
    // per step of 32 on the quick U-Net (README, "Few-step sampling by distillation").
    s.common.max_steps = 500;
    return s;
  }
  if (name == "paper") {
    // Song et al. 2023's CD on CIFAR-10 (their Table 3): N = 18, μ = 0.95, Adam lr 4e-4,
    // batch 512, 800k steps and an EMA of 0.9999 for sampling; their LPIPS distance needs
    // an ImageNet network we do not ship, so the pseudo-Huber distance stands in. A GPU budget.
    s.grid_points = 18;
    s.target_ema = 0.95;
    s.ema_decay = 0.9999;
    s.common.lr = 4e-4;
    s.common.batch_size = 512;
    s.common.epochs = 6827;  // 800k steps of 512 over 60,000 images
    s.common.max_steps = 800000;
    return s;
  }
  throw UserError("unknown consistency preset '" + name + "' (known: quick, paper)");
}

ModelFamily consistency_family() {
  ModelFamily family = make_model_family<ConsistencyModel, ConsistencySettings>(
      "consistency", "few-step sampler distilled from a trained ddpm (trilemma distill)", {"quick", "paper"},
      consistency_settings_table(), consistency_preset, check_consistency_combinations);
  family.teacher_family = "ddpm";
  family.teacher_fields = consistency_teacher_fields();
  family.teacher_fields.push_back("conditional");
  family.teacher_defaults = {"guidance"};
  return family;
}

}  // namespace trilemma
