# numabench exec for 4 local ranks in a 4-node guest (one CPU per node; PCI
# devices 41:00.0 and 42:00.0 on node 0, 81:00.0 and 82:00.0 on node 1):
# --policy node puts each rank and its two workers on its device's node's CPU
# with memory bound there; --mode remote on the farthest node (node 2 for
# both: nodes 2 and 3 are as far, the lowest is taken and a note says so);
# --policy exclusive refuses two ranks on one core. numabench audit of the
# running ranks: every bind rank local (--expect-local exits 0), every
# remote one remote (exit 3).
LAYOUT=4n
PCI=1
. "$NB_VM_DIR/cases/exec-lib.sh"

guest() {
  exec_guest_lib
  cat <<'GUEST'
D=0000:41:00.0,0000:42:00.0,0000:81:00.0,0000:82:00.0
for r in 0 1 2 3; do launch b$r $r 4 --devices $D --policy node; done
for r in 0 1 2 3; do observe b$r; done
audit bind $D b0:0 b1:1 b2:2 b3:3
stop b0 b1 b2 b3
for r in 0 1 2 3; do launch m$r $r 4 --devices $D --mode remote --policy node; done
for r in 0 1 2 3; do observe m$r; done
audit remote $D m0:0 m1:1 m2:2 m3:3
stop m0 m1 m2 m3
run excl.txt env LOCAL_RANK=0 LOCAL_WORLD_SIZE=4 numabench exec --devices $D --policy exclusive -- true
run unbound.txt env LOCAL_RANK=0 LOCAL_WORLD_SIZE=4 numabench exec --devices $D --policy exclusive --allow-unbound -- sh -c 'grep Cpus_allowed_list /proc/self/status'
GUEST
}

check() {
  local out=$1 r n
  vm_ran "$out" topo.json
  for r in 0 1 2 3; do
    n=$((r / 2))
    exec_check "$out" b$r $n "bind:$n" $n "bind"
    exec_check "$out" m$r 2 "bind:2" 2 "remote"
  done
  audit_check "$out" bind 0 local b0:0:0 b1:0:0 b2:1:1 b3:1:1
  audit_check "$out" remote 3 remote m0:0:0 m1:0:0 m2:1:1 m3:1:1
  vm_check "remote: a note names the tie" 'any(.notes[]; test("as far as node 2"))' "$out/m0.json"
  rc=$(cat "$out/excl.txt.rc")
  if [ "$rc" = 2 ] && grep -q "node 0 has 1 core this process may use for 2 ranks: fewer cores than ranks" "$out/excl.txt.err"; then ok "exclusive, 2 ranks on 1 core: exit 2"; else bad "exclusive: exit $rc: $(cat "$out/excl.txt.err")"; fi
  rc=$(cat "$out/unbound.txt.rc")
  if [ "$rc" = 0 ] && grep -q "UNBOUND (--allow-unbound)" "$out/unbound.txt.err" && grep -q "Cpus_allowed_list:[[:space:]]*0-3$" "$out/unbound.txt"; then ok "--allow-unbound: runs on every CPU and says why"; else bad "--allow-unbound: exit $rc: $(cat "$out/unbound.txt.err" "$out/unbound.txt")"; fi
}
