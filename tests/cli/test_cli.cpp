// Guards the CLI's contract for bad input: one clear line, non-zero exit, no crash.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "support/test_support.h"

namespace trilemma {
namespace {

using trilemma::testing::run_cli;
using trilemma::testing::TempDir;

void expect_clean_error(const std::string& arguments, const std::string& message) {
  const auto result = run_cli(arguments);
  EXPECT_NE(result.exit_code, 0) << arguments;
  EXPECT_LT(result.exit_code, 128) << "crashed: " << arguments << "\n" << result.output;
  EXPECT_NE(result.output.find(message), std::string::npos)
      << arguments << " printed:\n" << result.output;
}

TEST(Cli, HelpListsTheCommands) {
  const auto result = run_cli("--help");
  EXPECT_EQ(result.exit_code, 0);
  for (const char* word : {"train", "sample", "info", "figures"})
    EXPECT_NE(result.output.find(word), std::string::npos) << word;
  const auto train_help = run_cli("train vae --help");
  EXPECT_NE(train_help.output.find("--latent-dim"), std::string::npos);
  EXPECT_NE(train_help.output.find("--preset"), std::string::npos);
}

TEST(Cli, BadInputGivesOneClearLineAndNonZeroExit) {
  TempDir dir;
  expect_clean_error("train nosuchmodel", "nosuchmodel");
  expect_clean_error("train", "name a model");
  expect_clean_error("train vae --preset nope --run-dir " + dir.file("a"), "unknown vae preset 'nope'");
  expect_clean_error("train vae --batch-size abc --run-dir " + dir.file("b"), "--batch-size: expected an integer, got 'abc'");
  expect_clean_error("train vae --batch-size 0 --run-dir " + dir.file("c"), "--batch-size: must be between 1 and 65536");
  expect_clean_error("train vae --lr -1 --run-dir " + dir.file("d"), "--lr: must be in (0, 10)");
  expect_clean_error("train vae --latent-dim 0 --run-dir " + dir.file("e"), "--latent-dim");
  expect_clean_error("train vae --upsampling magic --run-dir " + dir.file("f"), "--upsampling");
  expect_clean_error("train vae --max-steps 1 --data-dir " + dir.file("nodata") + " --run-dir " + dir.file("g"),
                     "-idx3-ubyte: missing");
  expect_clean_error("sample " + dir.file("nothere"), "no such run directory");
  expect_clean_error("sample " + dir.path().string(), "not a run directory");
  expect_clean_error("info " + dir.file("nothere"), "no such run directory");
  expect_clean_error("sample " + dir.path().string() + " --n -5", "--n");
  expect_clean_error("--threads abc info x", "--threads");
  expect_clean_error("--device tpu info " + dir.path().string(), "");
  expect_clean_error("train --resume " + dir.file("nothere"), "no such run directory");
}

// `train --max-steps 2 vae` sets the model's max_steps as `train vae --max-steps 2` does
// (the flag before the model name used to bind to the resume-only option and be ignored),
// and the run options given are recorded in config.json.
TEST(Cli, SettingsBeforeTheModelNameDoWhatTheySay) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const auto result = run_cli("--threads 1 train --max-steps 2 --epochs 0 --log-every 1 vae --channels 8 "
                              "--latent-dim 4 --batch-size 16 --run-dir " + dir.file("run"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("done: 2 steps"), std::string::npos) << result.output;
  const auto config = nlohmann::json::parse(testing::slurp(dir.file("run") + "/config.json"));
  EXPECT_EQ(config["settings"]["max_steps"], 2);
  EXPECT_EQ(config["settings"]["epochs"], 0);
  EXPECT_EQ(config["run_options"]["log_every"], 1);
  const auto info = run_cli("--device cpu info " + dir.file("run"));
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("step 2"), std::string::npos) << info.output;
}

// A VAE run fits its latent mixture when training completes, samples from it by default and
// from N(0, I) on request, and refits it when extended.
TEST(Cli, VaeFitsItsLatentMixtureWhenTrainingCompletes) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  const auto trained = run_cli("--threads 1 train vae --channels 8 --latent-dim 4 --prior-components 3 "
                               "--batch-size 16 --epochs 0 --max-steps 2 --run-dir " + run);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("fitted a 3-component Gaussian mixture to 20000 training images"), std::string::npos)
      << trained.output;
  const auto info = run_cli("info " + run);
  EXPECT_NE(info.output.find("fitted Gaussian mixture"), std::string::npos) << info.output;
  for (const std::string sampler : {"mixture", "normal"}) {
    const auto sampled = run_cli("sample " + run + " --n 4 --sampler " + sampler + " --out " + dir.file(sampler + ".npy"));
    EXPECT_EQ(sampled.exit_code, 0) << sampled.output;
  }
  EXPECT_NE(testing::slurp(dir.file("mixture.npy")), testing::slurp(dir.file("normal.npy")));
  const auto again = run_cli("--threads 1 train --resume " + run);
  EXPECT_NE(again.output.find("nothing to do"), std::string::npos) << again.output;
  const auto extended = run_cli("--threads 1 train --resume " + run + " --max-steps 3");
  ASSERT_EQ(extended.exit_code, 0) << extended.output;
  EXPECT_NE(extended.output.find("fitted a 3-component"), std::string::npos) << extended.output;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(testing::slurp(path)); }

