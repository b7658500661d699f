// Guards "a full disk loses nothing": a checkpoint, sample or image write that fails gives
// one error naming the file and leaves the previous checkpoint (or file) intact. The full
// disk is simulated without privileges by a file-size limit (ulimit -f), under which a
// write fails with EFBIG the way it fails with ENOSPC on a full disk; `trap "" XFSZ` keeps
// the kernel's SIGXFSZ from killing commands that do not ignore it themselves (training
// does).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/files.h"
#include "support/test_support.h"
#include "training/checkpoint.h"

namespace trilemma {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::string> error_lines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("error:", 0) == 0) lines.push_back(line);
  return lines;
}

std::vector<std::string> leftover_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) found.push_back(entry.path().string());
  return found;
}

constexpr const char* kTiny = "vae --channels 8 --latent-dim 4 --batch-size 32 --epochs 0";

TEST(DiskFull, FailedCheckpointWriteKeepsThePreviousCheckpoint) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  auto first = testing::run_cli(std::string("--threads 1 train ") + kTiny + " --max-steps 3 --run-dir '" + run + "'");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto before = training::list_checkpoints(run + "/checkpoints");
  ASSERT_EQ(before.size(), 1u);
  const std::string good = before.front().path, good_bytes = read_file(good);

  // A checkpoint (~150 KB) cannot be written under a 64 KiB file limit. No trap: training
  // itself must turn SIGXFSZ into an error.
  const auto full = testing::run_cli("--threads 1 train --checkpoint-minutes 0 --resume '" + run + "' --max-steps 6",
                                     "ulimit -f 64;");
  const int code = full.exit_code;
  const std::string& output = full.output;
  SCOPED_TRACE(output);
  EXPECT_EQ(code, 2);
  const auto errors = error_lines(output);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("checkpoint at step 4 not written"), std::string::npos);
  EXPECT_NE(errors[0].find("write failed (File too large)"), std::string::npos);
  EXPECT_NE(errors[0].find("resume from " + good), std::string::npos);

  EXPECT_TRUE(leftover_files(run).empty()) << "temporary files left behind";
  const auto after = training::list_checkpoints(run + "/checkpoints");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after.front().path, good);
  EXPECT_EQ(read_file(good), good_bytes) << "the previous checkpoint changed";
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step-0000000004.pt")) << "a half checkpoint stayed";

  // With space again, the run resumes from the intact checkpoint and completes.
  auto resumed = testing::run_cli("--threads 1 train --resume '" + run + "' --max-steps 6");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("from step 3"), std::string::npos) << resumed.output;
  EXPECT_EQ(training::list_checkpoints(run + "/checkpoints").front().step, 6);
}

TEST(DiskFull, NewRunThatCannotWriteItsConfigLeavesNoDirectory) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  const auto full = testing::run_cli(std::string("--threads 1 train ") + kTiny + " --max-steps 3 --run-dir '" + run + "'",
                                     "ulimit -f 0; trap '' XFSZ;");
  const int code = full.exit_code;
  const std::string& output = full.output;
  EXPECT_EQ(code, 2) << output;
  const auto errors = error_lines(output);
  ASSERT_EQ(errors.size(), 1u) << output;
  EXPECT_NE(errors[0].find("config.json: write failed (File too large)"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(run)) << "a run directory without a config blocks the retry";
  EXPECT_TRUE(leftover_files(dir.path().string()).empty());
}

TEST(DiskFull, FailedSampleAndGridWritesKeepThePreviousFiles) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  auto train = testing::run_cli(std::string("--threads 1 train ") + kTiny + " --max-steps 2 --run-dir '" + run + "'");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  // Small previous results (4 images), then 400 images (313 KB .npy, a large PNG) that do
  // not fit under an 8 KiB limit.
  auto small = testing::run_cli("sample '" + run + "' --n 4 --out '" + dir.file("s.npy") + "' --grid '" +
                                dir.file("g.png") + "'");
  ASSERT_EQ(small.exit_code, 0) << small.output;
  const std::string npy_before = read_file(dir.file("s.npy")), png_before = read_file(dir.file("g.png"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--out '" + dir.file("s.npy") + "'", dir.file("s.npy") + ": write failed (File too large)"},
      {"--grid '" + dir.file("g.png") + "'", dir.file("g.png") + ": write failed (File too large)"},
  };
  for (const auto& [flag, message] : cases) {
    const auto result = testing::run_cli("sample '" + run + "' --n 400 " + flag, "ulimit -f 8; trap '' XFSZ;");
    SCOPED_TRACE(result.output);
    EXPECT_EQ(result.exit_code, 2);
    const auto errors = error_lines(result.output);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find(message), std::string::npos);
  }
  EXPECT_EQ(read_file(dir.file("s.npy")), npy_before);
  EXPECT_EQ(read_file(dir.file("g.png")), png_before);
  EXPECT_TRUE(leftover_files(dir.path().string()).empty());
}

}  // namespace
}  // namespace trilemma
