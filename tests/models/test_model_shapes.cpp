// Every family builds for its training data's image shape and class count, read from the
// common settings: a 32×32 RGB conditional model of 5 classes and a 16×16 grey
// unconditional one each train a step and sample in their shape, a class the data lacks is
// refused, and a U-Net too deep for its images is a one-line error. At MNIST's shape (the
// defaults: 28×28 grey, 10 classes) the networks must stay the ones every run, zoo model
// and README number was made with; their parameter counts were measured before the shape
// became a setting.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/registry.h"

namespace trilemma {
namespace {

struct ImageShape {
  int64_t size, channels, classes;
  bool conditional;
};

// The family's quick preset at `shape`, with narrow networks so that a step takes
// milliseconds (the shape arithmetic does not depend on the widths).
Json small_settings(const ModelFamily& family, const ImageShape& shape) {
  Json s = family.preset_settings("quick");
  s["image_size"] = shape.size;
  s["image_channels"] = shape.channels;
  s["classes"] = shape.classes;
  s["conditional"] = shape.conditional;
  s["batch_size"] = 4;
  for (const char* width : {"channels", "width", "base_width", "disc_width"})
    if (s.contains(width)) s[width] = 8;  // 8: a multiple of every preset's GroupNorm groups
  return s;
}

// An untrained teacher for a distilled student: untrained_teacher's architecture, at the
// student's image shape and classes (which `distill` takes from the teacher's run).
std::unique_ptr<GenerativeModel> teacher_of(const ModelFamily& student, const Json& student_settings) {
  const ModelFamily& family = find_model_family(student.teacher_family);
  Json settings = family.preset_settings(family.presets.front());
  for (const std::string& name : student.teacher_fields) settings[name] = student_settings.at(name);
  for (const char* name : {"image_size", "image_channels", "classes"}) settings[name] = student_settings.at(name);
  return family.create(family.validate(settings), torch::kCPU);
}

// A model ready to train: a distilled family's student starts from its teacher.
std::unique_ptr<GenerativeModel> make_model(const ModelFamily& family, const Json& settings) {
  const Json valid = family.validate(settings);
  auto model = family.create(valid, torch::kCPU);
  if (!family.teacher_family.empty()) model->start_from_teacher(*teacher_of(family, valid));
  return model;
}

// One training step and a held-out loss on a random batch, all finite; samples and the
// per-epoch figures in the model's shape, samples in [0, 1].
void expect_trains_and_samples(GenerativeModel& model, const ImageShape& shape) {
  const auto images = torch::rand({4, shape.channels, shape.size, shape.size});
  const auto labels = torch::arange(4, torch::kLong).remainder(shape.classes);
  for (const auto& [name, value] : model.train_step(images, labels)) EXPECT_TRUE(std::isfinite(value)) << name;
  for (const auto& [name, value] : model.eval_loss(images, labels)) EXPECT_TRUE(std::isfinite(value)) << name;

  const auto samples = model.sample(4, {});
  EXPECT_EQ(samples.sizes(), (std::vector<int64_t>{4, shape.channels, shape.size, shape.size}));
  EXPECT_GE(samples.min().item<double>(), 0.0);
  EXPECT_LE(samples.max().item<double>(), 1.0);
  EXPECT_TRUE(torch::isfinite(samples).all().item<bool>());

  FigureInputs inputs;
  inputs.test_images = images;
  inputs.test_labels = labels;
  for (const Figure& figure : model.epoch_figures(inputs)) {
    SCOPED_TRACE(figure.name);
    ASSERT_TRUE(figure.images.defined());
    EXPECT_EQ(figure.images.size(1), shape.channels);
    EXPECT_EQ(figure.images.size(2), shape.size);
    EXPECT_EQ(figure.images.size(3), shape.size);
  }
}

SampleOptions for_class(int64_t k) {
  SampleOptions options;
  options.class_label = k;
  return options;
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const ModelFamily& family : model_families()) names.push_back(family.name);
  return names;
}

class ModelShapes : public ::testing::TestWithParam<std::string> {
 protected:
  const ModelFamily& family() const { return find_model_family(GetParam()); }
};

TEST_P(ModelShapes, RgbConditionalModelOfFiveClassesAt32) {
  const ImageShape shape{32, 3, 5, true};
  torch::manual_seed(0);
  auto model = make_model(family(), small_settings(family(), shape));
  EXPECT_EQ(model->num_classes(), 5);
  expect_trains_and_samples(*model, shape);
  EXPECT_EQ(model->sample(2, for_class(4)).sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_THROW(model->sample(2, for_class(5)), UserError);  // the data has classes 0..4
}

TEST_P(ModelShapes, GreyUnconditionalModelAt16) {
  const ImageShape shape{16, 1, 10, false};
  torch::manual_seed(0);
  auto model = make_model(family(), small_settings(family(), shape));
  EXPECT_EQ(model->num_classes(), 0);
  expect_trains_and_samples(*model, shape);
  EXPECT_THROW(model->sample(2, for_class(0)), UserError);  // unconditional
}

// The quick presets at the default shape, unconditional and conditional, as measured on
// the code before the image shape became a setting: today's MNIST networks. A different
// count means a changed network, and every shipped number with it.
TEST_P(ModelShapes, MnistNetworksKeepTheirParameterCounts) {
  const std::map<std::string, std::pair<int64_t, int64_t>> measured = {
      {"vae", {100929, 116609}},          {"dcgan", {407396, 438756}},
      {"ddpm", {861025, 862433}},         {"ddgan", {608241, 608945}},
      {"consistency", {861025, 862433}},
  };
  ASSERT_EQ(measured.count(GetParam()), 1u) << "a new family: add its counts here";
  for (bool conditional : {false, true}) {
    SCOPED_TRACE(conditional ? "conditional" : "unconditional");
    Json settings = family().preset_settings("quick");
    EXPECT_EQ(settings.at("image_size"), 28);
    EXPECT_EQ(settings.at("image_channels"), 1);
    EXPECT_EQ(settings.at("classes"), 10);
    settings["conditional"] = conditional;
    const auto model = family().create(family().validate(settings), torch::kCPU);
    const auto [unconditional_count, conditional_count] = measured.at(GetParam());
    EXPECT_EQ(model->parameter_count(), conditional ? conditional_count : unconditional_count);
    EXPECT_EQ(model->num_classes(), conditional ? 10 : 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, ModelShapes, ::testing::ValuesIn(family_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// A U-Net deeper than its images allow is refused when the settings are checked, in one
// line naming the flag, padded or not.
TEST(ModelShapesUNet, TooManyLevelsForTheImagesIsAOneLineError) {
  const ModelFamily& ddpm = find_model_family("ddpm");
  auto settings_at = [&](int64_t size, std::vector<int64_t> mults, bool pad) {
    Json s = small_settings(ddpm, {size, 1, 10, false});
    s["channel_mults"] = mults;
    s["attention_levels"] = Json::array();
    s["pad_to_32"] = pad;
    return s;
  };
  auto expect_refused = [&](const Json& settings) {
    try {
      ddpm.validate(settings);
      ADD_FAILURE() << "accepted " << settings.dump();
    } catch (const UserError& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_NE(message.find("--channel-mults"), std::string::npos) << message;
    }
  };
  // 8-4-2-1 is as deep as 8×8 goes; a fifth level would halve a single pixel.
  EXPECT_NO_THROW(ddpm.validate(settings_at(8, {1, 1, 1, 1}, true)));
  expect_refused(settings_at(8, {1, 1, 1, 1, 1}, true));
  // Unpadded, every level must halve the image itself: 12-6-3 does, a fourth would not.
  EXPECT_NO_THROW(ddpm.validate(settings_at(12, {1, 2, 2}, false)));
  expect_refused(settings_at(12, {1, 2, 2, 2}, false));
  EXPECT_NO_THROW(ddpm.validate(settings_at(12, {1, 2, 2, 2}, true)));  // padded to 16
}

}  // namespace
}  // namespace trilemma
