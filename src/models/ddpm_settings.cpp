// The DDPM family's settings: the table (config.json, flags, --help, ranges), the checks
// across fields, the presets and the family's registry entry. The model is in ddpm.cpp.
#include <limits>

#include "core/error.h"
#include "diffusion/schedule.h"
#include "models/ddpm.h"

namespace trilemma {

const SettingsTable<DdpmSettings>& ddpm_settings_table() {
  using S = DdpmSettings;
  constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();
  static const SettingsTable<S> table =
      SettingsTable<S>()
          .integer("timesteps", [](S& s) -> int64_t& { return s.timesteps; }, 1, 100000,
                   "T, forward-process steps")
          .choice("schedule", [](S& s) -> std::string& { return s.schedule; }, {"linear", "linear-scaled", "cosine"},
                  "noise schedule: linear (the article), linear-scaled (rescaled to T) or cosine")
          .integer("base_width", [](S& s) -> int64_t& { return s.unet.base_width; }, 1, 1024,
                   "U-Net channels at full resolution")
          .integer_list("channel_mults", [](S& s) -> std::vector<int64_t>& { return s.unet.channel_mults; }, 1, 16,
                        false, "width multiplier per U-Net level, e.g. 1,2,2 (one level each)")
          .integer_list("attention_levels", [](S& s) -> std::vector<int64_t>& { return s.unet.attention_levels; },
                        0, 15, true, "levels with self-attention, 0 = full resolution (none = no attention)")
          .boolean("middle_attention", [](S& s) -> bool& { return s.unet.middle_attention; },
                   "self-attention in the U-Net's middle block")
          .integer("attention_heads", [](S& s) -> int64_t& { return s.unet.attention_heads; }, 1, 64,
                   "heads of every attention block")
          .integer("num_res_blocks", [](S& s) -> int64_t& { return s.unet.num_res_blocks; }, 1, 16,
                   "ResNet blocks per level and direction")
          .number("dropout", [](S& s) -> double& { return s.unet.dropout; }, Interval::closed_open(0, 1),
                  "dropout inside ResNet blocks")
          .integer("groups", [](S& s) -> int64_t& { return s.unet.groups; }, 1, 1024,
                   "GroupNorm groups (divides base_width)")
          .boolean("pad_to_32", [](S& s) -> bool& { return s.unet.pad_to_32; },
                   "zero-pad images inside the U-Net to a side every level halves evenly, a multiple of 8 "
                   "at least (28x28 -> 32x32, as 4 levels need); cropped back")
          .number("ema_decay", [](S& s) -> double& { return s.ema_decay; }, Interval::closed_open(0, 1),
                  "EMA decay of the sampling weights (0 = none)")
          .number("grad_clip", [](S& s) -> double& { return s.grad_clip; }, Interval::at_least(0),
                  "max gradient norm (0 = none)")
          .integer("warmup_steps", [](S& s) -> int64_t& { return s.warmup_steps; }, 0, kUnbounded,
                   "linear learning-rate warm-up steps")
          .choice("sampler", [](S& s) -> std::string& { return s.sampler; }, {"ddpm", "ddim", "dpm-solver"},
                  "default sampler: ddpm, ddim or dpm-solver")
          .integer("sample_steps", [](S& s) -> int64_t& { return s.sample_steps; }, 1, 100000,
                   "default steps of ddim and dpm-solver (ddpm uses T)")
          .number("eta", [](S& s) -> double& { return s.eta; }, Interval::closed(0, 1),
                  "default DDIM eta (0 = deterministic, 1 = DDPM-like)")
          .choice("ddpm_variance", [](S& s) -> std::string& { return s.ddpm_variance; }, {"beta", "posterior"},
                  "DDPM reverse variance: beta or posterior")
          .boolean("clip_denoised", [](S& s) -> bool& { return s.clip_denoised; },
                   "clamp predicted x_0 to [-1, 1] while sampling")
          .include(common_settings_table(), [](S& s) -> CommonSettings& { return s.common; })
          .number("label_dropout", [](S& s) -> double& { return s.label_dropout; }, Interval::closed_open(0, 1),
                  "conditional: share of labels dropped to the null class while training")
          .absent_in_older_runs()
          .number("guidance", [](S& s) -> double& { return s.guidance; }, Interval::at_least(0),
                  "conditional: default guidance weight (0 unconditional, 1 conditional, >1 guided)")
          .absent_in_older_runs();
  return table;
}

void check_ddpm_combinations(const DdpmSettings& s) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UserError(message);
  };
  diffusion::make_noise_schedule(s.schedule, s.timesteps);  // throws for a bad name or T
  validate_unet_settings(s.unet, s.common.image_size);
  require(s.sample_steps <= s.timesteps,
          "--sample-steps: must be in 1..timesteps (" + std::to_string(s.timesteps) + ")");
  require(!s.common.conditional || s.label_dropout > 0 || s.guidance == 1.0,
          "--label-dropout 0 trains no unconditional model, so guidance needs --guidance 1");
}

