# cgroup limits under a real multi-node kernel: the guest mounts cgroup2,
# enables the cpu and memory controllers, and runs numabench in a child
# cgroup with a quota of 1 CPU and memory.max 256 MiB. topo shows the limits;
# plan's automatic workers follow the quota; an explicit batch beyond the
# limit is refused with exit 2 and one line naming it; the automatic batch
# is smaller than outside the cgroup and the run completes, recording the
# limit. (With 2 CPUs per node the quota cannot lower the worker count below
# the cores' 1: that check is equality here, the unit and host tests show
# the quota binding.)
LAYOUT=2n
PCI=0
# Its runs are emulated under a 1-CPU quota: 244 s of the default 300 s
# were seen with another guest booting beside it (ctest -j).
VM_CASE_TIMEOUT=900

guest() {
  cat <<'GUEST'
CG=/sys/fs/cgroup/nb
run mount.txt sh -c 'mount -t cgroup2 none /sys/fs/cgroup && cat /sys/fs/cgroup/cgroup.controllers && echo "+cpu +memory" >/sys/fs/cgroup/cgroup.subtree_control && mkdir /sys/fs/cgroup/nb && echo "100000 100000" >/sys/fs/cgroup/nb/cpu.max && echo 268435456 >/sys/fs/cgroup/nb/memory.max && echo ready'
inside() { sh -c 'echo $$ >/sys/fs/cgroup/nb/cgroup.procs && exec "$@"' sh "$@"; }
S="--sample 3x512x512 --steps 3 --warmup 1 --quiet --no-save"
run topo.json inside numabench topo --json
run topo.txt inside numabench topo
run plan.json inside numabench plan --json
run plan-free.json numabench plan --json
run big.txt inside numabench run --mode none $S --batch 16
run auto.json inside numabench run --mode none,bind $S --json
run free.json numabench run --mode none $S --json
GUEST
}

check() {
  local out=$1 rc
  if [ "$(tail -n 1 "$out/mount.txt" 2>/dev/null)" != ready ]; then
    bad "the guest kernel could not give a cgroup v2 with cpu and memory: $(cat "$out/mount.txt" "$out/mount.txt.err" 2>/dev/null | head -c 300)"
    return
  fi
  vm_ran "$out" topo.json
  vm_check "topo --json: quota 1 CPU, memory.max 256 MiB at /sys/fs/cgroup/nb" \
    '.cgroup.version == 2 and .cgroup.cpu_limit == 1 and .cgroup.cpu_file == "cpu.max" and .cgroup.memory_limit_bytes == 268435456 and .cgroup.memory_path == "/sys/fs/cgroup/nb"' "$out/topo.json"
  if grep -q '^cgroup: CPU quota 1 CPUs (cpu.max 100000 100000 at /sys/fs/cgroup/nb), memory limit 256 MiB (memory.max, ' "$out/topo.txt"; then
    ok "topo: the cgroup line"
  else
    bad "topo: $(grep cgroup "$out/topo.txt")"
  fi
  vm_ran "$out" plan.json
  vm_check "plan: 1 worker per device under a 1-CPU quota" '.workers_per_gpu == 1 and .workers_auto' "$out/plan.json"
  rc=$(cat "$out/big.txt.rc")
  if [ "$rc" = 2 ] && [ "$(wc -l <"$out/big.txt.err")" -eq 1 ] && grep -q 'cgroup memory limit leaves' "$out/big.txt.err" &&
    grep -q 'memory.max 256 MiB' "$out/big.txt.err"; then
    ok "run --batch 16 beyond memory.max: exit 2: $(cat "$out/big.txt.err")"
  else
    bad "run --batch 16 beyond memory.max: exit $rc: $(cat "$out/big.txt.err")"
  fi
  vm_ran "$out" auto.json
  vm_ran "$out" free.json
  vm_check "the run records the limit in host.cgroup" '.host.cgroup.memory_limit_bytes == 268435456 and .host.cgroup.cpu_limit == 1' "$out/auto.json"
  local inb outb
  inb=$(jq .resolved.batch "$out/auto.json" 2>/dev/null)
  outb=$(jq .resolved.batch "$out/free.json" 2>/dev/null)
  if [ -n "$inb" ] && [ -n "$outb" ] && [ "$inb" -ge 1 ] && [ "$inb" -lt "$outb" ]; then
    ok "automatic batch: $inb under the limit, $outb without"
  else
    bad "automatic batch: '$inb' under the limit, '$outb' without"
  fi
}
