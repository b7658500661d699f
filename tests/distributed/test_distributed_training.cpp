// `trilemma train --nproc 2` end to end, on loopback: for every family, two ranks that each
// train on half of each batch end where one process training on the whole batch ends (the
// weights and optimiser state of the final checkpoint, to a float tolerance); a rank killed
// with SIGKILL stops the other within seconds, naming it, and --resume completes the run;
// bad launches are one-line errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "core/settings.h"
#include "support/test_support.h"
#include "training/checkpoint.h"

namespace trilemma {
namespace {

namespace fs = std::filesystem;
using testing::CliProcess;
using testing::run_cli;
using testing::TempDir;

// Every tensor of a run's newest checkpoint (weights, buffers, EMA, optimiser moments),
// by its path in the archive. LibTorch keys an optimiser's state by each parameter's
// address in the process that saved it; `names` maps those to their group and position.
void collect(torch::serialize::InputArchive& archive, const std::string& prefix,
             std::map<std::string, torch::Tensor>& out, std::map<std::string, std::string>& names) {
  for (const std::string& key : archive.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive nested;
    c10::IValue value;
    if (archive.try_read(key, tensor)) {
      out[prefix + key] = tensor;
    } else if (archive.try_read(key, nested)) {
      collect(nested, prefix + key + "/", out, names);
    } else if (archive.try_read(key, value) && value.isString() &&
               (prefix + key).find("/params/") != std::string::npos) {
      names[value.toStringRef()] = prefix + key;  // .../param_groups/G/params/I
    }
  }
}

std::map<std::string, torch::Tensor> with_parameter_names(const std::map<std::string, torch::Tensor>& tensors,
                                                          const std::map<std::string, std::string>& names) {
  std::map<std::string, torch::Tensor> renamed;
  for (const auto& [key, tensor] : tensors) {
    std::string name = key;
    for (const auto& [address, parameter] : names)
      if (const size_t at = name.find("/" + address + "/"); at != std::string::npos)
        name = name.substr(0, at) + "/[" + parameter + "]/" + name.substr(at + address.size() + 2);
    renamed[name] = tensor;
  }
  return renamed;
}

std::map<std::string, torch::Tensor> checkpoint_tensors(const std::string& run_dir) {
  const auto checkpoints = training::list_checkpoints(run_dir + "/checkpoints");
  EXPECT_FALSE(checkpoints.empty()) << run_dir;
  std::map<std::string, torch::Tensor> tensors;
  if (checkpoints.empty()) return tensors;
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoints.back().path);
  std::map<std::string, std::string> names;
  collect(archive, "", tensors, names);
  return with_parameter_names(tensors, names);
}

// Largest difference between the runs' final networks (weights, BatchNorm statistics, EMA),
// max |a − b| / max(max |a|, 0.01) per tensor, over every floating-point tensor but the
// optimiser's moments and `ignored` (names containing one of them); and how many tensors
// were compared. The moments are left out because Adam's second moment of a gradient that
// is 0 up to rounding is rounding noise itself.
std::pair<double, int> max_relative_difference(const std::string& run_a, const std::string& run_b,
                                               const std::vector<std::string>& ignored = {}) {
  const auto a = checkpoint_tensors(run_a), b = checkpoint_tensors(run_b);
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  int compared = 0;
  std::string worst_key;
  for (const auto& [key, tensor] : a) {
    const auto other = b.find(key);
    if (other == b.end()) {
      ADD_FAILURE() << key << " missing from " << run_b;
      continue;
    }
    if (!tensor.is_floating_point()) {
      EXPECT_TRUE(torch::equal(tensor, other->second)) << key;
      continue;
    }
    if (key.find("optimizer") != std::string::npos) continue;
    if (std::any_of(ignored.begin(), ignored.end(),
                    [&](const std::string& name) { return key.find(name) != std::string::npos; }))
      continue;
    const auto x = tensor.to(torch::kDouble), y = other->second.to(torch::kDouble);
    const double difference = (x - y).abs().max().item<double>() / std::max(x.abs().max().item<double>(), 1e-2);
    if (difference > worst) worst = difference, worst_key = key;
    ++compared;
  }
  std::cout << run_a << " vs " << run_b << ": largest relative difference " << worst << " (" << worst_key
            << ") over " << compared << " tensors\n";
  return {worst, compared};
}

std::map<int64_t, double> train_losses(const std::string& run_dir) {
  std::map<int64_t, double> losses;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const Json json = Json::parse(line);
    if (json.value("phase", "") != "test") losses[json.at("step").get<int64_t>()] = json.at("loss").get<double>();
  }
  return losses;
}

struct FamilyCase {
  std::string name;
  std::string command;  ///< the training command without --run-dir
  /// Tensors left out: the bias of a layer that BatchNorm follows has a gradient that is 0
  /// in exact arithmetic, so Adam (g / √v) turns its rounding noise into ±lr steps in any
  /// run — one process with another thread count too — and its optimiser moments with it.
  std::vector<std::string> ignored;
};

