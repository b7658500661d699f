// Guards the DDPM family of issue 4: EMA arithmetic, presets and settings round trips,
// the info() warning for the article's schedule, a short training whose loss falls,
// sampling contracts (shape, range, NFE, names) and save → load reproducing samples.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "data/mnist.h"
#include "models/ddpm.h"
#include "training/figures.h"

using namespace trilemma;

namespace {

// A network small enough that a training step takes milliseconds.
DdpmSettings tiny_settings() {
  DdpmSettings s = ddpm_preset("quick");
  s.unet.base_width = 8;
  s.unet.channel_mults = {1, 2};
  s.unet.attention_levels = {1};
  s.unet.groups = 4;
  s.timesteps = 100;
  s.sample_steps = 5;
  s.common.batch_size = 32;
  s.common.lr = 2e-3;
  s.warmup_steps = 0;
  return s;
}

// MNIST when present (TRILEMMA_DATA_DIR or the checkout's data/mnist), else blobs, so the
// test runs everywhere.
torch::Tensor training_images(int64_t n) {
  const char* env = std::getenv("TRILEMMA_DATA_DIR");
  const std::string dir = env ? env : std::string(TRILEMMA_SOURCE_DIR) + "/data/mnist";
  if (std::filesystem::exists(dir + "/train-images-idx3-ubyte") ||
      std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz"))
    return data::load_mnist(dir, data::Split::kTrain).images.narrow(0, 0, n).clone();
  torch::manual_seed(3);
  const auto grid = torch::linspace(-1, 1, 28);
  const auto yy = grid.view({1, 1, 28, 1}), xx = grid.view({1, 1, 1, 28});
  const auto cx = torch::rand({n, 1, 1, 1}) - 0.5, cy = torch::rand({n, 1, 1, 1}) - 0.5;
  return torch::exp(-((xx - cx).pow(2) + (yy - cy).pow(2)) / 0.05);
}

}  // namespace

TEST(DdpmEma, UpdateArithmetic) {
  torch::nn::Linear target(3, 2), source(3, 2);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : target->parameters()) p.fill_(1.0);
    for (auto& p : source->parameters()) p.fill_(3.0);
  }
  ema_update(*target, *source, 0.9);
  for (const auto& p : target->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 1.2)));
  ema_update(*target, *source, 0.9);
  for (const auto& p : target->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 1.38)));
  ema_update(*target, *source, 0.0);  // decay 0 copies
  for (const auto& p : target->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 3.0)));
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, 0), 0.1);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, 90), 0.91);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, 1000000), 0.999);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.0, 5), 0.0);
}

TEST(DdpmFamily, PresetsValidateAndRoundTrip) {
  const ModelFamily family = ddpm_family();
  ASSERT_EQ(family.presets.front(), "quick");
  for (const auto& preset : family.presets) {
    SCOPED_TRACE(preset);
    const Json json = family.preset_settings(preset);
    EXPECT_NO_THROW(family.validate(json));
    EXPECT_EQ(ddpm_settings_table().to_json(ddpm_settings_table().from_json(json)), json);
    // Every key is documented, and every documented key exists.
    EXPECT_EQ(json.size(), family.settings.size());
    for (const auto& spec : family.settings) EXPECT_TRUE(json.contains(spec.name)) << spec.name;
  }
  EXPECT_THROW(family.preset_settings("huge"), UserError);
  Json bad = family.preset_settings("quick");
  bad["schedule"] = "sigmoid";
  EXPECT_THROW(family.validate(bad), UserError);
  bad = family.preset_settings("quick");
  bad["sample_steps"] = 5000;
  EXPECT_THROW(family.validate(bad), UserError);
  bad = family.preset_settings("seed");
  bad["pad_to_32"] = false;  // four levels do not halve 28 evenly
  EXPECT_THROW(family.validate(bad), UserError);
  const DdpmSettings seed = ddpm_preset("seed");
  EXPECT_EQ(seed.timesteps, 200);
  EXPECT_EQ(seed.common.batch_size, 64);
  EXPECT_DOUBLE_EQ(seed.common.lr, 1e-4);
  EXPECT_EQ(seed.common.epochs, 10);
  EXPECT_EQ(seed.unet.channel_mults, (std::vector<int64_t>{1, 2, 4, 8}));
}

TEST(DdpmFamily, InfoWarnsAboutTheArticleSchedule) {
  DdpmSettings s = tiny_settings();
  s.schedule = "linear";
  s.timesteps = 200;
  s.sample_steps = 20;
  const Json info = Ddpm(s, torch::kCPU).info();
  EXPECT_NEAR(info["sqrt_alpha_bar_T"].get<double>(), 0.36, 0.01);
  EXPECT_TRUE(info.contains("warning"));
  EXPECT_EQ(info["timesteps"], 200);
  const Json good = Ddpm(tiny_settings(), torch::kCPU).info();
  EXPECT_LT(good["alpha_bar_T"].get<double>(), 1e-6);
  EXPECT_FALSE(good.contains("warning"));
  EXPECT_GT(good["parameters"].get<int64_t>(), 0);
}

