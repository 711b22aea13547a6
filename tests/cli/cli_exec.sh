#!/bin/bash
# numabench exec on this machine, with PCI devices standing in for GPUs
# (--devices): each rank's line and JSON line, the binding inherited by the
# command and its forked workers as their kernel reports it (/proc/self/status,
# get_mempolicy, move_pages of the memory they touched: tests/helpers/
# nb_exectest.c), the bad cases (one line, exit 2), a container that refuses
# binding (exit 3), and the launcher of plan --emit script run for real.
. "$(dirname "$0")/lib.sh"
need jq
: "${NB_EXECTEST:?NB_EXECTEST must name the nb_exectest helper}"

mapfile -t pci < <(ls /sys/bus/pci/devices 2>/dev/null)
[ "${#pci[@]}" -ge 2 ] || skip "fewer than 2 PCI devices to stand in for GPUs"
D2="${pci[0]},${pci[1]}"
"$NUMABENCH" topo --json --no-cuda --devices "$D2" >"$tmp/topo.json" || bad "topo --devices exit $?"
node0=$(jq '.gpus[0].numa_node' "$tmp/topo.json")
node1=$(jq '.gpus[1].numa_node' "$tmp/topo.json")
ncores=$(jq '[.nodes[] | select(.os_index == '"$node0"') | .cores] | add' "$tmp/topo.json" 2>/dev/null)
[ "$node0" != null ] && [ "$node1" != null ] || skip "the stand-in devices' NUMA nodes are unknown here"

# A kernel list ("0-3,8") as a JSON array.
expand() {
  echo "$1" | tr ',' '\n' | awk -F- 'NF { lo = $1; hi = (NF > 1 ? $2 : $1); for (i = lo; i <= hi; i++) print i }' | jq -s -c .
}
# The helper's lines as JSON objects: {"role":..,"cpus":[..],"policy":..,"policy_nodes":"0","pages":"N0=1024"}.
helper_json() {
  while read -r line; do
    set -- $line
    local role=${1#role=} pid=${2#pid=} ppid=${3#ppid=} cpus=${4#cpus=} policy=${6#policy=} pn=${7#policy_nodes=} pages=${8#pages=}
    jq -n -c --arg role "$role" --argjson pid "$pid" --argjson ppid "$ppid" --argjson cpus "$(expand "$cpus")" \
      --arg policy "$policy" --arg pn "$pn" --arg pages "$pages" \
      '{role: $role, pid: $pid, ppid: $ppid, cpus: $cpus, policy: $policy, policy_nodes: $pn, pages: $pages}'
  done <"$1" | jq -s -c .
}

# 1. Two ranks, exclusive shares, each forking two workers.
policy=exclusive
[ "${ncores:-0}" -ge 2 ] || policy=node
for r in 0 1; do
  LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 "$NUMABENCH" exec --devices "$D2" --policy $policy --json -- \
    "$NB_EXECTEST" 2 4 >"$tmp/out$r" 2>"$tmp/line$r.json"
  rc=$?
  [ "$rc" -eq 0 ] && ok "rank $r: exit 0" || bad "rank $r: exit $rc: $(cat "$tmp/line$r.json")"
  check "rank $r: JSON line says GPU ${pci[$r]}, achieved, kernel CPUs = planned" \
    '.schema_version == 1 and .local_rank == '"$r"' and .rank_from == "LOCAL_RANK" and .local_world_size == 2 and .gpu.bus_id == "'"${pci[$r]}"'" and .gpu.source == "devices" and .achieved == true and .cpus_seen == .cpus_planned and (.cpus_seen | length) > 0 and .mem_policy_seen == "bind" and .mem_nodes_seen == [.mem_node] and .cuda_device_order == "PCI_BUS_ID" and .policy == "'$policy'"' \
    "$tmp/line$r.json"
  helper_json "$tmp/out$r" >"$tmp/procs$r.json"
  want=$(jq -c .cpus_seen "$tmp/line$r.json")
  mem=$(jq .mem_node "$tmp/line$r.json")
  check "rank $r: the command and 2 forked workers (kernel): CPUs $want, policy bind $mem, pages on node $mem" \
    'length == 3 and ([.[].role] == ["rank","worker","worker"]) and (.[0].pid as $p | all(.[1:][]; .ppid == $p)) and all(.[]; .cpus == '"$want"' and .policy == "bind" and .policy_nodes == "'"$mem"'" and (.pages | test("^N'"$mem"'=[0-9]+$")))' \
    "$tmp/procs$r.json"
done
if [ $policy = exclusive ] && [ "$node0" = "$node1" ]; then
  jq -s -e '(.[0].cpus_seen - .[1].cpus_seen) == .[0].cpus_seen' "$tmp/line0.json" "$tmp/line1.json" >/dev/null \
    && ok "exclusive: the two ranks' CPUs are disjoint" || bad "exclusive shares overlap"
fi

# 2. The text line, --quiet, the exit status, the command's environment.
LOCAL_RANK=1 "$NUMABENCH" exec --devices "$D2" -- true 2>"$tmp/text"
grep -Eq "^numabench exec: rank 1 -> GPU 1 ${pci[1]} node $node1: CPUs [0-9,-]+, memory bind [0-9]+ \[LOCAL_RANK=1, GPU list from --devices; mode bind, policy node, mem bind\]$" "$tmp/text" \
  && [ "$(wc -l <"$tmp/text")" = 1 ] && ok "text: one line" || bad "text line: $(cat "$tmp/text")"
LOCAL_RANK=0 "$NUMABENCH" exec --quiet --devices "$D2" -- sh -c 'exit 7' 2>"$tmp/quiet"
rc=$?
[ "$rc" -eq 7 ] && ok "the command's exit status (7)" || bad "exit status $rc"
[ ! -s "$tmp/quiet" ] && ok "--quiet: nothing on stderr" || bad "--quiet: $(cat "$tmp/quiet")"
env CUDA_VISIBLE_DEVICES=1,0 CUDA_DEVICE_ORDER=FASTEST_FIRST LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" --json -- \
  sh -c 'echo "$CUDA_DEVICE_ORDER $CUDA_VISIBLE_DEVICES"' >"$tmp/env" 2>"$tmp/env.json"
[ "$(cat "$tmp/env")" = "PCI_BUS_ID 1,0" ] && ok "the command gets CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA_VISIBLE_DEVICES kept" \
  || bad "command environment: $(cat "$tmp/env")"
check "CUDA_VISIBLE_DEVICES=1,0: rank 0 is device 1, entry 1" '.gpu.bus_id == "'"${pci[1]}"'" and .gpu.entry == "1" and .cuda_visible_devices == "1,0"' "$tmp/env.json"

# 3. Memory policies and modes, as the command's workers see them.
for m in preferred interleave none local; do
  LOCAL_RANK=0 "$NUMABENCH" exec --quiet --devices "$D2" --mem $m -- "$NB_EXECTEST" 1 1 >"$tmp/mem-$m" 2>"$tmp/mem-$m.err"
  want=$m
  [ $m = none ] && want=default
  n=$(grep -c "policy=$want " "$tmp/mem-$m")
  [ "$n" = 2 ] && ok "--mem $m: rank and worker have policy $want" || bad "--mem $m: $(cat "$tmp/mem-$m" "$tmp/mem-$m.err")"
done
allowed=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)
LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" --mode none --json -- "$NB_EXECTEST" 1 1 >"$tmp/none" 2>"$tmp/none.json"
grep -q "role=worker .* cpus=$allowed .*policy=default" "$tmp/none" && ok "--mode none: unbound (CPUs $allowed, default policy)" \
  || bad "--mode none: $(cat "$tmp/none")"
