// Guards the CLI's contract for bad input, table by table: every flag with a wrong type, a
// negative, zero or absurd value; every IDX malformation; every kind of broken .npy given
// to `eval --samples`; damaged, wrong-model and wrong-version checkpoints; an existing run
// directory. Each must give one clear line, a non-zero exit below 128 (no crash, no
// abort), and leave everything previously written as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/settings.h"
#include "human/study.h"
#include "io/image.h"
#include "io/npy.h"
#include "models/registry.h"
#include "support/test_support.h"
#include "training/checkpoint.h"

namespace trilemma {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::TempDir;

struct BadInput {
  std::string arguments;  ///< CLI arguments (shell-quoted)
  std::string message;    ///< a fragment the one problem line must contain
  std::string names = ""; ///< and another, typically the file at fault
};

// The lines that state a problem: everything but warnings, the run directory announcement,
// CLI11's "Run with --help" hint and, under ASan, its note that it refused an allocation
// (the out-of-memory test's simulated failure).
std::vector<std::string> problem_lines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    bool informational = line.empty();
    for (const char* prefix : {"warning:", "run directory:", "Run with --help", "sampled ", "training "})
      informational = informational || line.rfind(prefix, 0) == 0;
    informational = informational || line.find("WARNING: AddressSanitizer failed to allocate") != std::string::npos;
    if (!informational) lines.push_back(line);
  }
  return lines;
}

void expect_clean_failure(const BadInput& row, const CommandResult& result) {
  SCOPED_TRACE("trilemma " + row.arguments + "\nprinted:\n" + result.output);
  EXPECT_GT(result.exit_code, 0);
  EXPECT_LT(result.exit_code, 128) << "killed by a signal: a crash or an abort";
  for (const char* crash : {"terminate called", "Aborted", "Segmentation", "core dumped",
                            "Exception raised from", "what():"})
    EXPECT_EQ(result.output.find(crash), std::string::npos) << crash;
  const auto lines = problem_lines(result.output);
  ASSERT_EQ(lines.size(), 1u) << "expected one problem line";
  EXPECT_NE(lines[0].find(row.message), std::string::npos) << "expected: " << row.message;
  EXPECT_NE(lines[0].find(row.names), std::string::npos) << "expected the line to name " << row.names;
}

void run_table(const std::vector<BadInput>& table, const std::string& shell_prefix = "") {
  std::vector<std::string> arguments;
  for (const auto& row : table) arguments.push_back(row.arguments);
  const auto results = testing::run_cli_all(arguments, 4, shell_prefix);
  for (size_t i = 0; i < table.size(); ++i) expect_clean_failure(table[i], results[i]);
}

// Every file under dir with its bytes, to check that a failed command changed nothing.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[entry.path().string()] = read_file(entry.path().string());
  return files;
}

// The run's checkpoint files (.pt), newest first.
std::vector<std::string> training_checkpoints(const std::string& run_dir) {
  std::vector<std::string> paths;
  for (const auto& info : training::list_checkpoints(run_dir + "/checkpoints")) paths.push_back(info.path);
  return paths;
}

// A tiny trained run shared by the tables that need one (3 steps, ~2 s).
class WithRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::mnist_dir().empty()) return;
    dir_ = new TempDir;
    const auto result = testing::run_cli("--threads 1 train --keep 5 vae --channels 8 --latent-dim 4 "
                                         "--batch-size 32 --epochs 0 --max-steps 3 --run-dir " + run());
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (testing::mnist_dir().empty()) GTEST_SKIP() << "MNIST not fetched (./run data)";
  }
  static std::string run() { return dir_->file("run"); }
  static std::string file(const std::string& name) { return dir_->file(name); }
  static TempDir* dir_;
};
TempDir* WithRun::dir_ = nullptr;

// Every setting of every family and preset, in process (the CLI's own parsing and
// validation code): text that is not a value of the setting's type, negatives, huge
// numbers and sizes no machine holds are UserErrors; whatever is accepted still builds a
// model. Sizes are capped by each family's validate(), so no setting reaches the allocator
// with a value like 10^9.
TEST(BadSettings, EverySettingOfEveryFamilyRejectsNonsense) {
  // Settings where a huge value is harmless (a count of steps, a seed).
  const std::vector<std::string> unbounded = {"epochs", "max_steps", "seed", "warmup_steps"};
  // Settings where -1 means something ("-1 = none").
  const std::vector<std::string> negative_allowed = {"attention_levels"};
  auto in = [](const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
  };
  for (const ModelFamily& family : model_families()) {
    for (const std::string& preset : family.presets) {
      const Json base = family.preset_settings(preset);
      for (const SettingField& spec : family.settings) {
        const Json& original = base.at(spec.name);
        for (const std::string text : {"abc", "", "-1", "0", "1.5", "nan", "99999999999999999999", "1000000000"}) {
          SCOPED_TRACE(family.name + " --preset " + preset + " " + flag_name(spec.name) + " '" + text + "'");
          Json settings = base;
          bool accepted = true;
          try {
            family.set_setting(settings, spec.name, text);
            family.validate(settings);
          } catch (const UserError& e) {
            accepted = false;
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
          } catch (const std::exception& e) {
            ADD_FAILURE() << "not a UserError: " << e.what();
            continue;
          }
          if (!accepted) continue;
          const bool is_size = original.is_number_integer() || original.is_array();
          const bool unbounded_setting =
              std::find(unbounded.begin(), unbounded.end(), spec.name) != unbounded.end();
          EXPECT_FALSE(text == "abc" || text == "" || text == "nan") << "accepted a value of the wrong type";
          // 99999999999999999999 is a valid floating-point number (1e20), not an integer.
          if (!original.is_number_float()) {
            EXPECT_NE(text, "99999999999999999999") << "accepted an overflowing integer";
          }
          EXPECT_FALSE(original.is_string()) << "accepted an unknown name";
          if (!in(negative_allowed, spec.name)) {
            EXPECT_FALSE(text == "-1") << "accepted a negative value";
          }
          if (is_size && !unbounded_setting) {
            EXPECT_NE(text, "1000000000") << "accepted an absurd size";
          }
          if (is_size && text == "1.5") ADD_FAILURE() << "integer setting accepted 1.5";
          if (text == "0" && preset == family.presets.front()) {
            EXPECT_NO_THROW(family.create(settings, torch::kCPU)) << "accepted 0 but cannot build the model";
          }
        }
      }
    }
  }
}

