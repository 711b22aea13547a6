#!/bin/sh
# numabench bw (host backend) on the live machine: the matrix's shape, every
# cell's placement confirmed by the kernel, sizes and errors.
. "$(dirname "$0")/lib.sh"
need jq

"$NUMABENCH" bw --size 4M --repeat 3 --json >"$tmp/bw.json" 2>"$tmp/err" || bad "bw exit $?: $(cat "$tmp/err")"
check "bw: schema" '.schema_version == 1 and .command == "bw" and .backend == "host" and .bytes == 4194304 and .repeat == 3 and .unit == "GB/s"' "$tmp/bw.json"
check "bw: one row per node with CPUs, one column per node with memory" '(.cols_memory_nodes | length) as $c | (.alone | length) == (.rows_cpu_nodes | length) and all(.alone[]; length == $c) and all(.all_at_once[]; length == $c)' "$tmp/bw.json"
check "bw: every cell measured, three samples, placement confirmed" '[.alone[][], .all_at_once[][]] | all(.median > 0 and (.samples | length) == 3 and .placed)' "$tmp/bw.json"
"$NUMABENCH" bw --size 4M --repeat 2 >"$tmp/bw.txt" || bad "bw text exit $?"
grep -q '^copying thread on node (rows) <- memory on node (columns), each pair alone' "$tmp/bw.txt" && ok "bw text" || bad "bw text: $(cat "$tmp/bw.txt")"
for bad_size in 0 1 12Q -5M; do
  "$NUMABENCH" bw --size "$bad_size" >/dev/null 2>"$tmp/err"
  [ $? -eq 2 ] && grep -q -- "--size '$bad_size'" "$tmp/err" && ok "bw --size $bad_size: exit 2" || bad "bw --size $bad_size: $(cat "$tmp/err")"
done
"$NUMABENCH" bw --backend cuda >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && ok "bw --backend cuda: exit 2: $(cat "$tmp/err")" || bad "bw --backend cuda"
finish
