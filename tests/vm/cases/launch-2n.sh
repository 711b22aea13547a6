# numabench launch in a 2-node guest: 2 ranks of tests/helpers/nb_launchtest
# (2 workers each, 32 MiB touched in every process) with the PCI devices
# 41:00.0 (node 0) and 81:00.0 (node 1) standing in for GPUs 0 and 1, in
# modes none, bind and adversarial. The placement of every rank in every
# mode is proven by the audit taken while the run was in progress (CPU
# samples of every thread, pages per node from numa_maps):
#  - bind: the rank and its workers on its GPU's node;
#  - adversarial: the rank on the other node, its workers, moved there by the
#    launcher thread by thread, on the GPU's node, and their own pages
#    moved there (move_pages, counted);
# and a bind run whose workers move themselves off the node (the helper's
# --stray-cpus) is flagged and exits 3. The guest is emulated (slow, and
# slower on a loaded host): a share the audit could not measure (no sample
# in its window) is null and not judged, but every mode must have measured
# ranks and workers, and every measured share must be on the planned node.
LAYOUT=2n
PCI=1
NB_VM_EXTRA_BINS=${NB_LAUNCHTEST:-$(dirname "$NUMABENCH")/../tests/nb_launchtest}

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
run launch.json numabench launch --devices $D --nproc 2 --mode none,bind,adversarial --metric 'throughput: ([0-9.]+)' --audit-at 3 --audit-for 2 --no-save --json --quiet -- nb_launchtest --workers 2 --mb 32 --seconds 15
run stray.txt numabench launch --devices $D --nproc 1 --mode bind --audit-at 3 --audit-for 2 --no-save --quiet -- nb_launchtest --workers 2 --mb 32 --seconds 10 --stray-cpus 2-3
GUEST
}

check() {
  local out=$1 r o
  vm_ran "$out" launch.json
  vm_check "3 runs (none, bind, adversarial), every one ok with 2 ranks, metric captured" \
    '[.runs[].mode] == ["none","bind","adversarial"] and all(.runs[]; .outcome == "ok" and .complete and (.ranks | length) == 2 and .value == 100)' \
    "$out/launch.json"
  for r in 0 1; do
    o=$((1 - r))
    vm_check "rank $r: exec resolved GPU $r on node $r in every mode" \
      'all(.runs[]; .ranks['"$r"'].exec.gpu.index == '"$r"' and .ranks['"$r"'].exec.gpu.numa_node == '"$r"')' "$out/launch.json"
    vm_check "bind, rank $r: planned node $r for the rank and its workers; the audit saw 2 workers; every measured share on node $r" \
      '.runs[1].ranks['"$r"'].proof | .audited and .planned_rank_node == '"$r"' and .planned_worker_node == '"$r"' and .workers_seen == 2 and all(.rank_cpu_share, .worker_cpu_share, .rank_page_share, .worker_page_share; . == null or . >= 0.99) and .as_planned and (.workers_off_node | not) and .audit_verdict == "local"' \
      "$out/launch.json"
    vm_check "adversarial, rank $r: exec put it on node $o with memory policy local (first touch, no NUMA balancing); the launcher moved its 2 workers' threads to node $r; every measured CPU share as planned" \
      '.runs[2].ranks['"$r"'] | .exec.cpu_node == '"$o"' and .exec.mem == "local" and .exec.mem_policy_seen == "local" and .adversarial_moves.worker_node == '"$r"' and .adversarial_moves.processes == 2 and .adversarial_moves.threads >= 2 and .adversarial_moves.thread_errors == 0 and (.proof | .audited and .planned_rank_node == '"$o"' and .planned_worker_node == '"$r"' and all(.rank_cpu_share, .worker_cpu_share, .rank_page_share; . == null or . >= 0.99) and .as_planned)' \
      "$out/launch.json"
  done
  for r in 0 1; do
    # How many pages are asked depends on how much of its 32 MiB a worker
    # touched before the watcher saw it (what it touches after lands on
    # node $r, its CPUs' node, anyway); where they are at the audit does not.
    vm_check "adversarial, rank $r: the launcher moved its workers' own pages (some asked, 99% on node $r after move_pages, no error) and 80% or more of the workers' pages are on node $r" \
      '.runs[2].ranks['"$r"'] | (.adversarial_moves | .move_pages_calls >= 1 and .pages_asked > 0 and .pages_not_moved * 100 <= .pages_asked and .move_pages_error == null) and .proof.worker_page_share >= 0.8' \
      "$out/launch.json"
  done
  for m in 1 2; do
    vm_check "$(jq -r ".runs[$m].mode" "$out/launch.json"): the audit measured the ranks' CPUs and their workers' CPUs (not all null)" \
      '[.runs['"$m"'].ranks[].proof.rank_cpu_share | select(. != null)] != [] and [.runs['"$m"'].ranks[].proof.worker_cpu_share | select(. != null)] != []' \
      "$out/launch.json"
  done
  vm_check "summary: none, bind and adversarial each 1 run; bind placement achieved, no workers off node" \
    '[.summary[].runs] == [1,1,1] and .summary[1].placement_achieved and .summary[1].as_planned == 2 and .summary[1].workers_off_node == 0' \
    "$out/launch.json"
  if [ "$(cat "$out/stray.txt.rc")" = 3 ] && grep -q "FLAG: workers off node: bind run 1, rank 0: NOT as planned" "$out/stray.txt" &&
    grep -q "bind        0 of 1 audited rank runs as planned" "$out/stray.txt"; then
    ok "bind with workers that moved themselves to node 1: flagged in the text report, exit 3"
  else
    bad "stray workers: exit $(cat "$out/stray.txt.rc"): $(grep -v '^\[rank' "$out/stray.txt" | head -c 800)"
  fi
}
