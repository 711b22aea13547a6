#!/bin/sh
# numabench audit on the live machine: a rank stand-in (tests/helpers/
# nb_testproc, $NB_TESTPROC) binds itself to a node, forks workers that
# touch memory and spin; `audit --pid PID:GPU` must find the whole tree, the
# binding (allowed CPUs and nodes, policy bind:N from numa_maps), every
# thread's CPU samples and the touched pages on that node, and judge the
# rank local for a device on that node. The same rank named with a device on
# another node is remote (only where the machine has two nodes with CPUs).
# Also: the process exiting during sampling (gone), --children=false,
# another user's process (permission), the JSON against the schema's keys.
. "$(dirname "$0")/lib.sh"
need jq
: "${NB_TESTPROC:?NB_TESTPROC must name the nb_testproc helper}"

"$NUMABENCH" topo --json --no-cuda >"$tmp/topo.json" || bad "topo --json exit $?"
# A device on the node to bind (the audit needs a GPU's node: a PCI device of
# that node stands in for it, as --devices does in the guests).
node=$(jq '[.nodes[] | select(.allowed and (.cpus | length) > 0)][0].os_index' "$tmp/topo.json")
dev=$(jq -r --argjson n "$node" '[.pci_devices[] | select(.numa_node == $n)][0].pci_bus_id // empty' "$tmp/topo.json")
[ -n "$dev" ] || dev=$(jq -r '[.pci_devices[]][0].pci_bus_id // empty' "$tmp/topo.json")
[ -n "$dev" ] || skip "this machine shows no PCI device to stand in for a GPU"
devnode=$(jq --arg d "$dev" '[.pci_devices[] | select(.pci_bus_id == $d)][0].numa_node' "$tmp/topo.json")
[ "$devnode" = "$node" ] || [ "$(jq '[.nodes[] | select(.allowed)] | length' "$tmp/topo.json")" = 1 ] ||
  skip "no PCI device on node $node to stand in for its GPU"

"$NB_TESTPROC" --bind "$node" --workers 2 --touch 32 --spin --seconds 30 --ready "$tmp/ready" 2>"$tmp/helper.err" &
helper=$!
i=0
while [ ! -s "$tmp/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/ready" ] || { kill $helper; skip "the helper could not bind itself to node $node: $(cat "$tmp/helper.err")"; }
pid=$(cat "$tmp/ready")

"$NUMABENCH" audit --pid "$pid:$dev" --duration 1 --json >"$tmp/a.json" 2>"$tmp/a.err"
rc=$?
[ $rc -eq 0 ] && ok "audit --pid --json: exit 0" || bad "audit --pid --json: exit $rc: $(cat "$tmp/a.err")"
check "the tree: the rank and its 2 workers" "(.processes | length) == 3 and .processes[0].pid == $pid and all(.processes[]; .rank_pid == $pid) and ([.processes[1:][].ppid] == [$pid, $pid])" "$tmp/a.json"
check "one rank, its device and node" "(.ranks | length) == 1 and .ranks[0].gpu == \"$dev\" and .ranks[0].gpu_node == $node and (.ranks[0].processes | length) == 3" "$tmp/a.json"
# Mems_allowed is the cpuset's; the binding shows in the policy of every mapping.
check "binding: policy bind:$node from numa_maps on every mapping, node $node allowed" "all(.processes[]; any(.mems_allowed[]; . == $node) and .policy == \"bind:$node\" and .policy_from == \"numa_maps\" and ([.policies[].policy] == [\"bind:$node\"]))" "$tmp/a.json"
check "every thread's own policy bind:$node (task numa_maps)" "all(.processes[].threads[]; .policy == \"bind:$node\")" "$tmp/a.json"
check "every thread observed (they spin), only on node $node" "all(.processes[].threads[]; .observed and .cpu_samples.total > 0 and .cpu_samples.nodes == [{\"node\": $node, \"count\": .cpu_samples.total}])" "$tmp/a.json"
check "the touched pages: >= 32 MiB anonymous on node $node in every process" "all(.processes[]; ([.resident.anon.nodes[] | select(.node == $node) | .bytes] | add) >= 33554432)" "$tmp/a.json"
check "verdict local, shares 1, no fix" '.ranks[0].verdict == "local" and .ranks[0].cpu_share >= 0.99 and .ranks[0].page_share >= 0.99 and .ranks[0].fix == null' "$tmp/a.json"
check "host state and schema keys" '.schema_version == 1 and (.host | has("numa_balancing") and has("transparent_hugepages") and has("smt_active")) and .samples >= 10' "$tmp/a.json"

