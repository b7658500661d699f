// Guards the model zoo: an exported model samples as its run does, a damaged or unknown
// entry is named, a zoo model is never written to or resumed, and every shipped model
// loads (CRC checked) and draws digits of every class as the evaluator reads them (a
// conditional one, the class it is asked for).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "metrics/run_evaluation.h"
#include "models/classifier.h"
#include "models/registry.h"
#include "support/test_support.h"
#include "training/zoo.h"

namespace trilemma::training {
namespace {

namespace fs = std::filesystem;
using trilemma::testing::TempDir;

// A small trained VAE as a loaded run, as `trilemma zoo add` sees one.
LoadedRun tiny_vae_run() {
  LoadedRun run;
  run.config.model = "vae";
  run.config.preset = "quick";
  run.family = &find_model_family("vae");
  run.config.settings = run.family->preset_settings("quick");
  run.family->set_setting(run.config.settings, "channels", "8");
  run.family->set_setting(run.config.settings, "latent_dim", "4");
  run.config.settings = run.family->validate(run.config.settings);
  torch::manual_seed(1);
  run.model = run.family->create(run.config.settings, torch::kCPU);
  for (int i = 0; i < 3; ++i) run.model->train_step(torch::rand({16, 1, 28, 28}), {});
  run.step = 3;
  return run;
}

// Points zoo_directory() at a test's folder for the test's lifetime.
struct ZooAt {
  explicit ZooAt(const std::string& dir) { setenv("TRILEMMA_ZOO_DIR", dir.c_str(), 1); }
  ~ZooAt() { unsetenv("TRILEMMA_ZOO_DIR"); }
};

TEST(Zoo, ExportedModelSamplesAsTheRunDoesAtHalfTheBytes) {
  TempDir dir;
  ZooAt zoo(dir.path().string());
  LoadedRun run = tiny_vae_run();
  const std::string entry = export_to_zoo(run, "tiny", dir.path().string(), {{"command", "test"}});
  LoadedRun loaded = load_run("zoo:tiny", torch::kCPU);
  EXPECT_TRUE(loaded.read_only);
  EXPECT_EQ(loaded.checkpoint_crc32, crc32_hex(crc32_of(read_file(loaded.checkpoint))));
  EXPECT_EQ(loaded.config.model, "vae");
  EXPECT_EQ(loaded.step, 3);
  torch::manual_seed(7);
  const torch::Tensor expected = run.model->sample(32, {});
  torch::manual_seed(7);
  const torch::Tensor got = loaded.model->sample(32, {});
  // float16 keeps ~3 decimal digits of each weight: the images agree to well under a grey level.
  EXPECT_LT((expected - got).abs().max().item<double>(), 2e-3);
  int64_t fp32_bytes = 0;
  for (const auto& [key, module] : run.model->sampling_networks())
    for (const auto& p : module->parameters()) fp32_bytes += 4 * p.numel();
  EXPECT_LT(static_cast<double>(fs::file_size(fs::path(entry) / "model.pt")), 0.6 * fp32_bytes + 20000);
}

TEST(Zoo, DamagedUnknownAndMisusedEntriesAreNamed) {
  TempDir dir;
  ZooAt zoo(dir.path().string());
  LoadedRun run = tiny_vae_run();
  const fs::path model = fs::path(export_to_zoo(run, "tiny", dir.path().string(), {})) / "model.pt";
  try {
    load_run("zoo:nope", torch::kCPU);
    FAIL() << "an unknown entry loaded";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("zoo:nope: no such zoo model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tiny"), std::string::npos) << e.what();  // lists what there is
  }
  std::string bytes = read_file(model.string());
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file_atomic(model.string(), bytes);
  try {
    load_run("zoo:tiny", torch::kCPU);
    FAIL() << "a damaged entry loaded";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("CRC-32"), std::string::npos) << e.what();
  }
  fs::resize_file(model, 100);
  EXPECT_THROW(load_run("zoo:tiny", torch::kCPU), UserError);
  EXPECT_THROW(export_to_zoo(run, "../escape", dir.path().string(), {}), UserError);
}