// The CLI's own flags (global, train, sample, eval, compare) through the real binary.
TEST_F(WithRun, EveryCliFlagRejectsWrongTypesNegativesZeroAndAbsurdValues) {
  const std::string r = " '" + run() + "'";
  const std::string nodata = " --data-dir '" + file("nodata") + "'";
  const std::string new_run = " --run-dir '" + file("never") + "'";
  const std::vector<BadInput> table = {
      {"--threads abc info" + r, "--threads"},
      {"--threads 100000 info" + r, "--threads"},
      {"--device tpu sample" + r, "--device: expected cpu, cuda or auto, got 'tpu'"},
      {"--device '' sample" + r, "--device"},
      {"train vae --max-steps 1" + nodata + new_run, "-idx3-ubyte: missing"},
      {"train --keep 0 vae" + new_run, "--keep"},
      {"train --keep abc vae" + new_run, "--keep"},
      {"train --log-every 0 vae" + new_run, "--log-every"},
      {"train --log-every x vae" + new_run, "--log-every"},
      {"train --checkpoint-minutes -1 vae" + new_run, "--checkpoint-minutes"},
      {"train --checkpoint-minutes 1e300 vae" + new_run, "--checkpoint-minutes"},
      {"train --resume" + r + " --epochs -1", "--epochs"},
      {"train --resume" + r + " --max-steps -3", "--max-steps"},
      {"train --resume '" + file("nothere") + "'", "no such run directory"},
      {"train --resume" + r + " vae", "--resume continues an existing run"},
      {"train vae --preset nope" + new_run, "unknown vae preset 'nope'"},
      {"train vae --batch-size abc" + new_run, "--batch-size: expected an integer, got 'abc'"},
      {"train vae --batch-size 0" + new_run, "--batch-size: must be between 1 and 65536"},
      {"train vae --batch-size 1000000000" + new_run, "--batch-size: must be between 1 and 65536"},
      {"train vae --batch-size 60001 --max-steps 1" + new_run, "--batch-size: 60001 exceeds the 60000 training images"},
      {"train vae --epochs 0 --max-steps 0" + new_run, "at least one must be positive"},
      {"train vae --lr 0" + new_run, "--lr: must be in (0, 10)"},
      {"train vae --seed -1" + new_run, "--seed: must be >= 0"},
      {"train vae --no-such-flag 3" + new_run, "--no-such-flag"},
      {"train dcgan --latent-dim 0" + new_run, "--latent-dim"},
      {"train ddpm --timesteps 0" + new_run, "--timesteps"},
      {"train ddgan --timesteps 0" + new_run, "--timesteps"},
      {"train ddgan --beta-min 30" + new_run, "--beta-min, --beta-max: need 0 < beta_min < beta_max"},
      {"train ddgan --r1-interval 0" + new_run, "--r1-interval"},
      {"sample" + r + " --n 0", "--n"},
      {"sample" + r + " --n abc", "--n"},
      {"sample" + r + " --n 1000000000", "--n"},
      {"sample" + r + " --batch 0", "--batch"},
      {"sample" + r + " --batch 100000000", "--batch"},
      {"sample" + r + " --seed -4", "--seed"},
      {"sample" + r + " --steps 0", "--steps"},
      {"sample" + r + " --eta 2", "--eta"},
      {"sample '" + file("nothere") + "'", "no such run directory"},
      {"sample" + r + " --class 3", "--class: this run is unconditional"},
      {"sample" + r + " --class -1", "--class"},
      {"sample" + r + " --class x", "--class"},
      {"sample" + r + " --per-class", "--per-class: this run is unconditional"},
      {"sample" + r + " --class 1 --per-class", "excludes"},
      {"sample" + r + " --guidance 2", "--guidance: this run is unconditional"},
      {"eval" + r + " --guidance 2", "--guidance: this run is unconditional"},
      {"eval" + r + " --class 2", "--class"},
      {"eval" + r + " --guidance-curve 1,2", "--guidance-curve: the guidance curve applies to conditional diffusion"},
      {"eval" + r + " --curve-n 100", "--curve-n: the guidance curve applies to conditional diffusion"},
      {"train ddpm --conditional maybe" + new_run, "--conditional: expected true or false, got 'maybe'"},
      {"train ddpm --conditional --label-dropout 1" + new_run, "--label-dropout: must be in [0, 1)"},
      {"train ddpm --conditional --guidance -1" + new_run, "--guidance: must be a finite number >= 0"},
      {"train dcgan --conditional --clusters 10" + new_run, "--clusters: a conditional dcgan is conditioned on its labels"},
      {"train dcgan --clusters -1" + new_run, "--clusters"},
      {"eval" + r + " --n 5", "--n"},
      {"eval" + r + " --n 100000000", "--n"},
      {"eval" + r + " --seed -1", "--seed"},
      {"eval" + r + " --steps 0", "--steps"},
      {"eval" + r + " --eta 5", "--eta"},
      {"eval", "exactly one"},
      {"eval" + r + " --samples x.npy", "exactly one"},
      // A flag the run's family would ignore is refused (the fixture's run is a VAE).
      {"sample" + r + " --steps 5", "--steps: a vae run does not use it"},
      {"sample" + r + " --eta 0.5", "--eta: a vae run does not use it"},
      {"sample" + r + " --sampler ddim", "--sampler: a vae samples with 'normal'"},
      {"eval" + r + " --steps 5 --n 10", "--steps: a vae run does not use it"},
      {"eval --samples x.npy --steps 5", "--steps: applies to evaluating a run, not --samples"},
      {"eval --samples x.npy --guidance-curve 1", "--guidance-curve: applies to evaluating a run"},
      {"eval --samples x.npy --precision bf16", "--precision: applies to evaluating a run"},
      {"eval" + r + " --precision fp16", "--precision"},
      {"sample" + r + " --precision 16", "--precision"},
      {"bench --precision half", "--precision"},
      {"train vae --precision fp64" + new_run, "--precision: expected fp32 or bf16, got 'fp64'"},
      {"train --epochs 3 vae --epochs 4" + new_run, "--epochs: given twice"},
      {"train --max-steps x vae" + new_run, "--max-steps"},
      {"train vae --sampler ddim" + new_run, "--sampler"},
      {"train ddpm --attention-levels 1,x" + new_run, "--attention-levels: expected comma-separated integers"},
      {"train ddpm --eta 2" + new_run, "--eta: must be in [0, 1], got 2"},
      {"train ddpm --base-width 100000" + new_run, "--base-width: must be between 1 and 1024"},
      {"train dcgan --architecture big" + new_run, "--architecture: expected seed or dcgan, got 'big'"},
      {"train --resume" + r + " --keep 0", "--keep: must be between 1 and 1000, got 0"},
      {"--device cuda info" + r, "--device cuda: no CUDA device is available"},
      {"compare", "run_dirs is required"},
      {"compare" + r, "no eval.json"},
      {"info '" + file("nothere") + "'", "no such run directory"},
      {"figures '" + file("nothere") + "'", "no such run directory"},
      {"nosuchcommand", "A subcommand is required"},
      // The model zoo: unknown names, and the commands that would write into it or resume it.
      {"sample zoo:nosuch", "zoo:nosuch: no such zoo model"},
      {"sample zoo:", "no such zoo model"},
      {"sample zoo:../x", "no such zoo model"},
      {"info zoo:nosuch", "zoo:nosuch: no such zoo model"},
      {"compare zoo:nosuch", "zoo:nosuch: no such zoo model"},
      {"figures zoo:ddpm", "a zoo model is read-only"},
      {"train --resume zoo:ddpm", "cannot be resumed"},
      {"zoo add" + r, "--name is required"},
      // Distillation: the teacher's family, the fields copied from it, the student's ranges.
      {"distill" + r + new_run, "a vae run; consistency distils a ddpm run"},
      {"distill zoo:nosuch" + new_run, "zoo:nosuch: no such zoo model"},
      {"distill zoo:ddpm --base-width 8" + new_run, "--base-width: the student copies it from the teacher (32)"},
      {"distill zoo:ddpm --conditional" + new_run, "--conditional: the student copies it from the teacher"},
      {"distill zoo:ddpm --method vae" + new_run, "--method"},
      {"distill zoo:ddpm --preset nope" + new_run, "unknown consistency preset 'nope'"},
      {"distill zoo:ddpm --grid-points 1" + new_run, "--grid-points"},
      {"distill zoo:ddpm --grid-points 5000" + new_run, "--grid-points: must be in 2.."},
      {"distill zoo:ddpm --sample-steps 40" + new_run, "--sample-steps: must be in 1..39"},
      {"distill zoo:ddpm --target-ema 1" + new_run, "--target-ema"},
      {"distill zoo:ddpm --distance lpips" + new_run, "--distance"},
      {"train consistency" + new_run, "runs are distilled from a trained ddpm run"},
      {"zoo add zoo:ddpm --name x", "an entry is re-exported only to change its sampling defaults"},
      // Autoguidance: a guide for a family without it, a guide that is not a run, a guide
      // of a conditional model, and a zoo entry's guide from outside the zoo.
      {"sample zoo:vae --guide zoo:ddpm-quick", "--guide: autoguidance applies to unconditional ddpm models only"},
      {"sample zoo:ddpm-quick --guide zoo:ddpm", "--guide: the guide is guided itself (by zoo:ddpm-quick)"},
      {"sample zoo:vae --guide none", "--guide: autoguidance applies to unconditional ddpm models only"},
      {"sample zoo:cddpm --guide none", "--guide: autoguidance is for unconditional models"},
      {"zoo add zoo:vae --name x --guide none", "--guide: autoguidance applies to unconditional ddpm models only"},
      {"zoo add zoo:ddpm --name ddpm-quick --sampler ddim", "--guide: an entry cannot guide itself"},
      {"zoo add zoo:ddpm --name ddpm-quick --guide none", "zoo add: zoo:ddpm-quick guides zoo:ddpm"},
      {"sample zoo:ddpm --guide zoo:nosuch", "zoo:nosuch: no such zoo model"},
      {"sample zoo:ddpm --guide zoo:vae", "--guide: the guide must be a ddpm run"},
      {"sample zoo:cddpm --guide zoo:ddpm-quick", "--guide: autoguidance is for unconditional models"},
      {"sample zoo:ddpm --guide ''", "--guide: expected a run directory, zoo:NAME or none"},
      {"eval --samples x.npy --guide zoo:ddpm", "--guide: applies to evaluating a run"},
      {"zoo add zoo:ddpm --name x --guide runs/x", "--guide: a zoo entry's guide must be a zoo entry itself"},
      {"zoo add zoo:vae --name x --steps 5", "--steps: a vae entry has no default sampling steps to set"},
      {"zoo add zoo:dcgan --name x --sampler ddim", "--sampler: a dcgan entry has no default sampler to set"},
      {"zoo add zoo:ddpm --name x --sampler fast", "fast"},
      {"zoo add" + r + " --name ../x", "zoo entry name '../x'"},
      {"zoo add" + r + " --name x --n 3", "--n"},
      {"zoo add" + r + " --name x --guidance-curve 1", "--guidance-curve: the guidance curve applies to conditional"},
      {"zoo add" + r + " --name x --curve-n 5", "--curve-n"},
      {"zoo add" + r + " --name x --guidance 2", "--guidance: the guidance weight applies to conditional diffusion"},
      // Sweeps are checked before anything is trained.
      {"sweep", "A subcommand is required"},
      {"sweep vae --latent-dim 4", "give one setting with several values"},
      {"sweep vae --latent-dim 2,,4", "--latent-dim: an empty value"},
      {"sweep vae --latent-dim 2,4,", "--latent-dim: an empty value"},
      {"sweep vae --latent-dim 2,x", "--latent-dim: expected an integer, got 'x'"},
      {"sweep vae --latent-dim 2,0", "--latent-dim: must be between"},
      {"sweep vae --latent-dim 2,4 --channels 8,16", "one setting at a time"},
      {"sweep vae --preset nope --latent-dim 2,4", "unknown vae preset 'nope'"},
      {"sweep vae --latent-dim 2,4 --n 3", "--n"},
      {"sweep vae --no-such 2,4", "--no-such"},
      {"sweep ddpm --guidance 1,2", "--guidance: this run is unconditional"},
      {"sweep vae --lr 0.1,20", "--lr: must be in (0, 10)"},
      // Data-parallel training (more in tests/distributed/).
      {"train --nproc 0 vae" + new_run, "--nproc"},
      {"train --nproc 1000 vae" + new_run, "--nproc"},
      {"train --nproc x vae" + new_run, "--nproc"},
      {"train --nproc 2 vae --batch-size 127" + new_run, "--batch-size 127 does not split evenly over 2 ranks"},
      {"train --dist-backend mpi vae" + new_run, "--dist-backend"},
      {"train --dist-timeout 0 vae" + new_run, "--dist-timeout"},
      {"train --dist-timeout x vae" + new_run, "--dist-timeout"},
      {"train --resume" + r + " --nproc -2", "--nproc"},
      {"distill zoo:ddpm --nproc 0" + new_run, "--nproc"},
      {"distill zoo:ddpm --dist-backend x" + new_run, "--dist-backend"},
  };
  const auto before = snapshot(run());
  run_table(table);
  EXPECT_EQ(snapshot(run()), before) << "a refused command changed the run";
  EXPECT_FALSE(fs::exists(file("never"))) << "a refused train created its run directory";
}

