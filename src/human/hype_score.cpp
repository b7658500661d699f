#include "human/hype_score.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

namespace trilemma::human {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Dense indices for raters and images, so that a bootstrap replicate is a vector of counts.
struct Indexed {
  std::vector<int> rater;  ///< per judgement
  std::vector<int> image;  ///< per judgement
  int raters = 0;
  std::vector<int> real_images, fake_images;  ///< dense image indices of each kind
};

Indexed index_judgements(const std::vector<Judgement>& judgements) {
  Indexed indexed;
  std::map<int64_t, int> raters;
  std::map<std::pair<int64_t, bool>, int> images;
  for (const Judgement& j : judgements) {
    auto [r, new_rater] = raters.emplace(j.rater, static_cast<int>(raters.size()));
    auto [i, new_image] = images.emplace(std::make_pair(j.image, j.is_real), static_cast<int>(images.size()));
    if (new_image) (j.is_real ? indexed.real_images : indexed.fake_images).push_back(i->second);
    indexed.rater.push_back(r->second);
    indexed.image.push_back(i->second);
  }
  indexed.raters = static_cast<int>(raters.size());
  return indexed;
}

// Balanced error of weighted judgements; NaN when either kind has no weight.
double weighted_score(const std::vector<Judgement>& judgements, const Indexed& indexed,
                      const std::vector<double>& rater_weight, const std::vector<double>& image_weight) {
  double wrong[2] = {0, 0}, total[2] = {0, 0};
  for (size_t k = 0; k < judgements.size(); ++k) {
    const double w = rater_weight[indexed.rater[k]] * image_weight[indexed.image[k]];
    const int kind = judgements[k].is_real ? 1 : 0;
    total[kind] += w;
    if (judgements[k].wrong()) wrong[kind] += w;
  }
  if (total[0] == 0 || total[1] == 0) return kNaN;
  return 0.5 * (wrong[0] / total[0] + wrong[1] / total[1]);
}

double percentile(const std::vector<double>& sorted_values, double q) {
  // Linear interpolation between closest ranks (numpy's default).
  const double position = q * static_cast<double>(sorted_values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted_values.size() - 1);
  return sorted_values[below] + (position - below) * (sorted_values[above] - sorted_values[below]);
}

}  // namespace

HypeScore hype_point_score(const std::vector<Judgement>& judgements) {
  HypeScore result;
  int64_t fakes_said_real = 0, reals_said_fake = 0;
  std::map<int64_t, bool> raters;
  for (const Judgement& j : judgements) {
    raters[j.rater] = true;
    if (j.is_real) {
      ++result.real_judgements;
      reals_said_fake += !j.said_real;
    } else {
      ++result.fake_judgements;
      fakes_said_real += j.said_real;
    }
  }
  result.raters = static_cast<int64_t>(raters.size());
  result.fakes_judged_real =
      result.fake_judgements > 0 ? static_cast<double>(fakes_said_real) / result.fake_judgements : kNaN;
  result.reals_judged_fake =
      result.real_judgements > 0 ? static_cast<double>(reals_said_fake) / result.real_judgements : kNaN;
  result.score = 0.5 * (result.fakes_judged_real + result.reals_judged_fake);
  result.ci_low = result.ci_high = kNaN;
  return result;
}

HypeScore hype_score(const std::vector<Judgement>& judgements, int replicates, uint64_t seed) {
  HypeScore result = hype_point_score(judgements);
  if (std::isnan(result.score) || replicates <= 0) return result;
  const Indexed indexed = index_judgements(judgements);
  const int images = static_cast<int>(indexed.real_images.size() + indexed.fake_images.size());
  std::mt19937_64 generator(seed);
  std::vector<double> scores;
  scores.reserve(replicates);
  std::vector<double> rater_weight(indexed.raters), image_weight(images);
  auto redraw = [&generator](const std::vector<int>& members, std::vector<double>& weight) {
    std::uniform_int_distribution<size_t> pick(0, members.size() - 1);
    for (size_t k = 0; k < members.size(); ++k) weight[members[pick(generator)]] += 1;
  };
  std::vector<int> all_raters(indexed.raters);
  for (int r = 0; r < indexed.raters; ++r) all_raters[r] = r;
  for (int b = 0; b < replicates; ++b) {
    std::fill(rater_weight.begin(), rater_weight.end(), 0.0);
    std::fill(image_weight.begin(), image_weight.end(), 0.0);
    redraw(all_raters, rater_weight);
    redraw(indexed.real_images, image_weight);
    redraw(indexed.fake_images, image_weight);
    const double score = weighted_score(judgements, indexed, rater_weight, image_weight);
    if (!std::isnan(score)) scores.push_back(score);
  }
  if (scores.empty()) return result;
  std::sort(scores.begin(), scores.end());
  result.ci_low = percentile(scores, 0.025);
  result.ci_high = percentile(scores, 0.975);
  return result;
}

}  // namespace trilemma::human
