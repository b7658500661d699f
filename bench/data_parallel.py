#!/usr/bin/env python3
"""One process against data-parallel ranks on this machine, per model family.

For each family's quick preset it trains the same number of steps three ways, side by
side: one process with every core (`--threads 0`), one process with one thread, and
`--nproc N` ranks (cores / N threads each), and prints the training images/s of each
(from metrics.jsonl, the first logged interval dropped as warm-up) and the ranks' time in
gradient all-reduces per step (`gradient_sync_ms`). Usage:

  python3 bench/data_parallel.py [--trilemma build/trilemma] [--nproc 2] [--rounds 2]

Needs MNIST ($TRILEMMA_DATA_DIR or data/mnist); writes only under a temporary folder.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

# Steps per run and the logging interval: each run is ~20-40 s on an idle 2-core CPU.
FAMILIES = {
    "vae": ("train vae --preset quick", 240, 60),
    "dcgan": ("train dcgan --preset quick", 120, 30),
    "ddpm": ("train ddpm --preset quick", 80, 20),
    "ddgan": ("train ddgan --preset quick", 60, 15),
    "consistency": ("distill zoo:ddpm --preset quick", 24, 6),
}


def run(trilemma, command, steps, every, run_dir, extra_global, extra):
    args = [trilemma] + extra_global + command.split() + [
        "--epochs", "0", "--max-steps", str(steps), "--log-every", str(every),
        "--checkpoint-minutes", "1000", "--run-dir", run_dir] + extra
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    train = [l for l in lines if l.get("phase") != "test"][1:]
    images = statistics.mean(l["images_per_s"] for l in train)
    sync = [(l["gradient_sync_ms"], l["gradient_sync_mb"]) for l in train if "gradient_sync_ms" in l]
    return images, ((statistics.mean(s[0] for s in sync), sync[0][1]) if sync else None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trilemma", default="build/trilemma")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", default=",".join(FAMILIES))
    args = parser.parse_args()
    print(f"| model | 1 process × all cores | 1 process × 1 thread | {args.nproc} processes | "
          f"all-reduced MB/step | all-reduce ms/step |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            command, steps, every = FAMILIES[name]
            results = {"all": [], "one": [], "ranks": [], "sync": []}
            for r in range(args.rounds):
                base = os.path.join(scratch, f"{name}-{r}")
                results["all"].append(run(args.trilemma, command, steps, every, base + "-all", [], [])[0])
                results["one"].append(run(args.trilemma, command, steps, every, base + "-one",
                                          ["--threads", "1"], [])[0])
                images, sync = run(args.trilemma, command, steps, every, base + "-ranks", [],
                                   ["--nproc", str(args.nproc)])
                results["ranks"].append(images)
                results["sync"].append(sync)
            megabytes = results["sync"][0][1]
            results["sync"] = [s[0] for s in results["sync"]]
            m = {k: statistics.median(v) for k, v in results.items()}
            print(f"| {name} | {m['all']:.0f} | {m['one']:.0f} | {m['ranks']:.0f} | {megabytes:.2f} | "
                  f"{m['sync']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
