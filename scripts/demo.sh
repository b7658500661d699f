#!/usr/bin/env bash
# The main job of `./run demo`: train the quick preset of every model family, distil the
# quick DDPM into a few-step sampler, draw their samples, evaluate them and write the
# comparison report. Each step prints where its
# output went. Runs land in runs/demo-<model>; an existing one is reused (resumed if it
# was interrupted), so a second `./run demo` is quick. TRILEMMA_DEMO_MODELS="vae" limits
# the demo to the named families; TRILEMMA_DEMO_DATASET=fashion-mnist (or a directory)
# trains on another dataset (the zoo's MNIST models then stay out of the report).
set -euo pipefail
TRILEMMA=${1:?usage: demo.sh PATH_TO_TRILEMMA}
RUNS=${TRILEMMA_DEMO_DIR:-runs}
DATASET=${TRILEMMA_DEMO_DATASET:-mnist}
mkdir -p "$RUNS"

# Every registered model family, unless TRILEMMA_DEMO_MODELS names some ("vae dcgan").
models=${TRILEMMA_DEMO_MODELS:-$("$TRILEMMA" train --help | awk '/^Subcommands:/{f=1;next} f&&NF{print $1}')}
done_runs=()
# demo_run NAME RUN WHAT COMMAND...: resumes RUN when it exists, else says WHAT and runs
# COMMAND (which creates it); then draws its grid and adds it to the report's runs.
demo_run() {
  local name=$1 run=$2 what=$3
  shift 3
  if [[ -f $run/config.json ]]; then
    echo "== $name: continuing $run"
    "$TRILEMMA" train --resume "$run"
  else
    echo "== $name: $what $run"
    "$@"
  fi
  "$TRILEMMA" sample "$run" --n 100 --grid "$run/images/demo-samples.png"
  done_runs+=("$run")
}

for model in $models; do
  run="$RUNS/demo-$model"
  demo_run "$model" "$run" "training the quick preset into" "$TRILEMMA" train "$model" --preset quick \
    --dataset "$DATASET" --run-dir "$run"
done

# The few-step sampler distilled from the quick DDPM just trained (`trilemma distill`).
if [[ " ${done_runs[*]} " == *" $RUNS/demo-ddpm "* ]] && "$TRILEMMA" --help | grep -q '^  distill'; then
  run="$RUNS/demo-consistency"
  demo_run consistency "$run" "distilling $RUNS/demo-ddpm into" \
    "$TRILEMMA" distill "$RUNS/demo-ddpm" --preset quick --run-dir "$run"
  models="$models consistency"  # so that the zoo's distilled student joins the report
fi

if "$TRILEMMA" --help | grep -q '^  compare'; then
  for run in "${done_runs[@]}"; do "$TRILEMMA" eval "$run"; done
  # The zoo's converged models of the same families beside the quick ones just trained
  # (their rows are labelled zoo:NAME; their evaluations ship with them).
  zoo_models=()
  title="trilemma: quick models just trained, and the zoo's converged ones"
  for model in $models; do
    if [[ $DATASET == mnist ]] && "$TRILEMMA" zoo | grep -q "^  zoo:$model "; then zoo_models+=("zoo:$model"); fi
  done
  [[ $DATASET == mnist ]] || title="trilemma: quick models on $DATASET"
  "$TRILEMMA" compare "${done_runs[@]}" "${zoo_models[@]}" --out "$RUNS/report" --title "$title"
  echo "report: $RUNS/report/report.html (and report.md)"
fi
echo
echo "images:"
for run in "${done_runs[@]}"; do echo "  $run/images/"; done
