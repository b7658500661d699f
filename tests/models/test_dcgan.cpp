// Guards the DCGAN: both presets' shapes, the article's clamp activation, stable BCE, the
// hinge losses, spectral normalisation against an SVD, that each training phase updates
// only its own network, deterministic eval-mode sampling, the divergence guard, and
// self-conditioning's clusters.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "models/dcgan.h"
#include "models/layers.h"
#include "models/registry.h"
#include "training/train_loop.h"

namespace trilemma {
namespace {

std::vector<torch::Tensor> snapshot(torch::nn::Module& module) {
  std::vector<torch::Tensor> copies;
  for (const auto& p : module.parameters()) copies.push_back(p.detach().clone());
  return copies;
}

bool unchanged(torch::nn::Module& module, const std::vector<torch::Tensor>& before) {
  auto params = module.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    if (!torch::equal(params[i], before[i])) return false;
  return true;
}

TEST(Dcgan, ShapesOfBothPresets) {
  for (const char* preset : {"seed", "dcgan", "quick"}) {
    Dcgan gan(dcgan_preset(preset), torch::kCPU);
    const torch::Tensor z = torch::randn({4, dcgan_preset(preset).latent_dim});
    const torch::Tensor fake = gan.generator()->forward(z);
    EXPECT_EQ(fake.sizes(), torch::IntArrayRef({4, 1, 28, 28})) << preset;
    EXPECT_LE(fake.abs().max().item<float>(), 1.0f) << preset;  // tanh range
    EXPECT_EQ(gan.discriminator()->forward(fake).sizes(), torch::IntArrayRef({4, 1})) << preset;
  }
  // The seed generator is the article's: Dense(100 -> 7·7·128).
  Dcgan seed(dcgan_preset("seed"), torch::kCPU);
  EXPECT_EQ(seed.generator()->dense->weight.sizes(), torch::IntArrayRef({7 * 7 * 128, 100}));
}

TEST(Dcgan, ClampActivationIsReluCappedAtPointTwo) {
  const torch::Tensor x = torch::tensor({-1.0f, 0.0f, 0.1f, 0.2f, 0.5f, 3.0f});
  const torch::Tensor y = clamped_relu(x);
  const std::vector<float> expected = {0.0f, 0.0f, 0.1f, 0.2f, 0.2f, 0.2f};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(y[i].item<float>(), expected[i]);
}

TEST(Dcgan, BceWithLogitsMatchesTheHandFormula) {
  // BCE(x, 1) = log(1 + e^-x); BCE(x, 0) = log(1 + e^x).
  for (double x : {-3.0, -0.5, 0.0, 0.7, 4.0}) {
    const torch::Tensor logit = torch::tensor({x}, torch::kFloat64);
    EXPECT_NEAR(bce_with_logits(logit, 1.0).item<double>(), std::log1p(std::exp(-x)), 1e-12);
    EXPECT_NEAR(bce_with_logits(logit, 0.0).item<double>(), std::log1p(std::exp(x)), 1e-12);
  }
  // Saturated logits stay finite (sigmoid + log would give log(0) = -inf).
  EXPECT_NEAR(bce_with_logits(torch::tensor({-200.0f}), 1.0).item<float>(), 200.0f, 1e-3);
}

TEST(Dcgan, HingeLossesMatchTheHandFormula) {
  const torch::Tensor real = torch::tensor({2.0, 0.5, -1.0}, torch::kFloat64);
  const torch::Tensor fake = torch::tensor({-2.0, 0.0, 1.0}, torch::kFloat64);
  // D: mean(relu(1 − real)) = (0 + 0.5 + 2)/3; mean(relu(1 + fake)) = (0 + 1 + 2)/3.
  EXPECT_NEAR(hinge_discriminator_loss(real, fake).item<double>(), 2.5 / 3 + 1.0, 1e-12);
  // G: −mean(fake) = 1/3.
  EXPECT_NEAR(hinge_generator_loss(fake).item<double>(), 1.0 / 3, 1e-12);
}

TEST(Dcgan, SpectralNormalisationDividesByTheLargestSingularValue) {
  // W = U·diag(5, 2, 0.5)·Vᵀ with orthogonal U, V: σ = 5.
  torch::manual_seed(3);
  const auto q1 = std::get<0>(torch::linalg::qr(torch::randn({3, 3}, torch::kFloat64)));
  const auto q2 = std::get<0>(torch::linalg::qr(torch::randn({6, 6}, torch::kFloat64))).narrow(1, 0, 3);
  // A 3×1×2×3 "conv weight" whose 3×6 matrix view is W.
  const torch::Tensor matrix = q1.mm(torch::diag(torch::tensor({5.0, 2.0, 0.5}, torch::kFloat64))).mm(q2.t());
  torch::Tensor weight = matrix.view({3, 1, 2, 3}).to(torch::kFloat).requires_grad_(true);
  torch::Tensor u = torch::nn::functional::normalize(torch::randn({3}), torch::nn::functional::NormalizeFuncOptions().dim(0));
  // Without update, u stays put.
  const torch::Tensor u_before = u.clone();
  spectrally_normalized(weight, u, false);
  EXPECT_TRUE(torch::equal(u, u_before));
  // Power iteration converges at rate (2/5)² per call: 20 calls leave ~1e-16.
  torch::Tensor normalized;
  for (int i = 0; i < 20; ++i) normalized = spectrally_normalized(weight, u, true);
  EXPECT_EQ(normalized.sizes(), weight.sizes());
  const torch::Tensor singular = torch::linalg::svdvals(normalized.detach().flatten(1).to(torch::kFloat64), c10::nullopt);
  EXPECT_NEAR(singular[0].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(singular[1].item<double>(), 2.0 / 5, 1e-5);
  // u is W's top left singular vector (up to sign).
  EXPECT_NEAR(std::abs(torch::dot(u.to(torch::kFloat64), q1.select(1, 0)).item<double>()), 1.0, 1e-5);
  // Gradient of sum(C ⊙ W/σ) with σ = uᵀWv: C/σ − (Σ C⊙W)/σ² · u vᵀ.
  const torch::Tensor c = torch::randn({3, 1, 2, 3});
  (spectrally_normalized(weight, u, false) * c).sum().backward();
  const torch::Tensor w64 = weight.detach().flatten(1).to(torch::kFloat64);
  const torch::Tensor u64 = u.to(torch::kFloat64);
  const torch::Tensor v64 = torch::nn::functional::normalize(w64.t().mv(u64), torch::nn::functional::NormalizeFuncOptions().dim(0));
  const double sigma = torch::dot(u64, w64.mv(v64)).item<double>();
  EXPECT_NEAR(sigma, 5.0, 1e-5);
  const torch::Tensor c64 = c.flatten(1).to(torch::kFloat64);
  const torch::Tensor expected = c64 / sigma - (c64 * w64).sum() / (sigma * sigma) * torch::outer(u64, v64);
  EXPECT_TRUE(torch::allclose(weight.grad().flatten(1).to(torch::kFloat64), expected, 1e-5, 1e-6));
}

DcganSettings hinge_spectral_settings() {
  DcganSettings s = dcgan_preset("quick");
  s.objective = "hinge";
  s.spectral_norm = true;
  return s;
}

TEST(Dcgan, SpectralNormReplacesTheDiscriminatorsBatchNormAndTrainsItsVectors) {
  torch::manual_seed(0);
  Dcgan gan(hinge_spectral_settings(), torch::kCPU);
  EXPECT_FALSE(gan.discriminator()->norm2);
  ASSERT_TRUE(gan.discriminator()->conv2_u.defined());
  const torch::Tensor u_before = gan.discriminator()->conv2_u.clone();
  gan.train_step(torch::rand({8, 1, 28, 28}), {});
  EXPECT_FALSE(torch::equal(gan.discriminator()->conv2_u, u_before)) << "training left u unchanged";
  // The vectors are buffers: a checkpoint keeps them.
  const auto names = gan.discriminator()->named_buffers();
  for (const char* name : {"conv1_u", "conv2_u", "dense_u"}) EXPECT_TRUE(names.contains(name)) << name;
  EXPECT_TRUE(Dcgan(dcgan_preset("quick"), torch::kCPU).discriminator()->norm2);
}

DcganSettings infogan_settings() {
  DcganSettings s = dcgan_preset("quick");
  s.latent_categories = 10;
  return s;
}

TEST(Dcgan, InfoGanLatentCarriesAUniformOneHotCode) {
  torch::manual_seed(0);
  const DcganSettings settings = infogan_settings();
  Dcgan gan(settings, torch::kCPU);
  const int64_t n = 10000;
  const torch::Tensor latent = gan.draw_latent(n, torch::TensorOptions());
  ASSERT_EQ(latent.sizes(), torch::IntArrayRef({n, settings.latent_dim + 10}));
  const torch::Tensor code = latent.narrow(1, settings.latent_dim, 10);
  EXPECT_TRUE(torch::equal(code.sum(1), torch::ones({n})));
  EXPECT_TRUE(torch::equal(code * (1 - code), torch::zeros_like(code)));  // 0 or 1
  EXPECT_TRUE(torch::equal(gan.latent_codes(latent), code.argmax(1)));
  // Uniform: each value 1000 ± 4 standard deviations (√(n·0.1·0.9) = 30).
  const torch::Tensor counts = torch::bincount(gan.latent_codes(latent), {}, 10);
  EXPECT_GE(counts.min().item<int64_t>(), 880);
  EXPECT_LE(counts.max().item<int64_t>(), 1120);
  // z stays standard normal.
  const torch::Tensor z = latent.narrow(1, 0, settings.latent_dim);
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 0.01);
  // Without categories the latent is z alone.
  EXPECT_EQ(Dcgan(dcgan_preset("quick"), torch::kCPU).draw_latent(3, torch::TensorOptions()).size(1),
            settings.latent_dim);
}

TEST(Dcgan, InfoGanHeadLearnsToRecoverTheCodeOfTheFakes) {
  // The code's cross-entropy starts at ln K (a head that cannot tell) and must fall as D's
  // head and G learn together, whatever the real images are. Small networks, so that a
  // test's seconds suffice.
  torch::manual_seed(0);
  DcganSettings settings = dcgan_preset("quick");
  settings.width = 8;
  settings.latent_dim = 8;
  settings.latent_categories = 4;
  settings.info_weight = 2.0;
  settings.common.lr = 2e-3;
  Dcgan gan(settings, torch::kCPU);
  const torch::Tensor latent = gan.draw_latent(256, torch::TensorOptions());
  const torch::Tensor features = gan.discriminator()->features(gan.generator()->forward(latent));
  const double start = gan.category_loss(features, latent).item<double>();
  EXPECT_NEAR(start / 2.0, std::log(4.0), 0.2);  // λ = 2 weighs the cross-entropy
  double last = 0;
  for (int step = 0; step < 30; ++step) last = gan.train_step(torch::rand({64, 1, 28, 28}), {}).at("g_info");
  EXPECT_LT(last, 0.25 * start) << "the head did not learn the code in 30 steps";  // measured: 0.08 of it
}

TEST(Dcgan, EachPhaseUpdatesOnlyItsOwnNetwork) {
  for (const std::string preset : {"seed", "dcgan", "hinge+spectral", "infogan"}) {
    torch::manual_seed(0);
    const DcganSettings settings = preset == "hinge+spectral" ? hinge_spectral_settings()
                                   : preset == "infogan"      ? infogan_settings()
                                                              : dcgan_preset(preset);
    Dcgan gan(settings, torch::kCPU);
    const torch::Tensor real = torch::rand({8, 1, 28, 28}) * 2 - 1;
    const torch::Tensor z = gan.draw_latent(8, torch::TensorOptions());
    auto g0 = snapshot(*gan.generator());
    auto d0 = snapshot(*gan.discriminator());
    gan.discriminator_step(real, z);
    EXPECT_TRUE(unchanged(*gan.generator(), g0)) << preset << ": D's step moved G";
    EXPECT_FALSE(unchanged(*gan.discriminator(), d0)) << preset << ": D's step left D unchanged";
    auto g1 = snapshot(*gan.generator());
    auto d1 = snapshot(*gan.discriminator());
    gan.generator_step(z);
    EXPECT_TRUE(unchanged(*gan.discriminator(), d1)) << preset << ": G's step moved D";
    EXPECT_FALSE(unchanged(*gan.generator(), g1)) << preset << ": G's step left G unchanged";
    // A whole train_step changes both.
    auto g2 = snapshot(*gan.generator());
    auto d2 = snapshot(*gan.discriminator());
    const LossTerms terms = gan.train_step(torch::rand({8, 1, 28, 28}), {});
    EXPECT_FALSE(unchanged(*gan.generator(), g2));
    EXPECT_FALSE(unchanged(*gan.discriminator(), d2));
    for (const char* key : {"d_loss", "g_loss", "d_real", "d_fake", "loss"}) EXPECT_TRUE(terms.count(key)) << key;
  }
}

TEST(Dcgan, EvalModeSamplingIsDeterministicForAFixedZ) {
  torch::manual_seed(0);
  Dcgan gan(dcgan_preset("dcgan"), torch::kCPU);
  gan.train_step(torch::rand({16, 1, 28, 28}), {});  // moves BatchNorm's running statistics
  const torch::Tensor z = torch::randn({5, 100});
  const torch::Tensor a = gan.generate(z);
  const torch::Tensor b = gan.generate(z);
  EXPECT_TRUE(torch::equal(a, b));
  // A single image gives the same result as inside a batch: no batch statistics in eval.
  EXPECT_TRUE(torch::allclose(gan.generate(z.narrow(0, 0, 1)), a.narrow(0, 0, 1), 1e-5, 1e-6));
  EXPECT_GE(a.min().item<float>(), 0.0f);
  EXPECT_LE(a.max().item<float>(), 1.0f);
}

TEST(Dcgan, DivergenceGuardTripsOnAnInjectedNaN) {
  torch::manual_seed(0);
  Dcgan gan(dcgan_preset("dcgan"), torch::kCPU);
  {
    torch::NoGradGuard no_grad;
    gan.discriminator()->dense->weight.fill_(std::nan(""));
  }
  const LossTerms terms = gan.train_step(torch::rand({8, 1, 28, 28}), {});
  EXPECT_TRUE(std::isnan(terms.at("d_loss")));
  try {
    training::require_finite_losses(terms, 17, "runs/x/checkpoints/step-0000000016.pt");
    FAIL() << "the guard did not trip";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("NaN at step 17"), std::string::npos) << message;
    EXPECT_NE(message.find("step-0000000016.pt"), std::string::npos) << message;
  }
  EXPECT_NO_THROW(training::require_finite_losses({{"loss", 1.0}}, 1, ""));
  EXPECT_THROW(training::require_finite_losses({{"loss", INFINITY}}, 1, ""), UserError);
}

DcganSettings self_conditioned_settings(int64_t clusters) {
  DcganSettings s = dcgan_preset("quick");
  s.clusters = clusters;
  return s;
}

TEST(Dcgan, SelfConditioningClustersTheTrainingImagesOnceAndConditionsOnThem) {
  // 20 black and 10 white images: the two clusters are those, centred on all-0 and all-1,
  // with shares 2/3 and 1/3.
  torch::manual_seed(0);
  Dcgan gan(self_conditioned_settings(2), torch::kCPU);
  EXPECT_EQ(gan.num_classes(), 0) << "a self-conditioned GAN is unconditional to its users";
  const torch::Tensor images = torch::cat({torch::zeros({20, 1, 28, 28}), torch::ones({10, 1, 28, 28})});
  const std::string line = gan.start_training(images, torch::zeros({30}, torch::kLong));
  EXPECT_NE(line.find("2 k-means clusters of the 30 training images"), std::string::npos) << line;
  const SelfConditioningImpl& state = *gan.generator()->self_conditioning;
  ASSERT_TRUE(state.is_fitted());
  const torch::Tensor clusters = gan.conditioning(images, {});
  const int64_t black = clusters[0].item<int64_t>(), white = clusters[29].item<int64_t>();
  EXPECT_NE(black, white);
  EXPECT_TRUE(clusters.narrow(0, 0, 20).eq(black).all().item<bool>());
  EXPECT_TRUE(clusters.narrow(0, 20, 10).eq(white).all().item<bool>());
  EXPECT_TRUE(state.centroids[black].eq(0).all().item<bool>());
  EXPECT_TRUE(state.centroids[white].eq(1).all().item<bool>());
  EXPECT_NEAR(state.shares[black].item<double>(), 2.0 / 3, 1e-6);
  EXPECT_NEAR(state.shares[white].item<double>(), 1.0 / 3, 1e-6);
  EXPECT_EQ(gan.start_training(images, {}), "") << "fitted twice";
  EXPECT_EQ(Dcgan(dcgan_preset("quick"), torch::kCPU).start_training(images, {}), "") << "without clusters";
  // Training steps condition on the clusters (a missing label would throw in G's one-hot).
  EXPECT_NO_THROW(gan.train_step(images.narrow(0, 15, 10), torch::zeros({10}, torch::kLong)));

  // The clusters travel with the generator, as checkpoints and the zoo store it.
  torch::serialize::OutputArchive out;
  gan.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  Dcgan loaded(self_conditioned_settings(2), torch::kCPU);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  loaded.load(in);
  const SelfConditioningImpl& copy = *loaded.generator()->self_conditioning;
  EXPECT_TRUE(copy.is_fitted());
  EXPECT_TRUE(copy.centroids.equal(state.centroids));
  EXPECT_TRUE(copy.shares.equal(state.shares));
  EXPECT_EQ(loaded.start_training(images, {}), "") << "a resumed run refitted its clusters";
}

TEST(Dcgan, SelfConditionedSamplingDrawsClustersByTheirShares) {
  torch::manual_seed(0);
  Dcgan gan(self_conditioned_settings(3), torch::kCPU);
  SelfConditioningImpl& state = *gan.generator()->self_conditioning;
  state.shares.copy_(torch::tensor({0.25f, 0.75f, 0.0f}));
  const torch::Tensor drawn = state.draw(4000);
  // Binomial standard deviation sqrt(0.25 * 0.75 / 4000) = 0.0068: 0.03 is 4.4 of them.
  EXPECT_NEAR(drawn.eq(1).to(torch::kFloat).mean().item<double>(), 0.75, 0.03);
  EXPECT_EQ(drawn.eq(2).sum().item<int64_t>(), 0) << "a cluster of share 0 was drawn";

  // sample() draws z, then each image's cluster: with all the share on cluster 2 it is G(z, 2).
  state.shares.copy_(torch::tensor({0.0f, 0.0f, 1.0f}));
  torch::manual_seed(5);
  const torch::Tensor sampled = gan.sample(6, {});
  torch::manual_seed(5);
  const torch::Tensor z = gan.draw_latent(6, torch::TensorOptions());
  EXPECT_TRUE(sampled.equal(gan.generate(z, torch::full({6}, 2, torch::kLong))));
  EXPECT_FALSE(sampled.equal(gan.generate(z, torch::full({6}, 0, torch::kLong)))) << "the cluster changes nothing";
}

TEST(Dcgan, SelfConditioningIsRefusedForAConditionalRunAndForTooFewImages) {
  const ModelFamily& family = find_model_family("dcgan");
  Json settings = family.preset_settings("quick");
  family.set_setting(settings, "clusters", "10");
  family.set_setting(settings, "conditional", "true");
  EXPECT_THROW(family.validate(settings), UserError);
  Dcgan gan(self_conditioned_settings(10), torch::kCPU);
  EXPECT_THROW(gan.start_training(torch::rand({5, 1, 28, 28}), {}), UserError);
}

}  // namespace
}  // namespace trilemma