// One run per value, each evaluated; a second call reuses them instead of retraining.
TEST(Cli, SweepTrainsAndEvaluatesEachValueOnceAndTabulatesThem) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string command = "--threads 1 sweep vae --latent-dim 2,4 --channels 8 --max-steps 5 --batch-size 16 "
                              "--n 100 --out " + dir.file("s");
  const auto first = run_cli(command);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto sweep = read_json(dir.file("s") + "/sweep.json");
  ASSERT_EQ(sweep["points"].size(), 2u);
  EXPECT_EQ(sweep["points"][0]["value"], "2");
  EXPECT_EQ(sweep["points"][1]["value"], "4");
  for (const auto& point : sweep["points"]) {
    const std::string run = point["run_dir"];
    EXPECT_EQ(read_json(run + "/config.json")["settings"]["latent_dim"].get<int>(),
              std::stoi(point["value"].get<std::string>()));
    EXPECT_GT(point["result"]["fid"].get<double>(), 0.0);
    EXPECT_EQ(point["result"]["n"], 100);
  }
  const std::string report = testing::slurp(dir.file("s") + "/report.md");
  EXPECT_NE(report.find("| 2 | "), std::string::npos) << report;
  EXPECT_NE(report.find("| 4 | "), std::string::npos) << report;
  const auto again = run_cli(command);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(again.output.find("train "), std::string::npos) << "retrained:\n" << again.output;
  EXPECT_NE(again.output.find("reused"), std::string::npos) << again.output;
  EXPECT_EQ(read_json(dir.file("s") + "/sweep.json")["points"][1]["result"]["fid"], sweep["points"][1]["result"]["fid"]);
}

