#include "models/classifier.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "training/checkpoint.h"

namespace trilemma {
namespace fs = std::filesystem;
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
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const auto padded = torch::constant_pad_nd(images, {s, s, s, s}, 0.0);
  const auto opts = torch::TensorOptions().dtype(torch::kInt64).device(images.device());
  const auto dy = torch::randint(0, 2 * s + 1, {n, 1, 1}, opts);
  const auto dx = torch::randint(0, 2 * s + 1, {n, 1, 1}, opts);
  const auto rows = dy + torch::arange(h, opts).view({1, h, 1});
  const auto cols = dx + torch::arange(w, opts).view({1, 1, w});
  const auto batch = torch::arange(n, opts).view({n, 1, 1});
  return padded.select(1, 0).index({batch, rows, cols}).unsqueeze(1);
}

/// An exclusive lock on <data_dir>/evaluator-v1.lock for the object's lifetime, so that
/// concurrent processes (e.g. tests run in parallel) train the evaluator once. Without a
/// writable directory there is nothing to save either, and no lock is taken.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~DirectoryLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

/// Loads the cached evaluator, or returns the reason it cannot be used.
std::string try_load(const std::string& data_dir, Evaluator& evaluator) {
  const std::string pt = evaluator_path(data_dir), manifest_path = evaluator_manifest_path(data_dir);
  if (!fs::exists(pt) || !fs::exists(manifest_path)) return "not found";
  Json manifest;
  try {
    manifest = Json::parse(read_file(manifest_path));
    if (manifest.at("version").get<std::string>() != kEvaluatorVersion) return "other version";
    if (manifest.at("feature_dim").get<int64_t>() != kClassifierFeatureDim)
      return "other feature dimension";
    const std::string bytes = read_file(pt);
    if (static_cast<int64_t>(bytes.size()) != manifest.at("bytes").get<int64_t>())
      return "size mismatch (truncated?)";
    const uint32_t crc = crc32_of(bytes);
    if (crc != manifest.at("crc32").get<uint32_t>()) return "checksum mismatch (corrupt)";
    MnistClassifier net;
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
    training::load_module_checked(*net, archive);
    net->to(evaluator.device);
    net->eval();
    evaluator.net = net;
    evaluator.path = pt;
    evaluator.crc32 = crc;
    evaluator.test_accuracy = manifest.at("test_accuracy").get<double>();
    evaluator.train_seconds = manifest.value("train_seconds", 0.0);
    return "";
  } catch (const std::exception& e) {
    std::string what = e.what();
    return "unreadable (" + what.substr(0, what.find('\n')) + ")";
  }
}

}  // namespace

MnistClassifierImpl::MnistClassifierImpl() {
  // Strided convolutions instead of full-resolution convs + max-pooling: on these CPUs a
  // 3×3 conv with one input channel at 28×28 and the pooling backward cost more than the
  // rest of the network together (measured: ~4× the step time), for no accuracy gain.
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 5)
                                                         .stride(2).padding(2).bias(false)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(32));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)
                                                         .stride(2).padding(1).bias(false)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(64));
  conv3 = register_module("conv3", conv3x3(64, 64));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(64));
  dense = register_module(
      "dense", torch::nn::Linear(torch::nn::LinearOptions(64 * 7 * 7, kClassifierFeatureDim).bias(false)));
  bn_dense = register_module("bn_dense", torch::nn::BatchNorm1d(kClassifierFeatureDim));
  dropout = register_module("dropout", torch::nn::Dropout(0.3));
  out = register_module("out", torch::nn::Linear(kClassifierFeatureDim, 10));
}

torch::Tensor MnistClassifierImpl::features(const torch::Tensor& images) {
  auto x = (images - kPixelMean) / kPixelStd;
  x = torch::relu(bn1(conv1(x)));  // 28 → 14
  x = torch::relu(bn2(conv2(x)));  // 14 → 7
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
  result.threads = torch::get_num_threads();
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
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string evaluator_path(const std::string& data_dir) {
  return (fs::path(data_dir) / (std::string(kEvaluatorVersion) + ".pt")).string();
}

std::string evaluator_manifest_path(const std::string& data_dir) {
  return (fs::path(data_dir) / (std::string(kEvaluatorVersion) + ".json")).string();
}

std::string Evaluator::describe() const {
  std::ostringstream s;
  s << kEvaluatorVersion << " (MNIST CNN, " << kClassifierFeatureDim
    << "-d penultimate ReLU features, test accuracy " << std::fixed << std::setprecision(2)
    << 100.0 * test_accuracy << " %, crc32 " << std::hex << std::setw(8) << std::setfill('0')
    << crc32 << ")";
  return s.str();
}

Evaluator load_or_train_evaluator(const std::string& data_dir, torch::Device device,
                                  std::ostream& log) {
  Evaluator evaluator;
  evaluator.device = device;
  DirectoryLock lock((fs::path(data_dir) / (std::string(kEvaluatorVersion) + ".lock")).string());
  const std::string reason = try_load(data_dir, evaluator);
  if (reason.empty()) return evaluator;

  log << "evaluator " << evaluator_path(data_dir) << ": " << reason
      << "; training it (once, a few minutes)" << std::endl;
  const auto train = data::load_mnist(data_dir, data::Split::kTrain);
  const auto test = data::load_mnist(data_dir, data::Split::kTest);
  MnistClassifier net;
  const ClassifierSettings settings;
  const auto result = train_classifier(net, train, test, settings, device, log);
  log << "evaluator trained in " << std::fixed << std::setprecision(1) << result.seconds
      << " s on " << result.threads << " threads: test accuracy " << std::setprecision(2)
      << 100.0 * result.test_accuracy << " %" << std::defaultfloat << std::setprecision(6)
      << std::endl;

  net->to(torch::kCPU);
  torch::serialize::OutputArchive archive;
  net->save(archive);
  std::ostringstream stream;
  archive.save_to(stream);
  const std::string bytes = stream.str();
  net->to(device);
  evaluator.net = net;
  evaluator.path = evaluator_path(data_dir);
  evaluator.crc32 = crc32_of(bytes);
  evaluator.test_accuracy = result.test_accuracy;
  evaluator.train_seconds = result.seconds;
  evaluator.trained_now = true;
  const Json manifest = {{"version", kEvaluatorVersion},
                         {"feature_dim", kClassifierFeatureDim},
                         {"bytes", static_cast<int64_t>(bytes.size())},
                         {"crc32", evaluator.crc32},
                         {"test_accuracy", result.test_accuracy},
                         {"train_seconds", result.seconds},
                         {"threads", result.threads},
                         {"epochs", settings.epochs},
                         {"seed", settings.seed},
                         {"torch_version", torch_version()}};
  try {
    // The weights first, the manifest last: a crash in between leaves no valid manifest
    // for the new weights, so the next run retrains rather than trusting them.
    write_file_atomic(evaluator.path, bytes);
    write_file_atomic(evaluator_manifest_path(data_dir), manifest.dump(2) + "\n");
  } catch (const UserError& e) {
    log << "warning: could not cache the evaluator: " << e.what() << std::endl;
  }
  return evaluator;
}

EvaluatorOutputs run_evaluator(Evaluator& evaluator, const torch::Tensor& images,
                               int64_t batch_size) {
  if (images.dim() != 4 || images.size(1) != 1 || images.size(2) != 28 || images.size(3) != 28)
    throw UserError("evaluator: expected N×1×28×28 images");
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
