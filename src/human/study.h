#pragma once
// A human real-or-fake study (HYPE∞, human/hype_score.h) kept in one SQLite file: the
// models, the images fixed when the study is created (PNG bytes; real ones from the held-out
// test set), the raters, each rater's order of images and every answer. Answers are
// committed one by one in WAL mode with synchronous=FULL, so that a server killed at any
// moment loses nothing that a rater was told was saved, and a restarted server continues
// the same study. One Study object serialises its own use, so that the HTTP server's
// threads may share it.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "human/hype_score.h"

namespace SQLite {
class Database;
}

namespace trilemma::human {

using Json = nlohmann::json;

/// Bumped when the schema changes; a study of another version is refused, not migrated.
constexpr int kStudyFormatVersion = 1;

/// A request the study refuses, with the HTTP status that says why (404 unknown rater or
/// image, 409 an answer out of turn or a second one) and a one-line reason.
class RequestRefused : public std::runtime_error {
 public:
  RequestRefused(int status, const std::string& reason) : std::runtime_error(reason), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

/// A model whose samples the study holds.
struct StudyModel {
  std::string name;     ///< as the report shows it (a run's folder name, or zoo:NAME)
  std::string run;      ///< the run's folder, absolute (how `compare --hype` finds its row)
  std::string family;   ///< vae, dcgan, ddpm, ...
  std::string sampler;  ///< the sampler the images were drawn with
  int64_t step = 0;     ///< the checkpoint's optimiser step
  /// CRC-32 (hex) of the checkpoint file the images were drawn from: which network, even
  /// when a replaced zoo entry has the same step. Empty in studies made before it was kept.
  std::string checkpoint_crc32;
};

/// One image of the study as it is created.
struct StudyImage {
  std::string png;             ///< the PNG file's bytes, as served
  int model = -1;              ///< index into the study's models; -1 = a real image
  int64_t evaluator_class = -1;  ///< real: its label; fake: the evaluator's most likely class
  int64_t source_index = -1;   ///< real: its index in the test set; fake: its index in the draw
};

/// Fixed at creation.
struct StudySettings {
  int64_t session_size = 20;  ///< images per session (even: half real, half fake)
  uint64_t seed = 0;          ///< draws the images and every rater's order
  std::string evaluator;      ///< the evaluator that classified the fakes (name and CRC)
  std::string data;           ///< where the real images came from
};

/// The next image a rater is to judge.
struct NextImage {
  bool done = false;       ///< every image of the study judged
  std::string image;       ///< opaque id for /api/image and the answer; empty when done
  int64_t position = 0;    ///< 0-based place in the rater's order
  int64_t total = 0;       ///< images in the study
};

/// What the server tells a rater after an answer. The truth of single images is never
/// returned; at the end of each session the rater learns their accuracy over it.
struct AnswerReceipt {
  int64_t answered = 0;          ///< by this rater, in all
  int64_t correct = 0;
  bool session_complete = false;  ///< this answer ended a session
  int64_t session_answered = 0;  ///< in the session this answer belongs to
  int64_t session_correct = 0;
};

class Study {
 public:
  /// Writes a new study to `path` (refused if the file exists): built in a temporary file
  /// beside it and renamed, so that an interrupted creation leaves no half-study. Images
  /// are shuffled into random ids. Throws UserError on bad input (no real or no fake
  /// image, an odd session size) or a file that cannot be written.
  static void create(const std::string& path, const StudySettings& settings, const std::vector<StudyModel>& models,
                     const std::vector<StudyImage>& images);
  /// Opens an existing study; UserError (one line naming the file) if it is not one.
  explicit Study(const std::string& path);
  ~Study();
  Study(const Study&) = delete;
  Study& operator=(const Study&) = delete;

  const std::string& path() const { return path_; }
  const StudySettings& settings() const { return settings_; }
  std::vector<StudyModel> models() const;
  int64_t image_count() const { return image_count_; }
  int64_t real_count() const { return real_count_; }
  int64_t rater_count() const;
  int64_t answer_count() const;

  /// A new rater with their own balanced random order of all images; returns their token.
  std::string add_rater();
  /// The rater's next unanswered image; RequestRefused(404) for an unknown rater.
  NextImage next_image(const std::string& rater);
  /// The PNG of an image id; RequestRefused(404) for an unknown one.
  std::string image_png(const std::string& image);
  /// Stores an answer. Refused (RequestRefused): unknown rater or image (404), an image
  /// already answered by this rater (409), or one that is not the rater's next (409).
  AnswerReceipt answer(const std::string& rater, const std::string& image, bool said_real, int64_t response_ms);

  /// Every answer about model `model` (index into models()) and about the real images.
  std::vector<Judgement> judgements(int model) const;
  /// Per-model HYPE∞ with intervals, the split into fakes judged real and reals judged fake,
  /// and per-class error; the reals' own numbers; counts. `replicates` bootstrap draws.
  Json results(int replicates = 1000) const;

 private:
  /// A COUNT(*) query under the lock.
  int64_t locked_count(const std::string& sql) const;

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  mutable std::mutex mutex_;
  // Fixed at creation, so read once when the study is opened.
  StudySettings settings_;
  int64_t image_count_ = 0, real_count_ = 0, model_count_ = 0;
};

/// A rater's order of `real` real and `fake_by_model[m]` fake images of each model: sessions
/// of `session_size`, each half real and half fake while both last (the fakes spread over
/// the models in turn), shuffled within the session. Returns, per position, the index into
/// the concatenation [reals..., model 0's fakes..., model 1's fakes..., ...].
std::vector<int64_t> balanced_order(int64_t real, const std::vector<int64_t>& fake_by_model, int64_t session_size,
                                    uint64_t seed);

}  // namespace trilemma::human
