#pragma once
// Loading a LibTorch module's weights safely: below models/ (which loads its networks with
// it) and training/ (which loads checkpoints into models).
#include <torch/torch.h>

#include <string>

namespace trilemma {

/// Loads a module's parameters and buffers from an archive written by Module::save, but
/// checks every name and shape first: LibTorch's own Module::load silently adopts tensors
/// of another shape, which would turn a checkpoint of other settings into a broken model.
/// Throws UserError naming the first mismatch.
void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& prefix = "");

}  // namespace trilemma
