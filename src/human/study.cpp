#include "human/study.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/error.h"

namespace trilemma::human {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE study(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE models(id INTEGER PRIMARY KEY, name TEXT NOT NULL, run TEXT NOT NULL, family TEXT NOT NULL,
                    sampler TEXT NOT NULL, step INTEGER NOT NULL, checkpoint_crc32 TEXT);
-- model_id NULL: a real image. token: the only id a browser sees.
CREATE TABLE images(id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, model_id INTEGER REFERENCES models(id),
                    evaluator_class INTEGER NOT NULL, source_index INTEGER NOT NULL, png BLOB NOT NULL);
CREATE TABLE raters(id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE schedule(rater_id INTEGER NOT NULL REFERENCES raters(id), position INTEGER NOT NULL,
                      image_id INTEGER NOT NULL REFERENCES images(id), PRIMARY KEY(rater_id, position));
CREATE TABLE answers(rater_id INTEGER NOT NULL REFERENCES raters(id), image_id INTEGER NOT NULL REFERENCES images(id),
                     position INTEGER NOT NULL, said_real INTEGER NOT NULL CHECK(said_real IN (0, 1)),
                     answered_at TEXT NOT NULL, response_ms INTEGER NOT NULL, PRIMARY KEY(rater_id, image_id));
)sql";

// 128 random bits as hex: unguessable ids for raters and images.
std::string random_token() {
  static thread_local std::random_device device;
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (int word = 0; word < 4; ++word) {
    uint32_t bits = device();
    for (int k = 0; k < 8; ++k, bits >>= 4) token += hex[bits & 15];
  }
  return token;
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  char with_ms[48];
  std::snprintf(with_ms, sizeof with_ms, "%s.%03dZ", buffer, static_cast<int>(ms));
  return with_ms;
}

std::string study_value(SQLite::Database& db, const std::string& key) {
  SQLite::Statement query(db, "SELECT value FROM study WHERE key = ?");
  query.bind(1, key);
  return query.executeStep() ? query.getColumn(0).getString() : std::string();
}

int64_t count(SQLite::Database& db, const std::string& sql) { return db.execAndGet(sql).getInt64(); }

// Durability for a server that may be killed at any moment: WAL, and each commit synced.
void set_durable_mode(SQLite::Database& db) {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.setBusyTimeout(5000);
}

}  // namespace

std::vector<int64_t> balanced_order(int64_t real, const std::vector<int64_t>& fake_by_model, int64_t session_size,
                                    uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<int64_t> reals(real);
  for (int64_t k = 0; k < real; ++k) reals[k] = k;
  std::shuffle(reals.begin(), reals.end(), generator);
  // Each model's fakes shuffled, then dealt in turn (models in a new random order each
  // round), so that every stretch of fakes holds every model about equally.
  std::vector<std::vector<int64_t>> per_model;
  int64_t offset = real;
  for (int64_t n : fake_by_model) {
    std::vector<int64_t> fakes(n);
    for (int64_t k = 0; k < n; ++k) fakes[k] = offset + k;
    std::shuffle(fakes.begin(), fakes.end(), generator);
    per_model.push_back(std::move(fakes));
    offset += n;
  }
  std::vector<int64_t> fakes;
  std::vector<size_t> models(per_model.size());
  for (size_t m = 0; m < models.size(); ++m) models[m] = m;
  for (size_t round = 0;; ++round) {
    std::shuffle(models.begin(), models.end(), generator);
    bool any = false;
    for (size_t m : models)
      if (round < per_model[m].size()) {
        fakes.push_back(per_model[m][round]);
        any = true;
      }
    if (!any) break;
  }
  std::vector<int64_t> order;
  size_t next_real = 0, next_fake = 0;
  const size_t half = static_cast<size_t>(session_size / 2);
  while (next_real < reals.size() || next_fake < fakes.size()) {
    std::vector<int64_t> session;
    size_t take_real = std::min(half, reals.size() - next_real), take_fake = std::min(half, fakes.size() - next_fake);
    // When one kind runs out, the other fills the session.
    const size_t short_by = 2 * half - take_real - take_fake;
    take_real = std::min(reals.size() - next_real, take_real + short_by);
    take_fake = std::min(fakes.size() - next_fake, take_fake + (2 * half - take_real - take_fake));
    session.insert(session.end(), reals.begin() + next_real, reals.begin() + next_real + take_real);
    session.insert(session.end(), fakes.begin() + next_fake, fakes.begin() + next_fake + take_fake);
    next_real += take_real;
    next_fake += take_fake;
    std::shuffle(session.begin(), session.end(), generator);
    order.insert(order.end(), session.begin(), session.end());
  }
  return order;
}

void Study::create(const std::string& path, const StudySettings& settings, const std::vector<StudyModel>& models,
                   const std::vector<StudyImage>& images) {
  if (fs::exists(path)) throw UserError(path + ": already exists (a study is never overwritten)");
  if (settings.session_size < 2 || settings.session_size % 2 != 0)
    throw UserError("the session size must be even and at least 2 (half real, half fake), not " +
                    std::to_string(settings.session_size));
  const bool any_real = std::any_of(images.begin(), images.end(), [](const StudyImage& i) { return i.model < 0; });
  const bool any_fake = std::any_of(images.begin(), images.end(), [](const StudyImage& i) { return i.model >= 0; });
  if (!any_real || !any_fake) throw UserError("a study needs both real and generated images");
  const fs::path target(path);
  const fs::path temporary = target.parent_path() / (target.filename().string() + ".creating");
  fs::remove(temporary);
  try {
    {
      SQLite::Database db(temporary.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      SQLite::Transaction transaction(db);
      db.exec(kSchema);
      SQLite::Statement put(db, "INSERT INTO study(key, value) VALUES (?, ?)");
      const std::pair<std::string, std::string> values[] = {
          {"format_version", std::to_string(kStudyFormatVersion)},
          {"created_at", utc_now()},
          {"session_size", std::to_string(settings.session_size)},
          {"seed", std::to_string(settings.seed)},
          {"evaluator", settings.evaluator},
          {"data", settings.data}};
      for (const auto& [key, value] : values) {
        put.bind(1, key);
        put.bind(2, value);
        put.exec();
        put.reset();
      }
      SQLite::Statement add_model(
          db, "INSERT INTO models(id, name, run, family, sampler, step, checkpoint_crc32) VALUES (?,?,?,?,?,?,?)");
      for (size_t m = 0; m < models.size(); ++m) {
        add_model.bind(1, static_cast<int64_t>(m));
        add_model.bind(2, models[m].name);
        add_model.bind(3, models[m].run);
        add_model.bind(4, models[m].family);
        add_model.bind(5, models[m].sampler);
        add_model.bind(6, models[m].step);
        add_model.bind(7, models[m].checkpoint_crc32);
        add_model.exec();
        add_model.reset();
      }
      // Stored in a random order, so that not even the row order follows real/fake.
      std::vector<size_t> order(images.size());
      for (size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::shuffle(order.begin(), order.end(), std::mt19937_64(settings.seed ^ 0x5eedULL));
      SQLite::Statement add_image(
          db, "INSERT INTO images(token, model_id, evaluator_class, source_index, png) VALUES (?,?,?,?,?)");
      for (size_t k : order) {
        const StudyImage& image = images[k];
        if (image.model >= static_cast<int>(models.size())) throw UserError("an image names a model the study lacks");
        add_image.bind(1, random_token());
        if (image.model >= 0) add_image.bind(2, static_cast<int64_t>(image.model));
        else add_image.bind(2);
        add_image.bind(3, image.evaluator_class);
        add_image.bind(4, image.source_index);
        add_image.bind(5, image.png.data(), static_cast<int>(image.png.size()));
        add_image.exec();
        add_image.reset();
      }
      transaction.commit();
      // WAL is a property of the file: set once here, so that opening a study later writes
      // nothing to it until an answer comes.
      db.exec("PRAGMA journal_mode = WAL");
    }
    fs::rename(temporary, target);
  } catch (const SQLite::Exception& e) {
    fs::remove(temporary);
    throw UserError(path + ": cannot write the study (" + e.what() + ")");
  } catch (...) {
    fs::remove(temporary);
    throw;
  }
}

Study::Study(const std::string& path) : path_(path) {
  if (!fs::is_regular_file(path)) throw UserError(path + ": no such study file");
  try {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE);
    if (!db_->tableExists("study") || !db_->tableExists("answers"))
      throw UserError(path + ": not a trilemma hype study");
    const std::string version = study_value(*db_, "format_version");
    if (version != std::to_string(kStudyFormatVersion))
      throw UserError(path + ": study format " + (version.empty() ? "unknown" : version) + ", this trilemma reads " +
                      std::to_string(kStudyFormatVersion));
    set_durable_mode(*db_);
    settings_.session_size = std::stoll(study_value(*db_, "session_size"));
    settings_.seed = std::stoull(study_value(*db_, "seed"));
    settings_.evaluator = study_value(*db_, "evaluator");
    settings_.data = study_value(*db_, "data");
    image_count_ = count(*db_, "SELECT COUNT(*) FROM images");
    real_count_ = count(*db_, "SELECT COUNT(*) FROM images WHERE model_id IS NULL");
    model_count_ = count(*db_, "SELECT COUNT(*) FROM models");
  } catch (const SQLite::Exception& e) {
    throw UserError(path + ": not a readable study (" + e.what() + ")");
  }
}

Study::~Study() = default;

std::vector<StudyModel> Study::models() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<StudyModel> models;
  // Studies made before the checkpoint's CRC was kept have no such column: read as empty.
  SQLite::Statement has_crc(*db_, "SELECT COUNT(*) FROM pragma_table_info('models') WHERE name = 'checkpoint_crc32'");
  has_crc.executeStep();
  const std::string crc_column = has_crc.getColumn(0).getInt64() > 0 ? "checkpoint_crc32" : "''";
  SQLite::Statement query(*db_, "SELECT name, run, family, sampler, step, " + crc_column + " FROM models ORDER BY id");
  while (query.executeStep())
    models.push_back({query.getColumn(0).getString(), query.getColumn(1).getString(), query.getColumn(2).getString(),
                      query.getColumn(3).getString(), query.getColumn(4).getInt64(), query.getColumn(5).getString()});
  return models;
}

int64_t Study::locked_count(const std::string& sql) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count(*db_, sql);
}
int64_t Study::rater_count() const { return locked_count("SELECT COUNT(*) FROM raters"); }
int64_t Study::answer_count() const { return locked_count("SELECT COUNT(*) FROM answers"); }

