#include "models/classifier.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/module_io.h"
#include "models/builtin_evaluator.h"

#include <nlohmann/json.hpp>

namespace trilemma {
using Json = nlohmann::json;

namespace {

// MNIST's pixel mean and standard deviation; normalising inside the network keeps its
// input contract ([0,1] images) the same as every generator's output.
constexpr double kPixelMean = 0.1307;
constexpr double kPixelStd = 0.3081;

torch::nn::Conv2d conv3x3(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false));
}

/// Each image moved by its own integer offset in [−s, s]² (zeros shifted in).
torch::Tensor random_shift(const torch::Tensor& images, int64_t s) {
  if (s <= 0) return images;
  const int64_t n = images.size(0), channels = images.size(1), h = images.size(2), w = images.size(3);
  const auto padded = torch::constant_pad_nd(images, {s, s, s, s}, 0.0);
  const auto opts = torch::TensorOptions().dtype(torch::kInt64).device(images.device());
  const auto dy = torch::randint(0, 2 * s + 1, {n, 1, 1}, opts);
  const auto dx = torch::randint(0, 2 * s + 1, {n, 1, 1}, opts);
  const auto rows = dy + torch::arange(h, opts).view({1, h, 1});
  const auto cols = dx + torch::arange(w, opts).view({1, 1, w});
  const auto batch = torch::arange(n, opts).view({n, 1, 1});
  if (channels == 1) return padded.select(1, 0).index({batch, rows, cols}).unsqueeze(1);
  return padded.permute({0, 2, 3, 1}).index({batch, rows, cols}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace

MnistClassifierImpl::MnistClassifierImpl(const ClassifierShape& shape_) : shape(shape_) {
  if (shape.image_size % 4 != 0 || shape.image_size < 8)
    throw UserError("evaluator: image size must be a multiple of 4 and at least 8, got " +
                    std::to_string(shape.image_size));
  const int64_t side = shape.image_size / 4;
  // Strided convolutions instead of full-resolution convs + max-pooling: on these CPUs a
  // 3×3 conv with one input channel at 28×28 and the pooling backward cost more than the
  // rest of the network together (measured: ~4× the step time), for no accuracy gain.
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(shape.image_channels, 32, 5)
                                                         .stride(2).padding(2).bias(false)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(32));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)
                                                         .stride(2).padding(1).bias(false)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(64));
  conv3 = register_module("conv3", conv3x3(64, 64));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(64));
  dense = register_module(
      "dense", torch::nn::Linear(torch::nn::LinearOptions(64 * side * side, kClassifierFeatureDim).bias(false)));
  bn_dense = register_module("bn_dense", torch::nn::BatchNorm1d(kClassifierFeatureDim));
  dropout = register_module("dropout", torch::nn::Dropout(0.3));
  out = register_module("out", torch::nn::Linear(kClassifierFeatureDim, shape.classes));
}

torch::Tensor MnistClassifierImpl::features(const torch::Tensor& images) {
  auto x = (images - kPixelMean) / kPixelStd;
  x = torch::relu(bn1(conv1(x)));  // S → S/2 (MNIST: 28 → 14)
  x = torch::relu(bn2(conv2(x)));  // S/2 → S/4 (14 → 7)
  x = torch::relu(bn3(conv3(x)));
  return torch::relu(bn_dense(dense(x.flatten(1))));
}

torch::Tensor MnistClassifierImpl::logits_from_features(const torch::Tensor& f) {
  return out(dropout(f));
}

torch::Tensor MnistClassifierImpl::logits(const torch::Tensor& images) {
  return logits_from_features(features(images));
}

double classifier_accuracy(MnistClassifier& net, const data::ImageDataset& dataset,
                           torch::Device device) {
  c10::InferenceMode guard;
  const bool was_training = net->is_training();
  net->eval();
  int64_t correct = 0;
  for (int64_t start = 0; start < dataset.size(); start += 1000) {
    const int64_t end = std::min(dataset.size(), start + 1000);
    const auto predicted = net->logits(dataset.images.slice(0, start, end).to(device)).argmax(1);
    correct += predicted.cpu().eq(dataset.labels.slice(0, start, end)).sum().item<int64_t>();
  }
  net->train(was_training);
  return static_cast<double>(correct) / static_cast<double>(dataset.size());
}