"$NUMABENCH" audit --pid "$pid:$dev" --duration 0.3 --expect-local >"$tmp/a.txt" 2>"$tmp/a.err"
rc=$?
[ $rc -eq 0 ] && grep -q "^  $pid .* local\$" "$tmp/a.txt" && ok "text, --expect-local: exit 0, rank local" ||
  bad "text --expect-local: exit $rc: $(cat "$tmp/a.txt" "$tmp/a.err")"

"$NUMABENCH" audit --pid "$pid:$dev" --children=false --duration 0 --json >"$tmp/c.json" 2>"$tmp/c.err"
check "--children=false: the named process only" "(.processes | length) == 1 and .processes[0].pid == $pid and .children == false" "$tmp/c.json"

# A device on another node: the same rank is remote, and --expect-local says so.
other=$(jq -r --argjson n "$node" '[.pci_devices[] | select(.numa_node != null and .numa_node != $n)][0].pci_bus_id // empty' "$tmp/topo.json")
if [ -n "$other" ]; then
  "$NUMABENCH" audit --pid "$pid:$other" --duration 0.3 --expect-local --json >"$tmp/r.json" 2>"$tmp/r.err"
  rc=$?
  [ $rc -eq 3 ] && ok "remote device, --expect-local: exit 3" || bad "remote device --expect-local: exit $rc"
  check "remote device: verdict remote with the numabench exec fix" ".ranks[0].verdict == \"remote\" and (.ranks[0].fix | startswith(\"numabench exec --gpu $other -- \"))" "$tmp/r.json"
else
  echo "note: no PCI device on another node; remote is checked in the VM test audit-2n"
fi

# Another user's process: numa_maps and fd are refused; said, exit 1.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
  setpriv --reuid=65534 --regid=65534 --clear-groups "$NUMABENCH" audit --pid "$pid" --children=false --duration 0 >"$tmp/p.txt" 2>"$tmp/p.err"
  rc=$?
  [ $rc -eq 1 ] && grep -q "numa_maps: Permission denied (another user's process: run as that user or as root)" "$tmp/p.txt" &&
    [ "$(wc -l <"$tmp/p.err")" -eq 1 ] && ok "another user's process: exit 1, says which and why" ||
    bad "another user's process: exit $rc: $(cat "$tmp/p.txt" "$tmp/p.err")"
else
  echo "note: not root or no setpriv: the permission case is checked in the unit tests' wording only"
fi

# --gpu-procs where the driver is not loaded: nothing found, and said.
if [ ! -d /proc/driver/nvidia/gpus ]; then
  "$NUMABENCH" audit --gpu-procs --duration 0 --json >"$tmp/n.json" 2>"$tmp/n.err"
  rc=$?
  [ $rc -eq 0 ] && ok "--gpu-procs without a driver: exit 0" || bad "--gpu-procs without a driver: exit $rc: $(cat "$tmp/n.err")"
  check "--gpu-procs without a driver: no rank, a warning that says why" '(.ranks | length) == 0 and any(.warnings[]; test("no NVIDIA driver loaded"))' "$tmp/n.json"
fi

# A process that exits during sampling is reported as seen and marked gone.
"$NB_TESTPROC" --workers 0 --touch 8 --spin --seconds 1 --ready "$tmp/ready2" &
short=$!
i=0
while [ ! -s "$tmp/ready2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$NUMABENCH" audit --pid "$short:$dev" --duration 3 --json >"$tmp/g.json" 2>"$tmp/g.err"
rc=$?
[ $rc -eq 0 ] && ok "exits during sampling: exit 0" || bad "exits during sampling: exit $rc: $(cat "$tmp/g.err")"
check "exits during sampling: marked gone, its pages and samples kept" '.processes[0].gone and .processes[0].resident.anon.total_bytes >= 8388608 and (.processes[0].threads[0].cpu_samples.total > 0)' "$tmp/g.json"
wait $short

kill $helper 2>/dev/null
wait $helper 2>/dev/null
finish
