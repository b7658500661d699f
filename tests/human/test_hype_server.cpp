// The HYPE server over HTTP, in process: a client answers whole sessions and the stored
// rows and scores are checked against what it sent; every kind of bad request is refused
// with its 4xx and a one-line reason; several raters at once; a reopened study continues.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <httplib.h>

#include <cmath>
#include <functional>
#include <memory>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "human/hype_server.h"
#include "human/study.h"
#include "io/image.h"
#include "support/test_support.h"

namespace trilemma::human {
namespace {

using testing::TempDir;

constexpr int kModels = 2, kFakesPerModel = 6, kReals = 12, kSessionSize = 6;
constexpr int kImages = kModels * kFakesPerModel + kReals;

// A study of two "models" whose images are random noise tiles; which is which is read back
// from the database by the test only.
std::string make_study(const TempDir& dir) {
  std::vector<StudyModel> models = {{"model-a", "/runs/a", "vae", "decoder", 10, "0badcafe"},
                                    {"model-b", "/runs/b", "dcgan", "generator", 20, ""}};
  std::vector<StudyImage> images;
  torch::manual_seed(0);
  for (int m = 0; m < kModels; ++m)
    for (int k = 0; k < kFakesPerModel; ++k)
      images.push_back({io::encode_png(torch::rand({1, 28, 28})), m, k % 10, k});
  for (int k = 0; k < kReals; ++k) images.push_back({io::encode_png(torch::rand({1, 28, 28})), -1, k % 10, 100 + k});
  StudySettings settings;
  settings.session_size = kSessionSize;
  settings.seed = 3;
  const std::string path = dir.file("study.db");
  Study::create(path, settings, models, images);
  return path;
}

// The truth about an image id, from the database (the server never says).
struct Truth {
  int model = -1;  ///< -1 real
  int64_t source_index = 0;
};
Truth truth_of(const std::string& db, const std::string& token) {
  SQLite::Database reader(db, SQLite::OPEN_READONLY);
  SQLite::Statement query(reader, "SELECT model_id, source_index FROM images WHERE token = ?");
  query.bind(1, token);
  EXPECT_TRUE(query.executeStep());
  return {query.getColumn(0).isNull() ? -1 : query.getColumn(0).getInt(), query.getColumn(1).getInt64()};
}

// A served study on a free port of 127.0.0.1.
class ServedStudy {
 public:
  explicit ServedStudy(const std::string& path) : study_(path), server_(study_) {
    port_ = server_.bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_.serve(); });
  }
  ~ServedStudy() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }
  Study& study() { return study_; }

 private:
  Study study_;
  HypeServer server_;
  int port_ = 0;
  std::thread thread_;
};

Json json_of(const httplib::Result& result) {
  EXPECT_TRUE(result) << "no response";
  return result ? Json::parse(result->body, nullptr, false) : Json();
}

std::string new_rater(httplib::Client& client) {
  const auto created = client.Post("/api/raters");
  EXPECT_EQ(created->status, 201);
  return json_of(created).value("rater", std::string());
}

httplib::Result post_answer(httplib::Client& client, const std::string& rater, const std::string& image,
                            const std::string& answer, int ms = 500) {
  const Json body = {{"rater", rater}, {"image", image}, {"answer", answer}, {"ms", ms}};
  return client.Post("/api/answers", body.dump(), "application/json");
}

// The strategy the test rater follows: reals right; model a's fakes judged real when their
// index is even (3 of 6); model b's fakes always judged real. So model a scores
// ½ (3/6 + 0) = 0.25 and model b ½ (6/6 + 0) = 0.5.
bool says_real(const Truth& truth) { return truth.model < 0 || truth.model == 1 || truth.source_index % 2 == 0; }