// A sampling setting trains one run and samples it at each value: the NFE follows the steps.
TEST(Cli, SweepOfASamplingSettingTrainsOnce) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const auto result = run_cli("--threads 1 sweep ddpm --sample-steps 2,5 --base-width 8 --channel-mults 1,2 "
                              "--attention-levels none --groups 4 --timesteps 100 --max-steps 3 --batch-size 16 "
                              "--n 100 --out " + dir.file("s"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto sweep = read_json(dir.file("s") + "/sweep.json");
  ASSERT_EQ(sweep["points"].size(), 2u);
  EXPECT_EQ(sweep["points"][0]["run_dir"], sweep["points"][1]["run_dir"]);
  EXPECT_EQ(sweep["points"][0]["result"]["speed"]["nfe"], 2);
  EXPECT_EQ(sweep["points"][1]["result"]["speed"]["nfe"], 5);
  EXPECT_FALSE(std::filesystem::exists(dir.file("s") + "/sample_steps-5")) << "trained a second run";
}

// A shipped entry may change its default sampler without its run: `zoo add zoo:NAME` keeps
// the weights (same CRC), the training record and log, and re-evaluates with the new default.
TEST(Cli, ZooEntryReExportedWithAnotherSamplerKeepsItsWeightsAndRecord) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string zoo = "TRILEMMA_ZOO_DIR=" + dir.file("zoo") + " ";
  ASSERT_EQ(run_cli("--threads 1 train ddpm --base-width 8 --channel-mults 1,2 --attention-levels none --groups 4 "
                    "--timesteps 100 --sample-steps 2 --max-steps 3 --batch-size 16 --run-dir " + dir.file("run"))
                .exit_code, 0);
  const auto first = run_cli("--threads 1 zoo add " + dir.file("run") + " --name tiny --n 100", zoo);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto before = read_json(dir.file("zoo") + "/tiny/zoo.json");
  const auto again = run_cli("--threads 1 zoo add zoo:tiny --name tiny --sampler dpm-solver --steps 3 --n 100", zoo);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const auto after = read_json(dir.file("zoo") + "/tiny/zoo.json");
  EXPECT_EQ(after["settings"]["sampler"], "dpm-solver");
  EXPECT_EQ(after["settings"]["sample_steps"], 3);
  EXPECT_EQ(after["crc32"], before["crc32"]);
  EXPECT_EQ(after["step"], before["step"]);
  EXPECT_EQ(after["training"]["training_minutes"], before["training"]["training_minutes"]);
  EXPECT_EQ(after["training"]["environment"], before["training"]["environment"]);
  const std::string command = after["training"]["command"];
  EXPECT_NE(command.find("--sampler dpm-solver"), std::string::npos) << command;
  EXPECT_NE(command.find("--sample-steps 3"), std::string::npos) << command;
  EXPECT_TRUE(std::filesystem::exists(dir.file("zoo") + "/tiny/metrics.jsonl"));
  const auto evaluation = read_json(dir.file("zoo") + "/tiny/eval.json");
  EXPECT_TRUE(evaluation["samplers"].contains("dpm-solver-3")) << evaluation.dump();
  // Nothing to change: refused, and the entry is left as it is.
  const auto refused = run_cli("zoo add zoo:tiny --name tiny", zoo);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("only to change its sampling defaults"), std::string::npos) << refused.output;
  EXPECT_EQ(read_json(dir.file("zoo") + "/tiny/zoo.json"), after);
}

