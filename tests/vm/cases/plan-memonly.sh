# plan --check with a memory-only node 2: never chosen for threads, but part
# of an interleave.
LAYOUT=memonly
PCI=1

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
run bind.json numabench plan --check --json --devices $D --mode bind
run adversarial.json numabench plan --check --json --devices $D --mode adversarial
run remote.json numabench plan --check --json --devices $D --mode remote
run interleave.json numabench plan --check --json --devices $D --mode interleave
GUEST
}

check() {
  local out=$1 m
  for m in bind adversarial remote interleave; do
    vm_ran "$out" $m.json
    vm_check "$m: placement achieved" '.audit.achieved == true' "$out/$m.json"
    vm_check "$m: no thread planned or run on memory-only node 2" '([.gpus[] | .feeder.cpu_node, .workers[].cpu_node] | index(2) == null) and ([.audit.gpus[].threads[].cpu_samples.nodes[].node] | index(2) == null)' "$out/$m.json"
  done
  vm_check "adversarial: feeders cross to the other CPU node, not to node 2 (distance 30)" '[.gpus[].feeder.cpu_node] == [1,0]' "$out/adversarial.json"
  vm_check "interleave: over nodes 0, 1 and 2; staging pages on all three" '.interleave_nodes == [0,1,2] and all(.audit.gpus[].buffers[] | select(.name == "staging"); [.pages.nodes[].node] == [0,1,2])' "$out/interleave.json"
}
