#pragma once
// Statistics of the evaluator classifier's posteriors p(y|x) over generated images: how
// confidently each sample reads as a digit, and how the samples spread over the classes.
// These catch mode collapse directly (a GAN producing mostly 1s) where distances on
// features only hint at it.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace trilemma::metrics {

/// Share of samples a class must hold to count as covered. 1 % is a tenth of a balanced
/// class's 10 % share: enough that a handful of stray samples do not count as producing a
/// digit, low enough that an under-represented but present class does.
constexpr double kClassCoveredShare = 0.01;

struct ClassifierScore {
  double mean = 0.0;  ///< mean over splits
  double std = 0.0;   ///< population standard deviation over splits
  int64_t splits = 0;
};

/// The Inception-score analogue (Salimans et al. 2016, "Improved techniques for training
/// GANs", sec. 4): exp(E_x KL(p(y|x) ‖ p(y))), computed separately on `splits` contiguous
/// parts of the N×C posteriors and averaged as in the original code. Ranges from 1 (every
/// sample the same class, or totally uncertain) to C (confident and balanced).
/// Throws std::invalid_argument if N < splits or the input is not N×C.
ClassifierScore classifier_score(const torch::Tensor& probabilities, int64_t splits = 10);

struct ClassStats {
  std::vector<int64_t> histogram;  ///< samples per predicted (argmax) class
  std::vector<double> shares;      ///< histogram / N
  int64_t classes_covered = 0;     ///< classes with share >= kClassCoveredShare
  double entropy = 0.0;            ///< of `shares`, in nats (ln C when balanced)
  double kl_uniform = 0.0;         ///< KL(shares ‖ uniform) = ln C − entropy, in nats
  double mean_confidence = 0.0;    ///< mean of max_y p(y|x)
};

/// Class histogram and the numbers derived from it, from N×C posteriors.
ClassStats class_statistics(const torch::Tensor& probabilities,
                            double covered_share = kClassCoveredShare);

}  // namespace trilemma::metrics
