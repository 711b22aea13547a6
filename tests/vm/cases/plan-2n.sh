# plan --check in a 2-node guest with PCI devices on node 0 (41:00.0) and
# node 1 (81:00.0): bind, adversarial and remote must be achieved as the
# kernel reports them, and the audit must catch staging pages moved away.
LAYOUT=2n
PCI=1

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
run bind.json numabench plan --check --json --devices $D --mode bind
run adversarial.json numabench plan --check --json --devices $D --mode adversarial
run remote.json numabench plan --check --json --devices $D --mode remote
run none.json numabench plan --check --json --devices $D --mode none
run interleave.json numabench plan --check --json --devices $D --mode interleave
run moved.json numabench plan --check --json --devices $D --mode bind --check-move-staging 1
run moved.txt numabench plan --check --devices $D --mode bind --check-move-staging 1
run bind.txt numabench plan --check --devices $D --mode bind
GUEST
}

check() {
  local out=$1 m
  for m in bind adversarial remote none interleave; do
    vm_ran "$out" $m.json
    vm_check "$m: placement achieved" '.audit.achieved == true' "$out/$m.json"
  done
  vm_ran "$out" bind.txt
  vm_check "devices on nodes 0 and 1" '[.gpus[].gpu_node] == [0,1]' "$out/bind.json"
  # Every bound thread ran >= 99% on its planned node, which for bind is the device's.
  vm_check "bind: threads on the device's node" 'all(.gpus[]; .gpu_node as $n | .feeder.cpu_node == $n and all(.workers[]; .cpu_node == $n))' "$out/bind.json"
  vm_check "bind: kernel confirms membind and >= 99% of samples" 'all(.audit.gpus[].threads[]; .bind_level == "membind" and .share_on_planned_node >= 0.99 and .mem_policy_seen == "bind")' "$out/bind.json"
  # Per GPU g (device on node n = g): what the kernel reports.
  vm_check "bind: all buffers' pages on the device's node" '[range(0;2) as $g | .audit.gpus[$g].buffers[] | .pages.nodes == [{"node": $g, "count": .pages.total}]] | length == 6 and all' "$out/bind.json"
  vm_check "adversarial: feeder and staging planned on the other node" '[range(0;2) as $g | .gpus[$g] | .feeder.cpu_node == 1 - $g and .staging_node == 1 - $g and .device_buffer_node == $g] | all' "$out/adversarial.json"
  vm_check "adversarial: staging pages remote, worker and device pages local (kernel)" '[range(0;2) as $g | .audit.gpus[$g].buffers[] | .pages.nodes[0].node == (if .name == "staging" then 1 - $g else $g end) and (.pages.nodes | length) == 1] | length == 6 and all' "$out/adversarial.json"
  vm_check "adversarial: feeder ran on the other node, workers on the device's (kernel)" '[range(0;2) as $g | .audit.gpus[$g].threads[] | .cpu_samples.nodes == [{"node": (if .role == "feeder" then 1 - $g else $g end), "count": .cpu_samples.total}]] | length >= 4 and all' "$out/adversarial.json"
  vm_check "remote: all threads and pages on the other node (kernel)" '[range(0;2) as $g | (.audit.gpus[$g].threads[] | .cpu_samples.nodes[0].node == 1 - $g), (.audit.gpus[$g].buffers[] | select(.name != "device") | .pages.nodes[0].node == 1 - $g)] | length >= 6 and all' "$out/remote.json"
  vm_check "none: recorded, unbound" 'all(.audit.gpus[].threads[]; .bind_level == "unbound" and .planned_cpu_node == null)' "$out/none.json"
  vm_check "interleave: staging pages on both nodes" 'all(.audit.gpus[].buffers[] | select(.name == "staging"); (.pages.nodes | length) == 2)' "$out/interleave.json"
  # The self-test: pages moved with move_pages are caught.
  rc=$(cat "$out/moved.json.rc")
  if [ "$rc" = 3 ]; then ok "moved staging: exit 3 (placement not achieved)"; else bad "moved staging: exit $rc"; fi
  vm_check "moved staging: audit not achieved, staging on node 1" '.audit.achieved == false and .audit.moved_staging_to == 1 and (.audit.gpus[0].buffers[] | select(.name == "staging") | .ok == false and .pages.nodes == [{"node": 1, "count": .pages.total}])' "$out/moved.json"
  vm_check "moved staging: the other buffers still fine" '[.audit.gpus[].buffers[] | select(.ok | not)] | length == 1' "$out/moved.json"
  if grep -q '^PLACEMENT NOT ACHIEVED' "$out/moved.txt" && grep -q 'staging .*NO' "$out/moved.txt"; then ok "moved staging: text says NO"; else bad "moved staging text: $(cat "$out/moved.txt")"; fi
  if grep -q '^Placement achieved' "$out/bind.txt"; then ok "bind text: achieved"; else bad "bind text: $(cat "$out/bind.txt")"; fi
}
