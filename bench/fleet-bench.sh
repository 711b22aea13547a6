#!/bin/sh
# fleet-bench.sh: how long numabench fleet takes over 1,000 result files.
#
#   bench/fleet-bench.sh [NUMABENCH] [HOSTS]
#
# Generates HOSTS hosts (default 250) with 3 run files (real host-backend
# runs of this build as the template, 50 KB each with every step's time) and
# one bw file each: 4 x HOSTS result files, plus a probe record per host.
# Prints the files, the wall and CPU time and the peak memory (GNU time) of one
# numabench fleet over them. Needs python3.
set -eu
nb=${1:-build/bench/numabench}
hosts=${2:-250}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$nb" --config "$src/configs/ci-smoke.ini" --backend host --output "$work/tpl" >/dev/null 2>&1
"$nb" probe --topology "$src/tests/fixtures/2s-8gpu-smt.xml" --json --no-cuda >"$work/probe.json"
python3 "$src/tests/helpers/fleet-gen.py" --out "$work/fleet" --probe "$work/probe.json" \
  --template "$(ls "$work"/tpl/*.json)" --hosts "$hosts" --repeats 3 --bw --inject node-007=slow:0.6
files=$(find "$work/fleet" -name '*.json' | wc -l)
bytes=$(du -sk "$work/fleet" | cut -f1)
sync
start=$(date +%s.%N)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "%M %U %S" -o "$work/rss" "$nb" fleet "$work/fleet" >/dev/null 2>&1 || [ $? -eq 1 ]
else
  "$nb" fleet "$work/fleet" >/dev/null 2>&1 || [ $? -eq 1 ]
fi
end=$(date +%s.%N)
set -- $(tail -1 "$work/rss" 2>/dev/null || echo '? ? ?')
echo "numabench fleet: $files files ($((bytes / 1024)) MiB, $hosts hosts) in $(echo "$end - $start" | bc) s wall, $2 s user + $3 s system CPU, peak RSS $1 KiB ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
