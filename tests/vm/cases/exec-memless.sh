# numabench exec for 4 local ranks in a guest with a memoryless node (node 0:
# CPUs 0-1 and all memory; node 1: CPUs 2-3, no memory; PCI devices on both):
# ranks of node 1's devices run on node 1's CPUs with their memory bound to
# node 0, the nearest node with memory, and their line says so; --mode remote
# moves node 0's ranks to node 1's CPUs (memory still node 0). numabench
# audit of the running ranks judges node 1's ranks' pages against node 0,
# the nearest node with memory, as exec binds them: every bind rank local
# (--expect-local exits 0); the remote ones (CPUs off their GPU's node 0)
# split, their pages being on node 0 (exit 3).
LAYOUT=memless
PCI=1
. "$NB_VM_DIR/cases/exec-lib.sh"

guest() {
  exec_guest_lib
  cat <<'GUEST'
D=0000:41:00.0,0000:42:00.0,0000:81:00.0,0000:82:00.0
for r in 0 1 2 3; do launch b$r $r 4 --devices $D --policy exclusive; done
for r in 0 1 2 3; do observe b$r; done
audit bind $D b0:0 b1:1 b2:2 b3:3
stop b0 b1 b2 b3
for r in 0 1; do launch m$r $r 4 --devices $D --mode remote --policy exclusive; done
for r in 0 1; do observe m$r; done
audit remote $D m0:0 m1:1
stop m0 m1
run text.txt env LOCAL_RANK=2 LOCAL_WORLD_SIZE=4 numabench exec --devices $D -- true
GUEST
}

check() {
  local out=$1 r n
  vm_ran "$out" topo.json
  for r in 0 1 2 3; do
    n=$((r / 2))
    exec_check "$out" b$r $n "bind:0" 0 "bind"
  done
  for r in 0 1; do exec_check "$out" m$r 1 "bind:0" 0 "remote"; done
  audit_check "$out" bind 0 local b0:0:0 b1:0:0 b2:1:0 b3:1:0
  vm_check "audit bind: node 1's ranks: why names node 0 as their memory node" 'all(.ranks[2,3]; .why | test("on node 1 \\(memory: node 0, the nearest with memory\\)"))' "$out/bind.json"
  audit_check "$out" remote 3 split m0:0:0 m1:0:0
  vm_check "audit remote: CPUs off node 0, pages on it" 'all(.ranks[]; .cpu_share == 0 and .page_share >= 0.99)' "$out/remote.json"
  vm_check "node 1's rank: a note says node 1 has no memory" '.mem_node == 0 and any(.notes[]; test("node 1 has no memory"))' "$out/b2.json"
  if grep -q "^numabench exec: rank 2 -> GPU 2 0000:81:00.0 node 1: CPUs 2-3, memory bind 0 .*node 1 has no memory" "$out/text.txt.err"; then ok "text line: node 1's rank, memory bind 0, says why"; else bad "text line: $(cat "$out/text.txt.err")"; fi
}
