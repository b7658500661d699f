#include "data/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "data/idx.h"
#include "io/image_file.h"

namespace trilemma::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// A dataset known by name: where its IDX files are and what its classes are called.
struct NamedDataset {
  std::string name, title;
  std::function<std::string(const DatasetSpec&)> directory;
  std::string missing_hint;  ///< appended to "missing" errors
  int64_t image_size;        ///< what its files must hold
  std::vector<std::string> class_names;
};

std::vector<std::string> numbered_classes(int64_t count) {
  std::vector<std::string> names;
  for (int64_t k = 0; k < count; ++k) names.push_back(std::to_string(k));
  return names;
}

const std::vector<NamedDataset>& named_datasets() {
  // The one place that lists the named datasets: add a new one here.
  static const std::vector<NamedDataset> table = {
      {"mnist", "MNIST", [](const DatasetSpec& spec) { return resolve_data_dir(spec.mnist_dir); },
       "run `./run data` to fetch MNIST, or pass --data-dir", 28, numbered_classes(10)},
      {"fashion-mnist", "Fashion-MNIST", [](const DatasetSpec&) { return std::string("/usr/share/datasets/fashion-mnist"); },
       "install Debian's dataset-fashion-mnist (`./run build` does)", 28,
       {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
  };
  return table;
}

const NamedDataset* find_named(const std::string& name) {
  for (const NamedDataset& d : named_datasets())
    if (d.name == name) return &d;
  return nullptr;
}

// Accepts both the plain IDX file and the gzip-compressed one most mirrors ship.
std::string find_idx_file(const std::string& dir, const std::string& stem, const std::string& hint) {
  for (const std::string& candidate : {stem, stem + ".gz"}) {
    const fs::path path = fs::path(dir) / candidate;
    if (fs::exists(path)) return path.string();
  }
  throw UserError((fs::path(dir) / stem).string() + ": missing (" + hint + ")");
}

std::string split_prefix(Split split) { return split == Split::kTrain ? "train" : "t10k"; }

bool is_idx_directory(const std::string& dir) {
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"})
    if (fs::exists(fs::path(dir) / name)) return true;
  return false;
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// ---- an IDX directory ----

// Class names of an IDX directory: classes.txt (one per line) when present, else 0..K-1
// with K one more than the largest training label.
std::vector<std::string> idx_class_names(const std::string& dir, const torch::Tensor& train_labels) {
  const fs::path names_file = fs::path(dir) / "classes.txt";
  if (fs::exists(names_file)) {
    std::vector<std::string> names;
    std::ifstream in(names_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) names.push_back(line);
    if (names.empty()) throw UserError(names_file.string() + ": names no class");
    return names;
  }
  return numbered_classes(train_labels.max().item<int64_t>() + 1);
}

// ---- a folder of images ----

struct ImageFolder {
  std::vector<std::string> class_names;          ///< empty: unlabelled
  std::vector<std::pair<fs::path, int64_t>> train, test;  ///< file and label (0 unlabelled)
};

std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir))
    if (directories ? entry.is_directory() : entry.is_regular_file() && is_image_file(entry.path()))
      entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

// FNV-1a of the file name: the held-out split depends on nothing but the names, so adding
// images to one class moves no other image between the splits.
uint64_t name_hash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Files of one root: per class sub-directory (sorted names), or the images at the top.
std::vector<std::vector<fs::path>> class_files(const fs::path& root, std::vector<std::string>& names) {
  const std::vector<fs::path> classes = sorted_entries(root, true);
  const std::vector<fs::path> loose = sorted_entries(root, false);
  std::vector<std::vector<fs::path>> files;
  names.clear();
  if (classes.empty()) {
    if (loose.empty()) throw UserError(root.string() + ": holds no images (.png, .jpg, .jpeg, .bmp)");
    files.push_back(loose);
    return files;
  }
  if (!loose.empty())
    throw UserError(loose.front().string() + ": an image beside class folders (put every image in its class's folder)");
  for (const fs::path& dir : classes) {
    files.push_back(sorted_entries(dir, false));
    if (files.back().empty()) throw UserError(dir.string() + ": an empty class (no .png, .jpg, .jpeg or .bmp images)");
    names.push_back(dir.filename().string());
  }
  return files;
}

ImageFolder scan_image_folder(const std::string& dir) {
  ImageFolder folder;
  const fs::path root(dir);
  const bool split = fs::is_directory(root / "train");
  std::vector<std::string> names;
  const auto train = class_files(split ? root / "train" : root, folder.class_names);
  for (size_t k = 0; k < train.size(); ++k) {
    std::vector<fs::path> files = train[k];
    if (!split) {
      // No test folder: a tenth of each class (at least one image of two) is held out,
      // the names with the smallest hashes.
      std::stable_sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return name_hash(a.filename().string()) < name_hash(b.filename().string());
      });
      const size_t held_out = files.size() < 2 ? 0 : std::max<size_t>(1, files.size() / 10);
      for (size_t i = 0; i < files.size(); ++i)
        (i < held_out ? folder.test : folder.train).emplace_back(files[i], static_cast<int64_t>(k));
    } else {
      for (const fs::path& file : files) folder.train.emplace_back(file, static_cast<int64_t>(k));
    }
  }
  if (split) {
    if (!fs::is_directory(root / "test"))
      throw UserError((root / "test").string() + ": missing (a folder with train/ needs test/ beside it)");
    const auto test = class_files(root / "test", names);
    if (names != folder.class_names)
      throw UserError((root / "test").string() + ": its class folders differ from train/'s");
    for (size_t k = 0; k < test.size(); ++k)
      for (const fs::path& file : test[k]) folder.test.emplace_back(file, static_cast<int64_t>(k));
  }
  if (folder.test.empty())
    throw UserError(dir + ": too few images to hold any out for testing (add a test/ folder or more images)");
  return folder;
}