check "--mode none: JSON line" '.mode == "none" and .cpus_planned == [] and .mem_policy_seen == "default"' "$tmp/none.json"

# 4. Bad cases: one line, exit 2, and nothing run.
bad_case() { # DESCRIPTION WORD COMMAND...
  local what=$1 word=$2
  shift 2
  "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"
  local rc=$?
  if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" = 1 ] && grep -q -- "$word" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ]; then
    ok "$what: exit 2, one line"
  else
    bad "$what: exit $rc: $(cat "$tmp/bad.err" "$tmp/bad.out")"
  fi
}
bad_case "a command that does not exist" "no-such-command-xyz" env LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" -- no-such-command-xyz
bad_case "a path that is not executable" "Permission denied" env LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" -- /etc/passwd
bad_case "no local rank" "no local rank" env -u LOCAL_RANK "$NUMABENCH" exec --devices "$D2" -- true
bad_case "a rank beyond the GPUs" "2 GPUs" env LOCAL_RANK=2 "$NUMABENCH" exec --devices "$D2" -- true
bad_case "no command" "after --" env LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2"
bad_case "a node that does not exist" "no node 4000" env LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" --gpu-node 0=4000 -- true
bad_case "exclusive without LOCAL_WORLD_SIZE" "LOCAL_WORLD_SIZE" env -u LOCAL_WORLD_SIZE LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" --policy exclusive -- true
bad_case "CUDA_VISIBLE_DEVICES=-1: no range, the entry named" "entry 0 '-1'" env CUDA_VISIBLE_DEVICES=-1 LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" -- true
# srun --gpus-per-task=1: task 1 sees one GPU, and it is its own.
env CUDA_VISIBLE_DEVICES=1 SLURM_LOCALID=1 "$NUMABENCH" exec --devices "$D2" -- true 2>"$tmp/one.err" \
  && grep -q "one visible GPU: cuda:0 is this rank's" "$tmp/one.err" && ok "one visible GPU, SLURM_LOCALID=1: bound to it" \
  || bad "one visible GPU: $(cat "$tmp/one.err")"