ClassifierTrainResult train_classifier(MnistClassifier& net, const data::ImageDataset& train,
                                       const data::ImageDataset& test,
                                       const ClassifierSettings& settings, torch::Device device,
                                       std::ostream& log) {
  ClassifierTrainResult result;
  const auto start = std::chrono::steady_clock::now();
  torch::manual_seed(settings.seed);
  net->to(device);
  net->train();
  torch::optim::Adam optimizer(
      net->parameters(), torch::optim::AdamOptions(settings.lr).weight_decay(settings.weight_decay));
  const int64_t n = train.size();
  const int64_t steps_per_epoch = n / settings.batch_size;  // drop the ragged last batch
  const int64_t total_steps = steps_per_epoch * settings.epochs;
  for (int64_t epoch = 0; epoch < settings.epochs; ++epoch) {
    const auto order = torch::randperm(n, torch::kInt64);
    double loss_sum = 0.0;
    for (int64_t b = 0; b < steps_per_epoch; ++b) {
      // Cosine decay to zero (Loshchilov & Hutter 2017, without restarts): a short schedule
      // that ends at a small learning rate is what makes 4 epochs enough.
      const double progress = static_cast<double>(result.steps) / total_steps;
      static_cast<torch::optim::AdamOptions&>(optimizer.param_groups()[0].options())
          .lr(settings.lr * 0.5 * (1.0 + std::cos(M_PI * progress)));
      const auto index = order.slice(0, b * settings.batch_size, (b + 1) * settings.batch_size);
      const auto images = random_shift(train.images.index_select(0, index), settings.max_shift).to(device);
      const auto labels = train.labels.index_select(0, index).to(device);
      optimizer.zero_grad();
      const auto loss = torch::nn::functional::cross_entropy(net->logits(images), labels);
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>();
      ++result.steps;
    }
    const double accuracy = classifier_accuracy(net, test, device);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log << "  evaluator epoch " << (epoch + 1) << "/" << settings.epochs << ": loss "
        << std::fixed << std::setprecision(4) << loss_sum / steps_per_epoch << ", test accuracy "
        << std::setprecision(2) << 100.0 * accuracy << " %, " << std::setprecision(0) << elapsed
        << " s" << std::defaultfloat << std::setprecision(6) << std::endl;
    result.test_accuracy = accuracy;
  }
  net->eval();
  return result;
}

std::string Evaluator::describe() const {
  std::ostringstream s;
  s << name << " (" << dataset << " CNN, " << kClassifierFeatureDim
    << "-d penultimate ReLU features, test accuracy " << std::fixed << std::setprecision(2)
    << 100.0 * test_accuracy << " %, crc32 " << crc32_hex(crc32) << ")";
  return s.str();
}

namespace {

UserError unreadable(const std::string& name, const c10::Error& e) {
  const std::string what = e.what();
  return UserError(name + ": unreadable (" + what.substr(0, what.find('\n')) + ")");
}

// A loaded evaluator put on `device`, in evaluation mode, identified by its file's checksum.
Evaluator& ready(Evaluator& evaluator, torch::Device device, uint32_t crc) {
  evaluator.net->to(device);
  evaluator.net->eval();
  evaluator.device = device;
  evaluator.crc32 = crc;
  return evaluator;
}

}  // namespace

Evaluator evaluator_from_bytes(const std::string& bytes, uint32_t expected_crc32, double test_accuracy,
                               const std::string& name, torch::Device device) {
  const uint32_t crc = crc32_of(bytes);
  if (crc != expected_crc32)
    throw UserError(name + ": checksum " + crc32_hex(crc) + ", expected " + crc32_hex(expected_crc32) + " (corrupt)");
  Evaluator evaluator;
  evaluator.net = MnistClassifier();
  for (int64_t k = 0; k < 10; ++k) evaluator.class_names.push_back(std::to_string(k));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
    load_module_checked(*evaluator.net, archive);
  } catch (const c10::Error& e) {
    throw unreadable(name, e);
  }
  evaluator.test_accuracy = test_accuracy;
  return ready(evaluator, device, crc);
}

Evaluator load_evaluator(torch::Device device) {
  return evaluator_from_bytes(builtin_evaluator_bytes(), kEvaluatorCrc32, kEvaluatorTestAccuracy,
                              std::string("built-in ") + kEvaluatorVersion, device);
}

namespace {

constexpr const char* kEvaluatorFileFormat = "trilemma-evaluator-1";
constexpr const char* kMetadataKey = "trilemma_evaluator";

}  // namespace

