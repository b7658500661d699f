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

/// A checkpoint's parts: each module or optimiser is a nested archive under its own key
/// (the layout every family's save/load writes). read_module loads with
/// load_module_checked, so a part saved with other settings is a UserError.
void write_module(torch::serialize::OutputArchive& archive, const std::string& key, const torch::nn::Module& module);
void read_module(torch::serialize::InputArchive& archive, const std::string& key, torch::nn::Module& module);
/// write_module with every floating-point tensor stored as `storage` (e.g. float16 for the
/// model zoo); read_module casts them back to the module's own type.
void write_module_as(torch::serialize::OutputArchive& archive, const std::string& key,
                     const torch::nn::Module& module, torch::Dtype storage);
void write_optimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                     const torch::optim::Optimizer& optimizer);
void read_optimizer(torch::serialize::InputArchive& archive, const std::string& key, torch::optim::Optimizer& optimizer);

}  // namespace trilemma
