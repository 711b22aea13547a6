# numabench exec for 4 local ranks in a guest with a memoryless node (node 0:
# CPUs 0-1 and all memory; node 1: CPUs 2-3, no memory; PCI devices on both):
# ranks of node 1's devices run on node 1's CPUs with their memory bound to
# node 0, the nearest node with memory, and their line says so; --mode remote
# moves node 0's ranks to node 1's CPUs (memory still node 0).
LAYOUT=memless
PCI=1
. "$NB_VM_DIR/cases/exec-lib.sh"

guest() {
  exec_guest_lib
  cat <<'GUEST'
D=0000:41:00.0,0000:42:00.0,0000:81:00.0,0000:82:00.0
for r in 0 1 2 3; do launch b$r $r 4 --devices $D --policy exclusive; done
for r in 0 1 2 3; do observe b$r; done
for r in 0 1; do launch m$r $r 4 --devices $D --mode remote --policy exclusive; done
for r in 0 1; do observe m$r; done
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
  vm_check "node 1's rank: a note says node 1 has no memory" '.mem_node == 0 and any(.notes[]; test("node 1 has no memory"))' "$out/b2.json"
  if grep -q "^numabench exec: rank 2 -> GPU 2 0000:81:00.0 node 1: CPUs 2-3, memory bind 0 .*node 1 has no memory" "$out/text.txt.err"; then ok "text line: node 1's rank, memory bind 0, says why"; else bad "text line: $(cat "$out/text.txt.err")"; fi
}
