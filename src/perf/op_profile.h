#pragma once
// Where a call's time and arithmetic go, per operator. A thread-local RecordFunction
// observer (the hook LibTorch's own profiler uses, stable from 1.13 to 2.x) sees every
// dispatched operator with its inputs: time is attributed to the outermost operator of each
// nest (aten::conv2d, not the aten::mkldnn_convolution inside it), FLOPs to the operator
// that does the arithmetic (aten::convolution, aten::addmm, aten::mm, aten::bmm), so that
// neither is counted twice; the table then shows the FLOPs under the outermost operator.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace trilemma::perf {

/// Shape and hyperparameters of one 2-D convolution, as aten::convolution receives them.
struct ConvShape {
  std::vector<int64_t> input;   ///< N, C_in, H, W
  std::vector<int64_t> weight;  ///< C_out, C_in/groups, kh, kw (transposed: C_in, C_out/groups, kh, kw)
  std::vector<int64_t> stride = {1, 1};
  std::vector<int64_t> padding = {0, 0};
  std::vector<int64_t> dilation = {1, 1};
  bool transposed = false;
  int64_t groups = 1;
};

/// FLOPs of a convolution: 2 per multiply-add. A direct convolution does
/// N·C_out·H_out·W_out·(C_in/groups)·kh·kw of them; a transposed one scatters every input
/// pixel through the kernel, N·C_in·H·W·(C_out/groups)·kh·kw. Bias additions are not counted
/// (the usual convention, as in LibTorch's profiler).
int64_t convolution_flops(const ConvShape& shape);

/// FLOPs of one operator call from its name and inputs: convolutions and matrix products
/// (aten::convolution, aten::mm, aten::addmm, aten::bmm, aten::baddbmm); 0 for every other
/// operator, including the wrappers (aten::conv2d, aten::linear, aten::matmul) whose
/// arithmetic is counted at the operator they call.
int64_t operator_flops(const std::string& name, c10::ArrayRef<const c10::IValue> inputs);

/// Time and arithmetic of one operator name over a profiled call.
struct OpStats {
  std::string name;
  int64_t calls = 0;
  double seconds = 0.0;  ///< wall time as an outermost operator (nested ones excluded)
  int64_t flops = 0;     ///< of the operators nested inside it too (aten::conv2d holds its
                         ///< aten::convolution's)
};

struct OpProfile {
  std::vector<OpStats> ops;   ///< sorted by seconds, largest first
  double wall_seconds = 0.0;  ///< the whole call, operators and everything between them
  int64_t flops = 0;
  /// A text table of the `top` most expensive operators with their share of the wall time.
  std::string table(size_t top = 12) const;
};

/// Runs fn once on this thread with the observer on. The observer costs a few µs per
/// operator, so time the call again without it when the absolute time matters.
OpProfile profile_ops(const std::function<void()>& fn);

/// FLOPs of convolutions and matrix products that fn performs (profile_ops(fn).flops).
int64_t count_flops(const std::function<void()>& fn);

}  // namespace trilemma::perf
