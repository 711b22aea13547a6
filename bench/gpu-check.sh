#!/bin/sh
# numabench gpu-check: the GPU measurements of a new machine, in one go.
#
#   bench/gpu-check.sh [BUILD_DIR] [OUT_DIR]
#
# 1. the GPU tests (ctest -L gpu) of BUILD_DIR (default: build);
# 2. `bw --backend cuda`: pinned H2D/D2H per NUMA node x GPU, the copy peak;
# 3. `run --pipeline direct --gpu-work 0` and `run --pipeline torch`, both
#    with 3x1024x1024 samples, every mode, every GPU at once (no --verify:
#    its copy-back would be timed; the GPU tests check the data);
# then a summary: the GPUs, each GPU's H2D peak, each run's GB/s per GPU as
# a share of that peak (goal for direct: >= 0.9), steps/s per mode.
# Everything lands in OUT_DIR (default: results/gpu-check-<time>). Options for
# the runs can be added with NB_GPU_CHECK_ARGS (e.g. "--steps 30 --workers 6").
# Exit status: 0 when all ran (whatever the figures), else the first failure's.
set -u
build=${1:-build}
out=${2:-results/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}
nb="$build/bench/numabench"
extra=${NB_GPU_CHECK_ARGS:-}
if [ ! -x "$nb" ]; then
  echo "gpu-check: $nb is not built; build first (cmake -S . -B $build && cmake --build $build)" >&2
  exit 2
fi
command -v jq >/dev/null 2>&1 || { echo "gpu-check: jq is needed (apt-get install jq)" >&2; exit 2; }
if [ -e "$out" ]; then
  echo "gpu-check: $out exists; name another output directory" >&2
  exit 2
fi
mkdir -p "$out" || exit 2
status=0
step() { # NAME CMD...: run, keep its output, remember the first failure
  name=$1
  shift
  echo "== $name: $*"
  "$@" >"$out/$name.out" 2>"$out/$name.err"
  rc=$?
  tail -n 3 "$out/$name.err"
  [ $rc -ne 0 ] && [ $rc -ne 3 ] && [ $status -eq 0 ] && status=$rc
  return $rc
}

"$nb" topo --json >"$out/topo.json" 2>"$out/topo.err" || status=1
if [ "$(jq -r .gpu_source "$out/topo.json" 2>/dev/null)" != cuda ]; then
  echo "gpu-check: no usable GPU: $(jq -r .cuda "$out/topo.json" 2>/dev/null)" >&2
  exit 77
fi
(cd "$build" && ctest -L gpu --output-on-failure) >"$out/ctest-gpu.log" 2>&1 ||
  { echo "gpu-check: GPU tests failed (see $out/ctest-gpu.log)"; status=1; }
tail -n 4 "$out/ctest-gpu.log"
step bw "$nb" bw --backend cuda --size 256M --repeat 5 --json
# shellcheck disable=SC2086
step direct "$nb" run --backend cuda --pipeline direct --gpu-work 0 --sample 3x1024x1024 --mode none,bind,adversarial \
  --output "$out" --json $extra
# shellcheck disable=SC2086
step torch "$nb" run --backend cuda --pipeline torch --sample 3x1024x1024 --mode none,bind,adversarial \
  --output "$out" --json $extra

{
  echo "numabench gpu-check, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n)"
  jq -r '.gpus[] | "GPU \(.index): \(.name) \(.pci_bus_id) on node \(.numa_node)"' "$out/topo.json"
  if [ -s "$out/bw.out" ]; then
    echo "H2D peak per GPU (best node, alone, median GB/s):"
    jq -r '. as $b | range(0; .cols_gpus | length) as $j |
      "  GPU \($b.cols_gpus[$j]): \([$b.h2d.alone[][$j].median] | max | . * 100 | round / 100) GB/s" +
      " (D2H \([$b.d2h.alone[][$j].median] | max | . * 100 | round / 100))"' "$out/bw.out"
  fi
  for p in direct torch; do
    [ -s "$out/$p.out" ] || continue
    echo "pipeline $p:"
    jq -r --slurpfile bw "$out/bw.out" '
      ($bw[0] // null) as $b |
      .runs[] | if .skipped then "  \(.mode): skipped: \(.reason)" else
        "  \(.mode): \(.steps_per_s * 1000 | round / 1000) steps/s, placement \(if .placement.achieved then "achieved" else "NOT achieved" end)",
        (.gpus[] | .gpu as $g |
          (if $b then ([$b.h2d.alone[][($b.cols_gpus | index($g))].median] | max) else null end) as $peak |
          "    GPU \(.gpu): \(.gbps * 100 | round / 100) GB/s" +
          (if $peak then " = \(.gbps / $peak * 1000 | round / 1000) of the H2D peak" else "" end) +
          ", copies at \((.copy_gbps // 0) * 100 | round / 100) GB/s, starved \(.starved_pct | round)%" +
          (if .verify then ", verified \(.verify.batches) batches, \(.verify.mismatches) wrong" else "" end))
      end' "$out/$p.out"
  done
  echo "goal: direct with --gpu-work 0 at >= 0.9 of the H2D peak per GPU"
} | tee "$out/summary.txt"
echo "gpu-check: everything is in $out"
exit $status
