// Guards the protocol's assembly: every key the report and the issue name is present, and
// the numbers behave at the extremes (a set against itself; a collapsed set).
#include <gtest/gtest.h>

#include "core/error.h"
#include "metrics/evaluate.h"

using namespace trilemma;
using namespace trilemma::metrics;

TEST(Evaluate, FeaturesOfRealSetAgainstItself) {
  torch::manual_seed(5);
  RealReference real;
  real.features = torch::randn({600, 16}).relu();
  real.stats = feature_statistics(real.features);
  auto probs = torch::one_hot(torch::arange(600).remainder(10), 10).to(torch::kFloat64);
  EvalProtocol protocol;
  protocol.kid.subsets = 10;
  const Json r = evaluate_features(real, real.features, probs, protocol);
  for (const char* key : {"n", "fid", "kid_mean", "kid_std", "precision", "recall", "density",
                          "coverage", "classifier_score", "class_histogram", "classes_covered",
                          "entropy", "kl_uniform", "mean_confidence"})
    EXPECT_TRUE(r.contains(key)) << key;
  EXPECT_LT(std::abs(r["fid"].get<double>()), 1e-9);
  EXPECT_DOUBLE_EQ(r["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["coverage"].get<double>(), 1.0);
  EXPECT_EQ(r["classes_covered"].get<int>(), 10);
  EXPECT_NEAR(r["classifier_score"].get<double>(), 10.0, 1e-9);
  EXPECT_EQ(r["n"].get<int>(), 600);
}

TEST(Evaluate, CollapsedSetScoresBadly) {
  torch::manual_seed(6);
  RealReference real;
  real.features = torch::randn({500, 8});
  real.stats = feature_statistics(real.features);
  const auto fake = real.features.slice(0, 0, 50) * 0.01 + 3.0;  // one tight far-away blob
  auto probs = torch::one_hot(torch::zeros({50}, torch::kInt64), 10).to(torch::kFloat64);
  EvalProtocol protocol;
  protocol.kid.subsets = 5;
  const Json r = evaluate_features(real, fake, probs, protocol);
  EXPECT_GT(r["fid"].get<double>(), 50.0);
  EXPECT_LT(r["recall"].get<double>(), 0.05);
  EXPECT_EQ(r["classes_covered"].get<int>(), 1);
  EXPECT_NEAR(r["classifier_score"].get<double>(), 1.0, 1e-9);
}

TEST(Evaluate, ImagesFromArrayAcceptsUint8AndFloat) {
  auto u8 = torch::full({4, 28, 28}, 255, torch::kUInt8);
  auto a = images_from_array(u8, "x.npy");
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({4, 1, 28, 28}));
  EXPECT_FLOAT_EQ(a.max().item<float>(), 1.0f);
  EXPECT_EQ(images_from_array(torch::rand({3, 784}), "x.npy").size(1), 1);
  EXPECT_THROW(images_from_array(torch::rand({3, 28, 28}) * 255, "x.npy"), UserError);
  EXPECT_THROW(images_from_array(torch::rand({3, 32, 32}), "x.npy"), UserError);
}

TEST(Evaluate, MergeKeepsOtherSamplers) {
  Json file = merge_eval_result(Json(), "ddim-20", {{"fid", 3.0}});
  file = merge_eval_result(file, "ddpm-1000", {{"fid", 2.0}});
  file = merge_eval_result(file, "ddim-20", {{"fid", 2.5}});
  EXPECT_EQ(file["samplers"].size(), 2u);
  EXPECT_DOUBLE_EQ(file["samplers"]["ddim-20"]["fid"].get<double>(), 2.5);
  EXPECT_EQ(file["format_version"].get<int>(), kEvalFormatVersion);
}

TEST(Evaluate, TrainingThroughputIsMedianOfLoggedRates) {
  const std::string log =
      "{\"step\":50,\"images_per_s\":100}\n{\"step\":100,\"images_per_s\":300}\n"
      "{\"step\":100,\"phase\":\"test\"}\n{\"step\":150,\"images_per_s\":200}\n{\"torn";
  EXPECT_DOUBLE_EQ(training_images_per_second(log), 200.0);
  EXPECT_DOUBLE_EQ(training_images_per_second(""), 0.0);
}

TEST(Evaluate, ConditionalAccuracyAndPerClassFrechetDistance) {
  // Real: 300 features of class 0 and 300 of class 1. Fakes asked for class 0 are exactly
  // class 0's features (per-class FID 0); fakes asked for class 1 are class 1's features
  // shifted by (1, 2, 0, ...), so their FID is the squared shift, 5, with equal covariances.
  torch::manual_seed(7);
  RealReference real;
  const auto a = torch::randn({300, 8}, torch::kFloat64).to(torch::kFloat32);
  const auto b = (torch::randn({300, 8}) * 2 + 1);
  real.features = torch::cat({a, b});
  real.stats = feature_statistics(real.features);
  real.labels = torch::cat({torch::zeros({300}, torch::kLong), torch::ones({300}, torch::kLong)});
  auto shift = torch::zeros({8});
  shift[0] = 1.0;
  shift[1] = 2.0;
  const auto fakes = torch::cat({a, b + shift});
  const auto requested = real.labels.clone();
  // The evaluator reads 150 of the 300 "zeros" as a 1, and every "one" as a 1.
  auto predicted = torch::ones({600}, torch::kLong);
  predicted.narrow(0, 0, 150).fill_(0);
  const auto probabilities = torch::one_hot(predicted, 10).to(torch::kFloat64);
  const Json c = evaluate_conditional(real, fakes, probabilities, requested, 10);
  EXPECT_DOUBLE_EQ(c["conditional_accuracy"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(c["per_class_accuracy"][0].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["per_class_accuracy"][1].get<double>(), 1.0);
  EXPECT_TRUE(c["per_class_accuracy"][2].is_null());  // nothing asked for digit 2
  EXPECT_NEAR(c["per_class_fid"][0].get<double>(), 0.0, 1e-3);
  EXPECT_NEAR(c["per_class_fid"][1].get<double>(), 5.0, 1e-3);
  EXPECT_TRUE(c["per_class_fid"][5].is_null());
  EXPECT_EQ(c["per_class_n"][1].get<int>(), 300);
  EXPECT_NEAR(c["mean_per_class_fid"].get<double>(), 2.5, 1e-3);
}

// The failure-mode reference rows' perturbations against hand-computed values.
TEST(Evaluate, GaussianBlurOfAPointIsTheSampledGaussian) {
  auto image = torch::zeros({1, 1, 28, 28});
  image[0][0][14][14] = 1.0;
  const auto blurred = gaussian_blur(image, 1.0);
  // Separable kernel g(x) = exp(-x²/2) / Σ_{|k|<=3} exp(-k²/2); the point spreads to g(dx)·g(dy).
  double norm = 0;
  for (int k = -3; k <= 3; ++k) norm += std::exp(-k * k / 2.0);
  const auto g = [&](int x) { return std::exp(-x * x / 2.0) / norm; };
  EXPECT_NEAR(blurred[0][0][14][14].item<double>(), g(0) * g(0), 1e-6);
  EXPECT_NEAR(blurred[0][0][15][13].item<double>(), g(1) * g(1), 1e-6);
  EXPECT_NEAR(blurred[0][0][14][17].item<double>(), g(3) * g(0), 1e-6);
  EXPECT_EQ(blurred[0][0][14][18].item<double>(), 0.0);  // beyond 3σ
  EXPECT_NEAR(blurred.sum().item<double>(), 1.0, 1e-5);   // mass kept away from the border
}

TEST(Evaluate, PixelNoiseHasTheAskedSpreadAndIsSeeded) {
  const auto grey = torch::full({64, 1, 28, 28}, 0.5);
  const auto noisy = add_pixel_noise(grey, 16, 3);
  EXPECT_NEAR((noisy - grey).std().item<double>(), 16.0 / 255.0, 0.02 * 16.0 / 255.0);
  EXPECT_NEAR((noisy - grey).mean().item<double>(), 0.0, 1e-3);
  EXPECT_TRUE(torch::equal(noisy, add_pixel_noise(grey, 16, 3)));
  EXPECT_FALSE(torch::equal(noisy, add_pixel_noise(grey, 16, 4)));
  const auto strong = add_pixel_noise(torch::zeros({4, 1, 28, 28}), 64, 3);
  EXPECT_GE(strong.min().item<double>(), 0.0);  // clamped to the image range
}