// .npy inputs to `eval --samples`: every way a file can be wrong is named before any
// evaluation work starts.
TEST(BadNpyForEval, EachMalformationIsOneClearLine) {
  TempDir dir;
  auto npy = [](const std::string& descr, const std::string& shape, size_t data_bytes,
                const std::string& order = "False", char major = 1) {
    std::string header = "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }\n";
    std::string bytes = std::string("\x93NUMPY", 6) + major + '\0';
    if (major == 1) {
      bytes += static_cast<char>(header.size() & 0xff);
      bytes += static_cast<char>(header.size() >> 8);
    } else {
      for (int i = 0; i < 4; ++i) bytes += static_cast<char>((header.size() >> (8 * i)) & 0xff);
    }
    return bytes + header + std::string(data_bytes, '\0');
  };
  // A version 1.0 file with this header text, declaring `length` bytes of it (0: its size).
  auto raw = [](const std::string& header, size_t length) {
    if (length == 0) length = header.size();
    return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(length & 0xff) +
           static_cast<char>(length >> 8) + header;
  };
  auto floats = [&](float value) {
    std::string bytes = npy("<f4", "(2, 28, 28)", 0);
    for (int i = 0; i < 2 * 784; ++i) bytes.append(reinterpret_cast<const char*>(&value), 4);
    return bytes;
  };
  const std::vector<std::pair<std::string, std::string>> files = {
      {"not-npy", "just some text"},
      {"empty", ""},
      {"int64", npy("<i8", "(2, 28, 28)", 2 * 784 * 8)},
      {"big-endian", npy(">f4", "(2, 28, 28)", 2 * 784 * 4)},
      {"bool", npy("|b1", "(2, 28, 28)", 2 * 784)},
      {"complex", npy("<c8", "(2, 28, 28)", 2 * 784 * 8)},
      {"rank1", npy("|u1", "(784,)", 784)},
      {"rank4", npy("|u1", "(2, 3, 28, 28)", 2 * 3 * 784)},
      {"shape-27", npy("|u1", "(2, 28, 27)", 2 * 28 * 27)},
      {"one-image", npy("|u1", "(1, 28, 28)", 784)},
      {"no-images", npy("|u1", "(0, 28, 28)", 0)},
      {"truncated-data", npy("|u1", "(2, 28, 28)", 100)},
      {"extra-data", npy("|u1", "(2, 28, 28)", 2 * 784 + 7)},
      {"fortran", npy("|u1", "(2, 28, 28)", 2 * 784, "True")},
      {"negative-dim", npy("|u1", "(-2, 28, 28)", 2 * 784)},
      {"huge-dims", npy("|u1", "(4294967296, 4294967296)", 0)},
      {"junk-shape", npy("|u1", "(2, x, 28)", 2 * 784)},
      {"no-shape", raw("{'descr': '|u1', }       \n", 0)},
      {"header-past-end", raw("{'descr'", 0xffff)},
      {"version-9", npy("|u1", "(2, 28, 28)", 2 * 784, "False", 9)},
      {"nan", floats(std::nanf(""))},
      {"out-of-range", floats(3.0f)},
  };
  const std::vector<std::string> messages = {
      "not a .npy file", "not a .npy file", "unsupported dtype '<i8'", "unsupported dtype '>f4'",
      "unsupported dtype '|b1'", "unsupported dtype '<c8'", "expected images shaped",
      "expected images shaped", "expected images shaped", "need at least 2 images",
      "need at least 2 images", "does not match the header's shape",
      "does not match the header's shape", "Fortran-ordered", "malformed shape", "array too large",
      "malformed shape", "header has no", "truncated header", "unsupported .npy version 9",
      "NaN or infinity", "must lie in [0,1]"};
  ASSERT_EQ(files.size(), messages.size());
  std::vector<BadInput> table;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = dir.file(files[i].first + ".npy");
    std::ofstream(path, std::ios::binary) << files[i].second;
    table.push_back({"eval --samples '" + path + "' --data-dir '" + dir.file("nodata") + "'", messages[i], path + ": "});
  }
  run_table(table);
}