ImageDataset load_image_files(const std::vector<std::pair<fs::path, int64_t>>& files, const ImageFormat& format) {
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  io::ImageFileHeader first;
  std::string first_name;
  for (const auto& [path, label] : files) {
    torch::Tensor image = io::read_image_file(path.string());
    if (format.size == 0) {
      // Without --image-size every image must already be the same square.
      if (image.size(1) != image.size(2))
        throw UserError(path.string() + ": " + std::to_string(image.size(2)) + "x" + std::to_string(image.size(1)) +
                        " is not square (give --image-size to crop and resize)");
      if (first_name.empty()) {
        first = {image.size(2), image.size(1), image.size(0)};
        first_name = path.string();
      } else if (image.size(1) != first.height) {
        throw UserError(path.string() + ": " + std::to_string(image.size(2)) + "x" + std::to_string(image.size(1)) +
                        ", but " + first_name + " is " + std::to_string(first.width) + "x" +
                        std::to_string(first.height) + " (mixed sizes: give --image-size)");
      }
    }
    images.push_back(reshape_images(image.unsqueeze(0), format));
    labels.push_back(label);
  }
  ImageDataset dataset;
  dataset.images = torch::cat(images);
  dataset.labels = torch::tensor(labels, torch::kInt64);
  return dataset;
}

void check_labels(const ImageDataset& dataset, int64_t classes, const std::string& labels_file) {
  const int64_t largest = dataset.labels.max().item<int64_t>();
  if (largest >= classes)
    throw UserError(labels_file + ": label " + std::to_string(largest) + " beyond the " + std::to_string(classes) +
                    " classes declared");
}

}  // namespace

json DatasetInfo::to_json() const {
  return {{"name", name},         {"title", title},           {"kind", kind},
          {"directory", directory}, {"image_size", image_size}, {"image_channels", image_channels},
          {"class_names", class_names}, {"train_images", train_images}, {"test_images", test_images}};
}

DatasetSpec DatasetSpec::of_run(const json& record, const json& settings, const std::string& mnist_dir) {
  DatasetSpec spec;
  spec.mnist_dir = mnist_dir;
  if (record.is_object() && record.contains("name")) spec.name = record.at("name").get<std::string>();
  spec.format.size = settings.value("image_size", int64_t{28});
  spec.format.channels = settings.value("image_channels", int64_t{1});
  return spec;
}

