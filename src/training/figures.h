#pragma once
// The one figure writer: models return Figures (grids, scatters, per-epoch histories);
// this turns them into PNG, GIF and plot files under a run's images/ directory.
#include <string>
#include <vector>

#include "data/mnist.h"
#include "models/generative_model.h"

namespace trilemma::training {

/// Writes each figure into images_dir (created): NAME.png for grids and scatters; for an
/// epoch history, this epoch's images as NAME/epoch-NNNN.npy (uint8, so that a resumed run
/// rebuilds the whole history), then NAME.png (one row per epoch so far) and NAME.gif.
void write_figures(const std::vector<Figure>& figures, const std::string& images_dir, int64_t epoch);

/// The figure inputs of a run: the first 5,000 test images and labels on `device`.
FigureInputs make_figure_inputs(const data::ImageDataset& test, torch::Device device, int64_t epoch);

/// The end-of-training figures: the model's own, the per-class grid of a conditional
/// model, and the loss curves.
void write_run_figures(GenerativeModel& model, const std::string& run_dir, const FigureInputs& inputs);

/// Draws the loss curves of a run (train terms per logged step, test loss per epoch) into
/// images/losses.png, and a GAN's discriminator outputs (d_real, d_fake) on their own axis
/// into images/discriminator.png. Returns false when gnuplot is unavailable.
bool plot_loss_curves(const std::string& run_dir);

}  // namespace trilemma::training