std::string Study::add_rater() {
  std::lock_guard<std::mutex> lock(mutex_);
  SQLite::Transaction transaction(*db_);
  const std::string token = random_token();
  SQLite::Statement add(*db_, "INSERT INTO raters(token, created_at) VALUES (?, ?)");
  add.bind(1, token);
  add.bind(2, utc_now());
  add.exec();
  const int64_t rater = db_->getLastInsertRowid();
  // The images as balanced_order indexes them: reals, then each model's fakes.
  std::vector<int64_t> ids;
  SQLite::Statement reals(*db_, "SELECT id FROM images WHERE model_id IS NULL ORDER BY id");
  while (reals.executeStep()) ids.push_back(reals.getColumn(0).getInt64());
  const int64_t real = static_cast<int64_t>(ids.size());
  std::vector<int64_t> fake_by_model;
  SQLite::Statement fakes(*db_, "SELECT id FROM images WHERE model_id = ? ORDER BY id");
  for (int64_t m = 0; m < model_count_; ++m) {
    fakes.bind(1, m);
    int64_t n = 0;
    while (fakes.executeStep()) {
      ids.push_back(fakes.getColumn(0).getInt64());
      ++n;
    }
    fakes.reset();
    fake_by_model.push_back(n);
  }
  const std::vector<int64_t> order =
      balanced_order(real, fake_by_model, settings_.session_size, settings_.seed * 1000003ULL + static_cast<uint64_t>(rater));
  SQLite::Statement place(*db_, "INSERT INTO schedule(rater_id, position, image_id) VALUES (?, ?, ?)");
  for (size_t p = 0; p < order.size(); ++p) {
    place.bind(1, rater);
    place.bind(2, static_cast<int64_t>(p));
    place.bind(3, ids[order[p]]);
    place.exec();
    place.reset();
  }
  transaction.commit();
  return token;
}

