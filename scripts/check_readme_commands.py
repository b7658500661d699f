#!/usr/bin/env python3
"""Runs every `trilemma` command the README shows, at small sizes, and fails on any that
does not work: so that a documented command cannot rot unnoticed.

Commands come from the README's code blocks and inline code (`trilemma ...` or
`build/trilemma ...`). Each runs in a scratch directory with sizes cut down:
  train    + --max-steps 2 --epochs 0 (a command's own --epochs/--max-steps is kept on --resume)
  distill  + --max-steps 2 --epochs 0, from the README's teacher run (or zoo:NAME)
  sample   --n 2 (per class: --n 1)
  eval     --n 10 --curve-n 10 --no-latency
  sweep    --max-steps 2 --epochs 0 --n 10 for every value
  hype     --n-per-model 2 --port 0 on a new study, or the README's study continued; the
           server is asked for its page and stopped with Ctrl-C (exit 0 expected)
  evaluator train  --epochs 1
  scripts/idx_to_png_folder.py (the README's image-folder example; run first, from MNIST's
           folder): --per-class 60 (one batch of a quick preset)
  and, for a diffusion run, --steps 2 (eval's throughput timing alone would otherwise
  sample four batches of 256 images at the run's full step count).
Placeholder run directories (runs/vae-20261130-101500, RUN_DIR, runs/dq ...) are mapped to a
run of the family the README trained under that name, or to the newest run of the family
the placeholder names; zoo:NAME is the checkout's zoo. Usage:
  scripts/check_readme_commands.py [--trilemma build/trilemma] [--readme README.md]
"""
import argparse
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

FAMILIES = ("vae", "dcgan", "ddpm", "ddgan", "consistency")


def readme_commands(text):
    """Every trilemma command line of the README, in order, without comments."""
    commands = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        candidates = [line] if in_block else re.findall(r"`([^`]*trilemma [^`]+)`", line)
        for candidate in candidates:
            candidate = candidate.split("#")[0].strip()
            match = re.search(r"(?:^|\s)((?:build/)?trilemma\s.*|scripts/idx_to_png_folder\.py\s.*)$", candidate)
            if match:
                commands.append(match.group(1).strip())
    return commands


def is_synopsis(words):
    """Usage text rather than a command: `trilemma sample RUN_DIR [--n N]`, a bare `trilemma eval`."""
    placeholder = any(w.startswith("[") or (len(w) > 1 and re.fullmatch(r"[A-Z_.]+(\.\.\.)?", w)) or
                      re.fullmatch(r"[A-Z_]+\.npy", w) for w in words)
    return not words or placeholder or (len(words) == 1 and words[0] != "--help")


LENGTH_FLAGS = ("--epochs", "--max-steps")


def without(words, flags=LENGTH_FLAGS):
    """The command without the given flags and their values (by default --epochs N and --max-steps N)."""
    out = []
    skip = False
    for w in words:
        if skip:
            skip = False
        elif w in flags:
            skip = True
        else:
            out.append(w)
    return out


