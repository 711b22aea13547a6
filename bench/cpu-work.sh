#!/bin/sh
# numabench cpu-work: how exact is --cpu-work? A benchmark, not a test.
#
#   bench/cpu-work.sh [BUILD_DIR]
#
# For each asked value (CPU_WORK, default "10 100 1000 10000" microseconds
# per sample): one worker, direct pipeline, small samples, bound; prints the
# spin's measured time per sample (the cpu_work stage, wall time on the
# worker's core), its ratio to the value asked, and the per-sample time the
# run added over --cpu-work 0. The spin is calibrated in the worker's own CPU
# time, so on an idle core the ratio is 1; on a loaded machine the wall time
# grows by the share of the core the worker did not get, as real decoding
# would. Exit: 0 when all ran; 1 a run failed; 2 bad setup.
set -u
build=${1:-build}
nb="$build/bench/numabench"
[ -x "$nb" ] || { echo "cpu-work: $nb is not built; build first" >&2; exit 2; }
command -v jq >/dev/null 2>&1 || { echo "cpu-work: jq is needed (apt-get install jq)" >&2; exit 2; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
batch=8
run() { # USEC: per-sample time (us) and the cpu_work stage per sample (us)
  steps=$((2000000 / (($1 + 20) * batch) + 20))
  "$nb" run --backend host --gpus 1 --workers 1 --mode bind --pipeline direct --sample 3x32x32 --batch $batch \
    --steps $steps --warmup 3 --cpu-work "$1" --no-save --quiet --json >"$tmp/run.json" 2>"$tmp/err" ||
    { echo "cpu-work: run failed: $(cat "$tmp/err")" >&2; exit 1; }
  jq -r --argjson b $batch '.runs[0].gpus[0] | "\(1e6 / .samples_per_s) \(.stages_ms.cpu_work * 1e3 / $b) \(.cpu_work_rate)"' "$tmp/run.json"
}
echo "machine: $(hostname), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
base=$(run 0 | cut -d' ' -f1) || exit 1
printf '%10s %14s %8s %16s %14s\n' "asked us" "spin us/sample" "ratio" "added us/sample" "iters/us"
for us in ${CPU_WORK:-10 100 1000 10000}; do
  set -- $(run "$us") || exit 1
  printf '%10s %14.1f %8.3f %16.1f %14.1f\n' "$us" "$2" "$(echo "$2 $us" | awk '{print $1 / $2}')" \
    "$(echo "$1 $base" | awk '{print $1 - $2}')" "$3"
done