std::vector<uint8_t> idx_bytes(uint8_t dtype, std::vector<uint32_t> dims, size_t data_bytes, uint8_t fill = 0) {
  std::vector<uint8_t> b = {0, 0, dtype, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(d >> shift));
  b.insert(b.end(), data_bytes, fill);
  return b;
}

// Each IDX malformation in a --data-dir, met by `train`: named, and no run directory made.
TEST(BadIdxForTrain, EachMalformationIsOneClearLineAndNoRunIsCreated) {
  TempDir dir;
  auto write = [](const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  const auto good_images = idx_bytes(0x08, {4, 28, 28}, 4 * 784);
  const auto good_labels = idx_bytes(0x08, {4}, 4, 3);
  auto gz_garbage = std::vector<uint8_t>{0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<uint8_t> trailing = good_images;
  trailing.push_back(1);
  const std::vector<std::tuple<std::string, std::vector<uint8_t>, std::vector<uint8_t>, std::string>> cases = {
      {"empty", {}, good_labels, "shorter than its 4-byte magic"},
      {"bad-magic", {1, 2, 8, 3, 0, 0, 0, 0}, good_labels, "bad magic number"},
      {"int-dtype", idx_bytes(0x0C, {4, 28, 28}, 4 * 784 * 4), good_labels, "unsupported IDX data type"},
      {"rank-2", idx_bytes(0x08, {4, 784}, 4 * 784), good_labels, "expected 3 dimensions"},
      {"rank-9", idx_bytes(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1), good_labels, "unsupported IDX rank 9"},
      {"truncated-header", {0, 0, 8, 3, 0, 0}, good_labels, "truncated header"},
      {"truncated-data", idx_bytes(0x08, {4, 28, 28}, 1000), good_labels, "truncated: header declares 3136"},
      {"trailing", trailing, good_labels, "1 unexpected trailing bytes"},
      {"huge", idx_bytes(0x08, {0xFFFFFFFF, 28, 28}, 0), good_labels, "more than 1 GiB"},
      {"zero-dim", idx_bytes(0x08, {4, 0, 28}, 0), good_labels, "dimension 1 is zero"},
      {"14x14", idx_bytes(0x08, {4, 14, 14}, 4 * 196), good_labels, "expected 28x28 images"},
      {"count-mismatch", good_images, idx_bytes(0x08, {3}, 3, 1), "holds 4 images but"},
      {"bad-label", good_images, idx_bytes(0x08, {4}, 4, 12), "label 12 beyond the 10 classes"},
      {"no-images", idx_bytes(0x08, {0, 28, 28}, 0), idx_bytes(0x08, {0}, 0), "holds no images"},
      {"corrupt-gzip", gz_garbage, good_labels, "corrupt gzip"},
  };
  std::vector<BadInput> table;
  for (const auto& [name, images, labels, message] : cases) {
    const std::string data = dir.file(name);
    fs::create_directories(data);
    write(data + "/train-images-idx3-ubyte", images);
    write(data + "/train-labels-idx1-ubyte", labels);
    table.push_back({"train vae --max-steps 1 --data-dir '" + data + "' --run-dir '" + dir.file("run-" + name) + "'",
                     message, data + "/train-"});
  }
  run_table(table);
  for (const auto& [name, images, labels, message] : cases)
    EXPECT_FALSE(fs::exists(dir.file("run-" + name))) << name << ": a run directory was created";
}

// Damaged checkpoints: each is named with its problem; with an older good checkpoint the
// run falls back to it and says so; the damaged files are kept, never deleted.
TEST_F(WithRun, DamagedWrongModelAndWrongVersionCheckpointsAreNamed) {
  struct Damage {
    std::string name;
    std::function<void(const std::string& pt, const std::string& json)> apply;
    std::string message;
  };
  const std::vector<Damage> damages = {
      {"truncated", [](const std::string& pt, const std::string&) { fs::resize_file(pt, fs::file_size(pt) / 2); },
       "truncated or wrong size"},
      {"flipped-byte", [](const std::string& pt, const std::string&) {
         std::string bytes = read_file(pt);
         bytes[bytes.size() / 3] ^= 0x40;
         std::ofstream(pt, std::ios::binary) << bytes;
       }, "corrupt (checksum does not match"},
      {"missing-pt", [](const std::string& pt, const std::string&) { fs::remove(pt); }, "cannot open"},
      {"junk-manifest", [](const std::string&, const std::string& json) { std::ofstream(json) << "{\"format_ver"; },
       "corrupt checkpoint manifest"},
      {"wrong-model", [](const std::string&, const std::string& json) {
         Json j = Json::parse(read_file(json));
         j["model"] = "dcgan";
         std::ofstream(json) << j.dump();
       }, "checkpoint of a 'dcgan' model, this run is 'vae'"},
      {"wrong-version", [](const std::string&, const std::string& json) {
         Json j = Json::parse(read_file(json));
         j["format_version"] = 7;
         std::ofstream(json) << j.dump();
       }, "checkpoint format version 7, this trilemma reads version 1"},
      {"other-settings", [](const std::string&, const std::string&) {}, "saved with other settings"},
  };
  // One copy of the shared run (one checkpoint) per damage; `info` and `sample` on each.
  TempDir work;
  std::vector<std::string> commands, stems;
  std::vector<std::map<std::string, std::string>> before;
  for (const Damage& damage : damages) {
    const std::string copy = work.file(damage.name);
    fs::copy(run(), copy, fs::copy_options::recursive);
    const auto all = training_checkpoints(copy);
    ASSERT_EQ(all.size(), 1u);
    const std::string pt = all.front(), json = fs::path(pt).replace_extension(".json").string();
    damage.apply(pt, json);
    if (damage.name == "other-settings") {
      Json config = Json::parse(read_file(copy + "/config.json"));
      config["settings"]["channels"] = 16;
      std::ofstream(copy + "/config.json") << config.dump(2);
    }
    before.push_back(snapshot(copy));
    stems.push_back(fs::path(pt).stem().string());
    for (const char* command : {"info", "sample"}) commands.push_back(std::string(command) + " '" + copy + "' --threads 1");
  }
  const auto results = testing::run_cli_all(commands);
  for (size_t i = 0; i < results.size(); ++i) {
    const Damage& damage = damages[i / 2];
    SCOPED_TRACE(damage.name + ": trilemma " + commands[i] + " printed:\n" + results[i].output);
    EXPECT_GT(results[i].exit_code, 0);
    EXPECT_LT(results[i].exit_code, 128);
    EXPECT_NE(results[i].output.find(damage.message), std::string::npos);
    EXPECT_NE(results[i].output.find("no usable checkpoint"), std::string::npos);
    EXPECT_NE(results[i].output.find(stems[i / 2]), std::string::npos) << "names the file";
    EXPECT_EQ(problem_lines(results[i].output).size(), 1u);
  }
  for (size_t i = 0; i < damages.size(); ++i)
    EXPECT_EQ(snapshot(work.file(damages[i].name)), before[i]) << damages[i].name << ": a refused command changed the run";
}

TEST_F(WithRun, ResumeFallsBackPastADamagedNewestCheckpointAndKeepsIt) {
  TempDir work;
  const std::string copy = work.file("run");
  fs::copy(run(), copy, fs::copy_options::recursive);
  // A second checkpoint (step 5), then damage it.
  auto more = testing::run_cli("--threads 1 train --resume '" + copy + "' --max-steps 5");
  ASSERT_EQ(more.exit_code, 0) << more.output;
  const auto all = training_checkpoints(copy);
  ASSERT_GE(all.size(), 2u);
  fs::resize_file(all.front(), 1000);
  const auto info = testing::run_cli("info '" + copy + "'");
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("warning: skipping checkpoint: " + all.front()), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("using older checkpoint " + all[1]), std::string::npos) << info.output;

  const auto resumed = testing::run_cli("--threads 1 train --resume '" + copy + "' --max-steps 7");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("from step 3"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("set aside damaged checkpoint"), std::string::npos) << resumed.output;
  EXPECT_TRUE(fs::exists(all.front() + ".bad")) << "the damaged checkpoint is kept, renamed";
  EXPECT_EQ(training_checkpoints(copy).front(), (fs::path(copy) / "checkpoints" / "step-0000000007.pt").string());
}

// Existing files: a new run never takes over a non-empty directory, and `sample --out`
// never replaces a file that is not a .npy (a mistyped name must not destroy a run).
TEST_F(WithRun, ExistingRunAndFilesAreNeverOverwritten) {
  const auto before = snapshot(run());
  const std::vector<BadInput> table = {
      {"train vae --max-steps 1 --run-dir '" + run() + "'", "already exists and is not empty"},
      {"train dcgan --max-steps 1 --run-dir '" + run() + "/'", "already exists and is not empty"},
      {"sample '" + run() + "' --n 2 --out '" + run() + "/config.json'", "is not a .npy file; not replaced"},
      {"sample '" + run() + "' --n 2 --out '" + run() + "/checkpoints'", "not replaced"},
  };
  run_table(table);
  EXPECT_EQ(snapshot(run()), before);
}

// A batch that cannot fit in memory: a message, not an abort or the OOM killer. The
// address space is capped (ulimit -v) so the test never takes the machine's memory.
TEST_F(WithRun, ABatchTooLargeForMemoryIsAMessage) {
  const std::vector<BadInput> table = {
      {"--threads 1 train vae --channels 1024 --batch-size 60000 --max-steps 1 --run-dir '" + file("oom") + "'",
       "out of memory at step 1 with --batch-size 60000; try a smaller one (the new run directory was removed)"},
  };
  // ASan reserves terabytes of address space for its shadow memory at startup, so under it
  // `ulimit -v` stops the process before main(); its allocator's own cap fails the batch.
  run_table(table, testing::kAddressSanitizer
                       ? "export ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:"
                         "max_allocation_size_mb=6000\";"
                       : "ulimit -v 6000000;");
  EXPECT_FALSE(fs::exists(file("oom")));
}

}  // namespace
}  // namespace trilemma

