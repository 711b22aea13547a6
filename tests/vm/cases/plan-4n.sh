# plan --check in a 4-node guest (1 CPU per node, distances 16 within a pair
# and 22 across): the farthest node from nodes 0 and 1 is node 2 (22, the
# lower of the tied 2 and 3), and one-CPU nodes are oversubscribed.
LAYOUT=4n
PCI=1

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
run bind.json numabench plan --check --json --devices $D --mode bind
run adversarial.json numabench plan --check --json --devices $D --mode adversarial
run remote.json numabench plan --check --json --devices $D --mode remote
GUEST
}

check() {
  local out=$1 m
  for m in bind adversarial remote; do
    vm_ran "$out" $m.json
    vm_check "$m: placement achieved" '.audit.achieved == true' "$out/$m.json"
  done
  vm_check "bind: 1 CPU for feeder and worker: oversubscribed" 'all(.gpus[]; .oversubscribed and .feeder.cpus == .workers[0].cpus)' "$out/bind.json"
  vm_check "adversarial: both feeders on node 2" '[.gpus[].feeder.cpu_node] == [2,2] and [.gpus[].staging_node] == [2,2]' "$out/adversarial.json"
  vm_check "adversarial: kernel puts staging pages on node 2" '[.audit.gpus[].buffers[] | select(.name == "staging") | .pages.nodes[0].node] == [2,2]' "$out/adversarial.json"
  vm_check "remote: everything on node 2" 'all(.gpus[]; .feeder.cpu_node == 2 and .workers[0].cpu_node == 2) and ([.audit.gpus[].threads[].cpu_samples.nodes[0].node] | unique) == [2]' "$out/remote.json"
}
