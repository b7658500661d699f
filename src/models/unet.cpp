#include "models/unet.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/precision.h"
#include "distributed/data_parallel.h"

namespace trilemma {
namespace {

namespace F = torch::nn::functional;

// Ho et al. 2020 (appendix B): the time embedding is widened to 4× the base width by a
// two-layer MLP before each ResNet block projects it to its own width.
constexpr int64_t kTimeEmbeddingWidening = 4;
// pad_to_32 pads to a multiple of at least this: the article pads 28 to 32 so that its
// four levels halve evenly (32-16-8-4), and runs with fewer levels that set the flag have
// always had 32 too.
constexpr int64_t kMinPaddingMultiple = 8;

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

torch::nn::Conv2d conv1x1(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1));
}

// Layers that end a residual branch start at zero, so that every block starts as the
// identity and the untrained network predicts ε̂ = 0 (Ho et al.'s reference code,
// `zero_module`); this steadies the first steps of training.
void zero_init(torch::nn::Conv2d& conv) {
  torch::NoGradGuard no_grad;
  conv->weight.zero_();
  if (conv->bias.defined()) conv->bias.zero_();
}

// GroupNorm then SiLU, the pair that opens every block. The norm reads fp32 (under bf16
// autocast the previous convolution's output is bf16); outside autograd SiLU runs in place,
// saving one allocation and one pass per pair.
torch::Tensor norm_silu(torch::nn::GroupNorm& norm, const torch::Tensor& x) {
  auto h = norm(in_fp32(x));
  return torch::GradMode::is_enabled() ? torch::silu(h) : torch::silu_(h);
}

// 2^(levels-1): what a side must be a multiple of to halve evenly at every level.
int64_t halving_factor(const UNetSettings& s) { return int64_t{1} << (s.channel_mults.size() - 1); }

}  // namespace

int64_t working_size(const UNetSettings& s, int64_t image_size) {
  if (!s.pad_to_32) return image_size;
  const int64_t multiple = std::max(kMinPaddingMultiple, halving_factor(s));
  return (image_size + multiple - 1) / multiple * multiple;
}

void validate_unet_settings(const UNetSettings& s, int64_t image_size) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UserError(message);
  };
  require(s.in_channels >= 1, "unet: in_channels must be >= 1");
  require(s.num_classes >= 0, "unet: num_classes must be >= 0");
  require(s.base_width >= 1, "--base-width: must be >= 1");
  require(!s.channel_mults.empty(), "--channel-mults: needs at least one level");
  for (int64_t m : s.channel_mults) require(m >= 1, "--channel-mults: entries must be >= 1");
  const int64_t levels = static_cast<int64_t>(s.channel_mults.size());
  for (int64_t a : s.attention_levels)
    require(a >= 0 && a < levels, "--attention-levels: level " + std::to_string(a) +
                                      " does not exist (levels are 0.." +
                                      std::to_string(levels - 1) + ")");
  require(s.num_res_blocks >= 1, "--num-res-blocks: must be >= 1");
  require(s.latent_dim >= 0, "--latent-dim: must be >= 0");
  require(s.latent_mapping_layers >= 1, "--latent-mapping-layers: must be >= 1");
  require(s.dropout >= 0 && s.dropout < 1, "--dropout: must be in [0, 1)");
  require(s.groups >= 1 && s.base_width % s.groups == 0,
          "--groups: must divide --base-width (" + std::to_string(s.base_width) + "), got " +
              std::to_string(s.groups));
  require(s.attention_heads >= 1 && s.base_width % s.attention_heads == 0,
          "--attention-heads: must divide --base-width (" + std::to_string(s.base_width) + ")");
  if (image_size <= 0) return;
  // Each level after the first halves the side above it (rounding up, as padding does); one
  // that would halve a single pixel has nothing left to halve: 28-14-7-4-2-1 is six levels.
  int64_t max_levels = 1;
  for (int64_t side = image_size; side > 1; side = (side + 1) / 2) ++max_levels;
  require(levels <= max_levels, "--channel-mults: " + std::to_string(levels) + " levels are too many for " +
                                    std::to_string(image_size) + "x" + std::to_string(image_size) +
                                    " images (at most " + std::to_string(max_levels) + ")");
  const int64_t factor = halving_factor(s);
  const int64_t size = working_size(s, image_size);
  require(size % factor == 0,
          "--channel-mults: " + std::to_string(levels) + " levels need an image size divisible by " +
              std::to_string(factor) + ", got " + std::to_string(size) +
              (s.pad_to_32 ? "" : " (set --pad-to-32 true or use fewer levels)"));
}