namespace trilemma {
namespace {

// `trilemma hype` and `hype-report`: every refused flag, file and mismatch is one line, and
// neither the study nor a file a new study would have gone to is touched.
TEST(BadHypeInput, EachRefusalIsOneLineAndTheStudyIsUnchanged) {
  TempDir dir;
  const std::string study = dir.file("study.db");
  human::Study::create(study, human::StudySettings{}, {{"zoo:consistency", "/nowhere", "consistency", "c-2", 1, ""}},
                       {{io::encode_png(torch::zeros({1, 28, 28})), 0, 3, 0},
                        {io::encode_png(torch::ones({1, 28, 28})), -1, 4, 0}});
  write_file_atomic(dir.file("not-a-study.db"), "SQLite format 3? no");
  const std::string s = " --db '" + study + "'", fresh = " --db '" + dir.file("new.db") + "'",
                    missing = " --db '" + dir.file("missing.db") + "'";
  const std::vector<BadInput> table = {
      {"hype" + missing, "no such study; name the runs to rate to create it", "missing.db"},
      {"hype zoo:nope" + fresh, "nope"},
      {"hype zoo:consistency --session-size 3" + fresh, "--session-size 3: must be even"},
      {"hype zoo:consistency --n-per-model 0" + fresh, "--n-per-model"},
      {"hype zoo:consistency --reals x" + fresh, "--reals"},
      {"hype" + s + " --n-per-model 3", "--n-per-model: the study in", "study.db is fixed"},
      {"hype" + s + " --seed 2", "--seed: the study in"},
      {"hype zoo:ddpm" + s, "already holds a study of zoo:consistency"},
      {"hype --db '" + dir.file("not-a-study.db") + "'", "not-a-study.db"},
      {"hype" + s + " --port 70000", "--port"},
      {"hype" + s + " --port 0 --bind 256.1.1.1", "cannot listen on 256.1.1.1:0"},
      {"hype" + s + " --no-such-flag", "--no-such-flag"},
      {"hype-report", "--db is required"},
      {"hype-report" + missing, "no such study file", "missing.db"},
      {"hype-report --db '" + dir.file("not-a-study.db") + "'", "not-a-study.db"},
      {"hype-report" + s + " --bootstrap 5", "--bootstrap"},
      {"hype-report" + s + " --json '" + dir.file("no/such/dir/r.json") + "'", "r.json"},
      {"compare zoo:ddpm --hype '" + dir.file("missing.db") + "'", "--hype"},
  };
  const std::string before = read_file(study);
  run_table(table);
  EXPECT_EQ(read_file(study), before) << "a refused command changed the study";
  EXPECT_FALSE(fs::exists(dir.file("new.db"))) << "a refused command created a study";
  EXPECT_FALSE(fs::exists(dir.file("missing.db")));
}


// Datasets (--dataset), their shapes and evaluators: each refusal one line, and a refused
// `train` leaves no run directory behind.
TEST(BadDatasetInput, EachRefusalIsOneLineAndNothingIsWritten) {
  TempDir dir;
  const auto png = [&](const std::string& path, int64_t side) {
    fs::create_directories(fs::path(path).parent_path());
    write_file_atomic(path, io::encode_png(torch::full({1, side, side}, 0.5)));
  };
  for (int i = 0; i < 4; ++i) {
    png(dir.file("mixed/a/" + std::to_string(i) + ".png"), 12);
    png(dir.file("mixed/b/" + std::to_string(i) + ".png"), 12);
    png(dir.file("loose/" + std::to_string(i) + ".png"), 12);
    png(dir.file("labelled/a/" + std::to_string(i) + ".png"), 12);
    png(dir.file("labelled/b/" + std::to_string(i) + ".png"), 12);
  }
  png(dir.file("mixed/b/wide.png"), 20);
  write_file_atomic(dir.file("existing.pt"), "keep me");
  const std::string samples = dir.file("samples.npy"), small_samples = dir.file("small.npy");
  io::save_npy(torch::zeros({10, 28, 28}, torch::kUInt8), samples);
  io::save_npy(torch::zeros({10, 12, 12}, torch::kUInt8), small_samples);
  const std::string run = " --max-steps 1 --run-dir '" + dir.file("run") + "'";
  const std::vector<BadInput> table = {
      {"train vae --dataset '" + dir.file("nowhere") + "'" + run, "neither a named dataset", "nowhere"},
      {"train vae --dataset fashion-mnistt" + run, "neither a named dataset (mnist, fashion-mnist)"},
      {"train vae --dataset '" + dir.file("mixed") + "'" + run, "mixed sizes: give --image-size", "wide.png"},
      {"eval --samples '" + samples + "' --dataset '" + dir.file("labelled") + "'", "expected images shaped N×12×12",
       "samples.npy"},
      {"train vae --conditional --dataset '" + dir.file("loose") + "'" + run, "--conditional: the training data have 0"},
      {"train dcgan --clusters 5 --batch-size 2 --dataset '" + dir.file("loose") + "'" + run,
       "--clusters 5: more clusters than the 3 training images"},
      {"train vae --image-size 30" + run, "--image-size: must be a multiple of 4"},
      {"train vae --image-size 4" + run, "--image-size"},
      {"train vae --image-channels 2" + run, "--image-channels: must be 1 (grey) or 3 (RGB)"},
      {"train vae --classes 3" + run, "--classes"},
      {"eval zoo:vae --dataset fashion-mnist", "--dataset: applies to --samples"},
      {"eval --samples '" + small_samples + "' --dataset '" + dir.file("labelled") + "'", "no evaluator for dataset",
       "trilemma evaluator train"},
      {"eval --samples '" + samples + "' --evaluator '" + dir.file("missing.pt") + "'", "missing.pt"},
      {"eval --samples '" + samples + "' --evaluator '" + std::string(TRILEMMA_SOURCE_DIR) +
           "/assets/evaluator-v1.pt'",
       "not an evaluator file"},
      {"evaluator train --dataset '" + dir.file("loose") + "' --out '" + dir.file("e.pt") + "'",
       "needs labelled images"},
      {"evaluator train --dataset mnist --out '" + dir.file("existing.pt") + "'", "exists", "existing.pt"},
      {"evaluator train --out '" + dir.file("e.pt") + "'", "--dataset is required"},
      {"evaluator train --dataset '" + dir.file("labelled") + "' --image-size 14 --out '" + dir.file("e.pt") + "'",
       "--image-size: the evaluator halves it twice"},
      {"evaluator", "A subcommand is required"},
  };
  run_table(table);
  EXPECT_FALSE(fs::exists(dir.file("run"))) << "a refused train created its run directory";
  EXPECT_FALSE(fs::exists(dir.file("e.pt")));
  EXPECT_EQ(read_file(dir.file("existing.pt")), "keep me");
}

}  // namespace
}  // namespace trilemma
