#include "metrics/kid.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

namespace trilemma::metrics {
namespace {

torch::Tensor cubic_kernel(const torch::Tensor& a, const torch::Tensor& b, double d) {
  return (torch::matmul(a, b.t()) / d + 1.0).pow(3);
}

/// m distinct indices out of n by a partial Fisher–Yates shuffle.
std::vector<int64_t> draw_without_replacement(int64_t n, int64_t m, std::mt19937_64& rng) {
  std::vector<int64_t> index(n);
  std::iota(index.begin(), index.end(), 0);
  for (int64_t i = 0; i < m; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, n - 1);
    std::swap(index[i], index[pick(rng)]);
  }
  index.resize(m);
  return index;
}

}  // namespace

double mmd2_unbiased_cubic(const torch::Tensor& x_in, const torch::Tensor& y_in) {
  torch::NoGradGuard no_grad;
  const auto x = x_in.detach().to(torch::kCPU, torch::kFloat64);
  const auto y = y_in.detach().to(torch::kCPU, torch::kFloat64);
  if (x.dim() != 2 || y.dim() != 2 || x.size(1) != y.size(1) || x.size(0) != y.size(0))
    throw std::invalid_argument("mmd2_unbiased_cubic: expected two m×d sets of equal shape");
  const int64_t m = x.size(0);
  if (m < 2) throw std::invalid_argument("mmd2_unbiased_cubic: need m >= 2");
  const double d = static_cast<double>(x.size(1));
  const auto kxx = cubic_kernel(x, x, d);
  const auto kyy = cubic_kernel(y, y, d);
  const auto kxy = cubic_kernel(x, y, d);
  const double md = static_cast<double>(m);
  const double xx = (kxx.sum() - kxx.diagonal().sum()).item<double>();
  const double yy = (kyy.sum() - kyy.diagonal().sum()).item<double>();
  return (xx + yy) / (md * (md - 1.0)) - 2.0 * kxy.sum().item<double>() / (md * md);
}

KidResult kernel_inception_distance(const torch::Tensor& x_in, const torch::Tensor& y_in,
                                    const KidOptions& options) {
  torch::NoGradGuard no_grad;
  const auto x = x_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const auto y = y_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  if (x.dim() != 2 || y.dim() != 2 || x.size(1) != y.size(1))
    throw std::invalid_argument("kernel_inception_distance: expected n×d and m×d features");
  if (options.subsets < 1)
    throw std::invalid_argument("kernel_inception_distance: need at least one subset");
  const int64_t m = std::min({options.subset_size, x.size(0), y.size(0)});
  if (m < 2) throw std::invalid_argument("kernel_inception_distance: need subsets of >= 2 rows");

  std::mt19937_64 rng(options.seed);
  std::vector<double> values;
  values.reserve(options.subsets);
  for (int64_t s = 0; s < options.subsets; ++s) {
    const auto ix = draw_without_replacement(x.size(0), m, rng);
    const auto iy = draw_without_replacement(y.size(0), m, rng);
    const auto tx = torch::tensor(ix, torch::kInt64), ty = torch::tensor(iy, torch::kInt64);
    values.push_back(mmd2_unbiased_cubic(x.index_select(0, tx), y.index_select(0, ty)));
  }
  KidResult result;
  result.subsets = options.subsets;
  result.subset_size = m;
  result.mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  double ss = 0.0;
  for (double v : values) ss += (v - result.mean) * (v - result.mean);
  result.std = std::sqrt(ss / values.size());
  return result;
}

}  // namespace trilemma::metrics
