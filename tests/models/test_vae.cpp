// Guards the VAE: the article's shapes, the loss against hand-computed values, the
// reparameterisation, and that a few seconds of training on MNIST lowers the test loss.
#include <gtest/gtest.h>

#include <cmath>

#include "data/mnist.h"
#include "models/vae.h"
#include "support/test_support.h"

namespace trilemma {
namespace {

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

}  // namespace
}  // namespace trilemma
