// Guards "no lost training": a real `trilemma train` process killed with SIGKILL at random
// moments (and on purpose while a checkpoint is being written) and resumed each time ends
// with exactly the losses and weights of an uninterrupted run; SIGINT/SIGTERM stop it with
// a checkpoint and exit 130/143.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "core/files.h"
#include "core/settings.h"
#include "io/image.h"
#include "support/test_support.h"
#include "training/checkpoint.h"
#include "training/run_dir.h"

namespace trilemma {
namespace {

namespace fs = std::filesystem;
using testing::CliProcess;
using testing::TempDir;

// A VAE small enough that 60 steps take a couple of seconds on one thread; a checkpoint
// after every step, so that every round has checkpoint writes for a kill to land in.
constexpr int64_t kSteps = 60;
const std::string kTrainFlags = "--log-every 1 --checkpoint-minutes 0 --keep 2";

std::string new_run(const std::string& dir) {
  return "--threads 1 train " + kTrainFlags + " vae --channels 8 --latent-dim 4 --batch-size 32 --epochs 0 "
         "--max-steps " + std::to_string(kSteps) + " --run-dir '" + dir + "'";
}
std::string resume_run(const std::string& dir) {
  return "--threads 1 train " + kTrainFlags + " --resume '" + dir + "'";
}

// step -> loss of the train lines in metrics.jsonl; fails on a step logged twice.
std::map<int64_t, double> losses_by_step(const std::string& run_dir) {
  std::map<int64_t, double> losses;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const Json json = Json::parse(line);
    if (json.value("phase", "") == "test") continue;
    const int64_t step = json.at("step").get<int64_t>();
    EXPECT_EQ(losses.count(step), 0u) << "step " << step << " logged twice";
    losses[step] = json.at("loss").get<double>();
  }
  return losses;
}

// Any temporary checkpoint file, or (pid > 0) one that process `pid` is writing: a file
// left by an earlier killed round is not this round's write.
bool has_temp_checkpoint_file(const std::string& run_dir, int pid = -1) {
  const std::string marker = ".tmp-" + (pid > 0 ? std::to_string(pid) : std::string());
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(run_dir + "/checkpoints", error)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.find(marker);
    if (at != std::string::npos && (pid <= 0 || at + marker.size() == name.size())) return true;
  }
  return false;
}

// The same weights and optimiser state: both runs' newest checkpoints, loaded, take one
// more identical training step to identical losses and then draw identical samples.
// (Checkpoint bytes are no test: LibTorch keys the optimiser state by tensor addresses.)
void expect_same_final_state(const std::string& a, const std::string& b) {
  torch::set_num_threads(1);
  const torch::Tensor batch = torch::rand({16, 1, 28, 28}, torch::TensorOptions().dtype(torch::kFloat32));
  std::vector<torch::Tensor> samples;
  std::vector<LossTerms> steps;
  for (const std::string& dir : {a, b}) {
    training::LoadedRun run = training::load_run(dir, torch::kCPU);
    torch::manual_seed(11);
    steps.push_back(run.model->train_step(batch, torch::zeros({16}, torch::kLong)));
    torch::manual_seed(12);
    samples.push_back(run.model->sample(16, {}));
  }
  EXPECT_EQ(steps[0], steps[1]) << "a step from the final state differs: weights or optimiser state differ";
  EXPECT_TRUE(torch::equal(samples[0], samples[1])) << "final weights differ";
}

const training::CheckpointInfo newest_checkpoint(const std::string& run_dir) {
  const auto all = training::list_checkpoints(run_dir + "/checkpoints");
  return all.empty() ? training::CheckpointInfo{} : all.front();
}

