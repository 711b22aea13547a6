# numabench topo in a guest whose node 2 has memory and no CPUs: the kernel
# (sysfs node2/cpulist empty) says it is memory-only, and numabench must too.
LAYOUT=memonly
PCI=0

guest() {
  cat <<'GUEST'
run topo.json numabench topo --json
run cpulist.txt cat /sys/devices/system/node/node2/cpulist
GUEST
}

check() {
  local out=$1 j=$1/topo.json
  vm_ran "$out" topo.json
  vm_check "3 nodes; node 2 memory-only" '[.nodes[] | [.os_index, .has_cpus, .cpus, .cores]] == [[0,true,[0,1],2],[1,true,[2,3],2],[2,false,[],0]]' "$j"
  vm_check "node 2 has memory and is allowed" '.nodes[2].memory_bytes > 0 and .nodes[2].allowed' "$j"
  vm_check "distances 21 and 30" '.distances == [[10,21,30],[21,10,30],[30,30,10]]' "$j"
  if [ -z "$(tr -d " \n" <"$out/cpulist.txt")" ] && [ "$(cat "$out/cpulist.txt.rc")" = 0 ]; then ok "kernel agrees: node2/cpulist is empty"; else bad "node2/cpulist: $(cat "$out/cpulist.txt")"; fi
}
