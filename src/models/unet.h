#pragma once
// The article's diffusion U-Net (after Ho et al. 2020, appendix B, via the Keras port of
// lucidrains' denoising-diffusion-pytorch). It maps (x_t, t) to a tensor of x_t's shape and
// knows nothing of noise schedules: t is only a number to embed.
#include <torch/torch.h>

#include <vector>

namespace trilemma {

/// Architecture of a UNet. Presets live with the DDPM family (models/ddpm.h).
struct UNetSettings {
  int64_t in_channels = 1;        ///< image channels C (also the output channels); set from
                                  ///< the training data by the families, not a setting
  int64_t base_width = 64;        ///< channels after the first conv (the article: dim = 64)
  std::vector<int64_t> channel_mults = {1, 2, 4, 8};  ///< level i has base_width·mults[i]
                                                      ///< channels; one level per entry
  std::vector<int64_t> attention_levels = {0, 1, 2, 3};  ///< levels (0 = full resolution)
                                                         ///< that end with self-attention
  bool middle_attention = true;   ///< self-attention between the middle ResNet blocks
  int64_t attention_heads = 1;    ///< heads of every attention block (divides its channels)
  int64_t num_res_blocks = 2;     ///< ResNet blocks per level and direction (the article: 2)
  double dropout = 0.0;           ///< dropout inside ResNet blocks (Ho et al.: 0.1 on CIFAR)
  int64_t groups = 8;             ///< GroupNorm groups; must divide base_width
  bool pad_to_32 = true;          ///< zero-pad inputs (cropped back on output) to a side
                                  ///< every level halves evenly, as the article pads 28×28
                                  ///< to 32×32 for its 4 levels (see working_size); false
                                  ///< runs at the input size (28-14-7 with 3 levels: ~1.3×
                                  ///< fewer pixels per level, no wasted border). The name is
                                  ///< kept because runs' config.json files record it
  int64_t num_classes = 0;        ///< > 0: a learnt class embedding, plus one "null" class
                                  ///< (index num_classes) for classifier-free guidance, is
                                  ///< added to the time embedding
  bool adaptive_norm = false;     ///< every ResNet block's GroupNorms also scaled and shifted
                                  ///< by the embedding: GN(h)·(1 + γ(e)) + β(e) (adaptive
                                  ///< group norm, Dhariwal & Nichol 2021), so that t and z
                                  ///< modulate the normalisations (Xiao et al. 2022)
  int64_t latent_dim = 0;         ///< > 0: forward takes a latent z (N×latent_dim), mapped by
                                  ///< an MLP and added to the embedding (a DDGAN's generator)
  int64_t latent_mapping_layers = 3;  ///< layers of that MLP
  bool zero_init = true;          ///< residual branches and the output conv start at zero, so
                                  ///< the untrained network outputs 0 (Ho et al.'s zero_module):
                                  ///< right for a denoiser; a GAN's generator, whose samples
                                  ///< must depend on its inputs from the first step, sets false
};

/// Throws UserError (one line) if the settings cannot build a working network for
/// `image_size`×`image_size` inputs, e.g. groups not dividing the widths, a size that does
/// not halve evenly at every level, or more levels than the image has pixels to halve.
/// image_size <= 0 skips the size checks.
void validate_unet_settings(const UNetSettings& settings, int64_t image_size);

/// The side the network works at for inputs of side `image_size`. With pad_to_32, the next
/// multiple of 2^(levels-1) — and at least of 8, the article's four levels, so that 28
/// becomes 32 at any depth, as it always has — else the image's own side.
int64_t working_size(const UNetSettings& settings, int64_t image_size);

/// Sinusoidal timestep embedding (Vaswani et al. 2017, as used by Ho et al. 2020):
/// for half = dim/2 and j < half, out[:, j] = sin(t·ω_j), out[:, half + j] = cos(t·ω_j),
/// ω_j = 10000^(-j/(half-1)). t: N (any numeric dtype); returns N×dim float32. dim even, >= 4.
torch::Tensor sinusoidal_embedding(const torch::Tensor& t, int64_t dim);

/// GroupNorm → SiLU → conv3×3, + projected time embedding, GroupNorm → SiLU → dropout →
/// conv3×3, plus a residual (1×1 conv where the channel count changes).
struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int64_t in_channels, int64_t out_channels, int64_t time_dim, int64_t groups,
               double dropout, bool adaptive_norm = false, bool zero_init = true);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_embedding);
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear time_proj{nullptr};
  torch::nn::Linear norm1_modulation{nullptr}, norm2_modulation{nullptr};  ///< adaptive_norm: (γ, β)
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ResBlock);

/// Multi-head self-attention over the H·W positions, written with matmul and softmax
/// (the fused attention API differs across LibTorch versions), with a residual.
struct AttentionBlockImpl : torch::nn::Module {
  AttentionBlockImpl(int64_t channels, int64_t heads, int64_t groups, bool zero_init = true);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t heads;
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(AttentionBlock);

struct UNetImpl : torch::nn::Module {
  explicit UNetImpl(const UNetSettings& settings);
  /// x: N×C×H×W; t: N timesteps (int or float) or a scalar for the whole batch; labels: N
  /// int64 in 0..num_classes (num_classes = the null class), or undefined for all-null.
  /// Labels are ignored by an unconditional network. z: N×latent_dim, required iff
  /// latent_dim > 0. Returns N×C×H×W.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t,
                        const torch::Tensor& labels = {}, const torch::Tensor& z = {});
  const UNetSettings& settings() const { return settings_; }

 private:
  UNetSettings settings_;
  torch::nn::Conv2d init_conv_{nullptr};
  torch::nn::Linear time_fc1_{nullptr}, time_fc2_{nullptr};
  torch::nn::Embedding class_embedding_{nullptr};
  torch::nn::Sequential latent_mapping_{nullptr};
  // Per level: num_res_blocks blocks, an attention block or empty, a down/upsampling conv
  // or empty (none after the lowest level, as in the article).
  std::vector<std::vector<ResBlock>> down_blocks_, up_blocks_;
  std::vector<AttentionBlock> down_attention_, up_attention_;
  std::vector<torch::nn::Conv2d> downsample_, upsample_;
  ResBlock mid_block1_{nullptr}, mid_block2_{nullptr};
  AttentionBlock mid_attention_{nullptr};
  ResBlock final_block_{nullptr};
  torch::nn::Conv2d final_conv_{nullptr};
};
TORCH_MODULE(UNet);

/// Number of trainable parameters of a module.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace trilemma