torch::Tensor sinusoidal_embedding(const torch::Tensor& t, int64_t dim) {
  TORCH_CHECK(dim >= 4 && dim % 2 == 0, "sinusoidal_embedding: dim must be even and >= 4");
  const int64_t half = dim / 2;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(t.device());
  const auto frequencies =
      torch::exp(torch::arange(half, options) * (-std::log(10000.0) / static_cast<double>(half - 1)));
  const auto angles = t.to(torch::kFloat32).reshape({-1, 1}) * frequencies.unsqueeze(0);
  return torch::cat({torch::sin(angles), torch::cos(angles)}, 1);
}

ResBlockImpl::ResBlockImpl(int64_t in_channels, int64_t out_channels, int64_t time_dim,
                           int64_t groups, double dropout_p, bool adaptive_norm, bool zero_init_branch) {
  norm1 = register_module("norm1", torch::nn::GroupNorm(groups, in_channels));
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels));
  time_proj = register_module("time_proj", torch::nn::Linear(time_dim, out_channels));
  norm2 = register_module("norm2", torch::nn::GroupNorm(groups, out_channels));
  dropout = register_module("dropout", torch::nn::Dropout(dropout_p));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels));
  if (zero_init_branch) zero_init(conv2);
  if (in_channels != out_channels) skip = register_module("skip", conv1x1(in_channels, out_channels));
  if (adaptive_norm) {
    // Zero-initialised, so that every norm starts as the plain GroupNorm (γ = β = 0).
    norm1_modulation = register_module("norm1_modulation", torch::nn::Linear(time_dim, 2 * in_channels));
    norm2_modulation = register_module("norm2_modulation", torch::nn::Linear(time_dim, 2 * out_channels));
    torch::NoGradGuard no_grad;
    for (auto* layer : {&norm1_modulation, &norm2_modulation}) {
      (*layer)->weight.zero_();
      (*layer)->bias.zero_();
    }
  }
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& time_embedding) {
  const auto embedding = torch::silu(time_embedding);
  // GN(h)·(1 + γ) + β with (γ, β) from the embedding, then SiLU.
  auto adaptive_norm_silu = [&](torch::nn::GroupNorm& norm, torch::nn::Linear& modulation, const torch::Tensor& h) {
    if (!modulation) return norm_silu(norm, h);
    const auto scale_shift = modulation(embedding).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
    return torch::silu(norm(in_fp32(h)) * (1 + scale_shift[0]) + scale_shift[1]);
  };
  auto h = conv1(adaptive_norm_silu(norm1, norm1_modulation, x));
  h = h + time_proj(embedding).unsqueeze(-1).unsqueeze(-1);
  h = conv2(distributed::shard_dropout(adaptive_norm_silu(norm2, norm2_modulation, h), dropout->options.p(),
                                           dropout->is_training()));
  return h + (skip ? skip(x) : x);
}

AttentionBlockImpl::AttentionBlockImpl(int64_t channels, int64_t heads_, int64_t groups, bool zero_init_branch)
    : heads(heads_) {
  TORCH_CHECK(channels % heads == 0, "AttentionBlock: heads must divide channels");
  norm = register_module("norm", torch::nn::GroupNorm(groups, channels));
  qkv = register_module("qkv", conv1x1(channels, 3 * channels));
  proj = register_module("proj", conv1x1(channels, channels));
  if (zero_init_branch) zero_init(proj);
}

