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
#    --cpu-work 0, then a search for the --cpu-work whose per-sample time
#    matches the DataLoader's within 10%, printed: secant steps kept inside
#    the bracket [too fast, too slow] found so far, bisection where the
#    secant leaves it (noise can make the slope wrong), each point the median
#    of 3 runs.
# This is how to calibrate numabench to your own loader: time it per sample
# (wall time / samples, with its workers), then search as here.
# Settings (environment): SIZE (224), BATCH (16), WORKERS (2), STEPS (40).
# Exit: 0 matched; 1 not matched in TRIES (12) tries or a step failed; 2 bad setup;
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
tries=${TRIES:-12}
[ -x "$nb" ] || { echo "pytorch-match: $nb is not built; build first" >&2; exit 2; }
command -v jq >/dev/null 2>&1 || { echo "pytorch-match: jq is needed (apt-get install jq)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null ||
  { echo "SKIP: $py cannot import torch (apt-get install python3-torch)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(hostname), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), torch $("$py" -c 'import torch; print(torch.__version__)')"
echo "settings: sample 3x${size}x${size} float32, batch $batch, $workers workers, $steps steps"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

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
# The clock starts when batch warmup - 1 has arrived, so that the steps
# timed batches warmup .. warmup + steps - 1 are all inside it.
start = None
for i, (x, y) in enumerate(loader):
    if i == warmup - 1:
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

# numabench's per-sample time at --cpu-work C (microseconds): the median of
# 3 runs, so that one run disturbed by another process does not steer the
# search.
nb_us() {
  : >"$tmp/us"
  for k in 1 2 3; do
    "$nb" run --backend host --pipeline torch --mode none --sample "3x${size}x${size}" --batch "$batch" \
      --workers "$workers" --steps "$steps" --warmup 3 --cpu-work "$1" --no-save --quiet --json \
      >"$tmp/run.json" 2>"$tmp/err" || { echo "pytorch-match: numabench run failed: $(cat "$tmp/err")" >&2; exit 1; }
    jq '1e6 / .runs[0].gpus[0].samples_per_s' "$tmp/run.json" >>"$tmp/us"
  done
  sort -g "$tmp/us" | sed -n 2p
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
# The bracket: lo (numabench faster than the loader) and hi (slower, or
# unknown: hi = -1). The first guess assumes the workers share the CPUs
# evenly: each microsecond of work per sample adds 1/min(workers, CPUs).
par=$(nproc)
[ "$workers" -lt "$par" ] && par=$workers
lo=0
tlo=$t0
hi=-1
thi=0
max=60000000 # --cpu-work's largest value
c=$(echo "$loader_us $t0 $par" | awk '{c = ($1 - $2) * $3; printf "%d", c < 1 ? 1 : c}')
try=1
while [ $try -le "$tries" ]; do
  t=$(nb_us "$c") || exit 1
  printf 'numabench --cpu-work %-8s (median of 3)        %10.1f us per sample\n' "$c" "$t"
  if within "$t"; then
    printf 'match: --cpu-work %s (numabench %.1f us vs DataLoader %.1f us per sample, %+.1f%%)\n' "$c" "$t" \
      "$loader_us" "$(echo "$t $loader_us" | awk '{print ($1 / $2 - 1) * 100}')"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
  fi
  if echo "$t $loader_us" | awk '{exit !($1 < $2)}'; then
    lo=$c
    tlo=$t
  else
    hi=$c
    thi=$t
  fi
  # Secant through the bracket's ends (or from lo with the last slope while
  # there is no hi yet), kept strictly inside the bracket; bisection where
  # it would leave it or the slope is not positive.
  c=$(echo "$lo $tlo $hi $thi $loader_us $max" | awk '{
    lo = $1; tlo = $2; hi = $3; thi = $4; want = $5; max = $6
    if (hi < 0) {
      s = (tlo > 0 && lo > 0) ? (tlo - '"$t0"') / lo : 0
      c = (s > 0) ? lo + (want - tlo) / s : lo * 2
      if (c <= lo) c = lo * 2 + 1
      if (c > max) c = max
    } else {
      s = (thi - tlo) / (hi - lo)
      c = (s > 0) ? lo + (want - tlo) / s : (lo + hi) / 2
      if (c <= lo + (hi - lo) / 20 || c >= hi - (hi - lo) / 20) c = (lo + hi) / 2
    }
    printf "%d", c < 1 ? 1 : c}')
  if [ "$c" = "$lo" ] || [ "$c" = "$hi" ]; then
    echo "no match: the bracket [$lo, $hi] closed without a --cpu-work within 10%"
    exit 1
  fi
  try=$((try + 1))
done
echo "no match within 10% in $tries tries (bracket [$lo, $hi]; a loaded machine? run it again)"
exit 1
