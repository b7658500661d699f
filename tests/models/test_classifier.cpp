// Guards the evaluator network: its feature and logit shapes; that the built-in evaluator
// is the shipped file, refuses damaged bytes and (with MNIST present) reaches the issue's
// 99 % test accuracy — every distance in the report is measured in its feature space; and
// that the recipe which made it still learns.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "data/mnist.h"
#include "models/builtin_evaluator.h"
#include "models/classifier.h"
#include "support/test_support.h"

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

TEST(Classifier, BuiltInEvaluatorIsTheShippedFile) {
  const std::string shipped = read_file(std::string(TRILEMMA_SOURCE_DIR) + "/assets/evaluator-v1.pt");
  EXPECT_EQ(builtin_evaluator_bytes(), shipped);
  EXPECT_EQ(crc32_of(shipped), kEvaluatorCrc32);
  const Evaluator evaluator = load_evaluator(torch::kCPU);
  EXPECT_EQ(evaluator.crc32, kEvaluatorCrc32);
  EXPECT_NE(evaluator.describe().find("crc32 2ae6b3a4"), std::string::npos) << evaluator.describe();
}

TEST(Classifier, DamagedEvaluatorBytesAreRefused) {
  std::string bytes = builtin_evaluator_bytes();
  bytes[200] ^= 0x5a;
  try {
    evaluator_from_bytes(bytes, kEvaluatorCrc32, kEvaluatorTestAccuracy, "test evaluator", torch::kCPU);
    ADD_FAILURE() << "a flipped byte was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("test evaluator: checksum"), std::string::npos) << e.what();
  }
  // Truncated bytes whose checksum is right (as a bad file with a matching manifest would
  // be) still fail to load, with the name.
  const std::string truncated = builtin_evaluator_bytes().substr(0, 100000);
  try {
    evaluator_from_bytes(truncated, crc32_of(truncated), kEvaluatorTestAccuracy, "test evaluator", torch::kCPU);
    ADD_FAILURE() << "truncated weights were accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("test evaluator: unreadable"), std::string::npos) << e.what();
  }
}

TEST(Classifier, BuiltInEvaluatorReaches99Percent) {
  const std::string dir = trilemma::testing::mnist_dir();
  if (dir.empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  const auto evaluator = load_evaluator(torch::kCPU);
  auto net = evaluator.net;
  const auto test = data::load_mnist(dir, data::Split::kTest);
  const double accuracy = classifier_accuracy(net, test, torch::kCPU);
  std::cout << "evaluator test accuracy: " << 100.0 * accuracy << " %\n";
  EXPECT_GE(accuracy, 0.99);
  EXPECT_NEAR(accuracy, kEvaluatorTestAccuracy, 1e-9);  // the recorded figure tells the truth
}

// The recipe, on a tenth of an epoch: from chance to most digits right.
TEST(Classifier, ShortTrainingWithTheRecipeLearns) {
  const std::string dir = trilemma::testing::mnist_dir();
  if (dir.empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  const auto train = data::load_mnist(dir, data::Split::kTrain), full_test = data::load_mnist(dir, data::Split::kTest);
  const data::ImageDataset small{train.images.slice(0, 0, 6000), train.labels.slice(0, 0, 6000)};
  const data::ImageDataset test{full_test.images.slice(0, 0, 2000), full_test.labels.slice(0, 0, 2000)};
  torch::set_num_threads(1);
  torch::manual_seed(0);
  MnistClassifier net;
  const double before = classifier_accuracy(net, test, torch::kCPU);
  ClassifierSettings settings;
  settings.epochs = 1;
  std::ostringstream log;
  const ClassifierTrainResult result = train_classifier(net, small, test, settings, torch::kCPU, log);
  std::cout << "accuracy before " << before << ", after " << result.steps << " steps " << result.test_accuracy << "\n";
  EXPECT_LT(before, 0.3);
  EXPECT_EQ(result.steps, 6000 / settings.batch_size);
  EXPECT_GT(result.test_accuracy, 0.85);  // measured 0.93 here
  EXPECT_NEAR(result.test_accuracy, classifier_accuracy(net, test, torch::kCPU), 1e-12);
}
