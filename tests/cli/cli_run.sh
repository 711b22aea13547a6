#!/bin/sh
# numabench run through the CLI: the JSON report's schema and content, bad
# options (exit 2, one line), a failing thread (exit 1, its message), SIGINT
# and SIGTERM (a report marked interrupted, exit 130 and 143), the memory
# guard, and a bare `numabench` with options running the benchmark.
. "$(dirname "$0")/lib.sh"
need jq
small="--sample 3x16x16 --batch 4 --warmup 2 --steps 20 --quiet --no-save"

schema='
  .schema_version == 1 and .tool == "numabench" and (.version | type == "string") and .command == "run"
  and (.config | type == "object" and has("batch") and has("mode") and has("sample"))
  and (.user_set | type == "array") and (.resolved.batch | type == "number") and (.resolved.sample | length == 3)
  and (.interrupted | type == "boolean")
  and (.runs | type == "array" and length > 0 and all(
        (.mode | type == "string") and (.skipped | type == "boolean")
        and (if .skipped then (.reason | type == "string") else
          (.steps_per_s | type == "number") and (.gbps | type == "number")
          and (.gpus | all((.steps_per_s | type == "number") and (.samples_per_s | type == "number")
                 and (.gbps | type == "number") and (.starved_pct | type == "number") and (.alloc_s | type == "number")
                 and (.stages_ms | keys == ["collate","cpu_work","device_copy","device_work","generate","staging_copy"])
                 and (.step_ms | type == "array")))
          and (.plan.mode == .mode) and (.placement.achieved | type == "boolean")
          and (.placement.gpus | all(.threads | length > 0)) end)))
  and (.comparison | type == "array")'

"$NUMABENCH" run $small --mode none,bind,adversarial --verify --json >"$tmp/run.json" 2>"$tmp/err" || bad "run exit $?: $(cat "$tmp/err")"
check "run: schema" "$schema" "$tmp/run.json"
check "run: modes in order, each verified" '[.runs[].mode] == ["none","bind","adversarial"] and all(.runs[] | select(.skipped | not) | .gpus[]; .verify.batches == 22 and .verify.mismatches == 0)' "$tmp/run.json"
check "run: aggregate = slowest GPU" 'all(.runs[] | select(.skipped | not); .steps_per_s == ([.gpus[].steps_per_s] | min))' "$tmp/run.json"
check "run: raw step times kept" 'all(.runs[] | select(.skipped | not) | .gpus[]; (.step_ms | length) == 20)' "$tmp/run.json"
check "run: bind placement audited and achieved" '.runs[1].placement.achieved == true and all(.runs[1].placement.gpus[].threads[]; .role != null)' "$tmp/run.json"
check "run: bind vs none compared" '.comparison[0].mode == "bind" and .comparison[0].baseline == "none" and .comparison[0].speedup > 0' "$tmp/run.json"
check "run: user_set lists the options given" '.user_set | index("mode") != null and index("seed") == null' "$tmp/run.json"

# A worker that never got a batch (one step, four workers) has no CPU
# samples: not observed, not misplaced (issue 14: this exited 3).
"$NUMABENCH" run --sample 1x16x16 --batch 2 --warmup 0 --steps 1 --workers 4 --quiet --no-save --mode bind --json \
  >"$tmp/one.json" 2>"$tmp/err" || bad "run --steps 1 exit $?: $(cat "$tmp/err")"
check "run: a thread without work is not observed, placement achieved" '.runs[0].placement.achieved == true
  and any(.runs[0].placement.gpus[].threads[]; .observed == false and .ok == true and .share_on_planned_node == null)
  and all(.runs[0].placement.gpus[].threads[]; (.observed | type == "boolean"))' "$tmp/one.json"
"$NUMABENCH" run --sample 1x16x16 --batch 2 --warmup 0 --steps 1 --workers 4 --quiet --no-save --mode bind \
  >"$tmp/one.txt" 2>&1 || bad "run --steps 1 (text) exit $?: $(cat "$tmp/one.txt")"
