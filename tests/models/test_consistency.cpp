// Consistency distillation (issue 18) against closed forms and independent code: the
// boundary condition f(x, t_0) = x, the grid and the sampling times worked out by hand, the
// pseudo-Huber distance, one teacher ODE step against the DDPM's own DDIM sampler, the
// sampler's network evaluations, checkpoints, and a short distillation of the shipped DDPM
// read by the evaluator.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>

#include "core/error.h"
#include "data/mnist.h"
#include "diffusion/samplers.h"
#include "metrics/evaluate.h"
#include "metrics/frechet.h"
#include "models/classifier.h"
#include "models/consistency.h"
#include "models/ddpm.h"
#include "models/registry.h"
#include "support/test_support.h"
#include "training/checkpoint.h"
#include "training/distill.h"
#include "training/run_dir.h"

namespace trilemma {
namespace {

// A U-Net small enough to run steps in milliseconds (the quick one's shape at width 8).
DdpmSettings tiny_teacher(bool conditional = false) {
  DdpmSettings s = ddpm_preset("quick");
  s.unet.base_width = 8;
  s.unet.groups = 4;
  s.common.conditional = conditional;
  s.guidance = 2.0;
  return s;
}

ConsistencySettings tiny_student(const DdpmSettings& teacher) {
  ConsistencySettings s = consistency_preset("quick");
  s.teacher = teacher;
  s.common.conditional = teacher.common.conditional;
  s.common.batch_size = 8;
  return s;
}

// Random weights moved off their initialisation (the U-Net's last conv starts at zero).
void perturb(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.add_(torch::randn_like(p) * 0.05);
}

TEST(Consistency, ScalingsMeetTheBoundaryAndTheStudentIsTheIdentityThere) {
  EXPECT_EQ(consistency_scalings(0), (std::pair<double, double>{1.0, 0.0}));
  // t = 1: c_skip = 0.25 / (100 + 0.25), c_out = 10 / √100.25.
  EXPECT_NEAR(consistency_scalings(1).first, 0.25 / 100.25, 1e-15);
  EXPECT_NEAR(consistency_scalings(1).second, 10.0 / std::sqrt(100.25), 1e-15);
  torch::manual_seed(0);
  ConsistencyModel model(tiny_student(tiny_teacher()), torch::kCPU);
  Ddpm teacher(tiny_teacher(), torch::kCPU);
  perturb(*teacher.ema_network());
  model.start_from_teacher(teacher);
  const auto x = torch::randn({3, 1, 28, 28});
  torch::NoGradGuard no_grad;
  UNet network = teacher.ema_network();
  const auto at_boundary = model.consistency_function(network, x, torch::zeros({3}, torch::kLong), {});
  EXPECT_TRUE(torch::equal(at_boundary, x)) << "f(x, t_0) must be x exactly";
  const auto inside = model.consistency_function(network, x, torch::full({3}, 500, torch::kLong), {});
  EXPECT_GT((inside - x).abs().max().item<double>(), 0.1);
}

TEST(Consistency, GridAndSamplingTimesAreTheHandComputedIndices) {
  // Cosine schedule, T = 1000: ᾱ_i = cos²(((i+1)/1000 + s)/(1 + s) · π/2) / cos²(s/(1 + s) · π/2)
  // with s = 0.008; the top is the last index with ᾱ ≥ 0.005, found here from the formula.
  const double s = 0.008, pi = std::acos(-1.0);
  auto alpha_bar = [&](int64_t i) {
    const double f = std::cos(((i + 1) / 1000.0 + s) / (1 + s) * pi / 2);
    const double f0 = std::cos(s / (1 + s) * pi / 2);
    return f * f / (f0 * f0);
  };
  int64_t top = 0;
  while (alpha_bar(top + 1) >= 0.005) ++top;
  const auto schedule = diffusion::make_noise_schedule("cosine", 1000);
  const auto grid = consistency_grid(schedule, 5);
  EXPECT_EQ(grid, (std::vector<int64_t>{0, std::llround(top / 4.0), std::llround(top / 2.0),
                                        std::llround(3 * top / 4.0), top}));
  EXPECT_NEAR(std::sqrt(schedule.alpha_bar_at(top)), 0.0707, 0.002);
  // K steps: grid positions 4(K−k)/K — 1: {4}; 2: {4, 2}; 4: {4, 3, 2, 1}.
  EXPECT_EQ(consistency_sampling_times(grid, 1), (std::vector<int64_t>{grid[4]}));
  EXPECT_EQ(consistency_sampling_times(grid, 2), (std::vector<int64_t>{grid[4], grid[2]}));
  EXPECT_EQ(consistency_sampling_times(grid, 4), (std::vector<int64_t>{grid[4], grid[3], grid[2], grid[1]}));
  EXPECT_THROW(consistency_sampling_times(grid, 5), UserError);  // the boundary is no time to sample at
  EXPECT_THROW(consistency_grid(schedule, top + 2), UserError);
}

TEST(Consistency, PseudoHuberAndL2AreTheirClosedForms) {
  // Two images of 784 values differing by 0.1 and 0.2 everywhere: ‖a−b‖² = 7.84 and 31.36.
  const auto a = torch::zeros({2, 1, 28, 28});
  auto b = torch::zeros({2, 1, 28, 28});
  b[0].fill_(0.1);
  b[1].fill_(0.2);
  EXPECT_NEAR(consistency_distance(a, b, "l2").item<double>(), (7.84 + 31.36) / 2, 1e-4);
  const double c = 0.00054 * 28;
  const double expected = ((std::sqrt(7.84 + c * c) - c) + (std::sqrt(31.36 + c * c) - c)) / 2;
  EXPECT_NEAR(consistency_distance(a, b, "pseudo-huber").item<double>(), expected, 1e-5);
}

TEST(Consistency, TeacherStepIsTheDdpmsOwnDdimStep) {
  for (bool conditional : {false, true}) {
    SCOPED_TRACE(conditional ? "conditional, guided at w = 2" : "unconditional");
    torch::manual_seed(0);
    Ddpm teacher(tiny_teacher(conditional), torch::kCPU);
    perturb(*teacher.ema_network());
    ConsistencyModel model(tiny_student(tiny_teacher(conditional)), torch::kCPU);
    model.start_from_teacher(teacher);
    const auto x = torch::randn({4, 1, 28, 28});
    const auto labels = torch::tensor({1, 4, 7, 9}, torch::kLong);
    // The DDPM's DDIM sampler from index 600 in 3 steps visits 600, 300, 0: its first step
    // lands at 300, as the distillation pair (600 → 300) does.
    diffusion::SamplerSettings ddim;
    ddim.kind = diffusion::SamplerKind::kDdim;
    ddim.steps = 3;
    ddim.start_t = 600;
    ddim.clip_x0 = 1.0;
    torch::Tensor after_first;
    ddim.on_step = [&](const diffusion::SamplerSnapshot& snap) {
      if (snap.step == 1) {
        EXPECT_EQ(snap.t, 300);
        after_first = snap.x.clone();
      }
    };
    teacher.denoise(x, ddim, conditional ? labels : torch::Tensor(), 2.0);
    torch::NoGradGuard no_grad;
    const auto step = model.teacher_step(x, torch::full({4}, 600, torch::kLong), torch::full({4}, 300, torch::kLong),
                                         labels);
    EXPECT_TRUE(torch::allclose(step, after_first, 1e-5, 1e-5)) << (step - after_first).abs().max();
  }
}

TEST(Consistency, RowsStepFromTheirOwnTimesAsTheScalarDdimFormulaSays) {
  // ddim_ode_step with a different (t, t_prev) per row against eq. 12 by hand, row by row.
  const auto schedule = diffusion::make_noise_schedule("cosine", 1000);
  torch::manual_seed(1);
  const auto x = torch::randn({3, 1, 4, 4});
  const auto eps = torch::randn({3, 1, 4, 4});
  const std::vector<int64_t> t = {900, 400, 30}, t_prev = {700, 0, -1};
  const auto stepped = diffusion::ddim_ode_step(schedule, x, eps, torch::tensor(t), torch::tensor(t_prev), 0.0);
  for (int64_t i = 0; i < 3; ++i) {
    const double ab = schedule.alpha_bar_at(t[i]), ab_prev = schedule.alpha_bar_at(t_prev[i]);
    const auto x0 = (x[i] - std::sqrt(1 - ab) * eps[i]) / std::sqrt(ab);
    const auto expected = std::sqrt(ab_prev) * x0 + std::sqrt(1 - ab_prev) * eps[i];
    EXPECT_TRUE(torch::allclose(stepped[i], expected, 1e-4, 1e-5)) << "row " << i;
  }
}

TEST(Consistency, KStepsCostKEvaluationsAndEachStepChangesTheSample) {
  torch::manual_seed(0);
  Ddpm teacher(tiny_teacher(), torch::kCPU);
  perturb(*teacher.ema_network());
  ConsistencyModel model(tiny_student(tiny_teacher()), torch::kCPU);
  model.start_from_teacher(teacher);
  for (int64_t k = 1; k <= 4; ++k) {
    SampleOptions options;
    options.steps = k;
    int64_t calls = 0;
    options.progress = [&](const std::string&, int64_t, int64_t) { ++calls; };
    EXPECT_EQ(model.network_evaluations(options), k);
    EXPECT_EQ(model.sampler_name(options), "consistency-" + std::to_string(k));
    torch::manual_seed(3);
    const auto images = model.sample(5, options);
    EXPECT_EQ(images.sizes(), (std::vector<int64_t>{5, 1, 28, 28}));
    EXPECT_GE(calls, 1);
  }
  // Multistep sampling by hand: f at the top, re-noise to the second time, f again.
  const auto times = consistency_sampling_times(model.grid(), 2);
  const auto x_top = torch::randn({2, 1, 28, 28});
  torch::manual_seed(9);
  torch::Tensor sampled;
  {
    c10::InferenceMode guard;
    sampled = model.multistep_sample(x_top, 2, {});
  }
  torch::manual_seed(9);
  torch::NoGradGuard no_grad;
  UNet ema = teacher.ema_network();  // the student starts as the teacher's EMA network
  const auto first = model.consistency_function(ema, x_top, torch::full({2}, times[0], torch::kLong), {}).clamp(-1, 1);
  const auto renoised = model.schedule().q_sample(first, torch::full({2}, times[1], torch::kLong), torch::randn_like(first));
  const auto second = model.consistency_function(ema, renoised, torch::full({2}, times[1], torch::kLong), {}).clamp(-1, 1);
  EXPECT_TRUE(torch::allclose(sampled, second, 1e-5, 1e-5));
  EXPECT_GT((second - first).abs().max().item<double>(), 1e-3);
  SampleOptions too_many;
  too_many.steps = static_cast<int64_t>(model.grid().size());
  EXPECT_THROW(model.sample(1, too_many), UserError);
}

TEST(Consistency, TrainingNeedsTheTeacherAndACheckpointCarriesIt) {
  torch::manual_seed(0);
  Ddpm teacher(tiny_teacher(), torch::kCPU);
  perturb(*teacher.ema_network());
  const ConsistencySettings s = tiny_student(tiny_teacher());
  ConsistencyModel orphan(s, torch::kCPU);
  EXPECT_THROW(orphan.train_step(torch::rand({8, 1, 28, 28}), torch::zeros({8}, torch::kLong)), UserError);

  ConsistencyModel a(s, torch::kCPU);
  a.start_from_teacher(teacher);
  const auto images = torch::rand({8, 1, 28, 28});
  const auto labels = torch::zeros({8}, torch::kLong);
  for (int step = 0; step < 2; ++step) {
    const auto terms = a.train_step(images, labels);
    EXPECT_TRUE(std::isfinite(terms.at("loss")));
  }
  trilemma::testing::TempDir dir;
  training::save_checkpoint(a, "consistency", dir.file("c"), 2, 0, 2);
  torch::manual_seed(5);
  ConsistencyModel b(s, torch::kCPU);  // its own random weights, no teacher
  training::load_checkpoint(b, "consistency", training::list_checkpoints(dir.file("c")).front());
  torch::manual_seed(11);
  const auto next_a = a.train_step(images, labels);
  torch::manual_seed(11);
  EXPECT_EQ(next_a, b.train_step(images, labels));
}

// The learning check: a short distillation of the shipped DDPM draws 1-step samples
// nearer (Fréchet distance on the evaluator's features) to the teacher's DDIM-20 samples
// than the teacher's own 1-step DDIM output, and nearer than the student's own first
// step, which is the teacher's x̂_0 at the grid's top.
TEST(Consistency, ShortDistillationOfTheShippedDdpmMovesOneStepSamplesTowardTheTeachers) {
  const std::string dir = trilemma::testing::mnist_dir();
  if (dir.empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  torch::set_num_threads(2);
  training::LoadedRun teacher = training::load_run("zoo:ddpm", torch::kCPU);
  training::DistillRequest request;
  request.teacher = "zoo:ddpm";
  request.settings = {{"batch_size", "16"}, {"lr", "4e-4"}, {"grid_points", "10"}};
  const training::RunConfig config = training::distilled_config(request, teacher);
  torch::manual_seed(0);
  auto student = find_model_family("consistency").create(config.settings, torch::kCPU);
  student->start_from_teacher(*teacher.model);
  Evaluator evaluator = load_evaluator(torch::kCPU);
  auto statistics = [&](const torch::Tensor& images) {
    return metrics::feature_statistics(run_evaluator(evaluator, images).features);
  };
  constexpr int64_t kImages = 256;
  torch::manual_seed(1);
  const auto reference = statistics(teacher.model->sample(kImages, {}));  // DDIM-20
  SampleOptions one_step;
  one_step.steps = 1;
  auto distance = [&](GenerativeModel& model, const SampleOptions& options) {
    torch::manual_seed(2);
    return metrics::frechet_distance(statistics(model.sample(kImages, options)), reference);
  };
  SampleOptions ddim_one = one_step;
  ddim_one.sampler = "ddim";
  const double teacher_one_step = distance(*teacher.model, ddim_one);
  const double before = distance(*student, one_step);

  const data::ImageDataset train = data::load_mnist(dir, data::Split::kTrain);
  torch::manual_seed(3);
  constexpr int64_t kSteps = 120, kBatch = 16;
  for (int64_t step = 0; step < kSteps; ++step)
    student->train_step(train.images.narrow(0, step * kBatch, kBatch), train.labels.narrow(0, step * kBatch, kBatch));
  const double after = distance(*student, one_step);
  std::cout << "Fréchet distance to the teacher's DDIM-20 samples: teacher DDIM-1 " << teacher_one_step
            << ", student 1 step before " << before << ", after " << kSteps << " steps " << after << "\n";
  // Measured (2 threads): teacher DDIM-1 57.6; the student's first step 318.7 (a blurred mean
  // digit), after 120 steps 48.5. Few grid points (10) carry consistency from the boundary
  // to the top in few steps, so a short run shows it.
  EXPECT_LT(after, teacher_one_step);
  EXPECT_LT(after, before / 3);
}

}  // namespace
}  // namespace trilemma