// Small networks and 3 steps of a global batch of 16: every family's step (both GAN
// phases, the DCGAN's synchronised BatchNorm, dropout, conditional label dropout, the
// distilled student's teacher step) runs on both ranks. The consistency student distils
// the one-process DDPM run.
// The DCGAN's layers that BatchNorm follows, and the running means that see their biases.
const std::vector<std::string> kBiasesBeforeBatchNorm = {
    "generator/dense/bias", "generator/dense_norm/running_mean", "generator/up1/0/bias", "generator/norm1/running_mean",
    "generator/mid/0/bias", "generator/norm2/running_mean",     "discriminator/conv2/bias",
    "discriminator/norm2/running_mean"};
const std::string kSmallRun = " --batch-size 16 --epochs 0 --max-steps 3 --log-every 1";

TEST(DistributedTraining, TwoRanksEndWhereOneProcessEndsForEveryFamily) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string teacher = dir.file("ddpm-1");
  const std::vector<FamilyCase> cases = {
      {"vae", "train vae --channels 8 --latent-dim 4" + kSmallRun},
      // Self-conditioned: every rank must fit the same clusters.
      {"dcgan", "train dcgan --width 8 --latent-dim 8 --clusters 4" + kSmallRun, kBiasesBeforeBatchNorm},
      {"dcgan-seed", "train dcgan --architecture seed --width 8 --latent-dim 8" + kSmallRun, kBiasesBeforeBatchNorm},
      {"ddpm", "train ddpm --base-width 8 --channel-mults 1,2 --attention-levels none --groups 4 --dropout 0.1 "
               "--conditional" + kSmallRun},
      {"ddgan", "train ddgan --base-width 8 --channel-mults 1,2 --groups 4 --disc-width 8 --latent-dim 8 --timesteps 2" +
                    kSmallRun},
      {"consistency", "distill " + teacher + " --grid-points 10" + kSmallRun},
  };
  for (const FamilyCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string one = dir.file(c.name + "-1"), two = dir.file(c.name + "-2");
    const auto single = run_cli("--threads 1 " + c.command + " --run-dir " + one);
    ASSERT_EQ(single.exit_code, 0) << single.output;
    const auto pair = run_cli(c.command + " --nproc 2 --run-dir " + two);
    ASSERT_EQ(pair.exit_code, 0) << pair.output;
    // Rank 0 alone speaks: the run's banner appears once. (Not "training ": a VAE that fits
    // its latent mixture reports "... training images" after the banner.)
    const std::string banner = "on 2 ranks of batch 8 each";
    EXPECT_NE(pair.output.find(banner), std::string::npos) << pair.output;
    EXPECT_EQ(pair.output.find(banner), pair.output.rfind(banner)) << pair.output;

    const auto [difference, compared] = max_relative_difference(one, two, c.ignored);
    EXPECT_GT(compared, 10);
    // Float summation order differs (half batches, then an all-reduce), which moves weights
    // by ~1e-7 relative. The failure this guards against — ranks that train on their half
    // batch alone — is measured here too: one process on a batch of 8 (1e-3 to 0.4 measured).
    const std::string half = dir.file(c.name + "-half");
    std::string half_command = c.command;
    half_command.replace(half_command.find("--batch-size 16"), 15, "--batch-size 8");
    ASSERT_EQ(run_cli("--threads 1 " + half_command + " --run-dir " + half).exit_code, 0);
    const double half_batch_difference = max_relative_difference(one, half, c.ignored).first;
    EXPECT_LT(difference, 1e-4);
    EXPECT_LT(difference, 0.05 * half_batch_difference);
    const auto losses_one = train_losses(one), losses_two = train_losses(two);
    ASSERT_EQ(losses_one.size(), 3u);
    ASSERT_EQ(losses_two.size(), 3u);
    for (const auto& [step, loss] : losses_one)
      EXPECT_NEAR(losses_two.at(step), loss, 1e-4 * std::max(1.0, std::abs(loss))) << "step " << step;
  }
}

