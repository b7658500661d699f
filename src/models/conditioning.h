#pragma once
// Class conditioning shared by every family: which labels to draw for, the checks on a
// sampling request, and classifier-free guidance (Ho & Salimans 2022) — labels dropped to a
// "null" class during training so that one network learns both p(x|y) and p(x), and the
// two noise predictions combined at sampling time.
#include <torch/torch.h>

#include "models/generative_model.h"

namespace trilemma {

/// The classes a model with these settings generates on request (what
/// GenerativeModel::num_classes reports): the training data's K when conditional, else 0.
int64_t conditional_classes(const CommonSettings& common);

/// Throws UserError (one line) when `options` asks a model for something it cannot do: a
/// class from an unconditional model, a class outside 0..num_classes-1, or a guidance
/// weight from a model without guidance (or a negative or non-finite one).
void check_class_request(const SampleOptions& options, int64_t num_classes, bool supports_guidance);

/// The n labels a conditional model generates: all options.class_label, or, when it is -1,
/// drawn uniformly from 0..num_classes-1 with the global generator (so a seed fixes them).
torch::Tensor labels_to_sample(int64_t n, const SampleOptions& options, int64_t num_classes,
                               torch::Device device);

/// One-hot float rows (N×num_classes) of int64 labels.
torch::Tensor one_hot_labels(const torch::Tensor& labels, int64_t num_classes);

/// Classifier-free guidance's training-time dropout: each label replaced by null_label
/// with probability p, independently, using the global generator.
torch::Tensor drop_labels(const torch::Tensor& labels, double p, int64_t null_label);

/// ε̂ = ε̂_u + w·(ε̂_c − ε̂_u): w = 0 is the unconditional prediction, w = 1 the conditional
/// one, w > 1 extrapolates away from the unconditional (Ho & Salimans 2022, eq. 6, whose
/// w is ours minus one).
torch::Tensor guided_epsilon(const torch::Tensor& unconditional, const torch::Tensor& conditional,
                             double w);

/// per_class samples of each class in turn (class 0 first): tiled with per_class columns,
/// one row per class. options.class_label is overridden; the rest is passed on.
torch::Tensor sample_by_class(GenerativeModel& model, int64_t per_class, const SampleOptions& options);

}  // namespace trilemma