TEST(HypeServer, AFullSessionIsStoredAndScored) {
  TempDir dir;
  const std::string db = make_study(dir);
  ServedStudy served(db);
  httplib::Client client = served.client();
  const std::string page = client.Get("/")->body;
  EXPECT_NE(page.find("Real or fake?"), std::string::npos);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos) << "the page must not load anything from elsewhere";

  const std::string rater = new_rater(client);
  ASSERT_EQ(rater.size(), 32u);
  int correct_so_far = 0, session_correct = 0;
  for (int position = 0; position < kImages; ++position) {
    const Json next = json_of(client.Get(("/api/next?rater=" + rater).c_str()));
    ASSERT_FALSE(next["done"].get<bool>());
    EXPECT_EQ(next["position"], position);
    EXPECT_EQ(next["total"], kImages);
    const std::string image = next["image"];
    const auto png = client.Get(("/api/image?id=" + image).c_str());
    ASSERT_EQ(png->status, 200);
    EXPECT_EQ(png->get_header_value("Content-Type"), "image/png");
    EXPECT_EQ(png->body.substr(1, 3), "PNG");
    const Truth truth = truth_of(db, image);
    const bool said_real = says_real(truth);
    const bool right = said_real == (truth.model < 0);
    correct_so_far += right;
    session_correct += right;
    const Json receipt = json_of(post_answer(client, rater, image, said_real ? "real" : "fake", 100 + position));
    EXPECT_EQ(receipt["answered"], position + 1);
    EXPECT_EQ(receipt["correct"], correct_so_far);
    const bool ends_session = (position + 1) % kSessionSize == 0;
    EXPECT_EQ(receipt["session_complete"], ends_session) << "position " << position;
    if (ends_session) {
      EXPECT_EQ(receipt["session_answered"], kSessionSize);
      EXPECT_EQ(receipt["session_correct"], session_correct);
      session_correct = 0;
    }
  }
  EXPECT_TRUE(json_of(client.Get(("/api/next?rater=" + rater).c_str()))["done"].get<bool>());

  // Every answer is in the database as sent.
  SQLite::Database reader(db, SQLite::OPEN_READONLY);
  EXPECT_EQ(reader.execAndGet("SELECT COUNT(*) FROM answers").getInt(), kImages);
  SQLite::Statement rows(reader,
                         "SELECT a.position, a.said_real, a.response_ms, i.token FROM answers a JOIN images i ON "
                         "i.id = a.image_id ORDER BY a.position");
  int position = 0;
  while (rows.executeStep()) {
    EXPECT_EQ(rows.getColumn(0).getInt(), position);
    EXPECT_EQ(rows.getColumn(1).getInt() != 0, says_real(truth_of(db, rows.getColumn(3).getString())));
    EXPECT_EQ(rows.getColumn(2).getInt(), 100 + position);
    ++position;
  }
  EXPECT_EQ(position, kImages);

  const Json results = json_of(client.Get("/api/results"));
  ASSERT_EQ(results["models"].size(), 2u);
  EXPECT_DOUBLE_EQ(results["models"][0]["hype"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(results["models"][0]["fakes_judged_real"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(results["models"][0]["reals_judged_fake"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(results["models"][1]["hype"].get<double>(), 0.5);
  EXPECT_EQ(results["models"][1]["fake_judgements"], kFakesPerModel);
  EXPECT_EQ(results["models"][1]["real_judgements"], kReals);
  EXPECT_EQ(results["raters"], 1);
  const Json ci = results["models"][0]["ci95"];
  EXPECT_LE(ci[0].get<double>(), 0.25);
  EXPECT_GE(ci[1].get<double>(), 0.25);
  // Per class: model b's fakes were all judged real, whatever their class.
  for (const auto& row : results["models"][1]["per_class"]) EXPECT_DOUBLE_EQ(row["judged_real"].get<double>(), 1.0);
  const std::string html = client.Get("/results")->body;
  EXPECT_NE(html.find("model-a"), std::string::npos);
  EXPECT_NE(html.find("25.0 %"), std::string::npos);
}

struct BadRequest {
  std::string what;
  std::function<httplib::Result(httplib::Client&)> send;
  int status;
  std::string reason;  ///< a fragment of the one-line error
};

TEST(HypeServer, BadRequestsAreRefusedWithAReason) {
  TempDir dir;
  const std::string db = make_study(dir);
  ServedStudy served(db);
  httplib::Client client = served.client();
  const std::string rater = new_rater(client);
  const std::string current = json_of(client.Get(("/api/next?rater=" + rater).c_str()))["image"];
  // An image that is not this rater's current one.
  std::string other;
  {
    SQLite::Database reader(db, SQLite::OPEN_READONLY);
    SQLite::Statement query(reader, "SELECT token FROM images WHERE token != ? LIMIT 1");
    query.bind(1, current);
    query.executeStep();
    other = query.getColumn(0).getString();
  }
  const std::string unknown(32, 'a');
  auto get = [](std::string path) { return [path](httplib::Client& c) { return c.Get(path.c_str()); }; };
  auto post = [](std::string path, std::string body, std::string type = "application/json") {
    return [path, body, type](httplib::Client& c) { return c.Post(path.c_str(), body, type.c_str()); };
  };
  auto answer = [&](Json body) { return post("/api/answers", body.dump()); };
  const Json good = {{"rater", rater}, {"image", current}, {"answer", "real"}, {"ms", 10}};
  auto with = [&](const std::string& key, const Json& value) {
    Json body = good;
    body[key] = value;
    return body;
  };
  Json missing_ms = good;
  missing_ms.erase("ms");
  const std::vector<BadRequest> table = {
      {"unknown page", get("/admin"), 404, "no such page"},
      {"a path into the filesystem", get("/../../etc/passwd"), 404, ""},
      {"unknown parameter on the page", get("/?debug=1"), 400, "unknown parameter 'debug'"},
      {"next without a rater", get("/api/next"), 400, "missing parameter 'rater'"},
      {"next with a malformed rater", get("/api/next?rater=12ab"), 400, "malformed rater id"},
      {"next with an unknown rater", get("/api/next?rater=" + unknown), 404, "unknown rater"},
      {"next with an extra parameter", get("/api/next?rater=" + rater + "&image=" + current), 400,
       "unknown parameter 'image'"},
      // (httplib itself folds a repeated identical key=value pair into one.)
      {"next with two raters", get("/api/next?rater=" + rater + "&rater=" + unknown), 400, "given twice"},
      {"image by a path", get("/api/image?id=..%2F..%2Fetc%2Fpasswd"), 400, "malformed image id"},
      {"image unknown", get("/api/image?id=" + unknown), 404, "unknown image"},
      {"image in capitals", get("/api/image?id=" + std::string(32, 'A')), 400, "malformed image id"},
      {"answer as a form", post("/api/answers", "rater=x", "application/x-www-form-urlencoded"), 415,
       "application/json"},
      {"answer not JSON", post("/api/answers", "{"), 400, "not a JSON object"},
      {"answer a JSON array", post("/api/answers", "[1]"), 400, "not a JSON object"},
      {"answer with an extra field", answer(with("truth", "real")), 400, "unknown field 'truth'"},
      {"answer neither real nor fake", answer(with("answer", "maybe")), 400, "\"real\" or \"fake\""},
      {"answer with a negative time", answer(with("ms", -1)), 400, "'ms'"},
      {"answer with a fractional time", answer(with("ms", 1.5)), 400, "'ms'"},
      {"answer without a time", answer(missing_ms), 400, "'ms'"},
      {"answer with a numeric image", answer(with("image", 7)), 400, "'image'"},
      {"answer by an unknown rater", answer(with("rater", unknown)), 404, "unknown rater"},
      {"answer about an unknown image", answer(with("image", unknown)), 404, "unknown image"},
      {"answer out of turn", answer(with("image", other)), 409, "not the image this rater is shown now"},
      {"an oversized body", post("/api/answers", std::string(kMaxBodyBytes + 1, ' ')), 413, "request body over"},
      {"a new rater with a body", post("/api/raters", "{}"), 400, "takes no body"},
      {"results with a parameter", get("/api/results?all=1"), 400, "unknown parameter"},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(row.what);
    const httplib::Result result = row.send(client);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, row.status);
    const Json body = Json::parse(result->body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << result->body;
    const std::string reason = body["error"];
    EXPECT_EQ(reason.find('\n'), std::string::npos);
    EXPECT_NE(reason.find(row.reason), std::string::npos) << reason;
  }
  // None of that stored anything; then one good answer is stored, and a second is refused.
  EXPECT_EQ(served.study().answer_count(), 0);
  EXPECT_EQ(post_answer(client, rater, current, "real")->status, 200);
  const auto again = post_answer(client, rater, current, "fake");
  EXPECT_EQ(again->status, 409);
  EXPECT_NE(again->body.find("already answered"), std::string::npos);
  EXPECT_EQ(served.study().answer_count(), 1);
}

TEST(HypeServer, SeveralRatersAtOnce) {
  TempDir dir;
  const std::string db = make_study(dir);
  ServedStudy served(db);
  constexpr int kRaters = 4;
  std::vector<std::thread> raters;
  std::vector<int> failures(kRaters, 0);
  for (int r = 0; r < kRaters; ++r)
    raters.emplace_back([&, r] {
      httplib::Client client = served.client();
      const std::string rater = new_rater(client);
      for (int k = 0; k < kImages; ++k) {
        const Json next = json_of(client.Get(("/api/next?rater=" + rater).c_str()));
        const auto result = post_answer(client, rater, next.value("image", std::string()), k % 2 ? "real" : "fake");
        failures[r] += !result || result->status != 200;
      }
    });
  for (auto& thread : raters) thread.join();
  for (int r = 0; r < kRaters; ++r) EXPECT_EQ(failures[r], 0) << "rater " << r;
  EXPECT_EQ(served.study().answer_count(), kRaters * kImages);
  EXPECT_EQ(served.study().rater_count(), kRaters);
  // Each rater saw every image once, in an order of their own.
  SQLite::Database reader(db, SQLite::OPEN_READONLY);
  EXPECT_EQ(reader.execAndGet("SELECT COUNT(DISTINCT rater_id || '-' || image_id) FROM answers").getInt(),
            kRaters * kImages);
  EXPECT_GT(reader.execAndGet("SELECT COUNT(DISTINCT image_id) FROM schedule WHERE position = 0").getInt(), 1);
}

TEST(HypeStudy, AReopenedStudyContinuesWhereTheRaterStopped) {
  TempDir dir;
  const std::string db = make_study(dir);
  std::string rater, third;
  {
    Study study(db);
    rater = study.add_rater();
    for (int k = 0; k < 3; ++k) {
      const NextImage next = study.next_image(rater);
      if (k == 2) third = next.image;
      study.answer(rater, next.image, true, 1);
    }
  }
  Study reopened(db);
  const NextImage next = reopened.next_image(rater);
  EXPECT_EQ(next.position, 3);
  EXPECT_NE(next.image, third);
  EXPECT_EQ(reopened.answer_count(), 3);
  EXPECT_THROW(reopened.answer(rater, third, false, 1), RequestRefused);
  // Which network drew each model's images comes back as written (empty: not recorded).
  const std::vector<StudyModel> models = reopened.models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].checkpoint_crc32, "0badcafe");
  EXPECT_EQ(models[1].checkpoint_crc32, "");
  EXPECT_EQ(models[1].step, 20);
}

TEST(HypeStudy, CreationRefusesWhatCannotBeAStudy) {
  TempDir dir;
  const std::string db = make_study(dir);
  EXPECT_THROW(make_study(dir), UserError) << "an existing study must never be overwritten";
  StudySettings odd;
  odd.session_size = 5;
  const std::vector<StudyImage> both = {{"png", 0, 1, 0}, {"png", -1, 1, 0}};
  EXPECT_THROW(Study::create(dir.file("odd.db"), odd, {{"m", "/r", "vae", "decoder", 1}}, both), UserError);
  EXPECT_THROW(Study::create(dir.file("reals-only.db"), StudySettings{}, {{"m", "/r", "vae", "decoder", 1}},
                             {{"png", -1, 1, 0}}),
               UserError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("odd.db")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("reals-only.db.creating")));
  write_file_atomic(dir.file("not-a-study.db"), "hello");
  EXPECT_THROW(Study{dir.file("not-a-study.db")}, UserError);
}

}  // namespace
}  // namespace trilemma::human