# --allow-unbound with the rank unresolved keeps the caller's CUDA_DEVICE_ORDER.
env CUDA_DEVICE_ORDER=FASTEST_FIRST LOCAL_RANK=2 "$NUMABENCH" exec --devices "$D2" --allow-unbound --json -- \
  sh -c 'echo "order=$CUDA_DEVICE_ORDER"' >"$tmp/ord.out" 2>"$tmp/ord.err"
grep -q '^order=FASTEST_FIRST$' "$tmp/ord.out" && [ "$(grep -h '^{' "$tmp/ord.out" "$tmp/ord.err" | jq -r .cuda_device_order)" = null ] \
  && ok "--allow-unbound, rank unresolved: CUDA_DEVICE_ORDER left as the caller set it, JSON null" \
  || bad "unresolved rank's CUDA_DEVICE_ORDER: $(cat "$tmp/ord.out" "$tmp/ord.err")"
cores=$(jq '[.nodes[].cores] | add' "$tmp/topo.json")
if [ "${#pci[@]}" -gt "$cores" ] && [ "$(jq '[.nodes[] | select(.cores > 0)] | length' "$tmp/topo.json")" = 1 ]; then
  many=$(IFS=,; echo "${pci[*]:0:$((cores + 1))}")
  bad_case "fewer cores than ranks" "fewer cores than ranks" env LOCAL_RANK=0 LOCAL_WORLD_SIZE=$((cores + 1)) "$NUMABENCH" exec --devices "$many" --policy exclusive -- true
  env LOCAL_RANK=0 LOCAL_WORLD_SIZE=$((cores + 1)) "$NUMABENCH" exec --devices "$many" --policy exclusive --allow-unbound -- \
    "$NB_EXECTEST" 0 1 >"$tmp/unb" 2>"$tmp/unb.err"
  rc=$?
  [ "$rc" -eq 0 ] && grep -q "UNBOUND (--allow-unbound): --policy exclusive: .*fewer cores than ranks" "$tmp/unb.err" \
    && grep -q "policy=default" "$tmp/unb" && ok "--allow-unbound: runs unbound and says why" \
    || bad "--allow-unbound: exit $rc: $(cat "$tmp/unb.err" "$tmp/unb")"
else
  echo "note: fewer-cores case not run here (needs more PCI devices than cores on one node)"
fi
if [ "$(jq '[.nodes[] | select(.cores > 0)] | length' "$tmp/topo.json")" = 1 ]; then
  bad_case "--mode remote on one node" "two NUMA nodes" env LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" --mode remote -- true
fi