// An entry's speeds were measured on the machine that shipped it; compare needs its name to
// say so beside runs measured here. Entries from before eval.json recorded it take zoo.json's.
TEST(Zoo, EvaluationNamesTheCpuItsSpeedWasMeasuredOn) {
  TempDir dir;
  ZooAt zoo(dir.path().string());
  LoadedRun run = tiny_vae_run();
  const fs::path entry(export_to_zoo(run, "tiny", dir.path().string(), {{"exported_on_cpu", "Old CPU"}}));
  const Json evaluation = {{"samplers",
                            {{"decoder", {{"fid", 1.0}, {"speed", {{"nfe", 1}}}}},
                             {"later", {{"fid", 2.0}, {"speed", {{"nfe", 1}, {"cpu", "New CPU"}}}}},
                             {"no-speed", {{"fid", 3.0}}}}}};
  write_file_atomic((entry / "eval.json").string(), evaluation.dump());
  const Json read = read_zoo_evaluation("zoo:tiny");
  EXPECT_EQ(read["samplers"]["decoder"]["speed"]["cpu"], "Old CPU");
  EXPECT_EQ(read["samplers"]["later"]["speed"]["cpu"], "New CPU");  // its own record wins
  EXPECT_FALSE(read["samplers"]["no-speed"].contains("speed"));
  EXPECT_EQ(read["samplers"]["decoder"]["fid"], 1.0);
}

TEST(Zoo, ShippedModelsLoadAndDrawEveryDigit) {
  if (trilemma::testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  const auto entries = list_zoo(zoo_directory());
  ASSERT_FALSE(entries.empty()) << "no zoo at " << zoo_directory();
  metrics::EvalReference reference = metrics::load_eval_reference(torch::kCPU, trilemma::testing::mnist_dir());
  metrics::EvalProtocol protocol;
  protocol.n = 200;
  protocol.kid.subsets = 10;
  // An autoguidance guide is a weak model by design (zoo:ddpm-quick, the quick preset, draws
  // each digit 4-18 % of the time): for it, every digit at least twice in 200.
  std::set<std::string> guides;
  for (const auto& entry : entries)
    if (entry.manifest.contains("guide")) guides.insert(entry.manifest["guide"].value("entry", std::string()));
  for (const auto& entry : entries) {
    SCOPED_TRACE(entry.name);
    const int64_t fewest = guides.count("zoo:" + entry.name) > 0 ? 2 : 6;
    LoadedRun run = load_run("zoo:" + entry.name, torch::kCPU);  // verifies bytes and CRC
    torch::manual_seed(0);
    const torch::Tensor images = run.model->sample(protocol.n, {});
    const Json r = metrics::evaluate_images(reference.evaluator, reference.real, images, protocol);
    // 200 draws of ten equally likely digits: each appears 20 ± 4 times; fewer than 6 of one
    // class means a broken model or load (pixel noise σ = 64 is read as 4 classes).
    for (const auto& count : r["class_histogram"]) EXPECT_GE(count.get<int64_t>(), fewest) << r["class_histogram"];
    // At N = 200 the training images score 3.2, blurred ones 14.8, the quick VAE 21.3, two
    // digits 94 and noise σ = 64 149 (README, "Reading the numbers").
    EXPECT_LT(r["fid"].get<double>(), 30.0);
    // A conditional entry draws the digit it is asked for: 20 of each, read by the evaluator.
    // The shipped ones do so 95 % of the time; fewer than 14 of 20 (70 %) means labels that
    // are ignored or shifted (chance is 2 of 20).
    for (int64_t digit = 0; digit < run.model->num_classes(); ++digit) {
      SCOPED_TRACE("class " + std::to_string(digit));
      SampleOptions asked;
      asked.class_label = digit;
      const torch::Tensor drawn = run.model->sample(20, asked);
      const torch::Tensor read = run_evaluator(reference.evaluator, drawn).probabilities.argmax(1);
      EXPECT_GE(read.eq(digit).sum().item<int64_t>(), 14) << read;
    }
  }
}

}  // namespace
}  // namespace trilemma::training
