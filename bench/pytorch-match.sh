#!/bin/sh
# numabench pytorch-match: calibrate --cpu-work to a PyTorch DataLoader.
#
#   bench/pytorch-match.sh [BUILD_DIR]
#
# 1. PyTorch (Debian's python3-torch, CPU): the bundled training script's
#    Dataset (configs/launch/train.py: Synthetic, torch.rand images and their
#    normalisation) through a DataLoader with SIZE, BATCH and WORKERS, no
#    model: its per-sample time, the loader's own cost that --cpu-work models;
#    then the whole script (its small model too) for reference;
# 2. numabench run --backend host --pipeline torch --mode none at the same
#    sample (3xSIZExSIZE float32), batch and workers: per-sample time at
#    --cpu-work 0, then a secant search for the --cpu-work whose per-sample
#    time matches the DataLoader's within 10%, printed.
# This is how to calibrate numabench to your own loader: time it per sample
# (wall time / samples, with its workers), then search as here.
# Settings (environment): SIZE (224), BATCH (16), WORKERS (2), STEPS (40).
# Exit: 0 matched; 1 not matched in 8 tries or a step failed; 2 bad setup;
# 77 python3-torch is not installed.
set -u
build=${1:-build}
nb="$build/bench/numabench"
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-/usr/bin/python3}
size=${SIZE:-224}
batch=${BATCH:-16}
workers=${WORKERS:-2}
steps=${STEPS:-40}
[ -x "$nb" ] || { echo "pytorch-match: $nb is not built; build first" >&2; exit 2; }
command -v jq >/dev/null 2>&1 || { echo "pytorch-match: jq is needed (apt-get install jq)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null ||
  { echo "SKIP: $py cannot import torch (apt-get install python3-torch)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(hostname), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), torch $("$py" -c 'import torch; print(torch.__version__)')"
echo "settings: sample 3x${size}x${size} float32, batch $batch, $workers workers, $steps steps"

# The DataLoader alone, with train.py's own Dataset.
loader_us=$(cd "$here/configs/launch" && "$py" - "$size" "$batch" "$workers" "$steps" <<'PY'
import sys, time
import torch
from torch.utils.data import DataLoader
from train import Synthetic

size, batch, workers, steps = (int(a) for a in sys.argv[1:5])
warmup = 3
torch.set_num_threads(1)
data = Synthetic((steps + warmup) * batch, size, 100, 1)
loader = DataLoader(data, batch_size=batch, num_workers=workers, persistent_workers=workers > 0,
                    prefetch_factor=2 if workers > 0 else None)
start = None
for i, (x, y) in enumerate(loader):
    if i == warmup:
        start = time.perf_counter()
print(f"{(time.perf_counter() - start) / (steps * batch) * 1e6:.3f}")
PY
) || { echo "pytorch-match: the DataLoader failed" >&2; exit 1; }
printf 'PyTorch DataLoader (train.py Synthetic, no model): %10.1f us per sample\n' "$loader_us"
full=$("$py" "$here/configs/launch/train.py" --image-size "$size" --batch "$batch" --workers "$workers" \
  --steps 10 --warmup 2 --width 4 --threads 1 --log-every 1000 2>"$tmp/err" |
  sed -n 's/^average throughput: \([0-9.]*\) samples\/s$/\1/p')
if [ -n "$full" ]; then
  printf 'PyTorch train.py (width 4, whole step, reference): %10.1f us per sample\n' "$(echo "$full" | awk '{print 1e6 / $1}')"
else
  echo "pytorch-match: train.py printed no throughput (reference only): $(tail -n 1 "$tmp/err")"
fi

# numabench's per-sample time at --cpu-work C (microseconds).
nb_us() {
  "$nb" run --backend host --pipeline torch --mode none --sample "3x${size}x${size}" --batch "$batch" \
    --workers "$workers" --steps "$steps" --warmup 3 --cpu-work "$1" --no-save --quiet --json \
    >"$tmp/run.json" 2>"$tmp/err" || { echo "pytorch-match: numabench run failed: $(cat "$tmp/err")" >&2; exit 1; }
  jq '1e6 / .runs[0].gpus[0].samples_per_s' "$tmp/run.json"
}
t0=$(nb_us 0) || exit 1
printf 'numabench --cpu-work 0:                            %10.1f us per sample\n' "$t0"
within() { echo "$1 $loader_us" | awk '{d = $1 / $2 - 1; exit !(d <= 0.1 && d >= -0.1)}'; }
if within "$t0"; then
  echo "match: --cpu-work 0 (numabench's own cost is the loader's, within 10%)"
  exit 0
fi
if echo "$t0 $loader_us" | awk '{exit !($1 > $2)}'; then
  echo "no match: numabench is slower than this DataLoader with no --cpu-work at all"
  exit 1
fi
# Secant search from (0, t0); the first guess assumes the workers share the
# CPUs evenly: each microsecond of work per sample adds 1/min(workers, CPUs).
par=$(nproc)
[ "$workers" -lt "$par" ] && par=$workers
ca=0
ta=$t0
cb=$(echo "$loader_us $t0 $par" | awk '{c = ($1 - $2) * $3; printf "%d", c < 1 ? 1 : c}')
try=1
while [ $try -le 8 ]; do
  tb=$(nb_us "$cb") || exit 1
  printf 'numabench --cpu-work %-8s                     %10.1f us per sample\n' "$cb" "$tb"
  if within "$tb"; then
    printf 'match: --cpu-work %s (numabench %.1f us vs DataLoader %.1f us per sample, %+.1f%%)\n' "$cb" "$tb" \
      "$loader_us" "$(echo "$tb $loader_us" | awk '{print ($1 / $2 - 1) * 100}')"
    exit 0
  fi
  next=$(echo "$ca $ta $cb $tb $loader_us" | awk '{
    s = ($4 - $2) / ($3 - $1); c = (s > 0) ? $3 + ($5 - $4) / s : $3 * 2; printf "%d", c < 1 ? 1 : c}')
  ca=$cb
  ta=$tb
  cb=$next
  try=$((try + 1))
done
echo "no match within 10% in 8 tries (a loaded machine? run it again)"
exit 1
