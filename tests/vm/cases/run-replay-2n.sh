# numabench run --source replay in a 2-node guest, devices on node 0
# (41:00.0) and node 1 (81:00.0): both pipelines deliver verified data in
# every mode, each worker's pool is audited and its pages are on the worker's
# node by the kernel's answers (bind and adversarial: the device's node), and
# a pool that covers the run delivers exactly what randn does.
LAYOUT=2n
PCI=1

guest() {
  cat <<'GUEST'
D=0000:41:00.0,0000:81:00.0
S="--sample 3x64x64 --batch 4 --warmup 2 --steps 20 --workers 2 --verify --json --quiet"
run torch.json numabench run --devices $D --mode none,bind,adversarial --source replay --pool-size 8M $S
run direct.json numabench run --devices $D --mode none,bind,adversarial --pipeline direct --source replay --pool-size 8M --cpu-work 20 $S
run randn.json numabench run --devices $D --mode bind $S
GUEST
}

check() {
  local out=$1 p
  vm_ran "$out" torch.json
  vm_ran "$out" direct.json
  vm_ran "$out" randn.json
  for p in torch direct; do
    local j=$out/$p.json
    vm_check "$p: replay, a pool per worker of 8 MiB in whole samples raised to the next prime, cpu work as asked" "(.resolved.pool_bytes / .resolved.sample_bytes) as \$n | (8388608 / .resolved.sample_bytes | floor) as \$m | .resolved.source == \"replay\" and (\$n | floor) == \$n and \$n >= \$m and ([range(\$m; \$n + 1) | select(. as \$k | [range(2; \$k) | select(\$k % . == 0)] | length == 0)] | first) == \$n and .resolved.cpu_work_us == $([ $p = direct ] && echo 20 || echo 0)" "$j"
    vm_check "$p: three modes ran, all batches verified" '[.runs[].mode] == ["none","bind","adversarial"] and all(.runs[].gpus[]; .verify.batches == 22 and .verify.mismatches == 0 and .pool_s > 0)' "$j"
    vm_check "$p: bind and adversarial placement achieved (kernel audit)" '.runs[1].placement.achieved and .runs[2].placement.achieved' "$j"
    vm_check "$p: bind and adversarial: every device's replay pools audited, pages on its workers' node" '[range(1;3) as $r | range(0;2) as $g | .runs[$r].placement.gpus[$g] | ([.threads[] | select(.role == "worker") | .planned_cpu_node] | unique) as $w | .buffers[] | select(.name == "replay_pool") | $w == [$g] and .planned_node == $g and .pages.total > 0 and .pages.nodes == [{"node": $g, "count": .pages.total}] and .ok] | length == 4 and all' "$j"
    vm_check "$p: none: the pools are audited too" '[.runs[0].placement.gpus[].buffers[] | select(.name == "replay_pool") | .pages.total > 0] | length == 2 and all' "$j"
  done
  vm_check "direct: the --cpu-work spin ran and was calibrated" 'all(.runs[].gpus[]; .stages_ms.cpu_work > 0 and .cpu_work_rate > 0)' "$out/direct.json"
  local a b c
  a=$(jq -r '[.runs[1].gpus[].verify.data_digest] | join(",")' "$out/torch.json")
  b=$(jq -r '[.runs[1].gpus[].verify.data_digest] | join(",")' "$out/direct.json")
  c=$(jq -r '[.runs[0].gpus[].verify.data_digest] | join(",")' "$out/randn.json")
  if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ]; then
    ok "torch and direct replay and randn: identical data digests per device ($a)"
  else
    bad "digests differ: torch replay $a, direct replay $b, randn $c"
  fi
}