# 5. A container that refuses binding: exit 3, one line; --allow-unbound runs it.
if [ -n "${NB_REFUSE_PRELOAD:-}" ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
  env LD_PRELOAD="$NB_REFUSE_PRELOAD" LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" -- echo ran >"$tmp/ref.out" 2>"$tmp/ref.err"
  rc=$?
  [ "$rc" -eq 3 ] && [ "$(wc -l <"$tmp/ref.err")" = 1 ] && grep -q "placement not achieved: the kernel refused the CPUs" "$tmp/ref.err" \
    && [ ! -s "$tmp/ref.out" ] && ok "binding refused: exit 3, one line, command not run" || bad "refused: exit $rc: $(cat "$tmp/ref.err" "$tmp/ref.out")"
  # The command inherits LD_PRELOAD: numabench itself (built like the
  # preload, sanitizers included) stands in for it.
  env LD_PRELOAD="$NB_REFUSE_PRELOAD" LOCAL_RANK=0 "$NUMABENCH" exec --devices "$D2" --allow-unbound -- "$NUMABENCH" --version >"$tmp/ref.out" 2>"$tmp/ref.err"
  rc=$?
  [ "$rc" -eq 0 ] && grep -q "NOT ACHIEVED (bind level none)" "$tmp/ref.err" && grep -q "^numabench " "$tmp/ref.out" \
    && ok "binding refused, --allow-unbound: runs, the line says NOT ACHIEVED" || bad "refused, allowed: exit $rc: $(cat "$tmp/ref.err")"
fi

# 6. plan --emit script, run for real: every rank and its worker bound.
"$NUMABENCH" plan --devices "$D2" --emit script -- "$NB_EXECTEST" 1 2 >"$tmp/launch.sh"
NUMABENCH="$NUMABENCH" timeout 60 bash "$tmp/launch.sh" >"$tmp/launch.out" 2>"$tmp/launch.err"
rc=$?
[ "$rc" -eq 0 ] && ok "emitted script: exit 0" || bad "emitted script: exit $rc: $(cat "$tmp/launch.err")"
[ "$(grep -c '^numabench exec: rank [01] -> ' "$tmp/launch.err")" = 2 ] && ok "emitted script: a line per rank" || bad "script lines: $(cat "$tmp/launch.err")"
helper_json "$tmp/launch.out" >"$tmp/launch.json"
check "emitted script: 2 ranks x (rank + worker), all bound" 'length == 4 and all(.[]; .policy == "bind" and (.cpus | length) > 0)' "$tmp/launch.json"
"$NUMABENCH" plan --devices "$D2" --emit script -- sh -c 'if [ "$LOCAL_RANK" = 1 ]; then exit 5; fi; exec sleep 30' >"$tmp/fail.sh"
start=$(date +%s)
NUMABENCH="$NUMABENCH" timeout 60 bash "$tmp/fail.sh" >/dev/null 2>"$tmp/fail.err"
rc=$?
[ "$rc" -eq 5 ] && [ $(($(date +%s) - start)) -lt 20 ] && grep -q "exited 5; stopping the others" "$tmp/fail.err" \
  && ok "emitted script: the first failed rank's status (5), the others stopped" || bad "first failure: exit $rc: $(cat "$tmp/fail.err")"
"$NUMABENCH" plan --devices "$D2" --emit script -- sleep 30 >"$tmp/sig.sh"
for delay in 2 0.3; do
  NUMABENCH="$NUMABENCH" bash "$tmp/sig.sh" >/dev/null 2>&1 &
  spid=$!
  # A watchdog: a launcher that never ends is killed (exit 137), not waited for.
  (sleep 30 && kill -KILL $spid 2>/dev/null) &
  wd=$!
  sleep $delay
  kill -TERM $spid
  start=$(date +%s)
  wait $spid
  rc=$?
  kill $wd 2>/dev/null
  [ "$rc" -eq 143 ] && [ $(($(date +%s) - start)) -lt 10 ] && ok "emitted script: TERM after ${delay}s forwarded to the ranks (exit 143)" \
    || bad "TERM after ${delay}s: exit $rc"
done
# Ctrl-C: INT to the launcher must reach the ranks (a script's background jobs
# start with INT ignored, so each rank's subshell must restore it), the ranks
# die of it, and the launcher exits 130. The launcher is started with INT at
# its default (this test's own background jobs have it ignored, and bash
# cannot trap a signal ignored on entry), as it is from a terminal.
"$NUMABENCH" plan --devices "$D2" --emit script -- sh -c 'echo $$ >>"$0"; exec sleep 30' "$tmp/int.pids" >"$tmp/int.sh"
: >"$tmp/int.pids"
(trap - INT QUIT; NUMABENCH="$NUMABENCH" exec bash "$tmp/int.sh" >/dev/null 2>"$tmp/int.err") &
spid=$!
(sleep 30 && kill -KILL $spid 2>/dev/null) &
wd=$!
for _ in $(seq 200); do [ "$(wc -l <"$tmp/int.pids")" -ge 2 ] && break; sleep 0.1; done
kill -INT $spid
start=$(date +%s)
wait $spid
rc=$?
kill $wd 2>/dev/null
alive=
while read -r p; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done <"$tmp/int.pids"
[ "$rc" -eq 130 ] && [ -z "$alive" ] && [ $(($(date +%s) - start)) -lt 10 ] \
  && ok "emitted script: INT forwarded, the ranks died of it, exit 130" \
  || bad "INT: exit $rc, ranks still alive:${alive:- none} $(cat "$tmp/int.err")"
while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$tmp/int.pids"
if command -v shellcheck >/dev/null 2>&1; then
  "$NUMABENCH" plan --devices "$D2" --emit script -- python train.py --epochs 3 >"$tmp/sc.sh"
  shellcheck "$tmp/sc.sh" >"$tmp/sc.out" 2>&1 && ok "shellcheck: the emitted script is clean" || bad "shellcheck: $(cat "$tmp/sc.out")"
else
  echo "note: shellcheck not installed (apt-get install shellcheck); emitted script not linted"
fi
finish
