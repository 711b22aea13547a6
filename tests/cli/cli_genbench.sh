#!/bin/sh
# numabench-genbench, the references bench/ceiling.sh sets runs against: it
# runs and prints every line, its pipeline path (the direct replay data path
# without the harness) moves data, and bad input is exit 2 naming the input.
. "$(dirname "$0")/lib.sh"
: "${NB_GENBENCH:?NB_GENBENCH must name the numabench-genbench binary}"
need jq

"$NB_GENBENCH" 3x32x32 0.05 --batch 4 --pool 1M >"$tmp/out" 2>"$tmp/err" || bad "genbench exit $?: $(cat "$tmp/err")"
for line in '^generator ' '^memset ' '^memcpy ' '^memcpy x2 '; do
  grep -q "$line" "$tmp/out" && ok "genbench prints $line" || bad "genbench: no $line line: $(cat "$tmp/out")"
done
# pipeline path  X GB/s  (... engine busy B)
awk '/^pipeline path / && $4 == "GB/s" {gb = $3 + 0; busy = $NF; sub(/\)$/, "", busy); busy += 0}
     END {exit !(gb > 0 && busy > 0 && busy <= 1.0001)}' "$tmp/out" &&
  ok "pipeline path: GB/s > 0, engine busy in (0, 1]: $(grep '^pipeline path' "$tmp/out")" ||
  bad "pipeline path line: $(cat "$tmp/out")"
# 1 MiB of 12 KiB samples: 85, and the next prime is 89, as run sizes a pool.
grep -q 'batch 4, 1 worker(s), pools of 89 samples' "$tmp/out" && ok "pipeline path: its batch, workers and pool as run sizes it" ||
  bad "pipeline path settings: $(grep '^pipeline path' "$tmp/out")"

# On the node a bound run of the host backend uses (the first with CPUs and memory).
node=$("$NUMABENCH" topo --json --no-cuda | jq '[.nodes[] | select(.cores > 0 and .memory_bytes > 0)][0].os_index')
cpus=$("$NUMABENCH" topo --json --no-cuda | jq "[.nodes[] | select(.os_index == $node)][0].cpus | length")
# 16 KiB holds one sample: raised to two batches and one more (5, a prime).
"$NB_GENBENCH" 3x32x32 0.05 --batch 2 --pool 16K --node "$node" >"$tmp/out" 2>"$tmp/err" &&
  grep -q "pools of 5 samples (0.1 MiB), node $node;" "$tmp/out" && ok "--node $node, a pool below two batches raised to them" ||
  bad "--node $node --pool 16K: $(cat "$tmp/out" "$tmp/err")"
# As many workers as the node has CPUs: with the engine, one thread more than
# CPUs; genbench says its reference is not fair, and still runs.
"$NB_GENBENCH" 3x32x32 0.05 --batch 2 --pool 16K --workers "$cpus" --node "$node" >"$tmp/out" 2>"$tmp/err" &&
  grep -q "^pipeline path: $cpus worker(s) and the engine on $cpus CPU(s)" "$tmp/out" &&
  ok "--workers $cpus on $cpus CPUs: said not to be a fair reference" || bad "--workers $cpus: $(cat "$tmp/out" "$tmp/err")"

expect2() { # WHAT ARGS...
  what=$1
  shift
  "$NB_GENBENCH" "$@" >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && grep -q -- "$what" "$tmp/err" && ok "genbench $*: exit 2 naming $what" ||
    bad "genbench $*: exit $rc, $(cat "$tmp/err")"
}
expect2 '--batch' 3x8x8 0.01 --batch 0
expect2 '--batch' 3x8x8 0.01 --batch x
expect2 '--pool' 3x8x8 0.01 --pool 12Q
expect2 '--workers' 3x8x8 0.01 --workers 0
expect2 '--workers' 3x8x8 0.01 --workers 1025
expect2 '--node' 3x8x8 0.01 --node 4096
expect2 '--node' 3x8x8 0.01 --node -1
expect2 '--pool' 3x8x8 0.01 --pool 1000000G
expect2 'usage' 3x0x8
expect2 'usage' 3x8x8 -1
expect2 'usage' 3x8x8 1 extra
expect2 'usage' 3x8x8 nan
"$NB_GENBENCH" --help >"$tmp/out" 2>&1 && grep -q '^usage: numabench-genbench' "$tmp/out" && ok "--help: usage, exit 0" ||
  bad "--help: $(cat "$tmp/out")"
finish
