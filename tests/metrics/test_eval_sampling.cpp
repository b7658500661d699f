// Guards how `eval` draws its images: a conditional model is asked for every class equally
// often, the images keep the label they were asked for through the shuffle, and the batches
// are the protocol's 256.
#include <gtest/gtest.h>

#include <vector>

#include "metrics/eval_sampling.h"

using namespace trilemma;
using namespace trilemma::metrics;

namespace {

/// Draws images whose every pixel says which class was requested: (k + 1) / 10, so that a
/// test can read the request back from the image after any reordering.
class LabelEchoModel : public GenerativeModel {
 public:
  explicit LabelEchoModel(int64_t classes) : classes_(classes) {}
  LossTerms train_step(const torch::Tensor&, const torch::Tensor&) override { return {}; }
  LossTerms eval_loss(const torch::Tensor&, const torch::Tensor&) override { return {}; }
  torch::Tensor sample(int64_t n, const SampleOptions& options) override {
    batch_sizes.push_back(n);
    requests.push_back(options.class_label);
    return torch::full({n, 1, 28, 28}, (options.class_label + 1) / 10.0);
  }
  void save(torch::serialize::OutputArchive&) override {}
  void load(torch::serialize::InputArchive&) override {}
  int64_t parameter_count() const override { return 0; }
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override { return {}; }
  int64_t num_classes() const override { return classes_; }

  std::vector<int64_t> batch_sizes;
  std::vector<int64_t> requests;

 private:
  int64_t classes_;
};

torch::Tensor class_read_back(const torch::Tensor& images) {
  return (images.select(1, 0).select(1, 0).select(1, 0) * 10.0 - 1.0).round().to(torch::kLong);
}

}  // namespace

TEST(EvalSampling, EveryClassEquallyOftenAndEachImageKeepsItsLabel) {
  torch::manual_seed(3);
  LabelEchoModel model(10);
  const LabelledSamples s = sample_each_class(model, 1003, SampleOptions{}, false);
  ASSERT_EQ(s.timed.images.size(0), 1003);
  ASSERT_EQ(s.requested.size(0), 1003);
  // 1003 = 10 × 100 + 3: classes 0, 1 and 2 get one more.
  const auto counts = torch::bincount(s.requested, {}, 10);
  for (int64_t k = 0; k < 10; ++k) EXPECT_EQ(counts[k].item<int64_t>(), k < 3 ? 101 : 100) << "class " << k;
  EXPECT_TRUE(torch::equal(class_read_back(s.timed.images), s.requested));
  EXPECT_EQ(model.requests, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(EvalSampling, ClassesAreShuffledSoThatNoStretchIsOneClass) {
  torch::manual_seed(4);
  LabelEchoModel model(10);
  const LabelledSamples s = sample_each_class(model, 1000, SampleOptions{}, false);
  // The classifier score splits the N images into 10 consecutive stretches; in class order
  // each would hold one class. Shuffled, every stretch of 100 holds at least 7 classes
  // (the chance of fewer is below 1e-6).
  for (int64_t split = 0; split < 10; ++split) {
    const auto stretch = s.requested.narrow(0, split * 100, 100);
    EXPECT_GE(torch::bincount(stretch, {}, 10).gt(0).sum().item<int64_t>(), 7) << "split " << split;
  }
}

TEST(EvalSampling, FewerImagesThanClassesAsksOnlyTheFirstClasses) {
  LabelEchoModel model(10);
  const LabelledSamples s = sample_each_class(model, 4, SampleOptions{}, false);
  EXPECT_EQ(model.requests, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(torch::equal(std::get<0>(torch::sort(s.requested)), torch::arange(4)));
}

TEST(EvalSampling, UntimedClassesAreDrawnInBatchesOf256) {
  LabelEchoModel model(2);
  const LabelledSamples s = sample_each_class(model, 1200, SampleOptions{}, false);
  EXPECT_EQ(model.batch_sizes, (std::vector<int64_t>{256, 256, 88, 256, 256, 88}));
  EXPECT_EQ(model.requests, (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_TRUE(torch::equal(class_read_back(s.timed.images), s.requested));
}

TEST(EvalSampling, TimedSamplingUsesBatchesOf256AndTimesExtraOnesWhenTooFew) {
  LabelEchoModel model(0);
  const TimedSamples s = sample_timed(model, 600, SampleOptions{});
  EXPECT_EQ(s.images.size(0), 600);
  // 256 + 256 + 88 for the images; two full batches leave one after the warm-up is
  // dropped, so one more warm-up and three timed batches of 256 follow.
  EXPECT_EQ(model.batch_sizes, (std::vector<int64_t>{256, 256, 88, 256, 256, 256, 256}));
  EXPECT_EQ(s.timed_batches, 3);
  EXPECT_GT(s.images_per_s, 0.0);
}

TEST(EvalSampling, TimedConditionalSamplingPoolsTheClassesBatches) {
  torch::manual_seed(5);
  LabelEchoModel model(2);
  const LabelledSamples s = sample_each_class(model, 2 * 1024, SampleOptions{}, true);
  // Each class: four full batches, the first one dropped as warm-up; no extra batches.
  EXPECT_EQ(s.timed.timed_batches, 6);
  EXPECT_EQ(model.batch_sizes, (std::vector<int64_t>(8, 256)));
  EXPECT_GT(s.timed.images_per_s, 0.0);
  EXPECT_TRUE(torch::equal(class_read_back(s.timed.images), s.requested));
}

TEST(EvalSampling, SmallClassesAreTimedWithExtraBatchesOnlyOnce) {
  // N = 2000 gives each of 10 classes 200 images, no full batch: one warm-up and three
  // timed batches of random classes follow, not four per class (which would cost 5x the
  // images evaluated).
  LabelEchoModel model(10);
  const LabelledSamples s = sample_each_class(model, 2000, SampleOptions{}, true);
  std::vector<int64_t> expected(10, 200);
  for (int i = 0; i < 4; ++i) expected.push_back(256);
  EXPECT_EQ(model.batch_sizes, expected);
  EXPECT_EQ(model.requests.back(), -1);
  EXPECT_EQ(s.timed.timed_batches, 3);
}