class Runner:
    def __init__(self, trilemma, scratch):
        self.trilemma = os.path.abspath(trilemma)
        self.scratch = scratch
        self.runs = {}  # README run directory -> family
        self.failures = []
        self.ran = 0
        self.guided = set()  # README run directories of conditional DDPMs (they draw a guidance curve)

    @staticmethod
    @functools.lru_cache(maxsize=None)  # read each entry's zoo.json once
    def zoo_manifest(word):
        """zoo.json of the checkout's zoo:NAME, or {} for anything else."""
        if not word.startswith("zoo:"):
            return {}
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo", word[4:], "zoo.json")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def family_of(self, word):
        return self.runs.get(word) or self.zoo_manifest(word).get("model")

    def is_guided(self, word, words=()):
        """A conditional DDPM, trained by the README or shipped in the zoo, or a DDPM sampled with
        a guide (its zoo entry's, or --guide on the line; --guide none removes it): it draws a
        guidance curve."""
        manifest = self.zoo_manifest(word)
        given = [w.split("=", 1)[1] if w.startswith("--guide=") else words[i + 1]
                 for i, w in enumerate(words)
                 if w.startswith("--guide=") or (w == "--guide" and i + 1 < len(words))]
        if given:
            return given[-1] != "none" or word in self.guided or (
                manifest.get("settings", {}).get("conditional", False))
        return word in self.guided or (manifest.get("model") == "ddpm" and
                                       (manifest.get("settings", {}).get("conditional", False) or
                                        "guide" in manifest))

    def run_dir_for(self, word):
        """The scratch run a README run directory or placeholder stands for."""
        if word in self.runs or word.startswith("zoo:"):  # the zoo ships with the checkout
            return word
        for family in FAMILIES:
            if family in word:
                named = [d for d, f in self.runs.items() if f == family]
                if named:
                    return named[-1]
        return next(iter(self.runs), word)

    def rewrite(self, words):
        """The command cut to small sizes, its placeholders replaced; None to skip it."""
        if words[0].endswith("trilemma"):
            words = words[1:]
        if is_synopsis(words):
            return None
        command = words[0]
        if command == "train":
            if "--resume" in words:
                i = words.index("--resume")
                words[i + 1] = self.run_dir_for(words[i + 1])
                # "train on to 10 epochs": two more steps instead.
                return ["--threads", "2"] + without(words) + ["--epochs", "0", "--max-steps", "4"]
            family = words[1]
            if "--run-dir" in words:
                run_dir = words[words.index("--run-dir") + 1]
            else:
                run_dir = "runs/%s-readme-%d" % (family, len(self.runs))
                words += ["--run-dir", run_dir]
            self.runs[run_dir] = family
            if family == "ddpm" and "--conditional" in words:
                self.guided.add(run_dir)
            return ["--threads", "2"] + without(words) + ["--max-steps", "2", "--epochs", "0"]
        if command == "distill":
            words[1] = self.run_dir_for(words[1])
            run_dir = (words[words.index("--run-dir") + 1] if "--run-dir" in words
                       else "runs/consistency-readme-%d" % len(self.runs))
            if "--run-dir" not in words:
                words += ["--run-dir", run_dir]
            self.runs[run_dir] = "consistency"
            return ["--threads", "2"] + without(words) + ["--max-steps", "2", "--epochs", "0"]
        if command in ("sample", "eval", "info", "figures"):
            if len(words) > 1 and not words[1].startswith("-"):
                words[1] = self.run_dir_for(words[1])
            small = {"sample": {"--n": "1" if "--per-class" in words else "2"},
                     "eval": {"--n": "10"}}.get(command, {})
            # Only a guided model takes --curve-n (others refuse it); its curve is cut to 10 images.
            if command == "eval" and len(words) > 1 and self.is_guided(words[1], words):
                small["--curve-n"] = "10"
            for flag, value in small.items():
                if flag in words:
                    words[words.index(flag) + 1] = value
                else:
                    words += [flag, value]
            if command == "eval" and "--no-latency" not in words:
                words.append("--no-latency")
            diffusion = self.family_of(words[1]) == "ddpm"
            if command in ("sample", "eval") and diffusion:
                if "--steps" in words:
                    words[words.index("--steps") + 1] = "2"
                else:
                    words += ["--steps", "2"]
            return ["--threads", "2"] + words
        if command == "evaluator":
            return ["--threads", "2"] + without(words) + ["--epochs", "1"]
        if command == "sweep":
            # Every value trained for two steps and evaluated on 10 images, into the scratch folder.
            return (["--threads", "2"] + without(words, LENGTH_FLAGS + ("--n",)) +
                    ["--max-steps", "2", "--epochs", "0", "--n", "10"])
        if command == "compare":
            # Run directories are mapped; the values of --out and --hype are kept.
            return ["compare"] + [w if w.startswith("-") or words[i] in ("--out", "--hype") else self.run_dir_for(w)
                                  for i, w in enumerate(words[1:])]
        if command == "hype":
            out, i = ["hype"], 1
            while i < len(words):
                if words[i] in ("--port", "--n-per-model", "--reals"):
                    i += 2
                    continue
                if words[i].startswith("-"):
                    out += words[i:i + 2]
                    i += 2
                    continue
                out.append(self.run_dir_for(words[i]))
                i += 1
            return ["--threads", "2"] + out + ["--port", "0", "--n-per-model", "2", "--reals", "2"]
        return ["--threads", "2"] + words

    def serve_once(self, words):
        """Starts `trilemma hype`, fetches its page once it serves, then stops it with Ctrl-C."""
        import signal
        import urllib.request
        db = words[words.index("--db") + 1] if "--db" in words else "hype-study.db"  # its default
        if os.path.exists(os.path.join(self.scratch, db)):
            # Continuing a study: the creation flags would be refused.
            for flag in ("--n-per-model", "--reals"):
                i = words.index(flag)
                del words[i:i + 2]
        server = subprocess.Popen([self.trilemma] + words, cwd=self.scratch, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in server.stdout:
            lines.append(line)
            match = re.search(r"serving http://[^:]+:(\d+)/", line)
            if match:
                page = urllib.request.urlopen("http://127.0.0.1:%s/" % match.group(1), timeout=30).read()
                if b"Real or fake?" not in page:
                    lines.append("the page did not load\n")
                    server.kill()
                server.send_signal(signal.SIGINT)
        server.wait()
        return subprocess.CompletedProcess(words, server.returncode, "".join(lines))

    def make_folder(self, readme_line, root):
        """Runs the README's scripts/idx_to_png_folder.py line on MNIST's folder, small."""
        words = shlex.split(readme_line)
        data = os.environ.get("TRILEMMA_DATA_DIR") or os.path.join(root, "data", "mnist")
        words = [data if w == "data/mnist" else w for w in words[1:]]
        if "--per-class" in words:
            del words[words.index("--per-class"):words.index("--per-class") + 2]
        command = ["/usr/bin/python3", os.path.join(root, "scripts", "idx_to_png_folder.py")] + words + \
                  ["--per-class", "60"]
        self.ran += 1
        result = subprocess.run(command, cwd=self.scratch, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print("%-4s  %s" % ("ok" if result.returncode == 0 else "FAIL", readme_line))
        if result.returncode != 0:
            print("      " + result.stdout.strip())
            self.failures.append(readme_line)

    def run(self, readme_line):
        # Files the checkout ships (docs/...) are named from its root.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if readme_line.startswith("scripts/idx_to_png_folder.py"):
            return self.make_folder(readme_line, root)
        words = self.rewrite([os.path.join(root, w) if w.startswith("docs/") else w for w in shlex.split(readme_line)])
        if words is None:
            print("skip  %s" % readme_line)
            return
        self.ran += 1
        start = time.time()
        if words[2:3] == ["hype"]:
            result = self.serve_once(words)
        else:
            result = subprocess.run([self.trilemma] + words, cwd=self.scratch, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        status = "ok" if result.returncode == 0 else "FAIL"
        print("%-4s  %5.1f s  %s\n      ran: trilemma %s" % (status, time.time() - start, readme_line,
                                                            " ".join(shlex.quote(w) for w in words)))
        if result.returncode != 0:
            print("      " + "\n      ".join(result.stdout.strip().splitlines()[-5:]))
            self.failures.append(readme_line)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--trilemma", default=os.path.join(root, "build", "trilemma"))
    parser.add_argument("--readme", default=os.path.join(root, "README.md"))
    args = parser.parse_args()
    with open(args.readme) as f:
        commands = readme_commands(f.read())
    # Trainings first, then distillations of them, so that the runs the other commands name exist.
    def trains(c):
        return " train " in " " + c and "--resume" not in c
    def makes_data(c):
        return c.startswith("scripts/")
    ordered = [c for c in commands if makes_data(c)] + [c for c in commands if trains(c)] + \
              [c for c in commands if " distill " in " " + c] + \
              [c for c in commands if not trains(c) and " distill " not in " " + c and not makes_data(c)]
    with tempfile.TemporaryDirectory(prefix="trilemma-readme-") as scratch:
        runner = Runner(args.trilemma, scratch)
        for command in ordered:
            runner.run(command)
    print("%d README command lines: %d run, %d skipped as usage text, %d failed" %
          (len(commands), runner.ran, len(commands) - runner.ran, len(runner.failures)))
    for failure in runner.failures:
        print("failed: " + failure)
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main())
