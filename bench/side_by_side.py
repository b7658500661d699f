#!/usr/bin/python3
"""C++ against Python PyTorch on the same networks, interleaved.

  bench/side_by_side.py [--model vae --model dcgan ...] [--preset seed] [--rounds 3]

Per model and round it runs, one after the other (--configs):

  cpp       `trilemma bench --model M --json`: trilemma as shipped (its allocator setting,
            passive OpenMP waiting, every core, fp32 unless --precision is passed through)
  py-user   bench/python/bench.py as Python users run torch: torch's default threads, glibc's
            default malloc, OpenMP's default (spinning) wait policy, fp32
  py-same   bench/python/bench.py with trilemma's settings: every core, the same allocator
            setting (GLIBC_TUNABLES = keep_freed_memory()), passive waiting, and the C++
            side's training and sampling precision
  py, py-tuned, cpp-default   older sides: every core and fp32 with glibc's default malloc,
            with trilemma's, and C++ with glibc's; '+passive' adds OMP_WAIT_POLICY=PASSIVE

A B C A B C:
on a shared machine load drifts over minutes, and interleaving spreads the drift over all
sides. Prints per figure the median over rounds of each side and the ratios C++/Python
(> 1: C++ faster); writes every raw result and the summary under --out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives here, not in a pyenv python
# keep_freed_memory() in src/core/runtime.cpp: mmap threshold 32 MiB, never trim.
TUNED_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647"

# (key, label, higher is better)
FIGURES = [
    ("train_images_per_s", "train images/s", True),
    ("sample_images_per_s_batch1", "sample images/s, batch 1", True),
    ("sample_images_per_s_batch256", "sample images/s, batch 256", True),
    ("ms_per_nfe_batch1", "ms per network evaluation, batch 1", False),
    ("forward_gflops_per_s", "forward GFLOP/s at the training batch", True),
    ("peak_fraction", "share of the matmul peak", True),
    ("gflops_per_image", "GFLOP per image (counted)", None),
    ("peak_rss_mb", "peak RSS MB", False),
]
MACHINE = [("matmul_peak_gflops", "fp32 matmul peak GFLOP/s", True)]


def run(cmd, env_extra, log):
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    env.update(env_extra)
    start = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.write("$ %s %s\n%s\n(%.1f s)\n" % (" ".join("%s=%s" % kv for kv in env_extra.items()), " ".join(cmd),
                                          proc.stdout, time.time() - start))
    log.flush()
    if proc.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stdout[-2000:]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", help="vae, dcgan, ddpm (repeatable; default: all)")
    p.add_argument("--preset", default="seed")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ddpm-rounds", type=int, default=2, help="rounds for ddpm (its seed preset takes minutes)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per figure within a run")
    p.add_argument("--max-seconds", type=float, default=4.0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--configs", default="cpp,py-user,py-same",
                   help="comma list of cpp, cpp-default, py-user, py-same, py, py-tuned (see above); a "
                        "'+passive' suffix runs that side with OMP_WAIT_POLICY=PASSIVE")
    p.add_argument("--precision", choices=["fp32", "bf16"],
                   help="the C++ side's --precision (py-same follows it; py-user stays fp32)")
    p.add_argument("--trilemma", default=os.path.join(ROOT, "build", "trilemma"))
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "bench-" + time.strftime("%Y%m%d-%H%M%S")))
    args = p.parse_args()
    models = args.model or ["vae", "dcgan", "ddpm"]
    configs = args.configs.split(",")
    if not configs[0].startswith("cpp"):
        configs = ["cpp"] + configs  # a C++ side runs first: Python reads its settings
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.txt"), "a")
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]

    results = {}  # model -> config -> [result per round]
    machine = {}  # config -> [matmul peak per run]
    for model in models:
        rounds = args.ddpm_rounds if model == "ddpm" and args.preset == "seed" else args.rounds
        # The seed DDPM: one warm-up training step and one timed sampler step at batch 256
        # (each is tens of seconds); every other figure as for the small models.
        heavy = model == "ddpm" and args.preset == "seed"
        common = ["--repeats", str(args.repeats), "--max-seconds", str(args.max_seconds)]
        if heavy:
            common += ["--train-warmup", "1", "--max-timed-steps-throughput", "1"]
        settings_json = os.path.join(args.out, "%s-settings.json" % model)
        for r in range(rounds):
            for config in configs:
                out = os.path.join(args.out, "%s-%s-%d.json" % (model, config, r))
                print("[%s] %s round %d/%d: %s" % (time.strftime("%H:%M:%S"), model, r + 1, rounds, config), flush=True)
                side, _, option = config.partition("+")
                env = {"OMP_WAIT_POLICY": "PASSIVE"} if option == "passive" else {}
                if side.startswith("cpp"):
                    cmd = [args.trilemma, "--threads", str(args.threads), "bench", "--model", model,
                           "--preset", args.preset, "--json", out] + common
                    if side == "cpp-default":
                        cmd += ["--malloc", "default"]
                    if args.precision:
                        cmd += ["--precision", args.precision]
                    run(cmd, env, log)
                    if config == configs[0] and r == 0:
                        with open(out) as f, open(settings_json, "w") as g:
                            g.write(f.read())
                else:
                    cmd = [PYTHON, "bench/python/bench.py", "--settings-from", settings_json, "--model", model,
                           "--json", out] + common
                    if side == "py-user":
                        cmd += ["--threads", "-1"]
                    else:
                        cmd += ["--threads", str(args.threads)]
                    if side in ("py-tuned", "py-same"):
                        env["GLIBC_TUNABLES"] = TUNED_MALLOC
                    if side == "py-same":
                        env["OMP_WAIT_POLICY"] = "PASSIVE"
                        with open(settings_json) as f:
                            cpp = json.load(f)["models"][0]
                        cmd += ["--train-precision", cpp.get("train_precision", "fp32"),
                                "--sample-precision", cpp.get("sample_precision", "fp32")]
                    run(cmd, env, log)
                with open(out) as f:
                    data = json.load(f)
                results.setdefault(model, {}).setdefault(config, []).append(data["models"][0])
                machine.setdefault(config, []).append(data["matmul_peak_gflops"])

    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    lines = []
    py_configs = [c for c in configs if c.startswith("py")]
    # Each Python side is compared with the C++ side of the same OpenMP setting if there is one.
    def cpp_of(c):
        partner = "cpp+" + c.partition("+")[2] if "+" in c else "cpp"
        return partner if partner in configs else configs[0]
    header = ("| model | figure | " + " | ".join(configs) + " | " +
              " | ".join("%s/%s" % (cpp_of(c), c) for c in py_configs) + " |")
    lines.append(header)
    lines.append("|" + "---|" * (2 + len(configs) + len(py_configs)))

    def fmt(v):
        return "%.3g" % v if abs(v) < 100 else "%.0f" % v

    summary = {}
    for model in models:
        for key, label, higher in FIGURES:
            med = {c: statistics.median(x[key] for x in results[model][c]) for c in configs}
            summary.setdefault(model, {})[key] = med
            ratios = []
            for c in py_configs:
                a = med[cpp_of(c)]
                if higher is None or a == 0 or med[c] == 0:
                    ratios.append("")
                else:
                    ratio = a / med[c] if higher else med[c] / a
                    ratios.append("%.2fx" % ratio)
            if model == "ddpm" and key == "sample_images_per_s_batch1":
                label += " (%s)" % results[model][configs[0]][0]["sampler"]
            lines.append("| %s | %s | %s | %s |" % (model, label, " | ".join(fmt(med[c]) for c in configs),
                                                     " | ".join(ratios)))
    peaks = {c: statistics.median(machine[c]) for c in configs}
    lines.append("| all | fp32 matmul peak GFLOP/s | %s | %s |" % (
        " | ".join(fmt(peaks[c]) for c in configs),
        " | ".join("%.2fx" % (peaks[cpp_of(c)] / peaks[c]) for c in py_configs)))
    table = "\n".join(lines)
    note = ("ratios: C++/Python for speeds (> 1: C++ faster), Python/C++ for ms and MB (> 1: C++ lower); "
            "medians over rounds; load average before %s, after %s" % (" ".join(load_before), " ".join(load_after)))
    print("\n" + table + "\n\n" + note)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(table + "\n\n" + note + "\n")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"medians": summary, "matmul_peak": peaks, "load_before": load_before, "load_after": load_after,
                   "configs": configs, "preset": args.preset}, f, indent=2)
    print("raw results and log: " + args.out)


if __name__ == "__main__":
    main()
