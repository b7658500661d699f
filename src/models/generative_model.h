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
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/precision.h"
#include "core/settings_table.h"

namespace trilemma {

using Json = nlohmann::json;

/// Named loss terms of one step, e.g. {"loss", "bce", "kl"}; written to metrics.jsonl.
using LossTerms = std::map<std::string, double>;

/// Reports sampling progress: `label` names the pass (e.g. "sampling ddim 2/40"), `done`
/// of `total` steps are finished. The CLI draws a progress bar with it; models only call it.
using SamplingProgress = std::function<void(const std::string& label, int64_t done, int64_t total)>;

/// How to draw samples. A family uses the fields it declares in sampling_options(); the
/// CLI refuses a flag for a field the run's family does not use.
struct SampleOptions {
  std::string sampler;      ///< diffusion: "ddpm", "ddim" or "dpm-solver"; "" = family default
  int64_t steps = 0;        ///< diffusion: number of sampling steps; 0 = family default
  std::optional<double> eta;  ///< DDIM stochasticity (0 = deterministic, 1 = DDPM-like);
                              ///< unset = the run's default
  int64_t class_label = -1; ///< conditional models: the class of every image; -1 = classes
                            ///< drawn uniformly at random (unconditional models: must be -1)
  std::optional<double> guidance;  ///< classifier-free guidance weight w of conditional
                                   ///< diffusion: ε̂_u + w(ε̂_c − ε̂_u), 0 = unconditional,
                                   ///< 1 = conditional; unset = the run's default
  SamplingProgress progress;  ///< called as sampling steps finish, when set
  Precision precision = Precision::kFp32;  ///< the networks' arithmetic (core/precision.h);
                                           ///< samples are fp32 either way
};

/// What a model draws its figures from.
struct FigureInputs {
  torch::Tensor test_images;      ///< N×C×S×S in [0,1], on the model's device
  torch::Tensor test_labels;      ///< N, int64
  int64_t epoch = 0;              ///< epochs completed so far
};

/// Points of one named series (one class of a scatter plot).
struct FigureSeries {
  std::string name;
  std::vector<double> x, y;
};

/// A figure a model computes; training/figures.h writes it under the run's images/.
struct Figure {
  enum class Kind {
    kGrid,          ///< images tiled into NAME.png
    kScatter,       ///< series plotted as points into NAME.png
    kEpochHistory,  ///< this epoch's images, kept with every earlier epoch's: NAME.png
                    ///< stacks the first `columns` of each epoch as a row, NAME.gif
                    ///< animates the epochs
  };
  Kind kind = Kind::kGrid;
  std::string name;              ///< file name without its extension
  torch::Tensor images;          ///< kGrid, kEpochHistory: N×C×H×W in [0,1] (C = 1 or 3)
  int64_t columns = 0;           ///< tiles per row (0 = a square grid)
  int64_t padding = 2;           ///< pixels between tiles
  int scale = 2;                 ///< PNG pixels per image pixel
  std::vector<FigureSeries> series;      ///< kScatter
  std::string title, x_label, y_label;   ///< kScatter
  int width = 800, height = 700;         ///< kScatter: plot size in pixels

  static Figure grid(std::string name, torch::Tensor images, int64_t columns = 0, int scale = 2,
                     int64_t padding = 2) {
    Figure f;
    f.name = std::move(name);
    f.images = std::move(images);
    f.columns = columns;
    f.scale = scale;
    f.padding = padding;
    return f;
  }
};

/// A trained or training generative model of C×S×S images in [0,1], the shape its common
/// settings give (image_channels, image_size; MNIST's 1×28×28 by default). Models compute
/// and return; the training code, the CLI and the report write files.
class GenerativeModel {
 public:
  virtual ~GenerativeModel() = default;

  /// One optimiser step on a batch (images N×C×S×S in [0,1], labels N int64 in 0..K-1).
  /// Returns its loss terms; the one named "loss" is the objective shown in progress.
  virtual LossTerms train_step(const torch::Tensor& images, const torch::Tensor& labels) = 0;

  /// Loss terms on held-out data, without gradients and in evaluation mode.
  virtual LossTerms eval_loss(const torch::Tensor& images, const torch::Tensor& labels) = 0;

  /// n samples, n×C×S×S in [0,1], in evaluation mode under inference mode.
  virtual torch::Tensor sample(int64_t n, const SampleOptions& options) = 0;

  /// Network evaluations per image for these options (1 for one-shot generators).
  virtual int64_t network_evaluations(const SampleOptions& options) const { return 1; }

  /// Human-readable sampler description for reports, e.g. "decoder" or "ddim-20".
  virtual std::string sampler_name(const SampleOptions& options) const { return "decoder"; }

  /// All state that a resumed run needs: weights, EMA, optimiser moments.
  virtual void save(torch::serialize::OutputArchive& archive) = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

  /// The networks sampling needs, under their checkpoint keys: a diffusion model's EMA
  /// weights, a GAN's generator, a VAE's decoder. The model zoo ships only these; a model
  /// given only them samples and evaluates, but cannot resume training.
  virtual std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() = 0;

  /// Called before a run's first step, and again when it resumes, on every process, with
  /// the whole training split (images N×C×S×S in [0,1], labels N int64), for what a family
  /// estimates from the data before training on it (the self-conditioned DCGAN's clusters).
  /// Returns a line saying what it did, or "" when there is nothing (left) to do.
  virtual std::string start_training(const torch::Tensor& images, const torch::Tensor& labels) { return ""; }

