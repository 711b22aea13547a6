# numabench run in a 2-node guest, devices on node 0 (41:00.0) and node 1
# (81:00.0): bind and adversarial run end to end with verified data, and
# the run's own audit shows the planned placement from the kernel's answers.
LAYOUT=2n
PCI=1

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
run run.json numabench run --devices $D --mode none,bind,adversarial --sample 3x64x64 --batch 4 --warmup 2 --steps 20 --verify --json --quiet
run direct.json numabench run --devices $D --mode bind --pipeline direct --sample 3x64x64 --batch 4 --warmup 2 --steps 20 --verify --json --quiet
GUEST
}

check() {
  local out=$1 j=$1/run.json
  vm_ran "$out" run.json
  vm_ran "$out" direct.json
  vm_check "the kernel's NUMA balancing setting is recorded (a number)" '.host.numa_balancing | type == "number"' "$j"
  vm_check "three modes ran, all batches verified" '[.runs[].mode] == ["none","bind","adversarial"] and all(.runs[].gpus[]; .verify.batches == 22 and .verify.mismatches == 0)' "$j"
  vm_check "bind and adversarial: placement achieved (kernel audit)" '.runs[1].placement.achieved and .runs[2].placement.achieved' "$j"
  vm_check "bind: feeder, workers and device thread ran on the device's node" '[range(0;2) as $g | .runs[1].placement.gpus[$g].threads[] | .cpu_samples.nodes == [{"node": $g, "count": .cpu_samples.total}]] | length >= 6 and all' "$j"
  vm_check "bind: every buffer's pages on the device's node" '[range(0;2) as $g | .runs[1].placement.gpus[$g].buffers[] | .pages.nodes == [{"node": $g, "count": .pages.total}]] | length >= 6 and all' "$j"
  vm_check "adversarial: feeder ran remote, workers and device local" '[range(0;2) as $g | .runs[2].placement.gpus[$g].threads[] | .cpu_samples.nodes[0].node == (if .role == "feeder" then 1 - $g else $g end) and (.cpu_samples.nodes | length) == 1] | length >= 6 and all' "$j"
  vm_check "adversarial: staging pages remote; worker batches and device memory local" '[range(0;2) as $g | .runs[2].placement.gpus[$g].buffers[] | .pages.nodes[0].node == (if .name == "staging" then 1 - $g else $g end)] | length >= 6 and all' "$j"
  vm_check "none: threads unbound, audited anyway" 'all(.runs[0].placement.gpus[].threads[] | select(.role != "device"); .bind_level == "unbound" and .cpu_samples.total > 0)' "$j"
  if [ "$(jq -r '[.runs[1].gpus[].verify.data_digest] | join(",")' "$j")" = "$(jq -r '[.runs[0].gpus[].verify.data_digest] | join(",")' "$out/direct.json")" ]; then
    ok "bind (torch) and direct: identical data digests per device"
  else
    bad "digests differ between torch and direct"
  fi
}
