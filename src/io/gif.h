#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace trilemma::io {

/// Writes grey frames (each 1×H×W or H×W in [0,1], all the same size) as a looping
/// animated GIF with `delay_cs` hundredths of a second per frame (giflib).
void save_gif(const std::vector<torch::Tensor>& frames, const std::string& path, int delay_cs = 50);

}  // namespace trilemma::io
