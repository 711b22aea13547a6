# numabench exec for 4 local ranks in a 2-node guest, PCI devices on both
# nodes standing in for GPUs (41:00.0 and 42:00.0 on node 0, 81:00.0 and
# 82:00.0 on node 1): each rank and the two workers it forks run on an
# exclusive CPU of its device's node with memory bound there, and with
# --mode remote on the other node, as /proc/PID/status and numa_maps report,
# and as numabench audit judges the running ranks: every bind rank local
# (--expect-local exits 0), every remote one remote (exit 3), and rank 3,
# once migrate_pages(2) has moved its own pages (not its workers') to node 0,
# split. Rank l0, remote with --mem local (MPOL_LOCAL), has policy local in
# numa_maps and its pages, and its workers', where they run (node 1).
LAYOUT=2n
PCI=1
. "$NB_VM_DIR/cases/exec-lib.sh"

guest() {
  exec_guest_lib
  cat <<'GUEST'
D=0000:41:00.0,0000:42:00.0,0000:81:00.0,0000:82:00.0
for r in 0 1 2 3; do launch b$r $r 4 --devices $D --policy exclusive; done
for r in 0 1 2 3; do observe b$r; done
audit bind $D b0:0 b1:1 b2:2 b3:3
run migrate.txt nb_testproc --migrate $(cat /tmp/pid.b3.rank) 1 0
audit split $D b0:0 b1:1 b2:2 b3:3
stop b0 b1 b2 b3
for r in 0 1 2 3; do launch m$r $r 4 --devices $D --mode remote --policy exclusive; done
for r in 0 1 2 3; do observe m$r; done
audit remote $D m0:0 m1:1 m2:2 m3:3
stop m0 m1 m2 m3
launch l0 0 4 --devices $D --mode remote --policy exclusive --mem local
observe l0
stop l0
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
  exec_check "$out" l0 1 "local" 1 "remote --mem local"
  vm_check "l0: exec --mem local: policy local asked and seen" '.mem == "local" and .mem_policy_seen == "local"' "$out/l0.json"
  audit_check "$out" bind 0 local b0:0:0 b1:0:0 b2:1:1 b3:1:1
  audit_check "$out" remote 3 remote m0:0:0 m1:0:0 m2:1:1 m3:1:1
  vm_ran "$out" migrate.txt
  audit_check "$out" split 3 local b0:0:0 b1:0:0 b2:1:1
  vm_check "split: rank 3 split (its own pages moved to node 0, its workers' on node 1, CPUs on node 1)" '.ranks[3].verdict == "split" and .ranks[3].cpu_share == 1 and .ranks[3].page_share > 0.5 and .ranks[3].page_share < 0.8 and .not_local == 1' "$out/split.json"
  vm_check "split: the fix restarts rank 3 under numabench exec --gpu 0000:82:00.0" '.ranks[3].fix | startswith("numabench exec --gpu 0000:82:00.0 -- nb_testproc")' "$out/split.json"
  jq -s -e '[.[].cpus_seen] | add | length == 4 and (unique | length) == 4' "$out"/b[0-3].json >/dev/null \
    && ok "bind: the four ranks' exclusive CPUs are disjoint" || bad "bind: exclusive CPUs overlap"
  rc=$(cat "$out/few.txt.rc")
  if [ "$rc" = 2 ] && grep -q "fewer cores than ranks" "$out/few.txt.err"; then ok "4 ranks on node 0's 2 cores: exit 2"; else bad "fewer cores: exit $rc: $(cat "$out/few.txt.err")"; fi
}