grep -q "placement achieved (.* not observed" "$tmp/one.txt" || bad "run --steps 1: text lacks 'not observed': $(cat "$tmp/one.txt")"

# Same seed, same data: torch and direct deliver identical batches.
for p in torch direct; do
  "$NUMABENCH" run $small --mode bind --workers 2 --pipeline $p --verify --json >"$tmp/$p.json" || bad "$p exit $?"
done
d1=$(jq -r '.runs[0].gpus[0].verify.data_digest' "$tmp/torch.json")
d2=$(jq -r '.runs[0].gpus[0].verify.data_digest' "$tmp/direct.json")
[ -n "$d1" ] && [ "$d1" = "$d2" ] && ok "torch and direct deliver identical data ($d1)" || bad "digests differ: $d1 $d2"

# A bare numabench with options runs the benchmark.
"$NUMABENCH" $small --mode bind >"$tmp/bare.txt" 2>"$tmp/err" && grep -q '^mode bind: placement achieved' "$tmp/bare.txt" \
  && ok "bare numabench with options runs" || bad "bare numabench: $(cat "$tmp/bare.txt" "$tmp/err")"

expect() {
  code=$1 want=$2
  shift 2
  "$NUMABENCH" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -eq "$code" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$want" "$tmp/err"; then
    ok "numabench $*: exit $rc: $(cat "$tmp/err")"
  else
    bad "numabench $*: exit $rc (want $code), stderr: $(cat "$tmp/err")"
  fi
}
expect 2 "expected CxHxW" run --sample 3x16
expect 2 "expected CxHxW" run --sample 0x16x16
expect 2 "expected torch or direct" run $small --pipeline fast
expect 2 "expected auto, host or cuda" run $small --backend gpu
expect 2 "use --backend host" run $small --backend cuda
expect 2 "out of range" run $small --steps 0
expect 2 "out of range" run $small --batch -1
expect 2 "not an integer" run $small --workers two
expect 2 "GPU" run $small --gpus 64
expect 2 "unknown mode" run $small --mode fastest
expect 2 "expected worker:N" run $small --fail-at somewhere
expect 2 "lower --batch" run --sample 3x1024x1024 --batch 1000000 --quiet
if [ "$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)" -le 1 ]; then
  expect 2 "needs two NUMA nodes" run $small --mode adversarial
fi
expect 1 "injected failure at batch 3" run $small --fail-at worker:3
expect 1 "wrong data" run $small --verify --fail-at corrupt:4
# A batch over the host backend's 128 KiB landing slot (7 x 48 KiB: two
# whole pieces and a part) lands and is checksummed a piece at a time: every
# batch verified in both pipelines, and a byte spoiled in its second piece
# found.
for p in direct torch; do
  "$NUMABENCH" run --sample 3x64x64 --batch 7 --warmup 1 --steps 6 --quiet --no-save --mode bind --pipeline $p \
    --verify --json >"$tmp/land.json" 2>"$tmp/err" || bad "landing in pieces ($p): exit $?: $(cat "$tmp/err")"
  check "landing in pieces ($p): every batch verified, none wrong" \
    '.runs[0].gpus[0].verify.batches == 7 and .runs[0].gpus[0].verify.mismatches == 0' "$tmp/land.json"
done
expect 1 "batch 3 arrived with the wrong data" run --sample 3x64x64 --batch 7 --warmup 1 --steps 6 --quiet --no-save --verify --fail-at corrupt:3
expect 2 "unknown option --topology" run --topology x.xml

# Signals: stop after the current step, report what was measured.
for sig in INT TERM; do
  "$NUMABENCH" run --sample 3x16x16 --batch 4 --gpu-work 2000 --steps 100000 --mode none,bind --json --quiet --no-save >"$tmp/sig.json" 2>"$tmp/err" &
  pid=$!
  sleep 1
  kill -$sig $pid
  wait $pid
  rc=$?
  want=$([ $sig = INT ] && echo 130 || echo 143)
  [ "$rc" -eq "$want" ] && ok "SIG$sig: exit $rc" || bad "SIG$sig: exit $rc, want $want: $(cat "$tmp/err")"
  check "SIG$sig: report marked interrupted, steps counted" '.interrupted == true and .runs[0].interrupted == true and .runs[0].gpus[0].steps_done > 0 and (.runs | length) == 1' "$tmp/sig.json"
