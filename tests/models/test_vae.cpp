// Guards the VAE: the article's shapes, the loss against hand-computed values, the
// reparameterisation, that a few seconds of training on MNIST lowers the test loss, and the
// latent mixture sampling draws z from once training completes.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/module_io.h"
#include "data/mnist.h"
#include "models/vae.h"
#include "support/test_support.h"

namespace trilemma {
namespace {

template <typename Call>
void expect_user_error(Call call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "no UserError; expected one containing '" << fragment << "'";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Vae, SeedPresetHasTheArticlesShapes) {
  const VaeSettings s = vae_preset("seed");
  EXPECT_EQ(s.latent_dim, 2);
  EXPECT_EQ(s.common.batch_size, 32);
  EXPECT_DOUBLE_EQ(s.common.lr, 1e-4);
  EXPECT_EQ(s.common.epochs, 200);
  Vae vae(s, torch::kCPU);
  auto [mu, log_var] = vae.encoder()->forward(torch::rand({5, 1, 28, 28}));
  EXPECT_EQ(mu.sizes(), torch::IntArrayRef({5, 2}));
  EXPECT_EQ(log_var.sizes(), torch::IntArrayRef({5, 2}));
  // 28 -> 13 -> 6 with two valid stride-2 convs: the dense layer sees 64·6·6 features.
  EXPECT_EQ(vae.encoder()->dense->weight.size(1), 64 * 6 * 6);
  EXPECT_EQ(vae.decoder()->forward(torch::randn({5, 2})).sizes(), torch::IntArrayRef({5, 1, 28, 28}));
  const torch::Tensor samples = vae.sample(7, {});
  EXPECT_EQ(samples.sizes(), torch::IntArrayRef({7, 1, 28, 28}));
  EXPECT_GE(samples.min().item<float>(), 0.0f);
  EXPECT_LE(samples.max().item<float>(), 1.0f);
}

TEST(Vae, SubpixelDecoderHasTheSameOutputShape) {
  VaeSettings s = vae_preset("quick");
  ASSERT_EQ(s.upsampling, "subpixel");
  Vae vae(s, torch::kCPU);
  EXPECT_EQ(vae.decoder()->forward(torch::randn({3, s.latent_dim})).sizes(),
            torch::IntArrayRef({3, 1, 28, 28}));
}

TEST(Vae, LossMatchesHandComputedValues) {
  // Zero logits give BCE = ln 2 per pixel whatever the target: 784·ln 2 per image.
  const torch::Tensor logits = torch::zeros({2, 1, 28, 28});
  const torch::Tensor target = torch::rand({2, 1, 28, 28});
  // KL for mu = (1, 0), log_var = (0, ln 2): -½[(1+0-1-1) + (1+ln2-0-2)] = 1 - ln2/2.
  const torch::Tensor mu = torch::tensor({{1.0f, 0.0f}, {1.0f, 0.0f}});
  const torch::Tensor log_var = torch::tensor({{0.0f, static_cast<float>(std::log(2.0))}}).repeat({2, 1});
  const VaeLoss loss = vae_loss(logits, target, mu, log_var, 1.0);
  EXPECT_NEAR(loss.reconstruction.item<double>(), 784 * std::log(2.0), 1e-3);
  EXPECT_NEAR(loss.kl.item<double>(), 1 - std::log(2.0) / 2, 1e-6);
  EXPECT_NEAR(loss.total.item<double>(), 784 * std::log(2.0) + 1 - std::log(2.0) / 2, 1e-3);
  // With saturated logits BCE from logits stays finite where sigmoid + log would not.
  const VaeLoss extreme = vae_loss(torch::full({1, 1, 28, 28}, -200.0f), torch::ones({1, 1, 28, 28}),
                                   mu.narrow(0, 0, 1), log_var.narrow(0, 0, 1), 1.0);
  EXPECT_NEAR(extreme.reconstruction.item<double>(), 784 * 200.0, 1.0);
}

TEST(Vae, ReparameterisationIsMuPlusSigmaEps) {
  const torch::Tensor mu = torch::tensor({0.5f, -1.0f});
  const torch::Tensor log_var = torch::tensor({static_cast<float>(std::log(4.0)), 0.0f});
  const torch::Tensor eps = torch::tensor({1.0f, 2.0f});
  const torch::Tensor z = reparameterize(mu, log_var, eps);
  EXPECT_NEAR(z[0].item<float>(), 0.5f + 2.0f * 1.0f, 1e-6);
  EXPECT_NEAR(z[1].item<float>(), -1.0f + 1.0f * 2.0f, 1e-6);
  // Gradients flow to both mu and log_var (the point of the trick).
  torch::Tensor m = mu.clone().requires_grad_(), lv = log_var.clone().requires_grad_();
  reparameterize(m, lv, eps).sum().backward();
  EXPECT_TRUE(m.grad().defined());
  EXPECT_GT(lv.grad().abs().sum().item<float>(), 0.0f);
}

TEST(Vae, ShortTrainingOnMnistLowersTestLoss) {
  const std::string dir = trilemma::testing::mnist_dir();
  if (dir.empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  torch::set_num_threads(2);
  torch::manual_seed(0);
  const data::ImageDataset train = data::load_mnist(dir, data::Split::kTrain);
  const data::ImageDataset test = data::load_mnist(dir, data::Split::kTest);
  VaeSettings s = vae_preset("quick");
  Vae vae(s, torch::kCPU);
  const torch::Tensor test_images = test.images.narrow(0, 0, 500);
  const double before = vae.eval_loss(test_images, {})["loss"];
  for (int step = 0; step < 80; ++step)
    vae.train_step(train.images.narrow(0, step * 128, 128), {});
  const double after = vae.eval_loss(test_images, {})["loss"];
  // An untrained decoder scores ~545 (784·ln2); 80 steps bring it well below 250.
  EXPECT_GT(before, 500);
  EXPECT_LT(after, 250) << "before " << before;
}

TEST(Vae, SamplerChoiceFollowsTheLatentMixture) {
  VaeSettings s = vae_preset("quick");
  s.channels = 8;
  s.prior_components = 0;
  Vae plain(s, torch::kCPU);
  EXPECT_EQ(plain.sampler_name({}), "decoder");
  SampleOptions options;
  options.sampler = kVaeNormalSampler;
  EXPECT_EQ(plain.sampler_name(options), "decoder");
  options.sampler = kVaeMixtureSampler;
  expect_user_error([&] { plain.sampler_name(options); }, "this VAE has no latent mixture");
  options.sampler = "ddim";
  expect_user_error([&] { plain.sample(2, options); }, "a vae samples with 'normal'");
  EXPECT_EQ(plain.finish_training(torch::rand({50, 1, 28, 28}), {}), "");

  s.prior_components = 3;
  Vae vae(s, torch::kCPU);
  EXPECT_EQ(vae.sampler_name({}), "decoder");  // not fitted yet: N(0, I)
  options.sampler = kVaeMixtureSampler;
  expect_user_error([&] { vae.sample(2, options); }, "not fitted yet");
}

// finish_training fits the mixture to the encoder's means (EM keeps their mean exactly), once;
// sampling then draws from it by default, and a checkpoint carries it.
TEST(Vae, FinishTrainingFitsTheLatentMixtureOnce) {
  for (const bool conditional : {false, true}) {
    SCOPED_TRACE(conditional ? "conditional" : "unconditional");
    torch::manual_seed(0);
    VaeSettings s = vae_preset("quick");
    s.channels = 8;
    s.prior_components = 3;
    s.common.conditional = conditional;
    Vae vae(s, torch::kCPU);
    const torch::Tensor images = torch::rand({300, 1, 28, 28});
    const torch::Tensor labels = torch::randint(10, {300}, torch::kLong);
    const std::string line = vae.finish_training(images, conditional ? labels : torch::Tensor());
    EXPECT_NE(line.find("3-component Gaussian mixture"), std::string::npos) << line;
    EXPECT_EQ(vae.finish_training(images, conditional ? labels : torch::Tensor()), "") << "fitted twice";
    EXPECT_EQ(vae.sampler_name({}), "decoder-gmm3");
    EXPECT_EQ(vae.info()["latent_sampling"], "fitted Gaussian mixture");

    torch::Tensor codes;
    {
      c10::InferenceMode guard;
      vae.encoder()->eval();
      codes = vae.encoder()->forward(images, conditional ? labels : torch::Tensor()).first;
    }
    std::vector<std::pair<std::string, torch::nn::Module*>> networks = vae.sampling_networks();
    ASSERT_EQ(networks.size(), 2u);
    auto& mixture = dynamic_cast<GaussianMixtureImpl&>(*networks[1].second);
    EXPECT_TRUE(torch::allclose((mixture.weights.unsqueeze(1) * mixture.means).sum(0), codes.mean(0), 1e-4, 1e-4));

    // Mixture codes are not N(0, I) codes: the same seed draws different images per sampler.
    SampleOptions normal;
    normal.sampler = kVaeNormalSampler;
    torch::manual_seed(5);
    const torch::Tensor by_mixture = vae.sample(6, {});
    torch::manual_seed(5);
    EXPECT_FALSE(torch::allclose(by_mixture, vae.sample(6, normal)));

    torch::serialize::OutputArchive out;
    vae.save(out);
    std::stringstream bytes;
    out.save_to(bytes);
    Vae loaded(s, torch::kCPU);
    torch::serialize::InputArchive in;
    in.load_from(bytes);
    loaded.load(in);
    EXPECT_EQ(loaded.sampler_name({}), "decoder-gmm3");
    torch::manual_seed(5);
    EXPECT_TRUE(torch::allclose(loaded.sample(6, {}), by_mixture));
    EXPECT_EQ(loaded.finish_training(images, conditional ? labels : torch::Tensor()), "");
  }
}

}  // namespace
}  // namespace trilemma
