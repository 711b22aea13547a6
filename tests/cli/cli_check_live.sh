#!/bin/sh
# plan --check on the live machine: bind is achieved, as the kernel reports
# it; adversarial is refused on a machine with one node with CPUs; the audit
# self-test catches pages moved away when there is somewhere to move them.
. "$(dirname "$0")/lib.sh"
need jq

"$NUMABENCH" plan --check --mode bind >"$tmp/bind.txt" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && grep -q '^Placement achieved' "$tmp/bind.txt" && ok "plan --check --mode bind: achieved" \
  || bad "plan --check --mode bind: exit $rc: $(cat "$tmp/bind.txt" "$tmp/err")"

"$NUMABENCH" plan --check --mode bind --json >"$tmp/bind.json" || bad "plan --check --json exit $?"
check "audit: achieved, every bound thread >= 99% on its node" '.audit.achieved == true and all(.audit.gpus[].threads[]; .planned_cpu_node == null or .share_on_planned_node >= 0.99)' "$tmp/bind.json"
check "audit: the kernel confirms membind for every thread" 'all(.audit.gpus[].threads[]; .bind_level == "membind" and .mem_policy_seen == "bind" and .ok)' "$tmp/bind.json"
check "audit: bound buffers' pages on the planned node" 'all(.audit.gpus[].buffers[]; .planned_policy != "bind" or (.share_on_planned_node >= 0.99 and .pages.total > 0))' "$tmp/bind.json"
check "audit: feeders ran only on their planned CPUs" '. as $r | [range(0; .gpus | length) as $g | ($r.audit.gpus[$g].threads[0].cpus_seen - $r.gpus[$g].feeder.cpus) | length] | all(. == 0)' "$tmp/bind.json"
check "audit: numastat per node" '(.audit.numastat | length) > 0 and all(.audit.numastat[]; .numa_hit >= 0)' "$tmp/bind.json"

nodes_with_cpus=$(jq '[.nodes[] | select(.allowed and (.cpus | length) > 0)] | length' <"$("$NUMABENCH" topo --json --no-cuda >"$tmp/t.json"; echo "$tmp/t.json")")
if [ "$nodes_with_cpus" -lt 2 ]; then
  "$NUMABENCH" plan --check --mode adversarial >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 2 ] && grep -q 'needs two NUMA nodes' "$tmp/err" && ok "adversarial refused (exit 2): $(cat "$tmp/err")" \
    || bad "adversarial on one node: exit $rc"
else
  echo "note: this machine has $nodes_with_cpus nodes with CPUs; adversarial is checked in the VM tests"
fi
finish
