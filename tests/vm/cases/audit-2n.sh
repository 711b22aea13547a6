# numabench audit in a 2-node guest, with the PCI devices 41:00.0 (node 0)
# and 81:00.0 (node 1) standing in for GPUs 0 and 1 (--devices), and the
# helper tests/helpers/nb_testproc as the ranks (it binds itself, forks
# workers that inherit the binding, touches 32 MiB in every process; they
# live 900 s, longer than the slowest guest, and are killed at the end):
#  - a rank bound to node 1 with 2 workers, feeding GPU 1: local;
#  - a rank bound to node 0 with 1 worker, feeding GPU 1: remote, and
#    --expect-local exits 3;
#  - a rank bound to node 1 with 1 worker whose own pages were then moved to
#    node 0 with migrate_pages(2) (the guest has no numactl): split.
# Every verdict is checked against the kernel's numbers in the JSON: the
# CPU samples of every thread and the pages per node of every process.
LAYOUT=2n
PCI=1
NB_VM_EXTRA_BINS=${NB_TESTPROC:-$(dirname "$NUMABENCH")/../tests/nb_testproc}

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
nb_testproc --bind 1 --workers 2 --touch 32 --spin --seconds 900 --ready /tmp/local &
nb_testproc --bind 0 --workers 1 --touch 32 --spin --seconds 900 --ready /tmp/remote &
nb_testproc --bind 1 --workers 1 --touch 32 --seconds 900 --ready /tmp/split &
for f in /tmp/local /tmp/remote /tmp/split; do
  i=0
  while [ ! -s $f ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
done
L=$(cat /tmp/local) R=$(cat /tmp/remote) S=$(cat /tmp/split)
run migrate.txt nb_testproc --migrate $S 1 0
run local.json numabench audit --devices $D --pid $L:1 --duration 1 --json
run local.txt numabench audit --devices $D --pid $L:1 --duration 0.5 --expect-local
run remote.json numabench audit --devices $D --pid $R:0000:81:00.0 --duration 1 --json --expect-local
run split.json numabench audit --devices $D --pid $S:1 --duration 0.5 --json
run all.json numabench audit --devices $D --pid $L:1,$R:1,$S:1 --duration 0.5 --json
run all.txt numabench audit --devices $D --pid $L:1,$R:1,$S:1 --duration 0.5
kill $L $R $S
GUEST
}

check() {
  local out=$1
  vm_ran "$out" migrate.txt
  vm_ran "$out" local.json
  vm_ran "$out" local.txt
  vm_ran "$out" split.json
  vm_ran "$out" all.json
  vm_check "local: GPU 1 = 0000:81:00.0 on node 1; the rank and its 2 workers" '.ranks[0].gpu == "0000:81:00.0" and .ranks[0].gpu_node == 1 and (.ranks[0].processes | length) == 3' "$out/local.json"
  # Mems_allowed is the cpuset's (both nodes here); the binding is the policy.
  vm_check "local: every process: CPUs 2-3 (node 1), policy bind:1 over every mapping" 'all(.processes[]; .mems_allowed == [0,1] and .cpus_allowed == [2,3] and .policy == "bind:1" and ([.policies[].policy] == ["bind:1"]))' "$out/local.json"
  vm_check "local: every thread's own policy bind:1" 'all(.processes[].threads[]; .policy == "bind:1")' "$out/local.json"
  vm_check "local: every thread sampled, only on node 1" 'all(.processes[].threads[]; .cpu_samples.total > 0 and .cpu_samples.nodes == [{"node": 1, "count": .cpu_samples.total}])' "$out/local.json"
  # A few pages on node 0 are the ones the helper touched before binding
  # itself (its stack, libc's data), wherever the shell started it.
  vm_check "local: >= 32 MiB anonymous on node 1 in every process, under 1% on node 0" 'all(.processes[]; ([.resident.anon.nodes[] | select(.node == 1) | .bytes] | add) >= 33554432 and ([.resident.anon.nodes[] | select(.node == 0) | .bytes] | add // 0) < 0.01 * .resident.anon.total_bytes)' "$out/local.json"
  vm_check "local: verdict local" '.ranks[0].verdict == "local" and .ranks[0].cpu_share == 1 and .ranks[0].page_share >= 0.99' "$out/local.json"
  if [ "$(cat "$out/remote.json.rc")" = 3 ]; then ok "remote: --expect-local exits 3"; else bad "remote: --expect-local exit $(cat "$out/remote.json.rc")"; fi
  vm_check "remote: threads and pages on node 0, verdict remote, fix names the GPU" '.ranks[0].verdict == "remote" and .ranks[0].cpu_share == 0 and .ranks[0].page_share <= 0.01 and .ranks[0].cpu_samples > 0 and (.ranks[0].fix | startswith("numabench exec --gpu 0000:81:00.0 -- nb_testproc --bind 0"))' "$out/remote.json"
  vm_check "split: the rank's own pages moved to node 0, its worker's on node 1" '(.processes[0].resident.anon.nodes | map(select(.node == 0)) | .[0].bytes) >= 33554432 and (.processes[1].resident.anon.nodes | map(select(.node == 1)) | .[0].bytes) >= 33554432' "$out/split.json"
  vm_check "split: verdict split, half the data pages on node 1" '.ranks[0].verdict == "split" and .ranks[0].page_share > 0.3 and .ranks[0].page_share < 0.7' "$out/split.json"
  vm_check "all three: local, remote, split in the order given" '[.ranks[].verdict] == ["local", "remote", "split"] and .not_local == 2' "$out/all.json"
  if grep -q ' local$' "$out/local.txt" && grep -q 'fix: numabench exec --gpu 0000:81:00.0' "$out/all.txt"; then
    ok "text: verdicts and the fix line"
  else
    bad "text report: $(head -c 600 "$out/all.txt")"
  fi
}