torch::Tensor AttentionBlockImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t head_dim = c / heads;
  // N×3C×H×W → three N·heads × head_dim × HW tensors.
  auto qkv_out = qkv(norm(in_fp32(x))).reshape({n, 3, heads, head_dim, h * w});
  // softmax(QᵀK/√d) over keys (Vaswani et al. 2017, eq. 1), positions as tokens. The 1/√d
  // scales q (d×HW) rather than the scores (HW×HW): the same product, one pass over a far
  // smaller tensor (BENCHMARKS.md: the score division was 17 % of the seed U-Net).
  auto q = qkv_out.select(1, 0).reshape({n * heads, head_dim, h * w}) *
           (1.0 / std::sqrt(static_cast<double>(head_dim)));
  auto k = qkv_out.select(1, 1).reshape({n * heads, head_dim, h * w});
  auto v = qkv_out.select(1, 2).reshape({n * heads, head_dim, h * w});
  auto weights = torch::softmax(torch::bmm(q.transpose(1, 2), k), -1);
  auto out = torch::bmm(v, weights.transpose(1, 2)).reshape({n, c, h, w});
  return x + proj(out);
}

UNetImpl::UNetImpl(const UNetSettings& settings) : settings_(settings) {
  validate_unet_settings(settings_, 0);  // sizes are checked per input in forward
  const auto& s = settings_;
  const int64_t levels = static_cast<int64_t>(s.channel_mults.size());
  const int64_t time_dim = s.base_width * kTimeEmbeddingWidening;
  auto has_attention = [&](int64_t level) {
    return std::find(s.attention_levels.begin(), s.attention_levels.end(), level) !=
           s.attention_levels.end();
  };

  init_conv_ = register_module("init_conv", conv3x3(s.in_channels, s.base_width));
  time_fc1_ = register_module("time_fc1", torch::nn::Linear(s.base_width, time_dim));
  time_fc2_ = register_module("time_fc2", torch::nn::Linear(time_dim, time_dim));
  if (s.num_classes > 0)
    class_embedding_ = register_module("class_embedding", torch::nn::Embedding(s.num_classes + 1, time_dim));
  if (s.latent_dim > 0) {
    latent_mapping_ = register_module("latent_mapping", torch::nn::Sequential());
    for (int64_t layer = 0; layer < s.latent_mapping_layers; ++layer) {
      if (layer > 0) latent_mapping_->push_back(torch::nn::SiLU());
      latent_mapping_->push_back(torch::nn::Linear(layer == 0 ? s.latent_dim : time_dim, time_dim));
    }
  }

  std::vector<int64_t> widths;
  for (int64_t m : s.channel_mults) widths.push_back(s.base_width * m);

  int64_t channels = s.base_width;
  for (int64_t level = 0; level < levels; ++level) {
    const std::string prefix = "down" + std::to_string(level) + "_";
    std::vector<ResBlock> blocks;
    for (int64_t b = 0; b < s.num_res_blocks; ++b) {
      blocks.push_back(register_module(prefix + "res" + std::to_string(b),
                                       ResBlock(channels, widths[level], time_dim, s.groups, s.dropout, s.adaptive_norm, s.zero_init)));
      channels = widths[level];
    }
    down_blocks_.push_back(blocks);
    down_attention_.push_back(
        has_attention(level)
            ? register_module(prefix + "attention", AttentionBlock(channels, s.attention_heads, s.groups, s.zero_init))
            : AttentionBlock(nullptr));
    downsample_.push_back(level + 1 < levels
                              ? register_module(prefix + "downsample", conv3x3(channels, channels, 2))
                              : torch::nn::Conv2d(nullptr));
  }

  mid_block1_ = register_module("mid_res0", ResBlock(channels, channels, time_dim, s.groups, s.dropout, s.adaptive_norm, s.zero_init));
  if (s.middle_attention)
    mid_attention_ = register_module("mid_attention", AttentionBlock(channels, s.attention_heads, s.groups, s.zero_init));
  mid_block2_ = register_module("mid_res1", ResBlock(channels, channels, time_dim, s.groups, s.dropout, s.adaptive_norm, s.zero_init));

  // The up path mirrors the down path; index `level` as on the way down.
  up_blocks_.resize(levels);
  up_attention_.resize(levels, AttentionBlock(nullptr));
  upsample_.resize(levels, torch::nn::Conv2d(nullptr));
  for (int64_t level = levels - 1; level >= 0; --level) {
    const std::string prefix = "up" + std::to_string(level) + "_";
    std::vector<ResBlock> blocks;
    for (int64_t b = 0; b < s.num_res_blocks; ++b) {
      // The first block takes the skip connection concatenated to the running features.
      const int64_t in = b == 0 ? channels + widths[level] : widths[level];
      blocks.push_back(register_module(prefix + "res" + std::to_string(b),
                                       ResBlock(in, widths[level], time_dim, s.groups, s.dropout, s.adaptive_norm, s.zero_init)));
      channels = widths[level];
    }
    up_blocks_[level] = blocks;
    if (has_attention(level))
      up_attention_[level] =
          register_module(prefix + "attention", AttentionBlock(channels, s.attention_heads, s.groups, s.zero_init));
    if (level > 0) upsample_[level] = register_module(prefix + "upsample", conv3x3(channels, channels));
  }

  // As in the article: the initial conv's features join the last block ("back conv").
  final_block_ = register_module("final_res",
                                 ResBlock(channels + s.base_width, s.base_width, time_dim, s.groups, s.dropout, s.adaptive_norm, s.zero_init));
  final_conv_ = register_module("final_conv", conv1x1(s.base_width, s.in_channels));
  if (s.zero_init) zero_init(final_conv_);
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x_in, const torch::Tensor& t_in,
                                const torch::Tensor& labels, const torch::Tensor& z) {
  const auto& s = settings_;
  const int64_t levels = static_cast<int64_t>(s.channel_mults.size());
  const int64_t height = x_in.size(2), width = x_in.size(3);
  const int64_t pad_h = working_size(s, height) - height;
  const int64_t pad_w = working_size(s, width) - width;
  torch::Tensor x = x_in;
  if (pad_h > 0 || pad_w > 0)
    x = F::pad(x, F::PadFuncOptions({pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2}));
  const int64_t factor = halving_factor(s);
  TORCH_CHECK(x.size(2) % factor == 0 && x.size(3) % factor == 0, "UNet: input ", x.size(2), "x",
              x.size(3), " does not halve evenly over ", levels, " levels");

  torch::Tensor t = t_in;
  if (t.dim() == 0) t = t.expand({x.size(0)});
  auto time = time_fc2_(torch::silu(time_fc1_(sinusoidal_embedding(t.to(x.device()), s.base_width))));
  if (class_embedding_) {
    // As in Ho & Salimans' guided U-Net: the class joins every block through the time
    // embedding; an absent label is the null class the network also learnt.
    const torch::Tensor classes =
        labels.defined() ? labels.to(x.device(), torch::kLong)
                         : torch::full({x.size(0)}, s.num_classes, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    time = time + class_embedding_(classes);
  }
  if (latent_mapping_) {
    TORCH_CHECK(z.defined() && z.dim() == 2 && z.size(0) == x.size(0) && z.size(1) == s.latent_dim,
                "UNet: expected z of shape ", x.size(0), "x", s.latent_dim);
    time = time + latent_mapping_->forward(z.to(x.device()));
  }

  x = init_conv_(x);
  const auto init_features = x;
  std::vector<torch::Tensor> skips;
  for (int64_t level = 0; level < levels; ++level) {
    for (auto& block : down_blocks_[level]) x = block(x, time);
    if (down_attention_[level]) x = down_attention_[level](x);
    skips.push_back(x);
    if (downsample_[level]) x = downsample_[level](x);
  }
  x = mid_block1_(x, time);
  if (mid_attention_) x = mid_attention_(x);
  x = mid_block2_(x, time);
  for (int64_t level = levels - 1; level >= 0; --level) {
    x = torch::cat({x, skips.back()}, 1);
    skips.pop_back();
    for (auto& block : up_blocks_[level]) x = block(x, time);
    if (up_attention_[level]) x = up_attention_[level](x);
    if (upsample_[level]) {
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{x.size(2) * 2, x.size(3) * 2})
                                .mode(torch::kNearest));
      x = upsample_[level](x);
    }
  }
  x = final_conv_(final_block_(torch::cat({x, init_features}, 1), time));
  if (pad_h > 0 || pad_w > 0)
    x = x.slice(2, pad_h / 2, pad_h / 2 + height).slice(3, pad_w / 2, pad_w / 2 + width);
  return x.to(x_in.scalar_type());  // under bf16 autocast the last conv's output is bf16
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace trilemma
