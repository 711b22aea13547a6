# numabench exec for 4 local ranks in a guest with a memory-only node
# (nodes 0 and 1 with CPUs and memory, node 2 memory only; PCI devices on
# nodes 0 and 1): bind keeps each rank and its workers on its device's node
# (never the memory-only node), --mem interleave spreads over all three
# nodes' memory, --mem preferred prefers the device's node. numabench audit
# of the running ranks: the bind ranks and the preferred one local
# (--expect-local exits 0).
LAYOUT=memonly
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
launch i0 0 4 --devices $D --policy exclusive --mem interleave
launch p2 2 4 --devices $D --policy exclusive --mem preferred
observe i0
observe p2
audit preferred $D p2:2
stop i0 p2
GUEST
}

check() {
  local out=$1 r n
  vm_ran "$out" topo.json
  for r in 0 1 2 3; do
    n=$((r / 2))
    exec_check "$out" b$r $n "bind:$n" $n "bind"
  done
  audit_check "$out" bind 0 local b0:0:0 b1:0:0 b2:1:1 b3:1:1
  audit_check "$out" preferred 0 local p2:1:1
  exec_check "$out" i0 0 "interleave:0-2" "0|1|2" "--mem interleave"
  vm_check "interleave: over nodes 0, 1 and 2 (kernel)" '.mem_policy_seen == "interleave" and .mem_nodes_seen == [0,1,2]' "$out/i0.json"
  exec_check "$out" p2 1 "prefer:1" 1 "--mem preferred"
}