  /// Called when training completes, after its last step and before the final checkpoint,
  /// with the whole training split (images N×C×S×S in [0,1], labels N int64), for what a
  /// family estimates from the data once trained (the VAE's latent mixture). Returns a line
  /// saying what it did, or "" when there is nothing (left) to do: a resumed complete run
  /// calls it again, and only unfinished work is done and checkpointed.
  virtual std::string finish_training(const torch::Tensor& images, const torch::Tensor& labels) { return ""; }

  /// A distilled family's student takes its starting weights from a trained teacher of
  /// ModelFamily::teacher_family (`trilemma distill`), through the teacher's
  /// sampling_networks(). Families trained from scratch have no teacher.
  virtual void start_from_teacher(GenerativeModel& teacher) {
    throw std::logic_error("this model family is not distilled from a teacher");
  }

  /// Figures drawn after each epoch (e.g. a GAN's fixed-noise grid). Optional.
  virtual std::vector<Figure> epoch_figures(const FigureInputs& inputs) { return {}; }
  /// Figures drawn at the end of training and by `trilemma figures`.
  virtual std::vector<Figure> figures(const FigureInputs& inputs) { return {}; }

  /// Parameter count of the sampling network(s), for reports.
  virtual int64_t parameter_count() const = 0;

  /// Number of classes a conditional model generates on request (the common settings'
  /// classes, K); 0 = unconditional.
  virtual int64_t num_classes() const { return 0; }
  /// Whether SampleOptions::guidance means something to this model (conditional diffusion,
  /// or a diffusion model with a guide attached).
  virtual bool supports_guidance() const { return false; }
  /// Autoguidance (Karras et al. 2024, "Guiding a Diffusion Model with a Bad Version of
  /// Itself"): sampling follows ε̂_guide + w·(ε̂ − ε̂_guide), `guide` a weaker model of the
  /// same kind (smaller, trained shorter), w the guidance weight. nullptr detaches it.
  /// Throws UserError for a family without it (even for nullptr: `--guide none` means
  /// nothing there) or a guide that does not fit.
  virtual void attach_guide(std::shared_ptr<GenerativeModel> guide) {
    throw UserError("--guide: autoguidance applies to unconditional ddpm models only");
  }
  /// The sampler options this model uses, by flag name ("sampler", "steps", "eta"); a flag
  /// for any other is refused (models/sampling_options.h). The class and guidance are
  /// governed by num_classes() and supports_guidance().
  virtual std::vector<std::string> sampling_options() const { return {}; }

  /// Family-specific facts printed by `trilemma info` and stored in reports
  /// (e.g. a diffusion schedule's alpha-bar at T). Optional.
  virtual Json info() const { return Json::object(); }
};

/// A model family: its presets, its settings table, and a factory. Settings travel as JSON
/// objects so that config.json records every hyperparameter verbatim; each family's table
/// (core/settings_table.h) turns them into its typed struct. Every family's settings hold
/// the common ones (CommonSettings: epochs, max_steps, batch_size, lr, seed, conditional,
/// the image shape and the classes).
struct ModelFamily {
  std::string name;                   ///< "vae", "dcgan", "ddpm"
  std::string summary;                ///< one line for --help
  std::vector<std::string> presets;   ///< first one is the default
  /// A distilled family: the family of the teacher its runs start from (made by
  /// `trilemma distill TEACHER_RUN`, not by `trilemma train`); "" = trained from scratch.
  std::string teacher_family;
  /// A distilled family: settings copied from the teacher's config (its architecture),
  /// which a flag may not change; and settings whose default is the teacher's value when
  /// the teacher's config holds them (e.g. the guidance weight).
  std::vector<std::string> teacher_fields, teacher_defaults;
  std::vector<SettingField> settings; ///< every field, in display order
  /// The settings of a named preset (throws UserError for an unknown name).
  std::function<Json(const std::string& preset)> preset_settings;
  /// Sets one field from a flag's text, typed by the table (UserError on bad text).
  std::function<void(Json& settings, const std::string& name, const std::string& text)> set_setting;
  /// Reads and checks settings (types, ranges, combinations; UserError with one line) and
  /// returns them as config.json records them.
  std::function<Json(const Json& settings)> validate;
  std::function<std::unique_ptr<GenerativeModel>(const Json& settings, torch::Device device)>
      create;
};

/// A family from its settings table: `preset` names the struct's presets; validation checks
/// every field's range (the table), the common settings, then `check_combinations` (UserError
/// for values that do not go together; nullptr when none can clash). Model is built from
/// the typed settings.
template <class Model, class Settings>
ModelFamily make_model_family(std::string name, std::string summary, std::vector<std::string> presets,
                              const SettingsTable<Settings>& table, Settings (*preset)(const std::string&),
                              // common_type: a non-deduced context, so that nullptr may be passed
                              typename std::common_type<void (*)(const Settings&)>::type check_combinations) {
  const SettingsTable<Settings>* t = &table;
  ModelFamily family;
  family.name = std::move(name);
  family.summary = std::move(summary);
  family.presets = std::move(presets);
  family.settings = table.fields();
  family.preset_settings = [t, preset](const std::string& p) { return t->to_json(preset(p)); };
  family.set_setting = [t](Json& json, const std::string& field, const std::string& text) {
    t->set_from_text(json, field, text);
  };
  family.validate = [t, check_combinations](const Json& json) {
    const Settings settings = t->from_json(json);
    t->check(settings);
    check_common_settings(settings.common);
    if (check_combinations) check_combinations(settings);
    return t->to_json(settings);
  };
  family.create = [t](const Json& json, torch::Device device) -> std::unique_ptr<GenerativeModel> {
    return std::make_unique<Model>(t->from_json(json), device);
  };
  return family;
}

}  // namespace trilemma
