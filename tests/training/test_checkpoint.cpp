// Guards checkpoints and resuming: save -> load gives identical outputs, damaged files are
// named and skipped, and a run stopped and resumed ends bit-identical to one that was not.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "models/registry.h"
#include "models/vae.h"
#include "support/test_support.h"
#include "training/checkpoint.h"
#include "training/train_loop.h"

namespace trilemma::training {
namespace {

namespace fs = std::filesystem;
using trilemma::testing::TempDir;

VaeSettings tiny_vae() {
  VaeSettings s = vae_preset("quick");
  s.channels = 8;
  s.latent_dim = 4;
  return s;
}

TEST(Checkpoint, SaveThenLoadGivesIdenticalSamples) {
  TempDir dir;
  torch::manual_seed(1);
  Vae a(tiny_vae(), torch::kCPU);
  a.train_step(torch::rand({16, 1, 28, 28}), {});
  save_checkpoint(a, "vae", dir.file("ckpt"), 1, 0, 3);
  torch::manual_seed(2);
  Vae b(tiny_vae(), torch::kCPU);
  load_checkpoint(b, "vae", list_checkpoints(dir.file("ckpt")).front());
  torch::manual_seed(3);
  const torch::Tensor sa = a.sample(4, {});
  torch::manual_seed(3);
  const torch::Tensor sb = b.sample(4, {});
  EXPECT_TRUE(torch::equal(sa, sb));
}

TEST(Checkpoint, KeepsNewestKAndRejectsDamagedOnes) {
  TempDir dir;
  Vae vae(tiny_vae(), torch::kCPU);
  for (int64_t step : {10, 20, 30, 40}) save_checkpoint(vae, "vae", dir.file("c"), step, 0, 2);
  auto all = list_checkpoints(dir.file("c"));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].step, 40);
  EXPECT_EQ(all[1].step, 30);

