// Guards the evaluator network: its feature and logit shapes, and (with MNIST present)
// that the cached or freshly trained evaluator reaches the 99 % test accuracy —
// every distance in the report is measured in its feature space.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/runtime.h"
#include "data/mnist.h"
#include "models/classifier.h"

using namespace trilemma;

TEST(Classifier, FeatureAndLogitShapes) {
  torch::manual_seed(0);
  MnistClassifier net;
  net->eval();
  const auto x = torch::rand({3, 1, 28, 28});
  EXPECT_EQ(net->features(x).sizes(), torch::IntArrayRef({3, kClassifierFeatureDim}));
  EXPECT_EQ(net->logits(x).sizes(), torch::IntArrayRef({3, 10}));
  // Features are post-ReLU activations.
  EXPECT_GE(net->features(x).min().item<double>(), 0.0);
}

TEST(Classifier, CachedEvaluatorReaches99Percent) {
  const char* dir = std::getenv("TRILEMMA_DATA_DIR");
  if (!dir || !*dir || !std::filesystem::exists(std::filesystem::path(dir) / "t10k-labels-idx1-ubyte"))
    GTEST_SKIP() << "TRILEMMA_DATA_DIR unset or without MNIST";
  configure_threads(0);
  auto evaluator = load_or_train_evaluator(dir, torch::kCPU, std::cout);
  const auto test = data::load_mnist(dir, data::Split::kTest);
  const double accuracy = classifier_accuracy(evaluator.net, test, torch::kCPU);
  std::cout << "evaluator test accuracy: " << 100.0 * accuracy << " %\n";
  EXPECT_GE(accuracy, 0.99);
  EXPECT_NEAR(accuracy, evaluator.test_accuracy, 1e-9);  // the manifest tells the truth
}

// A corrupt cache must be detected (CRC) and not loaded as if it were the evaluator.
TEST(Classifier, CorruptCacheIsRejected) {
  const char* dir = std::getenv("TRILEMMA_DATA_DIR");
  if (!dir || !*dir || !std::filesystem::exists(std::filesystem::path(dir) / "t10k-labels-idx1-ubyte"))
    GTEST_SKIP() << "TRILEMMA_DATA_DIR unset or without MNIST";
  configure_threads(0);
  auto evaluator = load_or_train_evaluator(dir, torch::kCPU, std::cout);  // ensure it exists
  const auto tmp = std::filesystem::temp_directory_path() / "trilemma-classifier-test";
  std::filesystem::create_directories(tmp);
  std::filesystem::copy_file(evaluator_path(dir), evaluator_path(tmp.string()),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(evaluator_manifest_path(dir), evaluator_manifest_path(tmp.string()),
                             std::filesystem::copy_options::overwrite_existing);
  {
    std::fstream f(evaluator_path(tmp.string()), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  // The copy has no MNIST beside it: retraining would throw, proving the cache was refused.
  EXPECT_ANY_THROW(load_or_train_evaluator(tmp.string(), torch::kCPU, std::cout));
  std::filesystem::remove_all(tmp);
}