// A kill -9 of rank 1 mid-run: rank 0 and the launcher stop within seconds with a line
// naming rank 1; --resume on two ranks finishes the run, which ends exactly where an
// uninterrupted two-rank run ends (same draws, same all-reduce order).
TEST(DistributedTraining, AKilledRankStopsTheRunAndResumeCompletesIt) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run"), reference = dir.file("reference");
  const std::string model = "vae --channels 8 --latent-dim 4 --batch-size 32 --epochs 0 --max-steps 200";
  const std::string flags = "--log-every 1 --checkpoint-minutes 0 --keep 2";
  ASSERT_EQ(run_cli("train " + flags + " --nproc 2 " + model + " --run-dir " + reference).exit_code, 0);

  CliProcess launcher("train " + flags + " --nproc 2 " + model + " --run-dir " + run, dir.file("out"));
  // Rank 1 is the launcher's child whose environment says RANK=1.
  auto find_rank_one = [&]() -> int {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string pid = entry.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::istringstream stat(testing::slurp("/proc/" + pid + "/stat"));
      std::string field;
      for (int i = 0; i < 4 && stat >> field; ++i) {
      }
      if (field != std::to_string(launcher.pid())) continue;  // the 4th field is the parent's pid
      const std::string environ = testing::slurp("/proc/" + pid + "/environ");
      if (environ.find(std::string("RANK=1") + '\0') != std::string::npos &&
          environ.find(std::string("LOCAL_RANK=1") + '\0') != std::string::npos)
        return std::stoi(pid);
    }
    return -1;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (testing::last_logged_step(run) < 20 && !launcher.finished() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_FALSE(launcher.finished()) << testing::slurp(dir.file("out"));
  const int rank_one = find_rank_one();
  ASSERT_GT(rank_one, 0);
  ASSERT_EQ(kill(rank_one, SIGKILL), 0);
  const auto killed_at = std::chrono::steady_clock::now();
  while (!launcher.finished() && std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(launcher.finished()) << "the run did not stop within 30 s of rank 1's death";
  EXPECT_NE(launcher.wait(), 0);
  const std::string output = testing::slurp(dir.file("out"));
  EXPECT_NE(output.find("error: rank 1 (pid " + std::to_string(rank_one) + ") was killed by signal 9 (Killed)"),
            std::string::npos)
      << output;
  const int64_t stopped_at = testing::last_logged_step(run);
  EXPECT_LT(stopped_at, 200);

  const auto resumed = run_cli("train --nproc 2 --resume " + run);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming " + run + " from step"), std::string::npos) << resumed.output;
  EXPECT_EQ(testing::last_logged_step(run), 200);
  EXPECT_EQ(train_losses(run).size(), 200u);  // no step lost or logged twice
  EXPECT_LT(max_relative_difference(reference, run).first, 1e-6);
  EXPECT_EQ(train_losses(run), train_losses(reference));
}

// SIGINT to the launcher stops both ranks at the same step with a checkpoint (exit 130).
TEST(DistributedTraining, SigintStopsEveryRankWithACheckpoint) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = dir.file("run");
  CliProcess launcher("train --log-every 1 --nproc 2 vae --channels 8 --latent-dim 4 --batch-size 32 --epochs 0 "
                      "--max-steps 100000 --run-dir " + run,
                      dir.file("out"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (testing::last_logged_step(run) < 10 && !launcher.finished() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  launcher.send(SIGINT);
  EXPECT_EQ(launcher.wait(), 130) << testing::slurp(dir.file("out"));
  const auto checkpoints = training::list_checkpoints(run + "/checkpoints");
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.back().step, testing::last_logged_step(run));
  EXPECT_EQ(testing::slurp(dir.file("out")).find("error"), std::string::npos) << testing::slurp(dir.file("out"));
}

TEST(DistributedTraining, BadLaunchesAreOneLineErrors) {
  if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  const std::string run = " vae --channels 8 --latent-dim 4 --epochs 0 --max-steps 2 --run-dir " + dir.file("r");
  const std::string env = "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 ";
  struct Case {
    std::string arguments, prefix, expected;
  };
  const std::vector<Case> cases = {
      {"train --nproc 2" + run + " --batch-size 33", "", "--batch-size 33 does not split evenly over 2 ranks"},
      {"train --nproc 2" + run, "RANK=0 WORLD_SIZE=2", "--nproc: this process is already a rank of a launched run"},
      {"train" + run, "RANK=0", "WORLD_SIZE is not set"},
      {"train" + run, "RANK=3 WORLD_SIZE=2", "RANK=3 is not below WORLD_SIZE=2"},
      {"train" + run, env + "MASTER_PORT=abc", "MASTER_PORT=abc: expected an integer"},
      {"train --dist-backend nccl" + run, env + "MASTER_PORT=29999", "this LibTorch build has no NCCL"},
      // Rank 1 never comes: the rendezvous gives up after --dist-timeout.
      {"train --dist-timeout 2" + run, env + "MASTER_PORT=" + std::to_string(29000 + getpid() % 1000),
       "rank 0 of 2: the rendezvous at 127.0.0.1:"},
      // ... and so does a rank whose rank 0 never comes.
      {"train --dist-timeout 2" + run, "RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
       std::to_string(29000 + getpid() % 1000), "rank 1 of 2: the rendezvous at 127.0.0.1:"},
  };
  for (const Case& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_cli(c.arguments, c.prefix.empty() ? "" : "export " + c.prefix + ";");
    EXPECT_NE(result.exit_code, 0) << c.arguments;
    EXPECT_NE(result.output.find(c.expected), std::string::npos) << c.prefix << " " << c.arguments << "\n"
                                                                  << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30);
    EXPECT_FALSE(fs::exists(dir.file("r"))) << c.arguments << " left a run directory";
  }
}

}  // namespace
}  // namespace trilemma