TEST(KillAndResume, RandomSigkillsThenResumeEqualsUninterruptedRun) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string straight = dir.file("straight"), killed = dir.file("killed");
  const auto started = fs::file_time_type::clock::now();
  const auto reference = testing::run_cli(new_run(straight));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  // The kill times follow the reference run's phases, read from its files' times: startup
  // until config.json (~0.5-1.5 s; ~4 s under ASan), then the 60 steps until the last
  // metrics line (~2 s; ~14 s under ASan, where a step slows more than startup).
  const auto config_time = fs::last_write_time(straight + "/config.json");
  const auto ms = [](auto duration) { return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count(); };
  const int64_t startup_ms = std::max<int64_t>(100, ms(config_time - started));
  const int64_t training_ms = std::max<int64_t>(100, ms(fs::last_write_time(straight + "/metrics.jsonl") - config_time));

  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("kill schedule seed " + std::to_string(seed) + ", reference startup " + std::to_string(startup_ms) +
               " ms, training " + std::to_string(training_ms) + " ms");
  std::mt19937 random(seed);
  // Even rounds kill at a random moment from halfway through startup to 30% of the way
  // through the steps, or once the round has logged a random 1-10 new steps, whichever
  // comes first: the step bound keeps a round whose startup is quicker than the
  // reference's (a loaded machine slows some processes 3x) from finishing the run.
  std::uniform_int_distribution<int64_t> delay_ms(startup_ms / 2, startup_ms + training_ms * 3 / 10);
  std::uniform_int_distribution<int64_t> new_steps(1, 10);
  // Odd rounds run with every checkpoint write held open half-written (the preloaded
  // library) and kill as soon as a temporary checkpoint file appears.
  std::string stall_writes = "LD_PRELOAD='" + std::string(TRILEMMA_SLOW_CHECKPOINT_WRITES) + "'";
  if (testing::kAddressSanitizer)  // ASan wants its runtime first among the preloads
    stall_writes += " ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\"";
  const int64_t write_deadline_ms = std::max<int64_t>(6000, 2 * (startup_ms + training_ms));
  int kills = 0, kills_during_write = 0;
  for (int round = 0; round < 8; ++round) {
    const bool first = !fs::exists(killed);
    const bool at_write = round % 2 == 1;
    const int64_t resumed_from = first ? 0 : newest_checkpoint(killed).step;
    const int64_t kill_at_step = resumed_from + new_steps(random);
    CliProcess process(first ? new_run(killed) : resume_run(killed), dir.file("out-" + std::to_string(round)),
                       at_write ? stall_writes : "");
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::milliseconds(at_write ? write_deadline_ms : delay_ms(random));
    bool saw_temp = false;
    while (!process.finished() && std::chrono::steady_clock::now() < deadline) {
      if (at_write && fs::exists(killed) && has_temp_checkpoint_file(killed, process.pid())) {
        saw_temp = true;
        break;
      }
      if (!at_write && testing::last_logged_step(killed) >= kill_at_step) break;
      std::this_thread::sleep_for(std::chrono::microseconds(at_write ? 200 : 2000));
    }
    if (process.finished()) break;  // it completed before the kill
    process.send(SIGKILL);
    EXPECT_EQ(process.wait(), 128 + SIGKILL);
    ++kills;
    if (saw_temp && has_temp_checkpoint_file(killed, process.pid())) ++kills_during_write;
  }
  std::cout << "[   INFO   ] " << kills << " kills, " << kills_during_write << " inside a checkpoint write\n";
  EXPECT_GE(kills, 4);
  EXPECT_GE(kills_during_write, 1) << "no kill landed inside a checkpoint write";

  const auto finish = testing::run_cli(resume_run(killed));
  ASSERT_EQ(finish.exit_code, 0) << finish.output;
  EXPECT_FALSE(has_temp_checkpoint_file(killed)) << "a resumed run leaves no temporary files";

  // Bit-identical: every step's loss, and the final checkpoint's bytes (same CRC).
  const auto expected = losses_by_step(straight), actual = losses_by_step(killed);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kSteps));
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(newest_checkpoint(straight).step, kSteps);
  EXPECT_EQ(newest_checkpoint(killed).step, kSteps);
  expect_same_final_state(straight, killed);
}