ImageFormat resolved_format(const DatasetSpec& spec) {
  if (const NamedDataset* named = find_named(spec.name)) {
    ImageFormat format = spec.format;
    if (format.size == 0) format.size = named->image_size;
    if (format.channels == 0) format.channels = 1;
    return format;
  }
  return resolved_format(spec, describe_dataset(spec));
}

ImageFormat resolved_format(const DatasetSpec& spec, const DatasetInfo& info) {
  ImageFormat format = spec.format;
  if (format.channels == 0) format.channels = info.image_channels;
  if (format.size == 0) format.size = info.image_size;
  if (format.size == 0)
    throw UserError(!info.size_problem.empty()
                        ? info.size_problem
                        : info.directory + ": images of several sizes or not square (give --image-size to crop and resize)");
  return format;
}

std::string dataset_names() {
  std::string names;
  for (const NamedDataset& d : named_datasets()) names += (names.empty() ? "" : ", ") + d.name;
  return names;
}

DatasetInfo describe_dataset(const DatasetSpec& spec) {
  DatasetInfo info;
  info.name = spec.name;
  if (const NamedDataset* named = find_named(spec.name)) {
    info.title = named->title;
    info.kind = "idx";
    info.directory = named->directory(spec);
    // The training split is read whole, so that a malformed file is named before anything
    // starts; the test split's header is enough for its count.
    DatasetSpec stored = spec;
    stored.format = {};
    const ImageDataset train = load_split(stored, Split::kTrain);
    const IdxArray test = read_idx(find_idx_file(info.directory, "t10k-images-idx3-ubyte", named->missing_hint), 3);
    info.image_size = named->image_size;
    info.image_channels = 1;
    info.class_names = named->class_names;
    info.train_images = train.size();
    info.test_images = test.dims[0];
    return info;
  }
  if (!fs::is_directory(spec.name))
    throw UserError("--dataset: '" + spec.name + "' is neither a named dataset (" + dataset_names() +
                    ") nor a directory");
  info.directory = spec.name;
  info.title = fs::path(spec.name).lexically_normal().filename().string();
  if (info.title.empty()) info.title = fs::path(spec.name).lexically_normal().parent_path().filename().string();
  if (is_idx_directory(spec.name)) {
    info.kind = "idx";
    DatasetSpec stored = spec;
    stored.format = {};
    const ImageDataset train = load_split(stored, Split::kTrain);
    info.image_size = train.images.size(2) == train.images.size(3) ? train.images.size(2) : 0;
    info.image_channels = 1;
    info.class_names = idx_class_names(spec.name, train.labels);
    info.train_images = train.size();
    info.test_images = load_split(stored, Split::kTest).size();
    return info;
  }
  info.kind = "images";
  const ImageFolder folder = scan_image_folder(spec.name);
  info.class_names = folder.class_names;
  info.train_images = static_cast<int64_t>(folder.train.size());
  info.test_images = static_cast<int64_t>(folder.test.size());
  // Stored shape from the headers: one square size, or 0 when they differ; colour when any is.
  info.image_channels = 1;
  const std::string first_name = folder.train.front().first.string();
  const io::ImageFileHeader first = io::read_image_header(first_name);
  const auto size_text = [](const io::ImageFileHeader& h) {
    return std::to_string(h.width) + "x" + std::to_string(h.height);
  };
  if (first.width != first.height)
    info.size_problem = first_name + ": " + size_text(first) + " is not square (give --image-size to crop and resize)";
  for (const auto* files : {&folder.train, &folder.test})
    for (const auto& entry : *files) {
      const io::ImageFileHeader header = io::read_image_header(entry.first.string());
      if (info.size_problem.empty() && (header.width != first.width || header.height != first.height))
        info.size_problem = entry.first.string() + ": " + size_text(header) + ", but " + first_name + " is " +
                            size_text(first) + " (mixed sizes: give --image-size)";
      info.image_channels = std::max(info.image_channels, header.channels);
    }
  info.image_size = info.size_problem.empty() ? first.width : 0;
  return info;
}

