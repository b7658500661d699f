#pragma once
// HYPE∞ (Zhou et al., "HYPE: A Benchmark for Human eYe Perceptual Evaluation of Generative
// Models", NeurIPS 2019, §3.2): people shown real and generated images one at a time, with
// no time limit, say which is which; a model's score is their error rate over its fakes and
// the real images together. 50 % means the fakes cannot be told from real; 0 % means every
// image was judged right. The paper shows each rater 50 reals and 50 fakes, so its error
// rate weighs both halves equally; a study here may hold more reals than one model's fakes
// (the reals are shared by every model), so the score is that balanced error,
// ½ (fakes judged real / fakes + reals judged fake / reals), which is the paper's error rate
// whenever the two counts are equal. The 95 % interval is the paper's bootstrap over raters
// and images (§3.2, "we bootstrap ... resampling both evaluators and images").
#include <cstdint>
#include <vector>

namespace trilemma::human {

/// One rater's judgement of one image.
struct Judgement {
  int64_t rater = 0;       ///< any id, shared by a rater's judgements
  int64_t image = 0;       ///< any id, shared by judgements of the same image
  bool is_real = false;    ///< the truth
  bool said_real = false;  ///< the answer
  bool wrong() const { return is_real != said_real; }
};

struct HypeScore {
  double score = 0.0;              ///< balanced error rate in [0, 1]; NaN without fakes or reals
  double fakes_judged_real = 0.0;  ///< share of the fakes' judgements that said "real"
  double reals_judged_fake = 0.0;  ///< share of the reals' judgements that said "fake"
  int64_t fake_judgements = 0;
  int64_t real_judgements = 0;
  int64_t raters = 0;
  double ci_low = 0.0;   ///< 2.5th percentile of the bootstrap scores (NaN when not computed)
  double ci_high = 0.0;  ///< 97.5th percentile
};

/// The point estimate only (no interval).
HypeScore hype_point_score(const std::vector<Judgement>& judgements);

/// The score and its bootstrap 95 % interval: `replicates` times, draw the raters, the real
/// images and the fake images with replacement (each separately, as many as there are), weigh
/// each judgement by how often its rater and its image were drawn, and score; the interval is
/// the 2.5th and 97.5th percentiles of those scores. Replicates with no fake or no real weight
/// left are skipped. Deterministic for a given `seed`.
HypeScore hype_score(const std::vector<Judgement>& judgements, int replicates = 1000, uint64_t seed = 0);

}  // namespace trilemma::human