// A signal arrives mid-training: the step finishes, a checkpoint of exactly the logged
// step is written, the exit status is 128 + signal, and --resume carries on from there.
void expect_clean_stop(int signal) {
  TempDir dir;
  const std::string run = dir.file("run");
  const std::string args = "--threads 1 train " + kTrainFlags + " vae --channels 8 --latent-dim 4 "
                           "--batch-size 32 --epochs 0 --max-steps 100000 --run-dir '" + run + "'";
  CliProcess process(args, dir.file("out"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!process.finished() && std::chrono::steady_clock::now() < deadline &&
         losses_by_step(run).size() < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  process.send(signal);
  const int code = process.wait();
  const std::string output = testing::slurp(dir.file("out"));
  ASSERT_EQ(code, 128 + signal) << output;
  EXPECT_NE(output.find(signal == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM"), std::string::npos) << output;
  const auto losses = losses_by_step(run);
  ASSERT_FALSE(losses.empty());
  const int64_t stopped_at = losses.rbegin()->first;
  EXPECT_EQ(newest_checkpoint(run).step, stopped_at) << "the checkpoint is of the last finished step";

  const auto resumed = testing::run_cli("--threads 1 train " + kTrainFlags + " --resume '" + run +
                                        "' --max-steps " + std::to_string(stopped_at + 3));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("from step " + std::to_string(stopped_at)), std::string::npos) << resumed.output;
  EXPECT_EQ(newest_checkpoint(run).step, stopped_at + 3);
}

TEST(KillAndResume, SigintWritesACheckpointAndExits130) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  expect_clean_stop(SIGINT);
}

TEST(KillAndResume, SigtermWritesACheckpointAndExits143) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  expect_clean_stop(SIGTERM);
}

// A signal during an epoch's end-of-epoch work (test loss, figures) stops the run there,
// on the epoch's checkpoint — written before that work, so that the minutes it takes for a
// large model cannot lose training — instead of after one more step.
TEST(KillAndResume, SignalDuringTheEpochsEndStopsOnTheEpochsCheckpoint) {
  TempDir dir;
  // An epoch of 4 steps (64 images, batch 16) and a test split of 10,000 images, whose
  // test loss keeps the run in its epoch's end for a second or more: the signal lands there.
  const auto png = [&](const std::string& path) {
    fs::create_directories(fs::path(path).parent_path());
    write_file_atomic(path, io::encode_png(torch::rand({1, 28, 28})));
  };
  for (int i = 0; i < 64; ++i) png(dir.file("data/train/a/" + std::to_string(i) + ".png"));
  for (int i = 0; i < 10000; ++i) png(dir.file("data/test/a/" + std::to_string(i) + ".png"));
  constexpr int64_t kStepsPerEpoch = 4;
  const std::string run = dir.file("run");
  CliProcess process("--threads 1 train --log-every 1 --checkpoint-minutes 1000 vae --dataset '" + dir.file("data") +
                     "' --channels 8 --latent-dim 4 --batch-size 16 --epochs 0 --max-steps 100000 --run-dir '" +
                     run + "'",
                     dir.file("out"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!process.finished() && std::chrono::steady_clock::now() < deadline &&
         testing::last_logged_step(run) < kStepsPerEpoch)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(testing::last_logged_step(run), kStepsPerEpoch) << testing::slurp(dir.file("out"));
  process.send(SIGTERM);
  const int code = process.wait();
  const std::string output = testing::slurp(dir.file("out"));
  ASSERT_EQ(code, 128 + SIGTERM) << output;
  EXPECT_NE(output.find("stopped by SIGTERM at step " + std::to_string(kStepsPerEpoch)), std::string::npos)
      << output;
  EXPECT_EQ(losses_by_step(run).rbegin()->first, kStepsPerEpoch) << "no step after the epoch's end";
  EXPECT_EQ(newest_checkpoint(run).step, kStepsPerEpoch);
}

// Killed before its first checkpoint, a run restarts from step 0 on --resume instead of
// being stuck (its directory exists, so a new run there is refused).
TEST(KillAndResume, RunKilledBeforeItsFirstCheckpointRestartsFromZero) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  fs::create_directories(run + "/checkpoints");
  // What a kill right after config.json (and during the first checkpoint) leaves behind.
  const auto straight = testing::run_cli(new_run(dir.file("straight")));
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  fs::copy_file(dir.file("straight") + "/config.json", run + "/config.json");
  std::ofstream(run + "/checkpoints/step-0000000001.pt.tmp-99999") << "half a checkpoint";
  std::ofstream(run + "/checkpoints/step-0000000002.pt") << "no manifest";
  const auto resumed = testing::run_cli(resume_run(run));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("starting it from step 0"), std::string::npos) << resumed.output;
  EXPECT_FALSE(has_temp_checkpoint_file(run));
  EXPECT_EQ(losses_by_step(run), losses_by_step(dir.file("straight")));
  expect_same_final_state(run, dir.file("straight"));
}

