#pragma once
// The contract between a model family and the rest of trilemma. The CLI, the training
// loop, the evaluator and the report only see these types, so a new family (e.g. the
// denoising diffusion GAN) plugs in by implementing GenerativeModel and listing a
// ModelFamily in registry.cpp — nothing else changes.
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace trilemma {

using Json = nlohmann::json;

/// Named loss terms of one step, e.g. {"loss", "bce", "kl"}; written to metrics.jsonl.
using LossTerms = std::map<std::string, double>;

/// How to draw samples. Fields a family does not use are ignored by it.
struct SampleOptions {
  std::string sampler;      ///< diffusion: "ddpm", "ddim" or "dpm-solver"; "" = family default
  int64_t steps = 0;        ///< diffusion: number of sampling steps; 0 = family default
  double eta = 0.0;         ///< DDIM stochasticity (0 = deterministic, 1 = DDPM-like)
  int64_t class_label = -1; ///< conditional models: the class of every image; -1 = classes
                            ///< drawn uniformly at random (unconditional models: must be -1)
  std::optional<double> guidance;  ///< classifier-free guidance weight w of conditional
                                   ///< diffusion: ε̂_u + w(ε̂_c − ε̂_u), 0 = unconditional,
                                   ///< 1 = conditional; unset = the run's default
  bool progress = false;    ///< print a progress bar over sampling steps
};

/// Where and with what a family writes its figures (PNG files under run_dir/images).
struct FigureContext {
  std::string images_dir;         ///< existing directory for PNGs
  torch::Tensor test_images;      ///< N×1×28×28 in [0,1], on the model's device
  torch::Tensor test_labels;      ///< N, int64
  int64_t epoch = 0;              ///< epochs completed so far
};

/// A trained or training generative model of 28×28 grey images in [0,1].
class GenerativeModel {
 public:
  virtual ~GenerativeModel() = default;

  /// One optimiser step on a batch (images N×1×28×28 in [0,1], labels N int64).
  /// Returns its loss terms; the one named "loss" is the objective shown in progress.
  virtual LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) = 0;

  /// Loss terms on held-out data, without gradients and in evaluation mode.
  virtual LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) = 0;

  /// n samples, N×1×28×28 in [0,1], in evaluation mode under inference mode.
  virtual torch::Tensor sample(int64_t n, const SampleOptions& options) = 0;

  /// Network evaluations per image for these options (1 for one-shot generators).
  virtual int64_t network_evaluations(const SampleOptions& options) const { return 1; }

  /// Human-readable sampler description for reports, e.g. "decoder" or "ddim-20".
  virtual std::string sampler_name(const SampleOptions& options) const { return "decoder"; }

  /// All state that a resumed run needs: weights, EMA, optimiser moments.
  virtual void save(torch::serialize::OutputArchive& archive) = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

  /// Figures written after each epoch (e.g. a GAN's fixed-noise grid). Optional.
  virtual void write_epoch_figures(const FigureContext& context) {}
  /// Figures written at the end of training and by `trilemma figures`.
  virtual void write_figures(const FigureContext& context) {}

  /// Parameter count of the sampling network(s), for reports.
  virtual int64_t parameter_count() const = 0;

  /// Number of classes a conditional model generates on request; 0 = unconditional.
  virtual int64_t num_classes() const { return 0; }
  /// Whether SampleOptions::guidance means something to this model (conditional diffusion).
  virtual bool supports_guidance() const { return false; }

  /// Family-specific facts printed by `trilemma info` and stored in reports
  /// (e.g. a diffusion schedule's alpha-bar at T). Optional.
  virtual Json info() const { return Json::object(); }
};

/// Documentation of one settings field: shown by `--help` and validated on input.
struct SettingSpec {
  std::string name;   ///< snake_case key in config.json; the flag is --kebab-case
  std::string help;
};

/// The documentation of the settings every family has (see ModelFamily), appended after a
/// family's own so that they read the same in every `train MODEL --help`.
inline std::vector<SettingSpec> with_common_settings(std::vector<SettingSpec> own) {
  own.insert(own.end(),
             {{"epochs", "passes over the 60,000 training images"},
              {"max_steps", "stop after this many optimiser steps (0 = no limit)"},
              {"batch_size", "images per optimiser step"},
              {"lr", "Adam learning rate"},
              {"seed", "random seed (same seed + threads on CPU = identical run)"},
              {"conditional", "class-conditional model: sample a digit with `sample --class K`"}});
  return own;
}

/// A model family: its presets, the documentation of its settings, and a factory.
/// Settings are JSON objects so that config.json records every hyperparameter verbatim.
/// Every family's settings hold at least: epochs, max_steps, batch_size, lr, seed and
/// conditional (runs written before conditioning existed lack the last; read it with
/// conditional_setting in models/conditioning.h).
struct ModelFamily {
  std::string name;                  ///< "vae", "dcgan", "ddpm"
  std::string summary;               ///< one line for --help
  std::vector<std::string> presets;  ///< first one is the default
  std::vector<SettingSpec> settings; ///< every field, in display order
  /// The settings of a named preset (throws UserError for an unknown name).
  std::function<Json(const std::string& preset)> preset_settings;
  /// Throws UserError with a one-line message when a combination of values is invalid.
  std::function<void(const Json& settings)> validate;
  std::function<std::unique_ptr<GenerativeModel>(const Json& settings, torch::Device device)>
      create;
};

}  // namespace trilemma
