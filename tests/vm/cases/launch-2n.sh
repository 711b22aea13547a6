# numabench launch in a 2-node guest: 4 ranks of tests/helpers/nb_launchtest
# (2 workers each, 32 MiB touched in every process) with the PCI devices
# 41:00.0, 42:00.0 (node 0) and 81:00.0, 82:00.0 (node 1) standing in for
# GPUs 0-3, in modes none, bind and adversarial. The placement of every rank
# in every mode is proven by the audit taken while the run was in progress
# (CPU samples of every thread, pages per node from numa_maps):
#  - bind: the rank and its workers on its GPU's node (r / 2);
#  - adversarial: the rank on the other node, its workers, moved there by the
#    launcher thread by thread, on the GPU's node;
# and a bind run whose workers are moved off the node from outside (the
# helper's --stray) is flagged and exits 3.
LAYOUT=2n
PCI=1
NB_VM_EXTRA_BINS=${NB_LAUNCHTEST:-$(dirname "$NUMABENCH")/../tests/nb_launchtest}

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:42:00.0,0000:81:00.0,0000:82:00.0
run launch.json numabench launch --devices $D --nproc 4 --mode none,bind,adversarial --metric 'throughput: ([0-9.]+)' --audit-at 4 --audit-for 1 --no-save --json --quiet -- nb_launchtest --workers 2 --mb 32 --seconds 12
run stray.txt numabench launch --devices $D --nproc 1 --mode bind --audit-at 3 --audit-for 1 --no-save --quiet -- nb_launchtest --workers 2 --mb 32 --seconds 8 --stray-cpus 2-3
run launch.txt numabench launch --devices $D --nproc 4 --mode bind,adversarial --audit-at 4 --audit-for 1 --no-save --quiet -- nb_launchtest --workers 2 --mb 32 --seconds 10
GUEST
}

check() {
  local out=$1 r g o
  vm_ran "$out" launch.json
  vm_check "3 runs (none, bind, adversarial), every one ok with 4 ranks, metric captured" \
    '[.runs[].mode] == ["none","bind","adversarial"] and all(.runs[]; .outcome == "ok" and .complete and (.ranks | length) == 4 and .value == 100)' \
    "$out/launch.json"
  for r in 0 1 2 3; do
    g=$((r / 2))
    o=$((1 - g))
    vm_check "rank $r: exec resolved GPU $r on node $g in every mode" \
      'all(.runs[]; .ranks['"$r"'].exec.gpu.index == '"$r"' and .ranks['"$r"'].exec.gpu.numa_node == '"$g"')' "$out/launch.json"
    vm_check "bind, rank $r: planned node $g for the rank and its workers; the audit saw 2 workers, CPU and pages there" \
      '.runs[1].ranks['"$r"'].proof | .audited and .planned_rank_node == '"$g"' and .planned_worker_node == '"$g"' and .workers_seen == 2 and .rank_cpu_share >= 0.99 and .worker_cpu_share >= 0.99 and (.rank_page_share // 1) >= 0.99 and (.worker_page_share // 1) >= 0.99 and .as_planned and (.workers_off_node | not) and .audit_verdict == "local"' \
      "$out/launch.json"
    vm_check "adversarial, rank $r: the rank on node $o (CPU, and pages where seen), its 2 workers on node $g (CPU), moved by the launcher" \
      '.runs[2].ranks['"$r"'] | .exec.cpu_node == '"$o"' and .adversarial_moves.worker_node == '"$g"' and .adversarial_moves.processes == 2 and .adversarial_moves.threads >= 2 and .adversarial_moves.thread_errors == 0 and (.proof | .audited and .planned_rank_node == '"$o"' and .planned_worker_node == '"$g"' and .workers_seen == 2 and .rank_cpu_share >= 0.99 and (.rank_page_share // 1) >= 0.99 and .worker_cpu_share >= 0.99 and .as_planned)' \
      "$out/launch.json"
  done
  vm_check "summary: none, bind and adversarial each 1 run; bind and adversarial placement achieved" \
    '[.summary[].runs] == [1,1,1] and .summary[1].placement_achieved and .summary[1].as_planned == 4 and .summary[1].workers_off_node == 0' \
    "$out/launch.json"
  if [ "$(cat "$out/stray.txt.rc")" = 3 ] && grep -q "FLAG: workers off node: bind run 1, rank 0: NOT as planned" "$out/stray.txt"; then
    ok "bind with workers that moved themselves to node 1: flagged, exit 3"
  else
    bad "stray workers: exit $(cat "$out/stray.txt.rc"): $(grep -v '^\[rank' "$out/stray.txt" | head -c 800)"
  fi
  if grep -q "bind        4 of 4 audited rank runs as planned" "$out/launch.txt"; then ok "text: the placement proof per mode"; else bad "text: $(head -c 800 "$out/launch.txt")"; fi
}
