// trilemma bench [--model MODEL]... [--preset seed] [--json FILE] [--profile]
// The speed corner measured on this machine: per model, training and sampling images/s,
// forward GFLOPs and their share of the matmul peak measured in the same run, peak RSS.
// bench/side_by_side.py runs it against the same networks in Python PyTorch.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/precision.h"
#include "core/runtime.h"
#include "models/registry.h"
#include "perf/machine.h"
#include "perf/model_bench.h"

namespace trilemma::cli {
namespace {

struct BenchFlags {
  std::vector<std::string> models;
  std::string json_out;
  std::string malloc_mode = "keep";
  std::string precision;  ///< "" = trilemma's defaults (training as the preset, sampling fp32)
  perf::ModelBenchOptions options;
};

void print_row(const perf::ModelBenchResult& r) {
  std::printf("%-6s %-6s %5lld %9.1f %10.2f %10.1f %9.3f %9.1f %6.1f%% %8.0f   %s, train %s, sample %s\n",
              r.model.c_str(), r.preset.c_str(), static_cast<long long>(r.batch_size), r.train_images_per_s,
              r.sample_images_per_s_batch1, r.sample_images_per_s_batch256, r.gflops_per_image,
              r.forward_gflops_per_s, 100.0 * r.peak_fraction, r.peak_rss_mb, r.sampler.c_str(),
              r.train_precision.c_str(), r.sample_precision.c_str());
  if (r.nfe > 1)
    std::printf("       %lld NFE: %.2f ms per evaluation at batch 1 (%lld steps timed), %.1f ms per "
                "evaluation of %lld images (%lld steps timed)\n",
                static_cast<long long>(r.nfe), r.ms_per_nfe_batch1,
                static_cast<long long>(r.timed_steps_batch1), r.ms_per_nfe_throughput,
                static_cast<long long>(r.throughput_batch), static_cast<long long>(r.timed_steps_throughput));
  if (!r.forward_profile.empty())
    std::cout << "  forward at batch " << r.forward_batch << ":\n" << r.forward_profile;
  if (!r.train_profile.empty()) std::cout << "  training step:\n" << r.train_profile;
  std::fflush(stdout);
}

std::string wait_policy() {
  const char* value = std::getenv("OMP_WAIT_POLICY");
  return value ? value : "default";
}

}  // namespace

void add_bench_command(CLI::App& app, Context& context) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* sub = app.add_subcommand(
      "bench", "measure training and sampling speed, forward GFLOPs, share of the matmul peak "
               "and peak memory per model (see BENCHMARKS.md)");
  sub->add_option("--model", flags->models, "one of " + model_family_names() + " (repeatable; default: all)");
  sub->add_option("--preset", flags->options.preset, "preset of every model (seed = the article's)")
      ->capture_default_str();
  sub->add_option("--json", flags->json_out, "write the results to FILE");
  sub->add_option("--repeats", flags->options.repeats, "timed calls per figure (median reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--max-seconds", flags->options.max_seconds, "stop repeating a figure past this")
      ->capture_default_str();
  sub->add_option("--train-warmup", flags->options.train_warmup, "discarded training steps before timing")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  sub->add_option("--max-timed-steps-throughput", flags->options.max_timed_steps_throughput,
                  "diffusion: sampler steps timed at batch 256, extrapolated to the full NFE")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  sub->add_option("--malloc", flags->malloc_mode,
                  "keep (trilemma's default: freed memory stays in the heap) or default (glibc's)")
      ->check(CLI::IsMember({"keep", "default"}))
      ->capture_default_str();
  sub->add_option("--precision", flags->precision,
                  "arithmetic of training and sampling: fp32, or bf16 mixed precision (CPUs with "
                  "AVX512-BF16) (default: as train and sample do)")
      ->check(CLI::IsMember(precision_names()));
  sub->add_flag("--profile", flags->options.profile, "print per-operator profiles of a forward and a training step");
  sub->add_flag("--forward-only", flags->options.forward_only,
                "measure only the sampling network's forward (GFLOPs, GFLOP/s, share of peak)");
  sub->callback([&context, flags]() {
    if (resolve_device(context.device) != torch::Device(torch::kCPU))
      throw UserError("bench: measures the CPU only (use --device cpu)");
    if (!flags->precision.empty()) flags->options.precision = precision_for(flags->precision, torch::kCPU);
    const bool kept = flags->malloc_mode == "keep" && keep_freed_memory();
    const int threads = configure_threads(context.threads);
    std::vector<std::string> names = flags->models;
    std::string skipped;  // families without the preset, when none were named
    if (names.empty())
      for (const ModelFamily& family : model_families()) {
        const auto& presets = family.presets;
        if (std::find(presets.begin(), presets.end(), flags->options.preset) != presets.end())
          names.push_back(family.name);
        else
          skipped += (skipped.empty() ? "" : ", ") + family.name;
      }
    if (!skipped.empty())
      std::printf("no '%s' preset: %s (measure with --model NAME --preset P)\n", flags->options.preset.c_str(),
                  skipped.c_str());

    const perf::MatmulPeak peak = perf::measure_matmul_peak();
    std::printf("cpu: %s, %d threads, avx512_bf16 %s, malloc %s, OMP_WAIT_POLICY %s, LibTorch %s\n",
                perf::cpu_model_name().c_str(), threads, perf::cpu_has_flag("avx512_bf16") ? "yes" : "no",
                kept ? "keep" : "default", wait_policy().c_str(), torch_version().c_str());
    std::printf("fp32 matmul peak: %.1f GFLOP/s (%lld² · %lld², median %.1f ms)\n\n", peak.gflops,
                static_cast<long long>(peak.size), static_cast<long long>(peak.size), 1e3 * peak.seconds);
    std::printf("%-6s %-6s %5s %9s %10s %10s %9s %9s %7s %8s   %s\n", "model", "preset", "batch",
                "train/s", "sample/s@1", "sample/s@256", "GFLOP/img", "GFLOP/s", "peak", "RSS MB", "sampler");

    Json results = Json::array();
    for (const std::string& name : names) {
      const perf::ModelBenchResult r = perf::bench_model(find_model_family(name), flags->options, peak.gflops);
      print_row(r);
      results.push_back(r.to_json());
    }
    if (!flags->json_out.empty()) {
      Json out = {{"language", "c++"},
                  {"torch_version", torch_version()},
                  {"threads", threads},
                  {"malloc", kept ? "keep" : "default"},
                  {"omp_wait_policy", wait_policy()},
                  {"precision", flags->precision.empty() ? "default" : flags->precision},
                  {"cpu", perf::cpu_model_name()},
                  {"avx512_bf16", perf::cpu_has_flag("avx512_bf16")},
                  {"matmul_peak_gflops", peak.gflops},
                  {"matmul_size", peak.size},
                  {"models", results}};
      write_file_atomic(flags->json_out, out.dump(2) + "\n");
      std::cout << "json: " << flags->json_out << "\n";
    }
  });
}

}  // namespace trilemma::cli