ImageDataset load_split(const DatasetSpec& spec, Split split) {
  const ImageFormat& format = spec.format;
  const NamedDataset* named = find_named(spec.name);
  if (named || is_idx_directory(spec.name)) {
    const std::string dir = named ? named->directory(spec) : spec.name;
    const std::string hint = named ? named->missing_hint : "an IDX dataset directory needs train and t10k files";
    const std::string images_file = find_idx_file(dir, split_prefix(split) + "-images-idx3-ubyte", hint);
    const std::string labels_file = find_idx_file(dir, split_prefix(split) + "-labels-idx1-ubyte", hint);
    ImageDataset dataset = load_idx_pair(images_file, labels_file);
    if (named && (dataset.images.size(2) != named->image_size || dataset.images.size(3) != named->image_size))
      throw UserError(images_file + ": expected " +
                      std::to_string(named->image_size) + "x" + std::to_string(named->image_size) + " images, found " +
                      std::to_string(dataset.images.size(2)) + "x" + std::to_string(dataset.images.size(3)));
    if (named) check_labels(dataset, static_cast<int64_t>(named->class_names.size()), labels_file);
    if (!named) {
      // Labels must be classes the directory declares (classes.txt) or the training split
      // has; the test split reads only the training labels for that, not its images.
      torch::Tensor train_labels = dataset.labels;
      if (split == Split::kTest) {
        const IdxArray labels = read_idx(find_idx_file(dir, "train-labels-idx1-ubyte", hint), 1);
        train_labels = torch::tensor(std::vector<int64_t>(labels.values.begin(), labels.values.end()), torch::kInt64);
      }
      check_labels(dataset, static_cast<int64_t>(idx_class_names(dir, train_labels).size()), labels_file);
    }
    dataset.images = reshape_images(dataset.images, format);
    return dataset;
  }
  if (!fs::is_directory(spec.name))
    throw UserError("--dataset: '" + spec.name + "' is neither a named dataset (" + dataset_names() +
                    ") nor a directory");
  const ImageFolder folder = scan_image_folder(spec.name);
  ImageFormat shaped = format;
  if (shaped.channels == 0) {
    int64_t channels = 1;
    for (const auto* files : {&folder.train, &folder.test})
      for (const auto& entry : *files) channels = std::max(channels, io::read_image_header(entry.first.string()).channels);
    shaped.channels = channels;
  }
  return load_image_files(split == Split::kTrain ? folder.train : folder.test, shaped);
}

torch::Tensor reshape_images(const torch::Tensor& images, const ImageFormat& format) {
  torch::Tensor x = images;
  if (format.size > 0 && (x.size(2) != format.size || x.size(3) != format.size)) {
    const int64_t side = std::min(x.size(2), x.size(3));
    x = x.narrow(2, (x.size(2) - side) / 2, side).narrow(3, (x.size(3) - side) / 2, side);
    namespace F = torch::nn::functional;
    const auto size = std::vector<int64_t>{format.size, format.size};
    x = side > format.size
            ? F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kArea))
            : F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false));
    x = x.clamp(0.0, 1.0);
  }
  if (format.channels == 3 && x.size(1) == 1) x = x.expand({-1, 3, -1, -1}).contiguous();
  if (format.channels == 1 && x.size(1) == 3) {
    // ITU-R BT.601 luma, as most image libraries convert colour to grey.
    const auto weights = torch::tensor({0.299f, 0.587f, 0.114f}).view({1, 3, 1, 1});
    x = (x * weights).sum(1, /*keepdim=*/true);
  }
  return x;
}

std::string dataset_cache_dir(const DatasetSpec& spec) {
  if (spec.name == "mnist") return resolve_data_dir(spec.mnist_dir);
  std::string base;
  if (const char* dir = std::getenv("TRILEMMA_CACHE_DIR"); dir && *dir) {
    base = dir;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    base = (fs::path(xdg) / "trilemma").string();
  } else {
    const char* home = std::getenv("HOME");
    base = (fs::path(home && *home ? home : "/tmp") / ".cache" / "trilemma").string();
  }
  // A directory dataset's cache is named after its absolute path, so that two folders
  // called "data" do not share one.
  std::string key = find_named(spec.name) ? spec.name : fs::weakly_canonical(spec.name).string();
  for (char& c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  const fs::path dir = fs::path(base) / key;
  std::error_code ignored;
  fs::create_directories(dir, ignored);
  return dir.string();
}

}  // namespace trilemma::data
