# The pipeline's CUDA path on two real NUMA nodes, with the stand-in copy
# backend in place of the CUDA engine (the test-only switch
# NB_TEST_STANDIN_GPUS: the host plays the GPUs; no GPU is needed).
# Devices 41:00.0 (node 0) and 81:00.0 (node 1) are presented as CUDA
# devices 0 and 1. Checked from the kernel's answers: with --pin register
# and --pin hostalloc (pages allocated under the staging node's policy set on
# the feeder), bind keeps staging on the GPU's node and adversarial puts it
# on the other; the completion thread runs on the GPU's node; the data come
# back verified; bw's CUDA matrices cover both nodes and both GPUs, placed;
# interleaved staging with --pin hostalloc is refused (exit 2).
LAYOUT=2n
PCI=1

# Automatic NUMA balancing off: the stand-in's "pinned" hostalloc memory is
# plain malloc'd memory with no memory policy of its own, which balancing
# scans (it maps the pages PROT_NONE for hinting faults, and may migrate
# them), where a real pinned page is never scanned (a pinned page's extra
# reference makes balancing skip it; cudaHostAlloc's mapping is not even
# queryable). This guest kernel's move_pages(2) reports a page so mapped as
# absent (-ENOENT): a probe that wrote 64 pages and spun read 59 of them
# back absent after a few seconds with balancing on, none with it off. With
# it on, one run of this case under a loaded host had the bind run's
# hostalloc staging audited as 96 of 96 sampled pages absent. The buffers
# of the bound modes are mbind(2) bound or interleaved, which balancing
# does not scan.
guest() {
  cat <<'GUEST'
echo 0 >/proc/sys/kernel/numa_balancing
export NB_TEST_STANDIN_GPUS=0000:41:00.0,0000:81:00.0
A="--backend cuda --mode none,bind,adversarial --sample 3x64x64 --batch 4 --warmup 2 --steps 20 --gpu-work 200 --verify --json --quiet"
run register.json numabench run $A --pin register
run hostalloc.json numabench run $A --pin hostalloc --pipeline direct
run interleave-hostalloc.json numabench run --backend cuda --mode interleave --pin hostalloc --sample 3x64x64 --batch 4 --steps 5 --quiet --no-save
run bw.json numabench bw --backend cuda --size 1M --repeat 3 --json
run hostbw.json numabench bw --backend host --size 1M --repeat 1 --json
GUEST
}

check() {
  local out=$1 f
  for f in register hostalloc; do
    local j=$out/$f.json
    vm_ran "$out" $f.json
    vm_check "$f: CUDA backend, GPUs on nodes 0 and 1" '.resolved.backend == "cuda" and [.runs[1].gpus[].node] == [0,1]' "$j"
    vm_check "$f: every step of every GPU, sampled batches verified after the round trip" 'all(.runs[].gpus[]; .steps_done == 22 and .verify.batches == 6 and .verify.mismatches == 0)' "$j"
    vm_check "$f: bind and adversarial placement achieved (kernel audit)" '.runs[1].placement.achieved and .runs[2].placement.achieved' "$j"
    vm_check "$f: bind: staging pages on the GPU's node" '[range(0;2) as $g | .runs[1].placement.gpus[$g].buffers[] | select(.name == "staging") | .pages.nodes == [{"node": $g, "count": .pages.total}]] | length == 2 and all' "$j"
    vm_check "$f: adversarial: staging pages on the other node" '[range(0;2) as $g | .runs[2].placement.gpus[$g].buffers[] | select(.name == "staging") | .pages.nodes == [{"node": (1 - $g), "count": .pages.total}]] | length == 2 and all' "$j"
    vm_check "$f: no device buffer in host memory (the GPU's own)" 'all(.runs[1,2].placement.gpus[].buffers[]; .name != "device")' "$j"
    vm_check "$f: completion thread on the GPU's node in bind and adversarial" '[range(1;3) as $r | range(0;2) as $g | .runs[$r].placement.gpus[$g].threads[] | select(.role == "device") | .cpu_samples.nodes == [{"node": $g, "count": .cpu_samples.total}]] | length == 4 and all' "$j"
  done
  vm_check "hostalloc: the pinning is recorded" '.resolved.pin == "hostalloc"' "$out/hostalloc.json"
  if [ "$(cat "$out/interleave-hostalloc.json.rc" 2>/dev/null)" = 2 ] &&
    grep -q -- '--mode interleave cannot run with --pin hostalloc' "$out/interleave-hostalloc.json.err"; then
    ok "interleave + hostalloc on two nodes: refused, exit 2"
  else
    bad "interleave + hostalloc: exit $(cat "$out/interleave-hostalloc.json.rc" 2>/dev/null): $(cat "$out/interleave-hostalloc.json.err" 2>/dev/null)"
  fi
  vm_ran "$out" bw.json
  vm_check "bw cuda: rows nodes 0,1; columns GPUs 0,1 on nodes 0,1" '.backend == "cuda" and .rows_cpu_nodes == [0,1] and .cols_gpus == [0,1] and .gpu_nodes == [0,1]' "$out/bw.json"
  vm_check "bw cuda: every cell measured and placed, both ways" '[.h2d, .d2h | .alone, .all_at_once | .[][] | .median > 0 and .placed] | length == 16 and all' "$out/bw.json"
  vm_ran "$out" hostbw.json
  vm_check "bw host still the node x node matrix" '.backend == "host" and .rows_cpu_nodes == [0,1]' "$out/hostbw.json"
}
