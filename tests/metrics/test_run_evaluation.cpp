// Guards `trilemma eval` as a library: the guidance list it parses (each error message),
// the eval.json it merges and reads back, and the keys of a whole evaluation — a run's
// (through a stand-in conditional model with guidance, so that the class-balanced draw, the
// per-class grid and the guidance curve all run in seconds) and a .npy file's.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "io/npy.h"
#include "metrics/run_evaluation.h"
#include "support/test_support.h"

using namespace trilemma;
using namespace trilemma::metrics;
using trilemma::testing::TempDir;
using trilemma::testing::mnist_dir;

namespace {

std::string error_of(const std::string& guidance_list) {
  try {
    parse_guidance_list(guidance_list);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

/// A conditional model "with guidance" that draws real test images of the class asked for
/// (any class when none is), so that its numbers are those of real data.
class ExemplarModel : public GenerativeModel {
 public:
  explicit ExemplarModel(data::ImageDataset test) : test_(std::move(test)) {}
  LossTerms train_step(const torch::Tensor&, const torch::Tensor&) override { return {}; }
  LossTerms eval_loss(const torch::Tensor&, const torch::Tensor&) override { return {}; }
  torch::Tensor sample(int64_t n, const SampleOptions& options) override {
    const torch::Tensor pool = options.class_label < 0 ? torch::arange(test_.size())
                                                       : test_.labels.eq(options.class_label).nonzero().view(-1);
    return test_.images.index_select(0, pool.index_select(0, torch::randint(pool.size(0), {n}, torch::kLong)));
  }
  int64_t network_evaluations(const SampleOptions& options) const override { return options.guidance ? 2 : 1; }
  std::string sampler_name(const SampleOptions&) const override { return "exemplar"; }
  void save(torch::serialize::OutputArchive&) override {}
  void load(torch::serialize::InputArchive&) override {}
  int64_t parameter_count() const override { return 0; }
  std::vector<std::pair<std::string, torch::nn::Module*>> sampling_networks() override { return {}; }
  int64_t num_classes() const override { return 10; }
  bool supports_guidance() const override { return true; }

 private:
  data::ImageDataset test_;
};

}  // namespace

TEST(RunEvaluation, GuidanceListParsesNumbersAndNone) {
  EXPECT_EQ(parse_guidance_list("0,1,2.5"), (std::vector<double>{0, 1, 2.5}));
  EXPECT_EQ(parse_guidance_list("3"), (std::vector<double>{3}));
  EXPECT_TRUE(parse_guidance_list("none").empty());
  EXPECT_EQ(parse_guidance_list(kDefaultGuidanceCurve), (std::vector<double>{0, 1, 2, 3, 5}));
  EXPECT_EQ(RunEvaluationRequest().guidance_weights, parse_guidance_list(kDefaultGuidanceCurve));
}

TEST(RunEvaluation, GuidanceListRefusesWhatIsNotAListOfWeights) {
  for (const std::string bad : {"-1", "1,-0.5", "abc", "1x", "1,,2", ",1", "nan", "inf", "1e999", "None"})
    EXPECT_EQ(error_of(bad),
              "--guidance-curve: expected comma-separated numbers >= 0 or none, got '" + bad + "'");
  EXPECT_EQ(error_of(""), "--guidance-curve: expected comma-separated numbers >= 0 or none");
}

TEST(RunEvaluation, EvalFileKeepsEverySamplerAndSurvivesAGarbledFile) {
  TempDir dir;
  const std::string run_dir = dir.path().string();
  std::ostringstream warnings;
  const std::string path = write_eval_result(run_dir, {{"sampler", "ddim-20"}, {"fid", 3.0}}, warnings);
  EXPECT_EQ(path, eval_path(run_dir));
  write_eval_result(run_dir, {{"sampler", "ddpm-1000"}, {"fid", 2.0}}, warnings);
  write_eval_result(run_dir, {{"sampler", "ddim-20"}, {"fid", 2.5}}, warnings);
  EXPECT_EQ(warnings.str(), "");
  Json file = read_eval_file(run_dir);
  EXPECT_EQ(file["format_version"].get<int>(), kEvalFormatVersion);
  ASSERT_EQ(file["samplers"].size(), 2u);
  EXPECT_DOUBLE_EQ(file["samplers"]["ddim-20"]["fid"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(file["samplers"]["ddpm-1000"]["fid"].get<double>(), 2.0);

  write_file_atomic(path, "{\"samplers\": {\"torn");
  write_eval_result(run_dir, {{"sampler", "decoder"}, {"fid", 9.0}}, warnings);
  EXPECT_EQ(warnings.str(), "warning: " + path + " was not valid JSON; starting it afresh\n");
  file = read_eval_file(run_dir);
  ASSERT_EQ(file["samplers"].size(), 1u);
  EXPECT_DOUBLE_EQ(file["samplers"]["decoder"]["fid"].get<double>(), 9.0);
}

TEST(RunEvaluation, ReadingAnEvalFileNamesWhatIsWrong) {
  TempDir dir;
  const std::string run_dir = dir.path().string();
  auto error = [&] {
    try {
      read_eval_file(run_dir);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error(), run_dir + ": no eval.json (run `trilemma eval " + run_dir + "` first)");
  write_file_atomic(eval_path(run_dir), "not json");
  EXPECT_EQ(error(), eval_path(run_dir) + ": not valid JSON (rerun `trilemma eval " + run_dir + "`)");
  write_file_atomic(eval_path(run_dir), "{\"format_version\": 1, \"samplers\": {}}");
  EXPECT_EQ(error(), eval_path(run_dir) + ": holds no results (rerun `trilemma eval " + run_dir + "`)");
}

TEST(RunEvaluation, WholeRunGivesEveryCornerTheCurveAndTheGrid) {
  if (mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  torch::manual_seed(1);
  const auto test = data::load_mnist(mnist_dir(), data::Split::kTest);
  // A tenth of the test set as the real side: the keys are what is checked here, and the
  // k-NN radii of PRDC over all 10,000 real images would take most of the test's time.
  const data::ImageDataset real{test.images.narrow(0, 0, 1000), test.labels.narrow(0, 0, 1000)};
  EvalReference reference{load_evaluator(torch::kCPU), {}};
  reference.real = make_real_reference(reference.evaluator, real);
  training::LoadedRun run;
  run.dir = dir.path().string();
  run.config.model = "exemplar";
  run.config.preset = "test";
  run.model = std::make_unique<ExemplarModel>(real);
  RunEvaluationRequest request;
  request.protocol.n = 100;
  request.guidance_weights = {0, 2};
  request.curve_n = 50;
  std::ostringstream log;
  const Json r = evaluate_run(run, request, reference, log);

  for (const char* key : {"n", "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage",
                          "classifier_score", "classes_covered", "entropy", "mean_confidence", "extractor",
                          "conditional", "guidance_curve", "speed", "sampler", "sample_options", "run",
                          "sampling_seconds", "evaluation_seconds", "sample_grid", "protocol", "evaluated_at"})
    EXPECT_TRUE(r.contains(key)) << key;
  EXPECT_EQ(r["n"].get<int64_t>(), 100);
  EXPECT_EQ(r["sampler"], "exemplar");
  // Real images of the classes asked for: the evaluator agrees with nearly all of them.
  EXPECT_GT(r["conditional"]["conditional_accuracy"].get<double>(), 0.9);
  EXPECT_EQ(r["sample_options"]["classes"], "balanced: N/10 per class");
  for (const char* key : {"nfe", "images_per_s_batch256", "batch256_timed_batches", "device", "threads",
                          "ms_per_image_batch1", "batch1_repeats"})
    EXPECT_TRUE(r["speed"].contains(key)) << key;
  EXPECT_FALSE(r["speed"].contains("train_images_per_s")) << "no metrics.jsonl in this run";
  const double others = r["speed"]["other_processes_cpu_share"].get<double>();  // Linux: /proc is there
  EXPECT_GE(others, 0.0);
  EXPECT_LE(others, 1.0);
  EXPECT_EQ(r["run"]["model"], "exemplar");
  EXPECT_EQ(r["protocol"]["n"].get<int64_t>(), 100);
  EXPECT_TRUE(r["protocol"].contains("torch_version"));

  ASSERT_EQ(r["guidance_curve"].size(), 2u);
  EXPECT_EQ(r["guidance_curve"][1]["guidance"].get<double>(), 2.0);
  EXPECT_EQ(r["guidance_curve"][1]["n"].get<int64_t>(), 50);
  EXPECT_EQ(r["guidance_curve"][1]["nfe"].get<int64_t>(), 2);
  for (const char* key : {"fid", "precision", "recall", "conditional_accuracy", "mean_per_class_fid",
                          "sampling_seconds"})
    EXPECT_TRUE(r["guidance_curve"][0].contains(key)) << key;
  EXPECT_NE(log.str().find("guidance w = 2: sampling 50 images"), std::string::npos) << log.str();

  EXPECT_EQ(r["sample_grid"], "images/eval-exemplar.png");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "images" / "eval-exemplar.png"));

  std::ostringstream warnings;
  write_eval_result(run.dir, r, warnings);
  EXPECT_EQ(read_eval_file(run.dir)["samplers"]["exemplar"], r);
}

TEST(RunEvaluation, SamplesFileIsMeasuredAtItsOwnCount) {
  if (mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const auto test = data::load_mnist(mnist_dir(), data::Split::kTest);
  const std::string npy = dir.file("samples.npy");
  io::save_npy(test.images.narrow(0, 0, 60), npy);
  std::ostringstream log;
  data::DatasetSpec mnist;
  mnist.mnist_dir = mnist_dir();
  const Json r = evaluate_samples_file(npy, EvalProtocol(), torch::kCPU, mnist, "", log);
  EXPECT_EQ(r["n"].get<int64_t>(), 60);
  EXPECT_EQ(r["protocol"]["n"].get<int64_t>(), 60);
  EXPECT_EQ(r["sampler"], "samples-file");
  EXPECT_EQ(r["source"], npy);
  EXPECT_TRUE(r.contains("evaluated_at"));
  EXPECT_FALSE(r.contains("speed"));
  // Read against the reference rows at its own N (their first computation is logged after the note).
  EXPECT_EQ(log.str().rfind("note: " + npy +
                                " holds 60 images; the protocol's N is 10000 and FID is comparable only at equal N\n",
                            0),
            0u)
      << log.str();
  EXPECT_TRUE(r["reference_fids"].contains("train"));
  EXPECT_TRUE(r["reference_fids"].contains("single_digit"));
}