done
# --source replay and --cpu-work (issue 16): both pipelines deliver verified
# data; the pools are reported, audited on the workers' node and timed
# outside the steps; the spin's stage and calibration are recorded.
for p in torch direct; do
  "$NUMABENCH" run $small --pipeline $p --mode none,bind --source replay --pool-size 1M --cpu-work 10 --verify --json \
    >"$tmp/replay.json" 2>"$tmp/err" || bad "run --source replay --pipeline $p exit $?: $(cat "$tmp/err")"
  # The pool: 1M in whole samples, raised to the next prime number of them.
  check "replay $p: resolved source, pool and cpu work" '.resolved.source == "replay" and (.resolved.pool_bytes / .resolved.sample_bytes) as $p | ($p | floor) == $p and $p >= (1048576 / .resolved.sample_bytes | floor) and ([range(2; $p) | select($p % . == 0)] | length) == 0 and ([range((1048576 / .resolved.sample_bytes | floor); $p) | select(. as $n | [range(2; $n) | select($n % . == 0)] | length == 0)] | length) == 0 and .resolved.cpu_work_us == 10' "$tmp/replay.json"
  check "replay $p: every batch verified, pools made, spin calibrated" 'all(.runs[].gpus[]; .verify.batches == 22 and .verify.mismatches == 0 and .pool_s > 0 and .pool_bytes > 0 and .cpu_work_rate > 0 and .stages_ms.cpu_work > 0)' "$tmp/replay.json"
  check "replay $p: bind: the pools' pages on the workers' node" '[.runs[1].placement.gpus[] | .buffers[] | select(.name == "replay_pool") | .ok and .pages.total > 0 and .share_on_planned_node == 1] | length > 0 and all' "$tmp/replay.json"
done
"$NUMABENCH" run $small --mode bind --verify --json >"$tmp/randn.json" 2>"$tmp/err" || bad "run randn exit $?"
"$NUMABENCH" run $small --mode bind --source replay --pool-size 1M --verify --json >"$tmp/replay.json" 2>"$tmp/err" || bad "run replay exit $?"
d1=$(jq -r '.runs[0].gpus[0].verify.data_digest // empty' "$tmp/randn.json")
d2=$(jq -r '.runs[0].gpus[0].verify.data_digest // empty' "$tmp/replay.json")
if [ -n "$d1" ] && [ "$d1" = "$d2" ]; then
  ok "replay with a pool that covers the run delivers randn's data (same digest)"
else
  bad "replay and randn digests differ (or are missing) with a pool larger than the run: '$d1' '$d2'"
fi
check "randn: no pool" '.resolved.source == "randn" and .resolved.pool_bytes == null and all(.runs[].gpus[]; .pool_s == null)' "$tmp/randn.json"
# compare: replay runs with pools of different sizes (one may fit in the
# cache) are not comparable; files written before pool_bytes existed are.
jq '.resolved.pool_bytes = 4096' "$tmp/replay.json" >"$tmp/pool4k.json"
"$NUMABENCH" compare "$tmp/replay.json" "$tmp/pool4k.json" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q 'pool_bytes' "$tmp/err" && ok "compare: different replay pools: exit 2: $(cat "$tmp/err")" ||
  bad "compare different pools: exit $rc: $(cat "$tmp/err")"
jq 'del(.resolved.pool_bytes)' "$tmp/randn.json" >"$tmp/old.json"
"$NUMABENCH" compare "$tmp/old.json" "$tmp/randn.json" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -ne 2 ] && ok "compare: a file without pool_bytes compares with randn (exit $rc)" ||
  bad "compare old file: exit 2: $(cat "$tmp/err")"

finish
