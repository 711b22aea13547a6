#!/bin/bash
# The bundled DataLoader training script (configs/launch/train.py) under
# numabench launch --mode none,bind on CPUs, with Debian's python3-torch:
# two ranks training together (DistributedDataParallel over gloo), each with
# two DataLoader worker processes, the seed's metric read from their output,
# and the result file report reads.
. "$(dirname "$0")/lib.sh"
need jq
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || skip "python3 cannot import torch (apt-get install python3-torch)"
"$NUMABENCH" exec --help >/dev/null 2>&1 || skip "numabench exec is not built here (issue 11): launch places ranks through it"
mapfile -t pci < <(ls /sys/bus/pci/devices 2>/dev/null)
[ "${#pci[@]}" -ge 2 ] || skip "fewer than 2 PCI devices to stand in for GPUs"
src=${NB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# Torch on a small machine: one thread per rank, small images.
"$NUMABENCH" launch --config "$src/configs/launch-seed.ini" --nproc 2 --devices "${pci[0]},${pci[1]}" \
  --mode none,bind --repeat 1 --audit-at 1 --timeout 600 --output "$tmp/res" --quiet --json -- \
  /usr/bin/python3 "$src/configs/launch/train.py" --image-size 64 --batch 4 --workers 2 --steps 12 --warmup 2 \
  --threads 1 >"$tmp/t.json" 2>"$tmp/t.err"
rc=$?
# Exit 3 would be a placement the audit did not see as planned: a finding,
# reported as such.
[ $rc -eq 0 ] && ok "2 ranks x none,bind of train.py: exit 0" || bad "exit $rc: $(grep -v '^\[rank' "$tmp/t.err" | tail -5)"
check "both runs ok, every rank printed its average throughput, the value the slowest rank's" \
  '[.runs[].mode] == ["none","bind"] and all(.runs[]; .outcome == "ok" and .complete and all(.ranks[]; .metric > 0) and .value == ([.ranks[].metric] | min))' \
  "$tmp/t.json"
check "the ranks forked their DataLoader workers (seen by the launcher and the audit)" \
  'all(.runs[]; all(.ranks[]; .descendants_seen >= 2))' "$tmp/t.json"
check "bind: each rank placed by exec on its device's node, achieved" \
  'all(.runs[1].ranks[]; .exec.mode == "bind" and .exec.achieved and .exec.cpu_node == .exec.gpu.numa_node)' "$tmp/t.json"
grep -q '^\[rank 1\] rank 1/2 on cpu' "$tmp/t.err" && ok "rank output prefixed: rank 1 of 2 on cpu" ||
  bad "no '[rank 1] rank 1/2 on cpu' line"
file=$(ls "$tmp"/res/*.json 2>/dev/null | head -1)
"$NUMABENCH" report "$file" >"$tmp/rep" 2>&1 && grep -q "steps/s column: metric" "$tmp/rep" && ok "report reads the result" ||
  bad "report: $(cat "$tmp/rep")"
finish
