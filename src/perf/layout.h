#pragma once
// Memory-format lever: LibTorch's C++ Module::to has no memory-format overload (Python's
// module.to(memory_format=...) does), so this converts a module's 4-D weights in place.
#include <torch/torch.h>

namespace trilemma::perf {

/// Makes every 4-D parameter and buffer of `module` (convolution weights) channels-last
/// (NHWC), oneDNN's native layout; convolutions then take channels-last inputs without a
/// reorder and return channels-last outputs.
void to_channels_last(torch::nn::Module& module);

}  // namespace trilemma::perf