// A distilled run is killed like any other: SIGKILL mid-distillation, then `train --resume`
// (which needs no teacher: the checkpoints carry it) ends on the same losses and state as
// an uninterrupted distillation.
TEST(KillAndResume, KilledDistillationResumesToTheUninterruptedRun) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string teacher = dir.file("teacher");
  const auto trained = testing::run_cli("--threads 1 train ddpm --base-width 8 --channel-mults 1,2 "
                                        "--attention-levels none --groups 4 --max-steps 2 --batch-size 8 --run-dir '" +
                                        teacher + "'");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  auto distill = [&](const std::string& run) {
    return "--threads 1 distill '" + teacher + "' " + kTrainFlags +
           " --grid-points 10 --batch-size 8 --max-steps 16 --run-dir '" + run + "'";
  };
  const std::string straight = dir.file("straight"), killed = dir.file("killed");
  const auto reference = testing::run_cli(distill(straight));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  {
    CliProcess process(distill(killed), dir.file("out"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!process.finished() && std::chrono::steady_clock::now() < deadline && testing::last_logged_step(killed) < 5)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_FALSE(process.finished()) << "the distillation ended before the kill";
    process.send(SIGKILL);
    EXPECT_EQ(process.wait(), 128 + SIGKILL);
  }
  EXPECT_LT(newest_checkpoint(killed).step, 16);
  const auto finish = testing::run_cli(resume_run(killed));
  ASSERT_EQ(finish.exit_code, 0) << finish.output;
  EXPECT_EQ(losses_by_step(killed), losses_by_step(straight));
  expect_same_final_state(straight, killed);
}

// Run options given to `train` are kept by a resume that does not repeat them: a run
// started with --checkpoint-minutes 0 (a checkpoint after every step), killed and resumed
// with a plain `--resume`, still checkpoints after every step, so the next kill loses at
// most the step in flight. (Before they were recorded, the resume fell back to every 10
// minutes and a second kill lost every step since the first.) Options given again win.
TEST(KillAndResume, ResumeKeepsTheRunOptionsItWasStartedWith) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  auto run_until_logged = [&](const std::string& args, int64_t step, const std::string& out) {
    CliProcess process(args, out);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!process.finished() && std::chrono::steady_clock::now() < deadline && testing::last_logged_step(run) < step)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    process.send(SIGKILL);
    process.wait();
  };
  run_until_logged("--threads 1 train " + kTrainFlags + " vae --channels 8 --latent-dim 4 --batch-size 32 "
                   "--epochs 0 --max-steps 100000 --run-dir '" + run + "'",
                   3, dir.file("out-1"));
  const Json recorded = Json::parse(testing::slurp(run + "/config.json")).at("run_options");
  EXPECT_EQ(recorded, Json::parse(R"({"checkpoint_minutes": 0.0, "keep": 2, "log_every": 1})"));
  const int64_t resumed_from = newest_checkpoint(run).step;
  ASSERT_GE(resumed_from, 1) << testing::slurp(dir.file("out-1"));

  run_until_logged("--threads 1 train --resume '" + run + "'", resumed_from + 8, dir.file("out-2"));
  const int64_t logged = testing::last_logged_step(run);
  ASSERT_GE(logged, resumed_from + 8) << testing::slurp(dir.file("out-2"));
  EXPECT_GE(newest_checkpoint(run).step, logged - 1) << "the resumed run stopped checkpointing every step";
  EXPECT_EQ(Json::parse(testing::slurp(run + "/config.json")).at("run_options"), recorded);

  const auto changed = testing::run_cli("--threads 1 train --resume '" + run + "' --checkpoint-minutes 5 "
                                        "--max-steps " + std::to_string(logged + 2));
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  const Json now = Json::parse(testing::slurp(run + "/config.json")).at("run_options");
  EXPECT_EQ(now["checkpoint_minutes"], 5.0);
  EXPECT_EQ(now["keep"], 2);
}

}  // namespace
}  // namespace trilemma
