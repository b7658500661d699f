#include "metrics/class_stats.h"

#include <cmath>
#include <stdexcept>

namespace trilemma::metrics {
namespace {

torch::Tensor checked_probabilities(const torch::Tensor& p) {
  if (p.dim() != 2 || p.size(0) < 1 || p.size(1) < 1)
    throw std::invalid_argument("class statistics: expected N×C probabilities");
  return p.detach().to(torch::kCPU, torch::kFloat64).contiguous();
}

/// p · ln(p / q) with the convention 0 · ln 0 = 0.
torch::Tensor kl_terms(const torch::Tensor& p, const torch::Tensor& q) {
  return torch::where(p > 0, p * (p.clamp_min(1e-300).log() - q.clamp_min(1e-300).log()),
                      torch::zeros_like(p));
}

}  // namespace

ClassifierScore classifier_score(const torch::Tensor& probabilities, int64_t splits) {
  torch::NoGradGuard no_grad;
  const auto p = checked_probabilities(probabilities);
  const int64_t n = p.size(0);
  if (splits < 1 || n < splits)
    throw std::invalid_argument("classifier_score: need at least one sample per split");
  std::vector<double> scores;
  for (int64_t s = 0; s < splits; ++s) {
    // Same partition as the original Inception-score code: part s holds rows
    // [s·N/splits, (s+1)·N/splits).
    const auto part = p.slice(0, s * n / splits, (s + 1) * n / splits);
    const auto marginal = part.mean(0, /*keepdim=*/true);
    const double mean_kl = kl_terms(part, marginal.expand_as(part)).sum(1).mean().item<double>();
    scores.push_back(std::exp(mean_kl));
  }
  ClassifierScore result;
  result.splits = splits;
  for (double s : scores) result.mean += s;
  result.mean /= splits;
  for (double s : scores) result.std += (s - result.mean) * (s - result.mean);
  result.std = std::sqrt(result.std / splits);
  return result;
}

ClassStats class_statistics(const torch::Tensor& probabilities, double covered_share) {
  torch::NoGradGuard no_grad;
  const auto p = checked_probabilities(probabilities);
  const int64_t n = p.size(0), classes = p.size(1);
  const auto [confidence, predicted] = p.max(1);
  const auto counts = torch::bincount(predicted, {}, classes);
  ClassStats stats;
  stats.mean_confidence = confidence.mean().item<double>();
  for (int64_t c = 0; c < classes; ++c) {
    const int64_t count = counts[c].item<int64_t>();
    const double share = static_cast<double>(count) / n;
    stats.histogram.push_back(count);
    stats.shares.push_back(share);
    if (share >= covered_share) ++stats.classes_covered;
    if (share > 0) stats.entropy -= share * std::log(share);
  }
  stats.kl_uniform = std::log(static_cast<double>(classes)) - stats.entropy;
  return stats;
}

}  // namespace trilemma::metrics
