# numabench probe in a guest whose node 2 has memory and no CPUs (issue 13):
# the record's facts as the guest kernel states them (nodes, kinds,
# distances, numa_balancing, THP, kernel release), NPS from the guest's
# packages (sysfs physical_package_id), and the fingerprint as
# docs/probe-schema.md defines it, recomputed here with jq and sha256sum.
LAYOUT=memonly
PCI=0

guest() {
  cat <<'GUEST'
run probe.json numabench probe --json
run pkg.txt cat /sys/devices/system/cpu/cpu0/topology/physical_package_id /sys/devices/system/cpu/cpu1/topology/physical_package_id /sys/devices/system/cpu/cpu2/topology/physical_package_id /sys/devices/system/cpu/cpu3/topology/physical_package_id
run balancing.txt cat /proc/sys/kernel/numa_balancing
run release.txt uname -r
GUEST
}

check() {
  local out=$1 j=$1/probe.json
  vm_ran "$out" probe.json
  vm_check "3 nodes: CPUs 0-1, CPUs 2-3, memory only" \
    '[.probe.facts.nodes[] | [.node, .cpus, .cpuset, .has_cpus, .has_memory, .gpu_memory, .memory_gib]] == [[0,2,"0-1",true,true,false,1],[1,2,"2-3",true,true,false,1],[2,0,"",false,true,false,1]]' "$j"
  vm_check "distances 21 and 30" '.probe.facts.distances == [[10,21,30],[21,10,30],[30,30,10]]' "$j"
  vm_check "group: no GPUs, 3 nodes" '.probe.group.gpus == 0 and .probe.group.gpu_model == null and .probe.group.nodes == 3' "$j"
  vm_check "kernel release as uname -r" ".probe.facts.kernel == \"$(cat "$out/release.txt")\"" "$j"
  if [ "$(cat "$out/balancing.txt.rc")" = 0 ]; then
    vm_check "numa_balancing as /proc/sys/kernel/numa_balancing" ".probe.facts.numa_balancing == $(cat "$out/balancing.txt")" "$j"
  else
    vm_check "numa_balancing null where the kernel has no such file" '.probe.facts.numa_balancing == null' "$j"
  fi
  # Two nodes with CPUs: one package holds both (NPS 2), two hold one each
  # (1), four packages put each node across two (0).
  local npkg want
  npkg=$(sort -u "$out/pkg.txt" | grep -c .)
  case $npkg in 1) want=2 ;; 2) want=1 ;; 4) want=0 ;; *) want=null ;; esac
  vm_check "nps $want for $npkg package(s)" ".probe.facts.nps == $want" "$j"
  local fp
  fp=$(jq -j -c -S .probe.facts "$j" | sha256sum | cut -d' ' -f1)
  vm_check "fingerprint = sha256sum of the sorted compact facts" ".probe.fingerprint == \"$fp\"" "$j"
}