  // Truncated file.
  fs::resize_file(all[0].path, fs::file_size(all[0].path) / 2);
  try {
    load_checkpoint(vae, "vae", all[0]);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  // Flipped byte, same size.
  std::string bytes = read_file(all[1].path);
  bytes[bytes.size() / 2] ^= 0x5A;
  write_file_atomic(all[1].path, bytes);
  EXPECT_THROW(load_checkpoint(vae, "vae", all[1]), UserError);
  // Wrong model kind.
  save_checkpoint(vae, "vae", dir.file("d"), 5, 0, 2);
  EXPECT_THROW(load_checkpoint(vae, "dcgan", list_checkpoints(dir.file("d")).front()), UserError);
  // Wrong format version and junk manifest.
  EXPECT_THROW(parse_manifest(R"({"format_version": 99, "model": "vae", "step": 1, "epoch": 0, "bytes": 1, "crc32": 1})", "m"),
               UserError);
  EXPECT_THROW(parse_manifest("{not json", "m"), UserError);
  // Settings that do not match the checkpoint's tensors.
  VaeSettings other = tiny_vae();
  other.channels = 16;
  Vae wider(other, torch::kCPU);
  EXPECT_THROW(load_checkpoint(wider, "vae", list_checkpoints(dir.file("d")).front()), UserError);
}

RunConfig tiny_run_config(int64_t max_steps) {
  RunConfig config;
  config.model = "vae";
  config.preset = "quick";
  config.settings = vae_settings_table().to_json(tiny_vae());
  config.settings["epochs"] = 0;
  config.settings["max_steps"] = max_steps;
  return config;
}

TrainOptions options_for(const std::string& run_dir) {
  TrainOptions options;
  options.run_dir = run_dir;
  options.data_dir = trilemma::testing::mnist_dir();
  options.run_options["log_every"] = 1;
  options.test_images = 200;
  return options;
}

std::vector<double> logged_losses(const std::string& run_dir) {
  std::ifstream in(metrics_path(run_dir));
  std::vector<double> losses;
  std::string line;
  while (std::getline(in, line)) {
    const Json json = Json::parse(line);
    if (json.contains("loss") && json.value("phase", "") != "test") losses.push_back(json["loss"]);
  }
  return losses;
}

TEST(Resume, StoppedAndResumedRunEqualsUninterruptedRun) {
  if (trilemma::testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  torch::set_num_threads(2);
  TempDir dir;
  ASSERT_EQ(train_run(tiny_run_config(12), options_for(dir.file("straight"))), 0);

  ASSERT_EQ(train_run(tiny_run_config(5), options_for(dir.file("resumed"))), 0);
  TrainOptions more = options_for(dir.file("resumed"));
  more.resume = true;
  more.resume_max_steps = 12;
  ASSERT_EQ(train_run({}, more), 0);

  const auto straight = logged_losses(dir.file("straight"));
  const auto resumed = logged_losses(dir.file("resumed"));
  ASSERT_EQ(straight.size(), 12u);
  EXPECT_EQ(straight, resumed);  // bit-identical on CPU with the same threads

  Vae a(tiny_vae(), torch::kCPU), b(tiny_vae(), torch::kCPU);
  load_checkpoint(a, "vae", list_checkpoints(checkpoints_dir(dir.file("straight"))).front());
  load_checkpoint(b, "vae", list_checkpoints(checkpoints_dir(dir.file("resumed"))).front());
  torch::manual_seed(9);
  const torch::Tensor sa = a.sample(8, {});
  torch::manual_seed(9);
  EXPECT_TRUE(torch::equal(sa, b.sample(8, {})));
}

TEST(Resume, FallsBackToAnOlderCheckpointWhenTheNewestIsCorrupt) {
  if (trilemma::testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  TrainOptions options = options_for(dir.file("run"));
  options.run_options["keep"] = 5;
  ASSERT_EQ(train_run(tiny_run_config(3), options), 0);
  TrainOptions more = options;
  more.resume = true;
  more.resume_max_steps = 6;
  ASSERT_EQ(train_run({}, more), 0);
  auto all = list_checkpoints(checkpoints_dir(dir.file("run")));
  ASSERT_EQ(all.front().step, 6);
  fs::resize_file(all.front().path, 100);
  const LoadedRun run = load_run(dir.file("run"), torch::kCPU);
  EXPECT_EQ(run.step, 3);
  // The CRC it carries (into eval.json and human studies) is the loaded file's, not the newest's.
  EXPECT_EQ(run.checkpoint, all[1].path);
  EXPECT_EQ(run.checkpoint_crc32, crc32_hex(crc32_of(read_file(all[1].path))));
}

// A learning curve's minutes are training time: a run paused between two sessions must not
// count the pause (a DCGAN paused for hours once plotted its last points four hours late).
TEST(Resume, TrainingTimeSumsTheSessionsAndSkipsThePauseBetweenThem) {
  if (trilemma::testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  TrainOptions options = options_for(dir.file("run"));
  options.run_options["keep"] = 5;
  ASSERT_EQ(train_run(tiny_run_config(3), options), 0);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the pause
  TrainOptions more = options;
  more.resume = true;
  more.resume_max_steps = 6;
  ASSERT_EQ(train_run({}, more), 0);
  const auto all = list_checkpoints(checkpoints_dir(dir.file("run")));
  ASSERT_EQ(all.size(), 2u);
  const CheckpointInfo &later = all[0], &earlier = all[1];
  ASSERT_EQ(earlier.step, 3);
  EXPECT_GE(earlier.training_seconds, 0);
  EXPECT_GE(later.training_seconds, earlier.training_seconds);
  const double wall_seconds =
      std::chrono::duration<double>(fs::last_write_time(later.path) - fs::last_write_time(earlier.path)).count();
  EXPECT_LT(later.training_seconds - earlier.training_seconds, wall_seconds - 2.5);
  const LoadedRun run = load_run(dir.file("run"), torch::kCPU);
  EXPECT_EQ(run.training_seconds, later.training_seconds);
  EXPECT_EQ(training_minutes(run.config, run.checkpoint, run.training_seconds), later.training_seconds / 60);
}

TEST(Resume, RefusesToOverwriteAnExistingRun) {
  if (trilemma::testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  TempDir dir;
  fs::create_directories(dir.file("run"));
  std::ofstream(dir.file("run/keep.txt")) << "precious";
  EXPECT_THROW(train_run(tiny_run_config(2), options_for(dir.file("run"))), UserError);
  EXPECT_EQ(read_file(dir.file("run/keep.txt")), "precious");
}


// The manifest parser is strict: a value of the wrong JSON type is damage, not a number
// to convert (the previous parser read "step": 1.5 as 1 and "crc32": -1 as 4294967295).
TEST(Checkpoint, ManifestParserRejectsWrongTypesAndRanges) {
  const Json good = {{"format_version", 1}, {"model", "vae"}, {"step", 10}, {"epoch", 0},
                     {"bytes", 100}, {"crc32", 4294967295u}};
  EXPECT_EQ(parse_manifest(good.dump(), "m").crc32, 4294967295u);
  auto broken = [&](const std::string& key, const Json& value) {
    Json j = good;
    j[key] = value;
    try {
      parse_manifest(j.dump(), "m.json");
    } catch (const UserError& e) {
      return std::string(e.what()).rfind("m.json: ", 0) == 0;
    }
    return false;
  };
  EXPECT_TRUE(broken("step", 1.5));
  EXPECT_TRUE(broken("step", "10"));
  EXPECT_TRUE(broken("step", -1));
  EXPECT_TRUE(broken("step", 18446744073709551615u));
  EXPECT_TRUE(broken("crc32", -1));
  EXPECT_TRUE(broken("crc32", 4294967296));
  EXPECT_TRUE(broken("bytes", nullptr));
  EXPECT_TRUE(broken("model", ""));
  EXPECT_TRUE(broken("model", 3));
  EXPECT_TRUE(broken("format_version", 1.0));
  EXPECT_THROW(parse_manifest("[1, 2]", "m"), UserError);
  EXPECT_THROW(parse_manifest("", "m"), UserError);
  EXPECT_TRUE(broken("training_seconds", -1));
  EXPECT_TRUE(broken("training_seconds", "12"));
  CheckpointInfo info = parse_manifest(good.dump(), "m");
  EXPECT_EQ(info.training_seconds, -1);  // not recorded: older checkpoints
  EXPECT_EQ(parse_manifest(format_manifest(info), "again").crc32, info.crc32);
  EXPECT_EQ(parse_manifest(format_manifest(info), "again").training_seconds, -1);
  Json timed = good;
  timed["training_seconds"] = 61.5;
  EXPECT_EQ(parse_manifest(format_manifest(parse_manifest(timed.dump(), "m")), "again").training_seconds, 61.5);
}

// A kill mid-save leaves temporary files or a .pt without its manifest; a failed resume
// leaves newer damaged checkpoints. tidy_checkpoints clears the first and sets aside (not
// deletes) the second.
TEST(Checkpoint, TidyRemovesLeftoversAndSetsAsideNewerDamagedCheckpoints) {
  TempDir dir;
  Vae vae(tiny_vae(), torch::kCPU);
  const std::string c = dir.file("c");
  for (int64_t step : {1, 2, 3}) save_checkpoint(vae, "vae", c, step, 0, 5);
  std::ofstream(c + "/step-0000000004.pt.tmp-123") << "half";
  std::ofstream(c + "/step-0000000005.pt") << "no manifest";
  std::ofstream(c + "/step-0000000006.json") << "{junk";
  const auto set_aside = tidy_checkpoints(c, 2);
  EXPECT_EQ(set_aside.size(), 2u);  // step 3 (newer than the loaded 2) and the junk manifest's
  EXPECT_FALSE(fs::exists(c + "/step-0000000004.pt.tmp-123"));
  EXPECT_FALSE(fs::exists(c + "/step-0000000005.pt"));
  EXPECT_TRUE(fs::exists(c + "/step-0000000003.pt.bad"));
  EXPECT_TRUE(fs::exists(c + "/step-0000000003.json.bad"));
  EXPECT_TRUE(fs::exists(c + "/step-0000000006.json.bad"));
  const auto left = list_checkpoints(c);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left.front().step, 2);
}

}  // namespace
}  // namespace trilemma::training