namespace {

int64_t rater_id(SQLite::Database& db, const std::string& token) {
  SQLite::Statement query(db, "SELECT id FROM raters WHERE token = ?");
  query.bind(1, token);
  if (!query.executeStep()) throw RequestRefused(404, "unknown rater");
  return query.getColumn(0).getInt64();
}

int64_t answered_by(SQLite::Database& db, int64_t rater) {
  SQLite::Statement query(db, "SELECT COUNT(*) FROM answers WHERE rater_id = ?");
  query.bind(1, rater);
  query.executeStep();
  return query.getColumn(0).getInt64();
}

// Answers of one rater at positions [from, to), and how many were right.
std::pair<int64_t, int64_t> tally(SQLite::Database& db, int64_t rater, int64_t from, int64_t to) {
  SQLite::Statement query(db,
                          "SELECT COUNT(*), COALESCE(SUM(a.said_real = (i.model_id IS NULL)), 0) FROM answers a "
                          "JOIN images i ON i.id = a.image_id WHERE a.rater_id = ? AND a.position >= ? AND "
                          "a.position < ?");
  query.bind(1, rater);
  query.bind(2, from);
  query.bind(3, to);
  query.executeStep();
  return {query.getColumn(0).getInt64(), query.getColumn(1).getInt64()};
}

}  // namespace