void validate_ddpm_settings(const DdpmSettings& s) {
  ddpm_settings_table().check(s);
  check_common_settings(s.common);
  check_ddpm_combinations(s);
}

DdpmSettings ddpm_preset(const std::string& name) {
  // Each preset states only where it departs from DdpmSettings' defaults (the U-Net's
  // defaults are the article's network).
  DdpmSettings s;
  if (name == "quick") {
    // A lean U-Net for a 2-core CPU (reference notes: at 28×28 with levels 28-14-7 and
    // attention only at 7×7 it trains ~5× faster than a shrunk copy of the article's net;
    // normalisation and full-resolution attention, not convolutions, dominate on CPU).
    // The defaults supply the cosine schedule (Nichol & Dhariwal 2021: ᾱ_T ≈ 0 and less
    // time wasted near pure noise), EMA, clipping and DDIM-20 sampling.
    s.unet.base_width = 32;
    s.unet.channel_mults = {1, 2, 2};
    s.unet.attention_levels = {2};
    s.unet.num_res_blocks = 1;
    s.unet.pad_to_32 = false;
    s.warmup_steps = 100;
    // Sized to the issue's ~10 minute budget, not to convergence: 1200 steps of 64 images
    // (1.3 epochs) at the ~165 images/s measured on an idle 2-core CPU (see README).
    s.common.epochs = 2;
    s.common.max_steps = 1200;
    s.common.batch_size = 64;
    return s;
  }
  if (name == "standard") {
    // The quick U-Net trained ~5× longer: about 60 minutes on an idle 2-core CPU at the
    // ~100 images/s measured for this network (BENCHMARKS.md). Its learning curve (README,
    // "Converged models") shows where the returns flatten. A longer EMA horizon (~2,000
    // steps) suits the longer run.
    s = ddpm_preset("quick");
    s.ema_decay = 0.9995;
    s.warmup_steps = 200;
    s.common.epochs = 7;
    s.common.max_steps = 5600;
    return s;
  }
  if (name == "seed") {
    // The article's model and hyperparameters. Its plain bugs are fixed, not reproduced:
    // train_step unpacked forward()'s (noise, x_t) in swapped order (so the net learned
    // noise → x_t), and ᾱ was shifted by one step (concat([1], cumprod(α)[:-1])); here the
    // net predicts ε from x_t, ᾱ_t = ∏_{s<=t} α_s, and sampling runs all T steps, not T-1.
    // Kept as in the article: T = 200 with the T = 1000 linear betas, which leave
    // √ᾱ_T ≈ 0.36 of the signal (`trilemma info` warns), no EMA, no clipping.
    s.timesteps = 200;
    s.schedule = "linear";
    s.ema_decay = 0.0;
    s.grad_clip = 0.0;
    s.sampler = "ddpm";  // Algorithm 2 with σ_t² = β_t, as the article's denoise_x
    s.sample_steps = 200;
    s.clip_denoised = false;
    s.common.epochs = 10;
    s.common.batch_size = 64;
    s.common.lr = 1e-4;
    return s;
  }
  if (name == "full") {
    // GPU-sized, after Ho et al. 2020's CIFAR-10 model scaled to 28×28 (levels 28-14-7,
    // attention at 14×14 and 7×7, dropout 0.1) with the cosine schedule and EMA.
    s.unet.channel_mults = {1, 2, 2};
    s.unet.attention_levels = {1, 2};
    s.unet.attention_heads = 4;
    s.unet.dropout = 0.1;
    s.unet.groups = 16;
    s.unet.pad_to_32 = false;
    s.ema_decay = 0.9995;
    s.warmup_steps = 1000;
    s.sample_steps = 50;
    s.common.epochs = 40;
    s.common.lr = 2e-4;
    return s;
  }
  throw UserError("unknown ddpm preset '" + name + "' (known: quick, standard, seed, full)");
}

ModelFamily ddpm_family() {
  return make_model_family<Ddpm>(
      "ddpm", "denoising diffusion (Ho et al. 2020) with a U-Net; DDPM, DDIM and DPM-Solver++ sampling",
      {"quick", "standard", "seed", "full"}, ddpm_settings_table(), ddpm_preset, check_ddpm_combinations);
}

}  // namespace trilemma
