// Guards the CLI's contract for bad input: one clear line, non-zero exit, no crash.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace trilemma
