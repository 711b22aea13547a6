# A memoryless node: node 1 has CPUs 2-3 and no memory, PCI devices sit on
# it (0000:81:00.0). Its CPUs are allowed (the CPU set) though Mems_allowed
# never lists it; bind puts a node-1 device's threads on CPUs 2-3 and their
# memory, staging and device buffer on node 0, the nearest node with memory,
# and the audit judges them so. (Before: "node 1 has no CPUs this process
# may use (allowed CPUs 0-3)", exit 2.)
LAYOUT=memless
PCI=1

guest() {
  cat <<'GUEST'
run topo.json numabench topo --json
run topo.txt numabench topo
run mems.txt grep Mems_allowed_list /proc/self/status
run plan.json numabench plan --json --devices 0000:81:00.0 --mode bind
run bind.json numabench plan --check --json --devices 0000:81:00.0 --mode bind
run bind.txt numabench plan --check --devices 0000:81:00.0 --mode bind
run both.json numabench plan --check --json --devices 0000:41:00.0,0000:81:00.0 --mode bind
run remote.json numabench plan --check --json --devices 0000:81:00.0 --mode remote
run interleave.json numabench plan --check --json --devices 0000:81:00.0 --mode interleave
run run.json numabench run --devices 0000:81:00.0 --backend host --mode bind --steps 5 --warmup 1 --sample 3x32x32 --batch 2 --workers 1 --no-save --json --quiet
GUEST
}

check() {
  local out=$1 m
  vm_ran "$out" topo.json
  vm_check "topo: node 1 has CPUs 2-3, no memory, and is allowed" '[.nodes[] | [.os_index, .cpus, .has_cpus, (.memory_bytes > 0), .allowed]] == [[0,[0,1],true,true,true],[1,[2,3],true,false,true]]' "$out/topo.json"
  vm_check "topo: a warning names node 1 as memoryless" 'any(.warnings[]; test("node 1 has CPUs and no memory"))' "$out/topo.json"
  if grep -q "yes (CPUs; no memory)" "$out/topo.txt"; then ok "topo text: node 1 allowed for its CPUs, no memory"; else bad "topo text: $(cat "$out/topo.txt")"; fi
  if grep -q "Mems_allowed_list:[[:space:]]*0$" "$out/mems.txt"; then ok "kernel: Mems_allowed is node 0 only"; else bad "Mems_allowed: $(cat "$out/mems.txt")"; fi
  vm_ran "$out" plan.json
  vm_check "plan: device on node 1; threads on CPUs of node 1, memory on node 0" '.gpus[0].gpu_node == 1 and .gpus[0].feeder.cpu_node == 1 and .gpus[0].feeder.mem_node == 0 and all(.gpus[0].workers[]; .cpu_node == 1 and .mem_node == 0 and (.cpus - [2,3]) == []) and .gpus[0].staging_node == 0 and .gpus[0].device_buffer_node == 0' "$out/plan.json"
  vm_check "plan: a note says node 1 has no memory" 'any(.gpus[0].notes[]; test("node 1 has no memory"))' "$out/plan.json"
  for m in bind both remote interleave; do
    vm_ran "$out" $m.json
    vm_check "$m: placement achieved" '.audit.achieved == true' "$out/$m.json"
  done
  vm_ran "$out" bind.txt
  vm_check "bind: threads ran on node 1" 'all(.audit.gpus[0].threads[]; [.cpu_samples.nodes[].node] == [1])' "$out/bind.json"
  vm_check "bind: staging and worker pages on node 0" 'all(.audit.gpus[0].buffers[]; [.pages.nodes[].node] == [0])' "$out/bind.json"
  vm_check "bind: memory policy bound to node 0" 'all(.audit.gpus[0].threads[]; .mem_nodes_seen == [0])' "$out/bind.json"
  vm_check "both: node 0's device stays on node 0, node 1's threads on node 1" '[.gpus[].feeder.cpu_node] == [0,1] and [.gpus[].feeder.mem_node] == [0,0]' "$out/both.json"
  vm_check "remote: node 1's device, threads on node 0" '.gpus[0].feeder.cpu_node == 0 and .gpus[0].feeder.mem_node == 0' "$out/remote.json"
  vm_check "interleave: over node 0 only" '.interleave_nodes == [0]' "$out/interleave.json"
  vm_ran "$out" run.json
  vm_check "run bind: placement achieved, device buffer pages on node 0" '.runs[0].placement.achieved == true and all(.runs[0].placement.gpus[0].buffers[]; [.pages.nodes[].node] == [0])' "$out/run.json"
}