std::string evaluator_file_bytes(MnistClassifier& net, const std::string& name, const data::DatasetInfo& dataset,
                                 double test_accuracy, const ClassifierSettings& recipe) {
  const Json metadata = {{"format", kEvaluatorFileFormat},
                         {"name", name},
                         {"dataset", dataset.to_json()},
                         {"image_channels", net->shape.image_channels},
                         {"image_size", net->shape.image_size},
                         {"classes", net->shape.classes},
                         {"test_accuracy", test_accuracy},
                         {"recipe", {{"epochs", recipe.epochs}, {"batch_size", recipe.batch_size}, {"lr", recipe.lr},
                                     {"max_shift", recipe.max_shift}, {"seed", recipe.seed}}}};
  torch::serialize::OutputArchive archive;
  net->to(torch::kCPU);
  net->save(archive);
  archive.write(kMetadataKey, c10::IValue(metadata.dump()));
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

Evaluator evaluator_from_file_bytes(const std::string& bytes, const std::string& name, torch::Device device) {
  Json metadata;
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
    c10::IValue text;
    if (!archive.try_read(kMetadataKey, text) || !text.isString())
      throw UserError(name + ": not an evaluator file (write one with `trilemma evaluator train`)");
    metadata = Json::parse(text.toStringRef());
    if (metadata.value("format", "") != kEvaluatorFileFormat)
      throw UserError(name + ": evaluator format '" + metadata.value("format", "") + "' is not " + kEvaluatorFileFormat);
  } catch (const c10::Error& e) {
    throw unreadable(name, e);
  } catch (const Json::exception&) {
    throw UserError(name + ": not an evaluator file (its description is not JSON)");
  }
  Evaluator evaluator;
  try {
    ClassifierShape shape;
    shape.image_channels = metadata.at("image_channels").get<int64_t>();
    shape.image_size = metadata.at("image_size").get<int64_t>();
    shape.classes = metadata.at("classes").get<int64_t>();
    evaluator.net = MnistClassifier(shape);
    evaluator.name = metadata.at("name").get<std::string>();
    evaluator.dataset = metadata.at("dataset").at("title").get<std::string>();
    evaluator.class_names = metadata.at("dataset").at("class_names").get<std::vector<std::string>>();
    evaluator.test_accuracy = metadata.at("test_accuracy").get<double>();
    load_module_checked(*evaluator.net, archive);
  } catch (const Json::exception&) {
    throw UserError(name + ": not an evaluator file (its description lacks a field)");
  } catch (const c10::Error& e) {
    throw unreadable(name, e);
  }
  return ready(evaluator, device, crc32_of(bytes));
}

Evaluator load_evaluator_for(const data::DatasetInfo& dataset, const ClassifierShape& images, const std::string& file,
                             torch::Device device) {
  Evaluator evaluator;
  if (!file.empty()) {
    evaluator = evaluator_from_file_bytes(read_file(file), file, device);
  } else if (dataset.name == "mnist") {
    evaluator = load_evaluator(device);
  } else if (const BuiltinEvaluator* builtin = builtin_evaluator_for(dataset.name)) {
    evaluator = evaluator_from_file_bytes(builtin->bytes(), std::string("built-in ") + builtin->version, device);
    if (evaluator.crc32 != builtin->crc32)
      throw UserError(std::string("built-in ") + builtin->version + ": checksum " + crc32_hex(evaluator.crc32) +
                      ", expected " + crc32_hex(builtin->crc32) + " (corrupt)");
  } else {
    throw UserError("no evaluator for dataset " + dataset.name + ": train one with `trilemma evaluator train --dataset " +
                    dataset.name + " --out FILE` and pass --evaluator FILE");
  }
  const ClassifierShape& shape = evaluator.net->shape;
  const std::string what = (file.empty() ? evaluator.name : file);
  if (shape.image_channels != images.image_channels || shape.image_size != images.image_size)
    throw UserError(what + ": reads " + std::to_string(shape.image_channels) + "×" + std::to_string(shape.image_size) +
                    "×" + std::to_string(shape.image_size) + " images, the samples are " +
                    std::to_string(images.image_channels) + "×" + std::to_string(images.image_size) + "×" +
                    std::to_string(images.image_size));
  if (dataset.num_classes() > 0 && evaluator.class_names != dataset.class_names)
    throw UserError(what + ": tells apart the classes of " + evaluator.dataset + ", not those of " + dataset.title);
  return evaluator;
}

EvaluatorOutputs run_evaluator(Evaluator& evaluator, const torch::Tensor& images,
                               int64_t batch_size) {
  const ClassifierShape& shape = evaluator.net->shape;
  if (images.dim() != 4 || images.size(1) != shape.image_channels || images.size(2) != shape.image_size ||
      images.size(3) != shape.image_size)
    throw UserError("evaluator: expected N×" + std::to_string(shape.image_channels) + "×" +
                    std::to_string(shape.image_size) + "×" + std::to_string(shape.image_size) + " images");
  c10::InferenceMode guard;
  evaluator.net->eval();
  std::vector<torch::Tensor> features, probabilities;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const int64_t end = std::min(images.size(0), start + batch_size);
    const auto x = images.slice(0, start, end).to(evaluator.device, torch::kFloat32);
    const auto f = evaluator.net->features(x);
    features.push_back(f.cpu());
    probabilities.push_back(
        torch::softmax(evaluator.net->logits_from_features(f).to(torch::kFloat64), 1).cpu());
  }
  return {torch::cat(features), torch::cat(probabilities)};
}

}  // namespace trilemma