NextImage Study::next_image(const std::string& rater_token) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t rater = rater_id(*db_, rater_token);
  NextImage next;
  next.total = image_count_;
  next.position = answered_by(*db_, rater);
  if (next.position >= next.total) {
    next.done = true;
    return next;
  }
  SQLite::Statement query(*db_,
                          "SELECT i.token FROM schedule s JOIN images i ON i.id = s.image_id "
                          "WHERE s.rater_id = ? AND s.position = ?");
  query.bind(1, rater);
  query.bind(2, next.position);
  if (!query.executeStep()) throw RequestRefused(500, "the rater's order is incomplete");
  next.image = query.getColumn(0).getString();
  return next;
}

std::string Study::image_png(const std::string& image) {
  std::lock_guard<std::mutex> lock(mutex_);
  SQLite::Statement query(*db_, "SELECT png FROM images WHERE token = ?");
  query.bind(1, image);
  if (!query.executeStep()) throw RequestRefused(404, "unknown image");
  const SQLite::Column png = query.getColumn(0);
  return std::string(static_cast<const char*>(png.getBlob()), static_cast<size_t>(png.getBytes()));
}

AnswerReceipt Study::answer(const std::string& rater_token, const std::string& image, bool said_real,
                            int64_t response_ms) {
  const int64_t session_size = settings_.session_size;
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t rater = rater_id(*db_, rater_token);
  SQLite::Statement find(*db_, "SELECT id FROM images WHERE token = ?");
  find.bind(1, image);
  if (!find.executeStep()) throw RequestRefused(404, "unknown image");
  const int64_t image_id = find.getColumn(0).getInt64();
  SQLite::Transaction transaction(*db_);
  SQLite::Statement seen(*db_, "SELECT 1 FROM answers WHERE rater_id = ? AND image_id = ?");
  seen.bind(1, rater);
  seen.bind(2, image_id);
  if (seen.executeStep()) throw RequestRefused(409, "this rater has already answered this image");
  const int64_t position = answered_by(*db_, rater);
  SQLite::Statement current(*db_, "SELECT image_id FROM schedule WHERE rater_id = ? AND position = ?");
  current.bind(1, rater);
  current.bind(2, position);
  if (!current.executeStep() || current.getColumn(0).getInt64() != image_id)
    throw RequestRefused(409, "not the image this rater is shown now");
  SQLite::Statement add(*db_,
                        "INSERT INTO answers(rater_id, image_id, position, said_real, answered_at, response_ms) "
                        "VALUES (?, ?, ?, ?, ?, ?)");
  add.bind(1, rater);
  add.bind(2, image_id);
  add.bind(3, position);
  add.bind(4, said_real ? 1 : 0);
  add.bind(5, utc_now());
  add.bind(6, response_ms);
  add.exec();
  transaction.commit();

  AnswerReceipt receipt;
  const int64_t total = image_count_;
  std::tie(receipt.answered, receipt.correct) = tally(*db_, rater, 0, total);
  const int64_t session_start = position / session_size * session_size;
  const int64_t session_end = std::min(session_start + session_size, total);
  receipt.session_complete = position + 1 == session_end;
  std::tie(receipt.session_answered, receipt.session_correct) = tally(*db_, rater, session_start, session_end);
  return receipt;
}

