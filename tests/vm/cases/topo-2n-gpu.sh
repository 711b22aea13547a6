# numabench topo in a 2-node guest (2 CPUs per node, distance 21) with four
# PCI devices behind a host bridge on each node. hwloc's PCI->NUMA path and
# the kernel's sysfs must both put 0000:41:00.0 on node 0 and 0000:81:00.0 and
# 0000:84:00.0 on node 1.
LAYOUT=2n
PCI=1

guest() {
  cat <<'GUEST'
run topo.json numabench topo --json --devices 0000:41:00.0,0000:81:00.0,84:00.0
run topo.txt numabench topo --devices 0000:41:00.0,0000:81:00.0,84:00.0
run nodevices.json numabench topo --json
run sysfs.txt cat /sys/bus/pci/devices/0000:41:00.0/numa_node /sys/bus/pci/devices/0000:81:00.0/numa_node
GUEST
}

check() {
  local out=$1 j
  vm_ran "$out" topo.json
  vm_ran "$out" topo.txt
  vm_ran "$out" nodevices.json
  j=$out/topo.json
  vm_check "live guest, this system" '.source == "live" and .this_system == true' "$j"
  vm_check "2 nodes, both with CPUs, both allowed" '[.nodes[] | [.os_index, .cpus, .has_cpus, .allowed]] == [[0,[0,1],true,true],[1,[2,3],true,true]]' "$j"
  vm_check "distance 21 from firmware" '.distances == [[10,21],[21,10]] and .distances_source == "firmware"' "$j"
  vm_check "devices on nodes 0, 1, 1 from hwloc" '[.gpus[] | [.pci_bus_id, .numa_node, .numa_node_source]] == [["0000:41:00.0",0,"hwloc"],["0000:81:00.0",1,"hwloc"],["0000:84:00.0",1,"hwloc"]]' "$j"
  vm_check "device CPUs are their node's" '[.gpus[].cpus] == [[0,1],[2,3],[2,3]]' "$j"
  vm_check "no warnings" '(.warnings | length) == 0 and all(.gpus[]; (.warnings | length) == 0)' "$j"
  vm_check "free memory from the kernel" 'all(.nodes[]; .free_bytes > 0 and .free_bytes <= .memory_bytes)' "$j"
  vm_check "all 8 display devices listed with their node" '[.pci_devices[] | select(.class_id == "0380") | .numa_node] == [0,0,0,0,1,1,1,1]' "$j"
  vm_check "without --devices: no GPU (they are not NVIDIA)" '.gpu_source == "none" and .gpus == []' "$out/nodevices.json"
  if [ "$(tr '\n' ' ' <"$out/sysfs.txt")" = "0 1 " ]; then ok "sysfs agrees: numa_node 0 and 1"; else bad "sysfs numa_node: $(cat "$out/sysfs.txt")"; fi
  if grep -q '^  2     0000:84:00.0  1 ' "$out/topo.txt"; then ok "text table shows GPU 2 on node 1"; else bad "text table: $(cat "$out/topo.txt")"; fi
}
