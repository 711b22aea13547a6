#!/bin/sh
# Example CI job: run a preset, compare it with a stored baseline result, and
# fail the job on a regression (exit 1). Without a baseline, this run becomes
# the baseline. Run it on the same machine type every time: results of
# different machines are not comparable. Use a preset without --sweep (one
# result file per run). Where the kernel refuses binding (some containers),
# the run exits 3 and so does this job: placement is part of what it checks.
#
#   configs/ci/numabench-ci.sh [PRESET [BASELINE]]
#   env: NUMABENCH (binary, default build/bench/numabench), NB_THRESHOLD
#        (percent, default 10), NB_RESULTS (where new results go, default
#        a temporary directory)
set -u
preset=${1:-configs/ci-smoke.ini}
baseline=${2:-ci-baseline.json}
numabench=${NUMABENCH:-build/bench/numabench}
out=${NB_RESULTS:-}
if [ -z "$out" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

"$numabench" --config "$preset" --output "$out" --quiet >/dev/null || exit $?
new=$(ls -t "$out"/*.json | head -1)
if [ ! -f "$baseline" ]; then
  cp "$new" "$baseline"
  echo "numabench-ci: no baseline yet: $baseline recorded from this run"
  exit 0
fi
"$numabench" report "$baseline" "$new"
echo
"$numabench" compare "$baseline" "$new" --threshold "${NB_THRESHOLD:-10}"
