#!/bin/sh
# numabench plan through the CLI: JSON schema, errors (exit 2, one line),
# mode lists with skips, numactl lines parsed back by the shell.
. "$(dirname "$0")/lib.sh"
need jq
x="$NB_FIXTURES_DIR/2s-8gpu-smt.xml"

schema='
  .schema_version == 1 and (.mode | IN("none","bind","adversarial","remote","interleave"))
  and (.this_system | type == "boolean") and (.workers_per_gpu | type == "number")
  and (.gpus | type == "array" and length > 0 and all(
        (.gpu | type == "number") and (.gpu_node | type == "number" or . == null)
        and (.feeder.cpus | type == "array") and (.feeder.mem_policy | IN("default","bind","interleave"))
        and (.feeder.mem_node | type == "number" or . == null)
        and (.workers | type == "array" and all((.cpus | type == "array") and (.mem_node | type == "number" or . == null)))
        and (.staging_node | type == "number" or . == null) and (.device_buffer_node | type == "number" or . == null)
        and (.share_cpus | type == "array") and (.oversubscribed | type == "boolean") and (.notes | type == "array")))'

for m in none bind adversarial remote interleave; do
  "$NUMABENCH" plan --json --topology "$x" --mode $m --workers 3 >"$tmp/$m.json" 2>"$tmp/err" || bad "plan $m: $(cat "$tmp/err")"
  check "plan $m: schema" "$schema" "$tmp/$m.json"
done
check "bind: the issue's shape" '.mode == "bind" and .gpus[0].gpu == 0 and .gpus[0].pci_bus_id == "0000:10:1c.0" and .gpus[0].gpu_node == 0 and .gpus[0].feeder.mem_node == 0 and (.gpus[0].workers | length) == 3 and .gpus[0].staging_node == 0 and .gpus[0].device_buffer_node == 0' "$tmp/bind.json"
check "bind: every thread on its GPU's node" 'all(.gpus[]; .gpu_node as $n | .feeder.cpu_node == $n and all(.workers[]; .cpu_node == $n))' "$tmp/bind.json"
check "bind: no CPU used twice" '[.gpus[] | .feeder.cpus[], (.workers[].cpus[])] | length == (unique | length)' "$tmp/bind.json"
check "adversarial: feeder and staging remote, workers local" 'all(.gpus[]; .gpu_node as $n | .feeder.cpu_node != $n and .staging_node == .feeder.mem_node and .staging_node != $n and all(.workers[]; .cpu_node == $n) and .device_buffer_node == $n)' "$tmp/adversarial.json"
check "remote: everything on the other node" 'all(.gpus[]; .gpu_node as $n | .feeder.cpu_node != $n and all(.workers[]; .cpu_node == .mem_node and .cpu_node != $n))' "$tmp/remote.json"
check "interleave: unbound CPUs, interleaved memory" '.interleave_nodes == [0,1] and all(.gpus[]; .feeder.cpus == [] and .feeder.mem_policy == "interleave" and .feeder.mem_node == null)' "$tmp/interleave.json"
check "none: unbound, mem_node null with a policy" 'all(.gpus[]; .feeder.cpus == [] and .feeder.mem_policy == "default" and .staging_node == null)' "$tmp/none.json"

# A mode list: one JSON object per line; a mode the topology cannot have is
# a recorded skip (container fixture: one allowed node).
"$NUMABENCH" plan --json --topology "$NB_FIXTURES_DIR/container.xml" --gpus 0-0 --mode bind,adversarial,none >"$tmp/list.json"
[ "$(wc -l <"$tmp/list.json")" -eq 3 ] && ok "mode list: 3 lines" || bad "mode list: $(wc -l <"$tmp/list.json") lines"
jq -s -e '[.[].mode] == ["bind","adversarial","none"] and .[1].skipped == true and (.[1].reason | test("two NUMA nodes"))' "$tmp/list.json" >/dev/null \
  && ok "mode list: adversarial skipped with its reason" || bad "mode list skip"

# Errors: exit 2, one line on stderr.
expect2() {
  want=$1
  shift
  "$NUMABENCH" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$want" "$tmp/err"; then
    ok "numabench $*: $(cat "$tmp/err")"
  else
    bad "numabench $*: exit $rc, stderr: $(cat "$tmp/err")"
  fi
}
expect2 "needs two NUMA nodes" plan --topology "$NB_FIXTURES_DIR/container.xml" --gpus 0-0 --mode adversarial
expect2 "unknown mode 'fast'" plan --topology "$x" --mode fast
expect2 "listed twice" plan --topology "$x" --mode bind,bind
expect2 "NUMA node unknown" plan --topology "$NB_FIXTURES_DIR/unknown-node.xml"
expect2 "this topology has 8 GPUs" plan --topology "$x" --gpus 9
expect2 "not an integer" plan --topology "$x" --workers many
expect2 "out of range" plan --topology "$x" --workers -2
expect2 "applies plans to this machine only" plan --topology "$x" --check
expect2 "expected numactl, torchrun or script" plan --topology "$x" --emit srun -- true
expect2 "give the command to launch" plan --topology "$x" --emit numactl
expect2 "only used with --emit" plan --topology "$x" -- python train.py
expect2 "one numactl line cannot express" plan --topology "$x" --mode adversarial --emit numactl -- true
expect2 "--emit needs a single --mode" plan --topology "$x" --mode bind,none --emit numactl -- true
expect2 "only works with --check" plan --topology "$x" --check-move-staging 1

# numactl lines: the shell must read back exactly the planned arguments.
"$NUMABENCH" plan --topology "$x" --gpus 0,4 --workers 2 --emit numactl -- python "train it.py" --tag "it's \$HOME" '*' >"$tmp/lines"
[ "$(wc -l <"$tmp/lines")" -eq 2 ] && ok "two launch lines" || bad "launch lines: $(cat "$tmp/lines")"
i=0
while IFS= read -r line; do
  eval "set -- $line"
  [ "$1" = numactl ] || bad "line $i starts with $1"
  want_node=$([ $i -eq 0 ] && echo 0 || echo 1)
  [ "$3" = "--membind=$want_node" ] && ok "line $i: --membind=$want_node" || bad "line $i: $3"
  shift 4 # numactl --physcpubind=... --membind=N env
  [ "$1" = CUDA_VISIBLE_DEVICES=0,4 ] && [ "$2" = LOCAL_RANK=$i ] && [ "$3" = RANK=$i ] && [ "$4" = WORLD_SIZE=2 ] \
    && ok "line $i: rank variables" || bad "line $i: $*"
  shift 5
  [ "$#" -eq 5 ] && [ "$1" = python ] && [ "$2" = "train it.py" ] && [ "$3" = --tag ] && [ "$4" = "it's \$HOME" ] && [ "$5" = '*' ] \
    && ok "line $i: command and arguments round-trip" || bad "line $i: arguments: $*"
  i=$((i + 1))
done <"$tmp/lines"
finish
