#!/bin/sh
# numabench-genbench, the references bench/ceiling.sh sets runs against: it
# runs and prints every line, its pipeline path (the direct replay data path
# without the harness) moves data, and bad input is exit 2 naming the input.
. "$(dirname "$0")/lib.sh"
: "${NB_GENBENCH:?NB_GENBENCH must name the numabench-genbench binary}"

"$NB_GENBENCH" 3x32x32 0.05 --batch 4 --pool 1M >"$tmp/out" 2>"$tmp/err" || bad "genbench exit $?: $(cat "$tmp/err")"
for line in '^generator ' '^memset ' '^memcpy ' '^memcpy x2 '; do
  grep -q "$line" "$tmp/out" && ok "genbench prints $line" || bad "genbench: no $line line: $(cat "$tmp/out")"
done
# pipeline path  X GB/s  (... engine busy B)
awk '/^pipeline path/ {gb = $3; busy = $NF; sub(/\)$/, "", busy)} END {exit !(gb > 0 && busy > 0 && busy <= 1.0001)}' "$tmp/out" &&
  ok "pipeline path: GB/s > 0, engine busy in (0, 1]: $(grep '^pipeline path' "$tmp/out")" ||
  bad "pipeline path line: $(cat "$tmp/out")"
grep -q 'batch 4, pool 1 MiB' "$tmp/out" && ok "pipeline path names its batch and pool" || bad "pipeline path settings: $(grep '^pipeline path' "$tmp/out")"

# On the node a bound run of the host backend uses (the first with CPUs and memory).
node=$("$NUMABENCH" topo --json --no-cuda | jq '[.nodes[] | select(.cores > 0 and .memory_bytes > 0)][0].os_index')
"$NB_GENBENCH" 3x32x32 0.05 --batch 2 --pool 64K --node "$node" >"$tmp/out" 2>"$tmp/err" &&
  grep -q '^pipeline path' "$tmp/out" && ok "--node $node, a pool below two batches (raised to them)" ||
  bad "--node $node: $(cat "$tmp/err")"

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
expect2 '--node' 3x8x8 0.01 --node 4096
expect2 '--node' 3x8x8 0.01 --node -1
expect2 '--pool' 3x8x8 0.01 --pool 1000000G
expect2 'usage' 3x0x8
expect2 'usage' 3x8x8 -1
expect2 'usage' 3x8x8 1 extra
finish
