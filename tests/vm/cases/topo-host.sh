# numabench topo shows the guest kernel's settings that change a NUMA result
# and warns when automatic NUMA balancing is on: the guest (root, its own
# kernel) turns kernel.numa_balancing on, then off, and topo must follow the
# kernel each time, in text and JSON.
LAYOUT=2n
PCI=0

guest() {
  cat <<'GUEST'
run set-on.txt sh -c 'echo 1 >/proc/sys/kernel/numa_balancing && cat /proc/sys/kernel/numa_balancing'
run on.json numabench topo --json
run on.txt numabench topo
run set-off.txt sh -c 'echo 0 >/proc/sys/kernel/numa_balancing && cat /proc/sys/kernel/numa_balancing'
run off.json numabench topo --json
run off.txt numabench topo
run thp.txt cat /sys/kernel/mm/transparent_hugepage/enabled
GUEST
}

check() {
  local out=$1
  vm_ran "$out" on.json
  vm_ran "$out" off.json
  vm_ran "$out" on.txt
  vm_ran "$out" off.txt
  if [ "$(cat "$out/set-on.txt.rc")" != 0 ] || [ "$(cat "$out/set-on.txt")" != 1 ]; then
    bad "the guest kernel refused numa_balancing=1 (CONFIG_NUMA_BALANCING?): $(cat "$out/set-on.txt.err")"
    return
  fi
  vm_check "on: numa_balancing 1 with the warning" '.host.numa_balancing == 1 and (.host.warning | test("automatic NUMA balancing is on"))' "$out/on.json"
  if grep -q '^Kernel: numa_balancing 1 (on)' "$out/on.txt" && grep -q '^Warning: automatic NUMA balancing is on' "$out/on.txt"; then ok "on: text shows it and warns"; else bad "on: text: $(head -5 "$out/on.txt")"; fi
  vm_check "off: numa_balancing 0, no warning" '.host.numa_balancing == 0 and .host.warning == null' "$out/off.json"
  if grep -q '^Kernel: numa_balancing 0 (off)' "$out/off.txt" && ! grep -q '^Warning:' "$out/off.txt"; then ok "off: text shows it, no warning"; else bad "off: text: $(head -5 "$out/off.txt")"; fi
  thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$out/thp.txt")
  if [ -n "$thp" ]; then
    vm_check "THP mode is the guest kernel's ($thp)" ".host.transparent_hugepages == \"$thp\"" "$out/off.json"
  else
    vm_check "THP unknown where the kernel has none" '.host.transparent_hugepages == null' "$out/off.json"
  fi
  vm_check "SMT: boolean or unknown" '.host.smt_active | type == "boolean" or . == null' "$out/off.json"
}