// An entry sampled with autoguidance names its guide, another entry, with the guide's CRC:
// loading it attaches the guide, `--guide none` samples without, and a guide outside the
// zoo, the entry itself or a replaced guide are refused.
TEST(Cli, ZooEntryWithAGuideSamplesGuidedAndRefusesAReplacedGuide) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string zoo = "TRILEMMA_ZOO_DIR=" + dir.file("zoo") + " ";
  const std::string tiny = "--threads 1 train ddpm --base-width 8 --channel-mults 1,2 --attention-levels none "
                           "--groups 4 --timesteps 100 --sample-steps 2 --batch-size 16 ";
  ASSERT_EQ(run_cli(tiny + "--max-steps 3 --run-dir " + dir.file("model")).exit_code, 0);
  ASSERT_EQ(run_cli(tiny + "--max-steps 1 --run-dir " + dir.file("weak")).exit_code, 0);
  ASSERT_EQ(run_cli("--threads 1 zoo add " + dir.file("weak") + " --name weak --n 100", zoo).exit_code, 0);
  const auto outside = run_cli("zoo add " + dir.file("model") + " --name guided --guide " + dir.file("weak"), zoo);
  EXPECT_NE(outside.exit_code, 0);
  EXPECT_NE(outside.output.find("must be a zoo entry itself"), std::string::npos) << outside.output;
  const auto itself = run_cli("zoo add " + dir.file("model") + " --name weak --guide zoo:weak", zoo);
  EXPECT_NE(itself.exit_code, 0);
  EXPECT_NE(itself.output.find("cannot guide itself"), std::string::npos) << itself.output;

  const auto added = run_cli("--threads 1 zoo add " + dir.file("model") +
                                 " --name guided --guide zoo:weak --guidance 3 --n 100 --guidance-curve none",
                             zoo);
  ASSERT_EQ(added.exit_code, 0) << added.output;
  const auto manifest = read_json(dir.file("zoo") + "/guided/zoo.json");
  EXPECT_EQ(manifest["guide"]["entry"], "zoo:weak");
  EXPECT_EQ(manifest["guide"]["crc32"], read_json(dir.file("zoo") + "/weak/zoo.json")["crc32"]);
  EXPECT_EQ(manifest["settings"]["guidance"], 3.0);
  EXPECT_TRUE(read_json(dir.file("zoo") + "/guided/eval.json")["samplers"].contains("ddim-2-guided3"));

  const auto guided = run_cli("--threads 1 sample zoo:guided --n 4 --out " + dir.file("a.npy"), zoo);
  ASSERT_EQ(guided.exit_code, 0) << guided.output;
  EXPECT_NE(guided.output.find("sampler ddim-2-guided3, NFE 4 per image"), std::string::npos) << guided.output;
  const auto plain = run_cli("--threads 1 sample zoo:guided --guide none --n 4 --out " + dir.file("b.npy"), zoo);
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("sampler ddim-2, NFE 2 per image"), std::string::npos) << plain.output;
  const auto chained = run_cli("sample " + dir.file("model") + " --guide zoo:guided --n 4", zoo);
  EXPECT_NE(chained.exit_code, 0);
  EXPECT_NE(chained.output.find("guided itself"), std::string::npos) << chained.output;

  // A re-export for another sampler keeps the guide; new weights under the guide's name are
  // refused while an entry depends on it.
  ASSERT_EQ(run_cli("--threads 1 zoo add zoo:guided --name guided --sampler dpm-solver --n 100 --guidance-curve none",
                    zoo).exit_code, 0);
  EXPECT_EQ(read_json(dir.file("zoo") + "/guided/zoo.json")["guide"], manifest["guide"]);
  const auto replace = run_cli("zoo add " + dir.file("model") + " --name weak --n 100", zoo);
  EXPECT_NE(replace.exit_code, 0);
  EXPECT_NE(replace.output.find("zoo:weak guides zoo:guided"), std::string::npos) << replace.output;

  // A guide whose CRC no longer matches (as if replaced by hand): refused, and repaired by a
  // re-export that names the guide again (the stale record is then not loaded).
  auto tampered = read_json(dir.file("zoo") + "/guided/zoo.json");
  tampered["guide"]["crc32"] = "00000000";
  write_file_atomic(dir.file("zoo") + "/guided/zoo.json", tampered.dump(2));
  const auto stale = run_cli("sample zoo:guided --n 4", zoo);
  EXPECT_NE(stale.exit_code, 0);
  EXPECT_NE(stale.output.find("replaced since"), std::string::npos) << stale.output;
  ASSERT_EQ(run_cli("--threads 1 zoo add zoo:guided --name guided --guide zoo:weak --n 100 --guidance-curve none", zoo)
                .exit_code, 0);
  EXPECT_EQ(read_json(dir.file("zoo") + "/guided/zoo.json")["guide"], manifest["guide"]);
  // --guide none drops the guide from the entry.
  const auto unguided = run_cli("--threads 1 zoo add zoo:guided --name guided --guide none --n 100", zoo);
  ASSERT_EQ(unguided.exit_code, 0) << unguided.output;
  EXPECT_FALSE(read_json(dir.file("zoo") + "/guided/zoo.json").contains("guide"));
  EXPECT_EQ(run_cli("--threads 1 sample zoo:guided --n 2 --out " + dir.file("c.npy"), zoo).exit_code, 0);
}

