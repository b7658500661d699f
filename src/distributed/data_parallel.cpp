#include "distributed/data_parallel.h"

#include <chrono>
#include <stdexcept>

namespace trilemma::distributed {
namespace {

// The current training step's rows; thread-local so that a test may run two ranks as two
// threads of one process.
thread_local int64_t t_offset = 0;
thread_local int64_t t_global_rows = -1;  // -1: outside a ShardScope

GradientSyncCost g_gradient_sync;

// Whether a draw of `rows` rows must be made for the global batch and cut: inside a
// ShardScope whose global batch is larger than this rank's rows.
bool sharded(int64_t rows) {
  if (t_global_rows < 0 || rows == t_global_rows) return false;
  if (t_offset + rows > t_global_rows)
    throw std::logic_error("a per-row draw of " + std::to_string(rows) + " rows at offset " +
                           std::to_string(t_offset) + " exceeds the global batch of " +
                           std::to_string(t_global_rows));
  return true;
}

std::vector<int64_t> global_sizes(torch::IntArrayRef sizes) {
  std::vector<int64_t> global(sizes.begin(), sizes.end());
  global[0] = t_global_rows;
  return global;
}

torch::Tensor my_rows(const torch::Tensor& global, int64_t rows) { return global.narrow(0, t_offset, rows); }

// Mean over every dimension but the channels (1), kept broadcastable against x.
std::vector<int64_t> non_channel_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

std::vector<int64_t> channel_shape(const torch::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = x.size(1);
  return shape;
}

Collectives* group_from(int64_t address) { return reinterpret_cast<Collectives*>(address); }

// BatchNorm's all-reduces, timed into the step's cost.
void all_reduce_statistics(Collectives& group, std::vector<torch::Tensor>& sums) {
  const auto start = std::chrono::steady_clock::now();
  group.all_reduce_sum(sums);
  g_gradient_sync.batch_norm_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Forward: statistics summed over the ranks (two all-reduces: the sum and count, then the
// squared deviations from the global mean, which avoids E[x²] − E[x]²'s cancellation).
// Backward: the input gradient needs the global sums of g and g·x̂; the weight and bias get
// this rank's sums, which average_gradients then averages like every other parameter's.
struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, torch::Tensor running_mean,
                               torch::Tensor running_var, torch::Tensor num_batches_tracked, double momentum,
                               double eps, int64_t group_address) {
    Collectives& group = *group_from(group_address);
    const auto dims = non_channel_dims(x);
    const auto shape = channel_shape(x);
    const torch::Tensor xf = x.to(torch::kFloat);
    const int64_t channels = x.size(1);
    std::vector<torch::Tensor> sums{
        torch::cat({xf.sum(dims), torch::full({1}, static_cast<double>(x.numel() / channels), xf.options())})};
    all_reduce_statistics(group, sums);
    const double count = sums[0][channels].item<double>();
    const torch::Tensor mean = sums[0].narrow(0, 0, channels) / count;
    const torch::Tensor centred = xf - mean.view(shape);
    std::vector<torch::Tensor> squares{centred.square().sum(dims)};
    all_reduce_statistics(group, squares);
    const torch::Tensor var = squares[0] / count;
    const torch::Tensor invstd = torch::rsqrt(var + eps);

    if (running_mean.defined()) {
      double factor = momentum;
      if (num_batches_tracked.defined()) {
        num_batches_tracked.add_(1);
        if (momentum < 0) factor = 1.0 / num_batches_tracked.item<double>();
      }
      running_mean.mul_(1 - factor).add_(mean.to(running_mean.scalar_type()), factor);
      running_var.mul_(1 - factor).add_((var * (count / std::max(count - 1, 1.0))).to(running_var.scalar_type()),
                                        factor);
    }
    const torch::Tensor x_hat = centred * invstd.view(shape);
    torch::Tensor y = x_hat;
    if (weight.defined()) y = y * weight.to(torch::kFloat).view(shape) + bias.to(torch::kFloat).view(shape);
    ctx->save_for_backward({x_hat, invstd, weight});
    ctx->saved_data["group"] = group_address;
    ctx->saved_data["count"] = count;
    return y.to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x_hat = saved[0];
    const torch::Tensor& invstd = saved[1];
    const torch::Tensor& weight = saved[2];
    Collectives& group = *group_from(ctx->saved_data["group"].toInt());
    const double count = ctx->saved_data["count"].toDouble();
    const torch::Tensor g = grad_outputs[0].to(torch::kFloat);
    const auto dims = non_channel_dims(g);
    const auto shape = channel_shape(g);
    const torch::Tensor local_sum_g = g.sum(dims);
    const torch::Tensor local_sum_g_xhat = (g * x_hat).sum(dims);
    std::vector<torch::Tensor> sums{torch::cat({local_sum_g, local_sum_g_xhat})};
    all_reduce_statistics(group, sums);
    const int64_t channels = g.size(1);
    const torch::Tensor mean_g = sums[0].narrow(0, 0, channels) / count;
    const torch::Tensor mean_g_xhat = sums[0].narrow(0, channels, channels) / count;
    torch::Tensor scale = invstd;
    if (weight.defined()) scale = scale * weight.to(torch::kFloat);
    const torch::Tensor grad_x =
        (scale.view(shape) * (g - mean_g.view(shape) - x_hat * mean_g_xhat.view(shape)))
            .to(grad_outputs[0].scalar_type());
    torch::Tensor grad_weight, grad_bias;
    if (weight.defined()) {
      grad_weight = local_sum_g_xhat.to(weight.scalar_type());
      grad_bias = local_sum_g.to(weight.scalar_type());
    }
    return {grad_x, grad_weight, grad_bias, {}, {}, {}, {}, {}, {}};
  }
};

}  // namespace

ShardScope::ShardScope(int64_t offset, int64_t global_rows) : saved_offset_(t_offset), saved_global_(t_global_rows) {
  t_offset = offset;
  t_global_rows = global_rows;
}

ShardScope::~ShardScope() {
  t_offset = saved_offset_;
  t_global_rows = saved_global_;
}

torch::Tensor shard_randn(torch::IntArrayRef sizes, const torch::TensorOptions& options) {
  if (sizes.empty() || !sharded(sizes[0])) return torch::randn(sizes, options);
  return my_rows(torch::randn(global_sizes(sizes), options), sizes[0]);
}

torch::Tensor shard_randn_like(const torch::Tensor& like) {
  if (like.dim() == 0 || !sharded(like.size(0))) return torch::randn_like(like);
  // randn_like fills in `like`'s memory format; so does the global draw.
  return my_rows(torch::empty(global_sizes(like.sizes()), like.options().memory_format(like.suggest_memory_format()))
                     .normal_(),
                 like.size(0));
}

torch::Tensor shard_rand(torch::IntArrayRef sizes, const torch::TensorOptions& options) {
  if (sizes.empty() || !sharded(sizes[0])) return torch::rand(sizes, options);
  return my_rows(torch::rand(global_sizes(sizes), options), sizes[0]);
}

torch::Tensor shard_randint(int64_t low, int64_t high, torch::IntArrayRef sizes, const torch::TensorOptions& options) {
  if (sizes.empty() || !sharded(sizes[0])) return torch::randint(low, high, sizes, options);
  return my_rows(torch::randint(low, high, global_sizes(sizes), options), sizes[0]);
}

torch::Tensor shard_dropout(const torch::Tensor& input, double p, bool training) {
  // Evaluation (e.g. a teacher's forward inside a student's step) draws nothing.
  if (!training || input.dim() == 0 || !sharded(input.size(0))) return torch::dropout(input, p, training);
  if (p == 0 || input.numel() == 0) return input;
  // As ATen's CPU dropout: a contiguous Bernoulli(1 − p) mask scaled by 1/(1 − p).
  torch::Tensor noise = torch::empty(global_sizes(input.sizes()), input.options());
  noise.bernoulli_(1 - p);
  noise.div_(1 - p);
  return input * my_rows(noise, input.size(0));
}

void average_gradients(const std::vector<torch::Tensor>& parameters) {
  if (Collectives* group = active()) average_gradients(*group, parameters);
}

void average_gradients(Collectives& group, const std::vector<torch::Tensor>& parameters) {
  if (group.world_size() == 1) return;
  const auto start = std::chrono::steady_clock::now();
  // Buckets of up to 4 Mi elements (16 MiB in fp32): few calls, bounded extra memory.
  constexpr int64_t kBucketElements = int64_t{1} << 22;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  size_t next = 0;
  while (next < grads.size()) {
    std::vector<torch::Tensor> bucket{grads[next].reshape(-1)};
    int64_t elements = grads[next].numel();
    for (++next; next < grads.size() && elements + grads[next].numel() <= kBucketElements &&
                 grads[next].scalar_type() == bucket[0].scalar_type() && grads[next].device() == bucket[0].device();
         ++next) {
      bucket.push_back(grads[next].reshape(-1));
      elements += grads[next].numel();
    }
    std::vector<torch::Tensor> flat{torch::cat(bucket)};
    group.all_reduce_sum(flat);
    g_gradient_sync.bytes += flat[0].numel() * static_cast<int64_t>(flat[0].element_size());
    flat[0].div_(group.world_size());
    int64_t offset = 0;
    for (size_t i = next - bucket.size(); i < next; ++i) {
      grads[i].copy_(flat[0].narrow(0, offset, grads[i].numel()).view_as(grads[i]));
      offset += grads[i].numel();
    }
  }
  g_gradient_sync.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

GradientSyncCost take_gradient_sync_cost() {
  const GradientSyncCost cost = g_gradient_sync;
  g_gradient_sync = {};
  return cost;
}

torch::Tensor sync_batch_norm(Collectives& group, const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                              torch::Tensor num_batches_tracked, c10::optional<double> momentum, double eps) {
  return SyncBatchNormFunction::apply(x, weight, bias, running_mean, running_var, num_batches_tracked,
                                      momentum.has_value() ? *momentum : -1.0, eps,
                                      reinterpret_cast<int64_t>(&group));
}

Collectives* training_group() {
  Collectives* group = active();
  return group != nullptr && t_global_rows >= 0 && group->world_size() > 1 ? group : nullptr;
}

}  // namespace trilemma::distributed