TEST(DdpmTraining, ShortTrainingLowersLoss) {
  torch::manual_seed(0);
  const auto images = training_images(512);
  Ddpm model(tiny_settings(), torch::kCPU);
  constexpr int64_t kBatch = 16;
  auto window_mean = [&](int64_t steps, int64_t offset) {
    double total = 0;
    for (int64_t i = 0; i < steps; ++i) {
      const auto batch = images.narrow(0, ((offset + i) * kBatch) % (512 - kBatch), kBatch);
      total += model.train_step(batch, torch::zeros({kBatch}, torch::kLong)).at("loss");
    }
    return total / steps;
  };
  const double first = window_mean(8, 0);
  window_mean(24, 8);
  const double last = window_mean(8, 32);
  std::printf("ddpm short training: mean loss of the first 8 steps %.3f, of the last 8 %.3f\n", first, last);
  // ε̂ = 0 at initialisation gives MSE ≈ 1; a learning network drops well below.
  EXPECT_GT(first, 0.5);
  EXPECT_LT(last, 0.75 * first) << "first " << first << " last " << last;
  const auto eval = model.eval_loss(images.narrow(0, 0, 64), torch::zeros({64}, torch::kLong));
  EXPECT_TRUE(std::isfinite(eval.at("loss")));
}

TEST(DdpmSampling, ShapeRangeAndNfe) {
  Ddpm model(tiny_settings(), torch::kCPU);
  torch::manual_seed(0);
  model.train_step(training_images(16), torch::zeros({16}, torch::kLong));
  SampleOptions options;
  const auto x = model.sample(6, options);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{6, 1, 28, 28}));
  EXPECT_GE(x.min().item<float>(), 0.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
  EXPECT_EQ(model.network_evaluations(options), 5);
  EXPECT_EQ(model.sampler_name(options), "ddim-5");
  options.sampler = "ddpm";
  EXPECT_EQ(model.network_evaluations(options), 100);  // Algorithm 2: all T steps
  options.steps = 10;
  EXPECT_EQ(model.sampler_name(options), "ddpm-10");
  options.sampler = "dpm-solver";
  options.steps = 3;
  EXPECT_EQ(model.sample(2, options).sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_EQ(model.network_evaluations(options), 3);
  options.sampler = "ddim";
  options.eta = 1.0;
  EXPECT_EQ(model.sampler_name(options), "ddim-3-eta1");
  options.steps = 101;
  EXPECT_THROW(model.sample(1, options), UserError);
  options.steps = 5;
  options.sampler = "euler";
  EXPECT_THROW(model.sample(1, options), UserError);
}

TEST(DdpmSampling, SaveLoadGivesIdenticalSamples) {
  torch::manual_seed(0);
  const auto images = training_images(64);
  Ddpm trained(tiny_settings(), torch::kCPU);
  for (int i = 0; i < 3; ++i) trained.train_step(images.narrow(0, i * 16, 16), torch::zeros({16}, torch::kLong));
  std::stringstream buffer;
  {
    torch::serialize::OutputArchive archive;
    trained.save(archive);
    archive.save_to(buffer);
  }
  torch::manual_seed(99);  // a different initialisation, overwritten by load
  Ddpm loaded(tiny_settings(), torch::kCPU);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(buffer);
    loaded.load(archive);
  }
  for (const std::string sampler : {"ddim", "ddpm"}) {
    SampleOptions options;
    options.sampler = sampler;
    options.steps = 4;
    torch::manual_seed(5);
    const auto a = trained.sample(3, options);
    torch::manual_seed(5);
    const auto b = loaded.sample(3, options);
    EXPECT_TRUE(torch::equal(a, b)) << sampler;
  }
  // Training state resumes too: the next step from both gives the same loss.
  torch::manual_seed(8);
  const double la = trained.train_step(images.narrow(0, 0, 16), torch::zeros({16}, torch::kLong)).at("loss");
  torch::manual_seed(8);
  const double lb = loaded.train_step(images.narrow(0, 0, 16), torch::zeros({16}, torch::kLong)).at("loss");
  EXPECT_DOUBLE_EQ(la, lb);
}

TEST(DdpmFigures, WritesTheArticlesFigures) {
  DdpmSettings s = tiny_settings();
  s.timesteps = 30;
  Ddpm model(s, torch::kCPU);
  const auto dir = std::filesystem::temp_directory_path() / "trilemma_ddpm_figures_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  FigureInputs inputs;
  inputs.test_images = training_images(8);
  inputs.test_labels = torch::zeros({8}, torch::kLong);
  inputs.epoch = 1;
  training::write_figures(model.epoch_figures(inputs), dir.string(), 1);
  training::write_figures(model.figures(inputs), dir.string(), 1);
  for (const char* name : {"samples_epoch_001.png", "samples.png", "forward_process.png",
                           "denoising_trajectory.png", "reconstruction.png"})
    EXPECT_TRUE(std::filesystem::exists(dir / name)) << name;
  std::filesystem::remove_all(dir);
}

