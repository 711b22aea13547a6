# numabench exec for 4 local ranks in a 2-node guest, PCI devices on both
# nodes standing in for GPUs (41:00.0 and 42:00.0 on node 0, 81:00.0 and
# 82:00.0 on node 1): each rank and the two workers it forks run on an
# exclusive CPU of its device's node with memory bound there, and with
# --mode remote on the other node, as /proc/PID/status and numa_maps report.
LAYOUT=2n
PCI=1
. "$NB_VM_DIR/cases/exec-lib.sh"

guest() {
  exec_guest_lib
  cat <<'GUEST'
D=0000:41:00.0,0000:42:00.0,0000:81:00.0,0000:82:00.0
for r in 0 1 2 3; do launch b$r $r 4 --devices $D --policy exclusive; done
for r in 0 1 2 3; do observe b$r; done
for r in 0 1 2 3; do launch m$r $r 4 --devices $D --mode remote --policy exclusive; done
for r in 0 1 2 3; do observe m$r; done
run few.txt env LOCAL_RANK=0 LOCAL_WORLD_SIZE=4 numabench exec --devices $D,0000:43:00.0 --gpu-node 2=0,3=0 --policy exclusive -- true
GUEST
}

check() {
  local out=$1 r n
  vm_ran "$out" topo.json
  for r in 0 1 2 3; do
    n=$((r / 2))
    exec_check "$out" b$r $n "bind:$n" $n "bind"
    exec_check "$out" m$r $((1 - n)) "bind:$((1 - n))" $((1 - n)) "remote"
  done
  jq -s -e '[.[].cpus_seen] | add | length == 4 and (unique | length) == 4' "$out"/b[0-3].json >/dev/null \
    && ok "bind: the four ranks' exclusive CPUs are disjoint" || bad "bind: exclusive CPUs overlap"
  rc=$(cat "$out/few.txt.rc")
  if [ "$rc" = 2 ] && grep -q "fewer cores than ranks" "$out/few.txt.err"; then ok "4 ranks on node 0's 2 cores: exit 2"; else bad "fewer cores: exit $rc: $(cat "$out/few.txt.err")"; fi
}
