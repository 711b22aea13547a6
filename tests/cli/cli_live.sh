#!/bin/sh
# The live machine through the CLI: allowed CPUs and nodes as the kernel
# reports them for a process started the same way, also under taskset.
. "$(dirname "$0")/lib.sh"
need jq

"$NUMABENCH" topo --json --no-cuda >"$tmp/live.json" || bad "topo --json exit $?"
check "live: this system" '.source == "live" and .this_system == true and .source_path == null' "$tmp/live.json"

# Expand a kernel list ("0-3,8") into a JSON array.
expand() {
  echo "$1" | tr ',' '\n' | awk -F- 'NF { lo = $1; hi = (NF > 1 ? $2 : $1); for (i = lo; i <= hi; i++) print i }' | jq -s -c .
}
cpus=$(expand "$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)")
mems=$(expand "$(awk '/^Mems_allowed_list/ {print $2}' /proc/self/status)")
check "live: allowed CPUs = Cpus_allowed_list $cpus" ".allowed_cpus == $cpus" "$tmp/live.json"
check "live: allowed nodes = Mems_allowed_list $mems" "[.nodes[] | select(.allowed) | .os_index] == $mems" "$tmp/live.json"
nnodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
[ "$nnodes" -gt 0 ] || nnodes=1
check "live: $nnodes node(s) as in sysfs" "(.nodes | length) == $nnodes" "$tmp/live.json"
check "live: free memory known" 'all(.nodes[]; .free_bytes != null)' "$tmp/live.json"

if command -v taskset >/dev/null 2>&1; then
  first=$(echo "$cpus" | jq '.[0]')
  taskset -c "$first" "$NUMABENCH" topo --json --no-cuda >"$tmp/one.json"
  check "live under taskset -c $first: only CPU $first allowed" ".allowed_cpus == [$first] and ([.nodes[].cpus[]] == [$first])" "$tmp/one.json"
fi

# Text output: the header says it is this machine.
"$NUMABENCH" topo --no-cuda | head -1 | grep -q '^Topology: this machine' && ok "live text header" || bad "live text header"
finish