// Autoguidance (Karras et al. 2024): ε̂ = ε̂_guide + w(ε̂ − ε̂_guide). One DDIM step to t = 0
// without clipping is affine in ε̂, so the guided result must be the same combination of the
// model's and the guide's own results: w = 1 is the model, w = 0 the guide.
TEST(DdpmAutoguidance, CombinesTheGuidesAndTheModelsPredictions) {
  DdpmSettings s = tiny_settings();
  s.schedule = "linear";  // ᾱ_T ≈ 0.9 at T = 100: x̂_0 = (x − √(1−ᾱ)ε̂)/√ᾱ stays small
  s.clip_denoised = false;
  // Two different sampling networks: the U-Net's last layer starts at zero (ε̂ = 0), so
  // each gets random weights throughout.
  auto randomised = [&s](int seed) {
    auto ddpm = std::make_shared<Ddpm>(s, torch::kCPU);
    torch::manual_seed(seed);
    torch::NoGradGuard no_grad;
    for (auto& p : ddpm->ema_network()->parameters()) p.add_(0.05 * torch::randn_like(p));
    return ddpm;
  };
  auto model = randomised(1);
  auto guide = randomised(2);
  SampleOptions one_step;
  one_step.sampler = "ddim";
  one_step.steps = 1;
  const auto settings = model->sampler_settings(one_step);
  torch::manual_seed(3);
  const auto x_T = torch::randn({4, 1, 28, 28});
  const auto alone = model->denoise(x_T, settings).x;
  const auto by_guide = guide->denoise(x_T, settings).x;
  ASSERT_GT((alone - by_guide).abs().max().item<double>(), 1e-3);  // the two networks differ

  EXPECT_FALSE(model->supports_guidance());
  model->attach_guide(guide);
  EXPECT_TRUE(model->supports_guidance());
  for (double w : {0.0, 1.0, 2.5}) {
    const auto guided = model->denoise(x_T, settings, {}, w).x;
    const auto expected = by_guide + w * (alone - by_guide);
    EXPECT_TRUE(torch::allclose(guided, expected, 1e-4, 1e-4))
        << "w = " << w << ": max difference " << (guided - expected).abs().max().item<double>();
  }
  SampleOptions options;
  options.guidance = 2.5;
  EXPECT_EQ(model->network_evaluations(options), 2 * 5);  // both networks at each of 5 steps
  EXPECT_EQ(model->sampler_name(options), "ddim-5-guided2.5");
  options.guidance = 1.0;
  EXPECT_EQ(model->network_evaluations(options), 5);
  EXPECT_EQ(model->guidance_weight({}), s.guidance);  // the run's default weight
  EXPECT_EQ(model->sample(3, options).sizes(), (std::vector<int64_t>{3, 1, 28, 28}));

  model->attach_guide(nullptr);  // detached: the model alone again
  EXPECT_FALSE(model->supports_guidance());
  EXPECT_TRUE(torch::equal(model->denoise(x_T, settings, {}, 2.5).x, alone));
}

TEST(DdpmAutoguidance, RefusesAGuideThatDoesNotFit) {
  auto refusal = [](Ddpm& model, std::shared_ptr<GenerativeModel> guide) {
    try {
      model.attach_guide(std::move(guide));
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const DdpmSettings s = tiny_settings();
  Ddpm model(s, torch::kCPU);
  DdpmSettings other_t = s;
  other_t.timesteps = 50;
  EXPECT_NE(refusal(model, std::make_shared<Ddpm>(other_t, torch::kCPU)).find("noise schedule"), std::string::npos);
  DdpmSettings other_schedule = s;
  other_schedule.schedule = "linear";
  EXPECT_NE(refusal(model, std::make_shared<Ddpm>(other_schedule, torch::kCPU)).find("noise schedule"),
            std::string::npos);
  DdpmSettings conditional = s;
  conditional.common.conditional = true;
  EXPECT_NE(refusal(model, std::make_shared<Ddpm>(conditional, torch::kCPU)).find("unconditional"), std::string::npos);
  Ddpm conditional_model(conditional, torch::kCPU);
  EXPECT_NE(refusal(conditional_model, std::make_shared<Ddpm>(s, torch::kCPU)).find("classifier-free"),
            std::string::npos);
  EXPECT_NE(refusal(conditional_model, nullptr).find("classifier-free"), std::string::npos);  // --guide none
  // A guide with a guide of its own is refused, so guides never chain.
  auto guided_guide = std::make_shared<Ddpm>(s, torch::kCPU);
  guided_guide->attach_guide(std::make_shared<Ddpm>(s, torch::kCPU));
  EXPECT_NE(refusal(model, guided_guide).find("guided itself"), std::string::npos);
  EXPECT_FALSE(model.supports_guidance());  // nothing was attached by the refusals
}
