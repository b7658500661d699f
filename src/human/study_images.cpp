#include "human/study_images.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "data/mnist.h"
#include "io/image.h"
#include "models/classifier.h"
#include "training/run_dir.h"
#include "training/zoo.h"

namespace trilemma::human {
namespace fs = std::filesystem;

namespace {

// How the study and `compare --hype` name a run: zoo:NAME, or its folder's name (made unique).
std::string model_name(const std::string& run, std::set<std::string>& taken) {
  std::string name = training::is_zoo_name(run) ? run : fs::path(run).lexically_normal().filename().string();
  if (name.empty()) name = run;
  std::string unique = name;
  for (int k = 2; taken.count(unique) > 0; ++k) unique = name + " #" + std::to_string(k);
  taken.insert(unique);
  return unique;
}

torch::Tensor draw(GenerativeModel& model, int64_t n) {
  std::vector<torch::Tensor> parts;
  for (int64_t done = 0; done < n; done += 256)
    parts.push_back(model.sample(std::min<int64_t>(256, n - done), SampleOptions{}).to(torch::kCPU));
  return torch::cat(parts);
}

}  // namespace

StudyDraft draft_study(const std::vector<std::string>& runs, int64_t fakes_per_model, int64_t reals,
                       const StudySettings& settings, torch::Device device, const std::string& data_dir,
                       std::ostream& log) {
  if (runs.empty()) throw UserError("a new study needs at least one run");
  if (fakes_per_model < 1 || reals < 1) throw UserError("a study needs at least one real and one generated image");
  // The real images first: a missing MNIST is found before any sampling.
  const data::ImageDataset test = data::load_mnist(data_dir, data::Split::kTest);
  if (reals > test.size())
    throw UserError("--reals " + std::to_string(reals) + ": the test set holds only " + std::to_string(test.size()));
  StudyDraft draft;
  draft.settings = settings;
  Evaluator evaluator = load_evaluator(device);
  draft.settings.evaluator = evaluator.describe();
  std::set<std::string> names;
  for (size_t m = 0; m < runs.size(); ++m) {
    training::LoadedRun run = training::load_run(runs[m], device);
    // A study's real images are MNIST's (its page and scoring know no other dataset yet).
    if (run.config.dataset.value("name", std::string("mnist")) != "mnist")
      throw UserError(runs[m] + ": learnt " + run.config.dataset.value("name", std::string()) +
                      "; a human study compares MNIST models only, for now");
    StudyModel model;
    model.name = model_name(runs[m], names);
    model.run = fs::weakly_canonical(training::run_folder(runs[m])).string();
    model.family = run.config.model;
    model.sampler = run.model->sampler_name(SampleOptions{});
    model.step = run.step;
    model.checkpoint_crc32 = run.checkpoint_crc32;
    log << "drawing " << fakes_per_model << " images from " << model.name << " (" << model.family << ", "
        << model.sampler << ", step " << model.step << ")\n";
    torch::manual_seed(static_cast<uint64_t>(settings.seed) + m);
    const torch::Tensor images = draw(*run.model, fakes_per_model);
    const torch::Tensor classes = run_evaluator(evaluator, images).probabilities.argmax(1);
    for (int64_t k = 0; k < fakes_per_model; ++k)
      draft.images.push_back({io::encode_png(images[k]), static_cast<int>(m), classes[k].item<int64_t>(), k});
    draft.models.push_back(model);
  }
  torch::Generator generator = at::detail::createCPUGenerator(settings.seed);
  const torch::Tensor picked = torch::randperm(test.size(), generator, torch::kLong).narrow(0, 0, reals);
  for (int64_t k = 0; k < reals; ++k) {
    const int64_t index = picked[k].item<int64_t>();
    draft.images.push_back({io::encode_png(test.images[index]), -1, test.labels[index].item<int64_t>(), index});
  }
  draft.settings.data = fs::weakly_canonical(data_dir).string() + " (test split)";
  log << "picked " << reals << " real images from the MNIST test set\n";
  return draft;
}

}  // namespace trilemma::human
