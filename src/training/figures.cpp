#include "training/figures.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/gif.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/plot.h"
#include "models/conditioning.h"
#include "training/run_dir.h"

namespace trilemma::training {
namespace fs = std::filesystem;
namespace {

// An epoch history: this epoch's images kept as .npy beside the earlier epochs', then the
// stacked rows (the first `columns` images of each epoch) and an animation of the epochs.
void write_epoch_history(const Figure& figure, const fs::path& dir, int64_t epoch) {
  const fs::path history = dir / figure.name;
  fs::create_directories(history);
  char name[32];
  std::snprintf(name, sizeof name, "epoch-%04lld.npy", static_cast<long long>(epoch));
  io::save_npy(io::to_uint8(figure.images), (history / name).string());

  std::vector<fs::path> epochs;
  for (const auto& entry : fs::directory_iterator(history))
    if (entry.path().extension() == ".npy") epochs.push_back(entry.path());
  std::sort(epochs.begin(), epochs.end());
  // Frames of at most 8 columns stay legible in a GIF viewer's default size.
  constexpr int64_t kFrameColumns = 8;
  constexpr int kFrameDelayCs = 60;
  std::vector<torch::Tensor> rows, frames;
  for (const fs::path& path : epochs) {
    const torch::Tensor images = io::load_npy(path.string()).to(torch::kFloat32).div(255).unsqueeze(1);
    rows.push_back(images.narrow(0, 0, std::min<int64_t>(figure.columns, images.size(0))));
    frames.push_back(io::make_grid(images, kFrameColumns));
  }
  io::save_image_grid(torch::cat(rows), (dir / (figure.name + ".png")).string(), figure.columns, figure.scale);
  io::save_gif(frames, (dir / (figure.name + ".gif")).string(), kFrameDelayCs);
}

}  // namespace

void write_figures(const std::vector<Figure>& figures, const std::string& images_dir, int64_t epoch) {
  const fs::path dir = images_dir;
  fs::create_directories(dir);
  for (const Figure& figure : figures) {
    const std::string png = (dir / (figure.name + ".png")).string();
    switch (figure.kind) {
      case Figure::Kind::kGrid:
        io::save_png(io::make_grid(figure.images, figure.columns, figure.padding), png, figure.scale);
        break;
      case Figure::Kind::kScatter: {
        std::vector<io::Series> series;
        for (const FigureSeries& s : figure.series) series.push_back({s.name, s.x, s.y});
        io::plot_scatter(series, {figure.title, figure.x_label, figure.y_label, false, figure.width, figure.height},
                         png);
        break;
      }
      case Figure::Kind::kEpochHistory:
        write_epoch_history(figure, dir, epoch);
        break;
    }
  }
}

FigureInputs make_figure_inputs(const data::ImageDataset& test, torch::Device device, int64_t epoch) {
  // 5,000 test images are plenty for reconstructions and latent scatters.
  const int64_t shown = std::min<int64_t>(5000, test.size());
  return {test.images.narrow(0, 0, shown).to(device), test.labels.narrow(0, 0, shown).to(device), epoch};
}

void write_run_figures(GenerativeModel& model, const std::string& run_dir, const FigureInputs& inputs) {
  std::vector<Figure> figures = model.figures(inputs);
  if (model.num_classes() > 0) {
    // Every conditional family gets the same figure: row k holds ten samples of class k.
    torch::manual_seed(0);
    figures.push_back(Figure::grid("samples_by_class", sample_by_class(model, 10, {}), 10));
  }
  write_figures(figures, images_dir(run_dir), inputs.epoch);
  plot_loss_curves(run_dir);
}

bool plot_loss_curves(const std::string& run_dir) {
  std::ifstream in(metrics_path(run_dir));
  std::map<std::string, io::Series> train, test;
  std::string line;
  while (std::getline(in, line)) {
    Json json;
    try {
      json = Json::parse(line);
    } catch (const Json::exception&) {
      continue;
    }
    const bool is_test = json.value("phase", "") == "test";
    if (!json.contains("step")) continue;
    const double step = json["step"].get<double>();
    for (const auto& [key, value] : json.items()) {
      if (!value.is_number() || key == "step" || key == "epoch" || key == "images_per_s" ||
          key == "seconds")
        continue;
      auto& series = (is_test ? test : train)[key];
      series.name = (is_test ? "test " : "train ") + key;
      series.x.push_back(step);
      series.y.push_back(value.get<double>());
    }
  }
  // A GAN's discriminator outputs (probabilities, "d_real" and "d_fake") get their own
  // axis: beside losses of 1-5 they would be flat lines near the bottom.
  auto is_discriminator_output = [](const std::string& key) { return key == "d_real" || key == "d_fake"; };
  std::vector<io::Series> losses, outputs;
  for (auto* phase : {&train, &test})
    for (auto& [key, s] : *phase) (is_discriminator_output(key) ? outputs : losses).push_back(s);
  if (losses.empty()) return false;
  fs::create_directories(images_dir(run_dir));
  const fs::path dir = images_dir(run_dir);
  bool ok = io::plot_lines(losses, {"Losses", "optimiser step", "loss", false, 900, 500}, (dir / "losses.png").string());
  if (!outputs.empty())
    ok = io::plot_lines(outputs, {"Discriminator's mean output: real and generated images", "optimiser step",
                                  "D (probability of real)", false, 900, 400},
                        (dir / "discriminator.png").string()) && ok;
  return ok;
}

}  // namespace trilemma::training
