// trilemma evaluator train --dataset D --out FILE [--epochs 5] [--image-size S] [--image-channels C]
// Trains the evaluator network (the classifier whose features every metric uses) on a
// dataset with the built-in evaluator's recipe, and writes it as a file that `eval` and
// `compare` take with --evaluator (models/classifier.h).
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "models/classifier.h"

namespace trilemma::cli {
namespace fs = std::filesystem;

void add_evaluator_command(CLI::App& app, Context& context) {
  CLI::App* sub = app.add_subcommand("evaluator", "train the evaluator network for a dataset");
  sub->require_subcommand(1);
  CLI::App* train = sub->add_subcommand(
      "train", "train an evaluator (classifier whose 128-d features the metrics use) and write it to --out");
  train->fallthrough();
  struct Flags {
    std::string dataset, out;
    int64_t image_size = 0, image_channels = 0;
    ClassifierSettings recipe;
  };
  auto flags = std::make_shared<Flags>();
  train->add_option("--dataset", flags->dataset,
                    "a labelled dataset: " + data::dataset_names() + ", an IDX directory or a folder of images")
      ->required();
  train->add_option("--out", flags->out, "the evaluator file to write (refuses to overwrite)")->required();
  train->add_option("--epochs", flags->recipe.epochs, "passes over the training images")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  train->add_option("--seed", flags->recipe.seed, "random seed")->check(CLI::NonNegativeNumber)->capture_default_str();
  train->add_option("--image-size", flags->image_size,
                    "side of the images it reads (default: the dataset's); the models it measures must match")
      ->check(CLI::Range(int64_t{8}, int64_t{128}));
  train->add_option("--image-channels", flags->image_channels, "1 grey or 3 RGB (default: the dataset's)")
      ->check(CLI::IsMember({int64_t{1}, int64_t{3}}));
  train->callback([&context, flags]() {
    if (fs::exists(flags->out)) throw UserError(flags->out + ": exists; choose another --out or remove it");
    apply_runtime(context);
    const torch::Device device = resolve_device(context.device);
    data::DatasetSpec spec;
    spec.name = flags->dataset;
    spec.mnist_dir = context.data_dir;
    spec.format = {flags->image_size, flags->image_channels};
    const data::DatasetInfo info = data::describe_dataset(spec);
    if (info.num_classes() < 2)
      throw UserError("--dataset: " + info.title + " has " + std::to_string(info.num_classes()) +
                      " classes; an evaluator is a classifier and needs labelled images of at least 2");
    spec.format = data::resolved_format(spec, info);
    if (spec.format.size % 4 != 0)
      throw UserError("--image-size: the evaluator halves it twice: give a multiple of 4 (the data are " +
                      std::to_string(spec.format.size) + " pixels)");
    const data::ImageDataset train_split = data::load_split(spec, data::Split::kTrain);
    const data::ImageDataset test_split = data::load_split(spec, data::Split::kTest);
    std::cout << "training an evaluator on " << info.title << " (" << train_split.size() << " training, "
              << test_split.size() << " test images, " << info.num_classes() << " classes, " << spec.format.channels
              << "x" << spec.format.size << "x" << spec.format.size << ")\n";
    torch::manual_seed(flags->recipe.seed);
    MnistClassifier net(ClassifierShape{spec.format.channels, spec.format.size, info.num_classes()});
    const ClassifierTrainResult result = train_classifier(net, train_split, test_split, flags->recipe, device, std::cout);
    const std::string name = fs::path(flags->out).stem().string();
    const std::string bytes = evaluator_file_bytes(net, name, info, result.test_accuracy, flags->recipe);
    write_file_atomic(flags->out, bytes);
    std::cout << "evaluator: " << flags->out << " (" << name << ", test accuracy " << std::fixed << std::setprecision(2)
              << 100.0 * result.test_accuracy << " %, crc32 " << crc32_hex(crc32_of(bytes)) << ", " << bytes.size()
              << " bytes)\n";
  });
}

}  // namespace trilemma::cli