// The learning curve evaluates the kept checkpoints it is asked for, the newest included.
TEST(Cli, CurveEvaluatesSpreadCheckpointsIncludingTheNewest) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const auto train = run_cli("--threads 1 train --keep 100 --checkpoint-minutes 0 vae --channels 8 --latent-dim 4 "
                             "--batch-size 16 --max-steps 6 --run-dir " + dir.file("run"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const auto curve = run_cli("--threads 1 curve " + dir.file("run") + " --points 3 --n 100");
  ASSERT_EQ(curve.exit_code, 0) << curve.output;
  const auto points = read_json(dir.file("run") + "/learning_curve.json")["points"];
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0]["step"], 2);
  EXPECT_EQ(points[1]["step"], 4);
  EXPECT_EQ(points[2]["step"], 6);
  for (const auto& p : points) EXPECT_GE(p["minutes"].get<double>(), 0.0);
  // Minutes are the training time each checkpoint records, not wall time since creation.
  const double seconds = read_json(dir.file("run") + "/checkpoints/step-0000000006.json")["training_seconds"];
  EXPECT_NEAR(points[2]["minutes"].get<double>(), seconds / 60, 1e-12);
  EXPECT_LE(points[1]["minutes"].get<double>(), points[2]["minutes"].get<double>());
  const auto too_few = run_cli("curve " + dir.file("run") + " --points 1");
  EXPECT_NE(too_few.exit_code, 0);
}

// `distill` makes a run from a teacher run: config.json records the teacher, the student
// resumes without it (its checkpoint carries the teacher), samples in K steps, refuses the
// teacher's sampler flags, and `train` points distilled families to `distill`.
TEST(Cli, DistilledRunRecordsItsTeacherResumesAloneAndSamplesInKSteps) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string teacher = dir.file("teacher"), student = dir.file("student");
  const auto trained = run_cli("--threads 1 train ddpm --base-width 8 --channel-mults 1,2 --attention-levels none "
                               "--groups 4 --max-steps 2 --batch-size 8 --run-dir " + teacher);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const auto distilled = run_cli("--threads 1 distill " + teacher + " --grid-points 10 --max-steps 2 --batch-size 8 "
                                 "--run-dir " + student);
  ASSERT_EQ(distilled.exit_code, 0) << distilled.output;
  const auto config = read_json(student + "/config.json");
  EXPECT_EQ(config["model"], "consistency");
  EXPECT_EQ(config["teacher"]["run"], teacher);
  EXPECT_EQ(config["teacher"]["step"], 2);
  EXPECT_EQ(config["teacher"]["checkpoint_crc32"].get<std::string>().size(), 8u);
  EXPECT_EQ(config["settings"]["base_width"], 8);
  EXPECT_EQ(config["settings"]["channel_mults"], nlohmann::json::array({1, 2}));
  const auto info = run_cli("info " + student);
  EXPECT_NE(info.output.find("teacher:    " + teacher + " (ddpm, step 2, checkpoint crc32 "), std::string::npos)
      << info.output;

  std::filesystem::remove_all(teacher);  // the student's checkpoints carry what it needs
  const auto resumed = run_cli("--threads 1 train --resume " + student + " --max-steps 3");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(std::filesystem::exists(student + "/checkpoints/step-0000000003.pt")) << resumed.output;

  const auto sampled = run_cli("sample " + student + " --steps 2 --n 4 --grid " + dir.file("g.png"));
  ASSERT_EQ(sampled.exit_code, 0) << sampled.output;
  EXPECT_TRUE(std::filesystem::exists(dir.file("g.png")));
  const auto evaluated = run_cli("--threads 1 eval " + student + " --steps 1 --n 20 --no-latency");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  EXPECT_EQ(read_json(student + "/eval.json")["samplers"]["consistency-1"]["speed"]["nfe"], 1);
  expect_clean_error("sample " + student + " --steps 10", "--steps: must be in 1..9");
  expect_clean_error("sample " + student + " --sampler ddim", "--sampler");
  expect_clean_error("sample " + student + " --eta 0.5", "--eta");
  expect_clean_error("train consistency --run-dir " + dir.file("x"), "trilemma distill TEACHER_RUN");
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));
}

}  // namespace
}  // namespace trilemma
