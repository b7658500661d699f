#include "core/module_io.h"

#include "core/error.h"

namespace trilemma {

void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& prefix) {
  torch::NoGradGuard no_grad;
  auto load_tensor = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
    torch::Tensor stored;
    if (!archive.try_read(name, stored, is_buffer))
      throw UserError("checkpoint lacks " + prefix + name + " (saved with other settings?)");
    if (stored.sizes() != target.sizes())
      throw UserError("checkpoint's " + prefix + name + " has shape " + c10::str(stored.sizes()) +
                      ", this model's has " + c10::str(target.sizes()) + " (saved with other settings?)");
    target.copy_(stored);
  };
  for (auto& parameter : module.named_parameters(/*recurse=*/false))
    load_tensor(parameter.key(), parameter.value(), false);
  for (auto& buffer : module.named_buffers(/*recurse=*/false))
    load_tensor(buffer.key(), buffer.value(), true);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive child_archive;
    if (!archive.try_read(child.key(), child_archive))
      throw UserError("checkpoint lacks module " + prefix + child.key() + " (saved with other settings?)");
    load_module_checked(*child.value(), child_archive, prefix + child.key() + ".");
  }
}

void write_module(torch::serialize::OutputArchive& archive, const std::string& key, const torch::nn::Module& module) {
  torch::serialize::OutputArchive part;
  module.save(part);
  archive.write(key, part);
}

namespace {
// Module::save's layout (parameters, buffers, a nested archive per child), cast on the way.
void save_module_as(const torch::nn::Module& module, torch::serialize::OutputArchive& archive, torch::Dtype storage) {
  auto stored = [&](const torch::Tensor& t) { return t.is_floating_point() ? t.detach().to(storage) : t.detach(); };
  for (const auto& parameter : module.named_parameters(/*recurse=*/false))
    archive.write(parameter.key(), stored(parameter.value()), /*is_buffer=*/false);
  for (const auto& buffer : module.named_buffers(/*recurse=*/false))
    archive.write(buffer.key(), stored(buffer.value()), /*is_buffer=*/true);
  for (const auto& child : module.named_children()) {
    torch::serialize::OutputArchive child_archive;
    save_module_as(*child.value(), child_archive, storage);
    archive.write(child.key(), child_archive);
  }
}
}  // namespace

void write_module_as(torch::serialize::OutputArchive& archive, const std::string& key,
                     const torch::nn::Module& module, torch::Dtype storage) {
  torch::serialize::OutputArchive part;
  save_module_as(module, part, storage);
  archive.write(key, part);
}

void read_module(torch::serialize::InputArchive& archive, const std::string& key, torch::nn::Module& module) {
  torch::serialize::InputArchive part;
  archive.read(key, part);
  load_module_checked(module, part);
}

void write_optimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                     const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive part;
  optimizer.save(part);
  archive.write(key, part);
}

void read_optimizer(torch::serialize::InputArchive& archive, const std::string& key, torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive part;
  archive.read(key, part);
  optimizer.load(part);
}

}  // namespace trilemma
