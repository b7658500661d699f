#!/usr/bin/python3
"""The Python half of `trilemma bench`: the same figures, measured the same way
(src/perf/model_bench.cpp, src/metrics/speed.cpp), for the same networks
(trilemma_models.py) built from the settings that `trilemma bench --json` recorded.

  /usr/bin/python3 bench/python/bench.py --settings-from cpp.json [--model vae] [--json out.json]

Debian's python3-torch 1.13.1 (the same LibTorch as the C++ build). Run it with
/usr/bin/python3: another python3 on PATH has no torch. Threads: --threads (default: all
cores; Debian's torch starts at 1 thread, like its LibTorch).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trilemma_models  # noqa: E402


def time_median(fn, warmup=1, repeats=5, max_seconds=60.0):
    """metrics::time_median: warm-up calls discarded, then the median of repeats."""
    for _ in range(warmup):
        fn()
    seconds = []
    begin = time.perf_counter()
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        fn()
        stop = time.perf_counter()
        seconds.append(stop - start)
        if stop - begin > max_seconds:
            break
    return statistics.median(seconds)


def status_mb(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def matmul_peak(size=2048):
    with torch.inference_mode():
        a, b, c = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
        seconds = time_median(lambda: torch.mm(a, b, out=c), warmup=2, repeats=7, max_seconds=10.0)
    return 2.0 * size ** 3 / seconds / 1e9, size


def count_flops(modules, fn):
    """FLOPs of convolutions and matrix products in fn, from module hooks: an independent
    count of what src/perf/op_profile.cpp counts at the operator level."""
    total = [0]

    def conv(m, inputs, output):
        x = inputs[0]
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):
            total[0] += 2 * x.size(0) * m.in_channels * x.size(2) * x.size(3) * (m.out_channels // m.groups) * k
        else:
            total[0] += 2 * output.numel() * (m.in_channels // m.groups) * k

    def linear(m, inputs, output):
        total[0] += 2 * (inputs[0].numel() // m.in_features) * m.in_features * m.out_features

    def attention(m, inputs, output):
        n, c, h, w = inputs[0].shape
        total[0] += 2 * 2 * n * c * (h * w) * (h * w)  # QᵀK and V·Wᵀ, over all heads

    handles = []
    for root in modules:
        for m in root.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                handles.append(m.register_forward_hook(conv))
            elif isinstance(m, torch.nn.Linear):
                handles.append(m.register_forward_hook(linear))
            elif isinstance(m, trilemma_models.AttentionBlock):
                handles.append(m.register_forward_hook(attention))
    try:
        fn()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def profile_table(fn, top=12):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(sort_by="cpu_time_total", row_limit=top)


def bench_model(name, settings, args, peak_gflops):
    r = {"model": name, "preset": args.preset, "settings": settings}
    B = settings["batch_size"]
    r["batch_size"] = B
    r["forward_batch"] = Bf = args.forward_batch or B
    r["throughput_batch"] = T = args.throughput_batch
    reset_peak_rss()
    torch.manual_seed(args.seed)
    model = trilemma_models.create(name, settings)
    r["parameters"] = model.parameter_count()
    nfe = model.network_evaluations()
    r["nfe"], r["sampler"] = nfe, model.sampler_name()

    images = torch.rand(B, 1, 28, 28)
    labels = torch.randint(0, 10, (B,), dtype=torch.long)
    r["train_precision"], r["sample_precision"] = args.train_precision, args.sample_precision
    # bf16 = autocast around the step and the sampling call, as trilemma's PrecisionGuard.
    def in_precision(precision, fn):
        def run(*a):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                return fn(*a)
        return run
    train_step = in_precision(args.train_precision, model.train_step)
    sample = in_precision(args.sample_precision, model.sample)
    if not args.forward_only:
        step = time_median(lambda: train_step(images, labels), args.train_warmup, args.repeats, args.max_seconds)
        r["train_step_ms"] = 1e3 * step
        r["train_images_per_s"] = B / step
        if args.profile:
            r["train_profile"] = profile_table(lambda: train_step(images, labels))

    sample(Bf, 1)
    flops = count_flops(model.flop_modules(), lambda: sample(Bf, 1))
    if args.profile:
        r["forward_profile"] = profile_table(lambda: sample(Bf, 1))
    r["gflops_per_image"] = flops / Bf / 1e9
    r["sample_gflops_per_image"] = r["gflops_per_image"] * nfe
    fwd = time_median(lambda: sample(Bf, 1), 0, args.repeats, args.max_seconds)
    r["forward_ms"] = 1e3 * fwd
    r["forward_gflops_per_s"] = flops / fwd / 1e9
    r["peak_fraction"] = r["forward_gflops_per_s"] / peak_gflops
    if args.forward_only:
        r["peak_rss_mb"] = status_mb("VmHWM")
        return r

    def seconds_per_step(batch, max_steps):
        steps = nfe if nfe <= max_steps else max_steps
        timed_steps = 0 if nfe <= max_steps else max_steps
        sample(batch, 1 if nfe > 1 else 0)
        t = time_median(lambda: sample(batch, timed_steps), 0, args.repeats, args.max_seconds)
        return t / steps, steps

    s1, r["timed_steps_batch1"] = seconds_per_step(1, args.max_timed_steps_batch1)
    r["ms_per_nfe_batch1"] = 1e3 * s1
    r["sample_ms_per_image_batch1"] = 1e3 * s1 * nfe
    r["sample_images_per_s_batch1"] = 1.0 / (s1 * nfe)
    sT, r["timed_steps_batch256"] = seconds_per_step(T, args.max_timed_steps_throughput)
    r["ms_per_nfe_batch256"] = 1e3 * sT
    r["sample_images_per_s_batch256"] = T / (sT * nfe)
    r["peak_rss_mb"] = status_mb("VmHWM")
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings-from", required=True, help="JSON written by `trilemma bench --json`")
    p.add_argument("--model", action="append", help="vae, dcgan or ddpm (default: those in the JSON)")
    p.add_argument("--json", help="write the results to FILE")
    p.add_argument("--threads", type=int, default=0,
                   help="intra-op threads; 0 = every core (as trilemma); -1 = torch's default, untouched")
    p.add_argument("--train-precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--sample-precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=8.0)
    p.add_argument("--train-warmup", type=int, default=2)
    p.add_argument("--forward-batch", type=int, default=0)
    p.add_argument("--throughput-batch", type=int, default=256)
    p.add_argument("--max-timed-steps-batch1", type=int, default=20)
    p.add_argument("--max-timed-steps-throughput", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--forward-only", action="store_true", help="only the forward figures (FLOPs, GFLOP/s, profile)")
    args = p.parse_args()

    with open(args.settings_from) as f:
        reference = json.load(f)
    by_model = {m["model"]: m for m in reference["models"]}
    names = args.model or list(by_model)
    if args.threads >= 0:
        torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    threads = torch.get_num_threads()
    peak, size = matmul_peak()
    args.preset = by_model[names[0]]["preset"]
    malloc = "tuned" if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") else "default"
    print("python: torch %s, %d threads, malloc %s; fp32 matmul peak %.1f GFLOP/s" % (torch.__version__, threads, malloc, peak))
    results = []
    for name in names:
        args.preset = by_model[name]["preset"]
        r = bench_model(name, by_model[name]["settings"], args, peak)
        print("%-6s %-6s train %.1f/s  sample@1 %.2f/s  sample@256 %.1f/s  %.3f GFLOP/img  %.1f GFLOP/s (%.1f%%)  RSS %.0f MB"
              % (name, r["preset"], r.get("train_images_per_s", 0), r.get("sample_images_per_s_batch1", 0),
                 r.get("sample_images_per_s_batch256", 0), r["gflops_per_image"], r["forward_gflops_per_s"],
                 100 * r["peak_fraction"], r["peak_rss_mb"]), flush=True)
        for key in ("forward_profile", "train_profile"):
            if key in r:
                print(r[key])
        results.append(r)
    if args.json:
        out = {"language": "python", "torch_version": torch.__version__, "threads": threads, "malloc": malloc,
               "matmul_peak_gflops": peak, "matmul_size": size, "models": results}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