std::vector<Judgement> Study::judgements(int model) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Judgement> judgements;
  SQLite::Statement query(*db_,
                          "SELECT a.rater_id, a.image_id, i.model_id IS NULL, a.said_real FROM answers a "
                          "JOIN images i ON i.id = a.image_id WHERE i.model_id IS NULL OR i.model_id = ? "
                          "ORDER BY a.rater_id, a.position");
  query.bind(1, static_cast<int64_t>(model));
  while (query.executeStep())
    judgements.push_back({query.getColumn(0).getInt64(), query.getColumn(1).getInt64(),
                          query.getColumn(2).getInt64() != 0, query.getColumn(3).getInt64() != 0});
  return judgements;
}

namespace {

// Per evaluator class: how many judgements of the given images and what share said "real".
Json per_class(SQLite::Database& db, const std::string& which_images) {
  SQLite::Statement query(db,
                          "SELECT i.evaluator_class, COUNT(*), SUM(a.said_real) FROM answers a JOIN images i ON "
                          "i.id = a.image_id WHERE " +
                              which_images + " GROUP BY i.evaluator_class ORDER BY i.evaluator_class");
  Json classes = Json::array();
  while (query.executeStep()) {
    const int64_t n = query.getColumn(1).getInt64();
    classes.push_back({{"class", query.getColumn(0).getInt64()},
                       {"judgements", n},
                       {"judged_real", static_cast<double>(query.getColumn(2).getInt64()) / n}});
  }
  return classes;
}

Json number_or_null(double value) { return std::isnan(value) ? Json(nullptr) : Json(value); }

}  // namespace

Json Study::results(int replicates) const {
  const std::vector<StudyModel> study_models = models();
  Json result;
  result["study"] = path_;
  result["format_version"] = kStudyFormatVersion;
  result["definition"] =
      "HYPE-infinity (Zhou et al. 2019): the raters' error rate, 0.5 x (fakes judged real + reals judged fake); "
      "50 % = indistinguishable from real; 95 % interval: bootstrap over raters and images";
  result["bootstrap_replicates"] = replicates;
  result["evaluator"] = settings_.evaluator;
  result["raters"] = rater_count();
  result["answers"] = answer_count();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result["images"] = image_count_;
    Json reals;
    reals["images"] = real_count_;
    reals["judgements"] = count(*db_, "SELECT COUNT(*) FROM answers a JOIN images i ON i.id = a.image_id "
                                      "WHERE i.model_id IS NULL");
    reals["per_class"] = per_class(*db_, "i.model_id IS NULL");
    result["reals"] = reals;
  }
  result["models"] = Json::array();
  for (size_t m = 0; m < study_models.size(); ++m) {
    const HypeScore score = hype_score(judgements(static_cast<int>(m)), replicates, /*seed=*/m);
    const StudyModel& model = study_models[m];
    Json row = {{"name", model.name},
                {"run", model.run},
                {"family", model.family},
                {"sampler", model.sampler},
                {"step", model.step},
                {"checkpoint_crc32", model.checkpoint_crc32},
                {"hype", number_or_null(score.score)},
                {"ci95", {number_or_null(score.ci_low), number_or_null(score.ci_high)}},
                {"fakes_judged_real", number_or_null(score.fakes_judged_real)},
                {"reals_judged_fake", number_or_null(score.reals_judged_fake)},
                {"fake_judgements", score.fake_judgements},
                {"real_judgements", score.real_judgements},
                {"raters", score.raters}};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      row["per_class"] = per_class(*db_, "i.model_id = " + std::to_string(m));
    }
    result["models"].push_back(row);
  }
  return result;
}

}  // namespace trilemma::human
