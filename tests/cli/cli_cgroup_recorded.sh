#!/bin/sh
# cgroup limits through the CLI, from recorded trees (tests/fixtures/cgroup/)
# moved under /proc and /sys/fs/cgroup by the test-only NB_TEST_CGROUP_ROOT:
# topo shows them (text and JSON), a run whose --batch exceeds the memory
# limit is refused with exit 2 and one line naming the limit and the fix, the
# automatic batch fits under the limit, garbage values are warnings, and a
# recorded topology takes no limit from the machine. The real cgroup is
# cli_cgroup.sh.
. "$(dirname "$0")/lib.sh"
need jq
cg=$NB_FIXTURES_DIR/cgroup

NB_TEST_CGROUP_ROOT=$cg/v2-quota "$NUMABENCH" topo --json >"$tmp/q.json" || bad "topo --json exit $?"
check "topo --json: quota 250000/100000 = 2.5 CPUs, limit 3" \
  '.cgroup.version == 2 and .cgroup.cpu_quota_us == 250000 and .cgroup.cpu_period_us == 100000 and .cgroup.cpu_quota_cpus == 2.5 and .cgroup.cpu_limit == 3 and .cgroup.cpu_file == "cpu.max"' "$tmp/q.json"
check "topo --json: memory.max 4 GiB, 1288490188 used, at the task's cgroup" \
  '.cgroup.memory_limit_bytes == 4294967296 and .cgroup.memory_used_bytes == 1288490188 and .cgroup.memory_available_bytes == 3006477108 and .cgroup.memory_path == "/sys/fs/cgroup/job.slice/task"' "$tmp/q.json"

NB_TEST_CGROUP_ROOT=$cg/v2-quota "$NUMABENCH" topo >"$tmp/q.txt" || bad "topo exit $?"
if grep -qx 'cgroup: CPU quota 2.5 CPUs (cpu.max 250000 100000 at /sys/fs/cgroup/job.slice/task), memory limit 4.0 GiB (memory.max, 1.2 GiB used, at /sys/fs/cgroup/job.slice/task); cgroup v2 /sys/fs/cgroup/job.slice/task' "$tmp/q.txt"; then
  ok "topo: the cgroup line"
else
  bad "topo: cgroup line: $(grep cgroup "$tmp/q.txt")"
fi

NB_TEST_CGROUP_ROOT=$cg/v2-max "$NUMABENCH" topo >"$tmp/m.txt" || bad "topo (no limits) exit $?"
grep -q '^cgroup: CPU quota none, memory limit none; cgroup v2 /sys/fs/cgroup/user.slice/session-1.scope$' "$tmp/m.txt" &&
  ok "topo: no limits shown as none" || bad "topo: $(grep cgroup "$tmp/m.txt")"

NB_TEST_CGROUP_ROOT=$cg/v2-garbage "$NUMABENCH" topo --json >"$tmp/g.json" || bad "topo (garbage) exit $?"
check "garbage: unknown limits, six warnings, also in the topology's warnings" \
  '.cgroup.cpu_limit == null and .cgroup.memory_limit_bytes == null and (.cgroup.warnings | length) == 6 and ([.warnings[] | select(startswith("cgroup: "))] | length) == 6' "$tmp/g.json"

# A recorded topology is not this machine: no cgroup key, no cgroup line.
NB_TEST_CGROUP_ROOT=$cg/v2-quota "$NUMABENCH" topo --json --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" >"$tmp/x.json" ||
  bad "topo --topology exit $?"
check "recorded topology: no cgroup" 'has("cgroup") | not' "$tmp/x.json"
NB_TEST_CGROUP_ROOT=$cg/v2-nested "$NUMABENCH" plan --json --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" >"$tmp/xp1.json" ||
  bad "plan --topology exit $?"
"$NUMABENCH" plan --json --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" >"$tmp/xp2.json" || bad "plan --topology exit $?"
if [ "$(jq .workers_per_gpu "$tmp/xp1.json")" = "$(jq .workers_per_gpu "$tmp/xp2.json")" ]; then
  ok "recorded topology: the workers ignore this machine's quota"
else
  bad "recorded topology: workers $(jq .workers_per_gpu "$tmp/xp1.json") under a quota, $(jq .workers_per_gpu "$tmp/xp2.json") without"
fi

# A batch too big for the 64 MiB limit: exit 2, one line, the limit and the fix.
NB_TEST_CGROUP_ROOT=$cg/v2-small-mem "$NUMABENCH" run --sample 3x512x512 --batch 128 --steps 2 --warmup 0 --quiet \
  --no-save >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -q 'the cgroup memory limit leaves 64 MiB (memory.max 64 MiB, 0 MiB used, at /sys/fs/cgroup/small' "$tmp/err" &&
  grep -q 'lower --batch (now 128)' "$tmp/err"; then
  ok "run --batch beyond memory.max: exit 2, one line"
else
  bad "run --batch beyond memory.max: exit $rc: $(cat "$tmp/err")"
fi

# Usage above memory.high leaves nothing: even the automatic batch is refused.
NB_TEST_CGROUP_ROOT=$cg/v2-high "$NUMABENCH" run --steps 2 --warmup 0 --quiet --no-save >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -q "needs .* but the cgroup memory limit leaves 0 MiB (memory.high 1.00 GiB, 2.00 GiB used, at /sys/fs/cgroup/box" "$tmp/err"; then
  ok "run over memory.high: exit 2, one line"
else
  bad "run over memory.high: exit $rc: $(cat "$tmp/err")"
fi

# The automatic batch fits under the limit and the run completes; the
# result records the limit next to numa_balancing.
NB_TEST_CGROUP_ROOT=$cg/v2-small-mem "$NUMABENCH" run --sample 3x128x128 --workers 1 --steps 3 --warmup 1 --quiet --no-save --json \
  >"$tmp/r.json" 2>"$tmp/err" || bad "run with the automatic batch: exit $?: $(cat "$tmp/err")"
# Without the limit this sample with one worker gets the largest batch, 128
# (24 MiB: 4 of them in torch's buffers), on any machine with 256 MiB free.
check "run: host.cgroup records memory.max 64 MiB; the automatic batch is below 128" \
  '.host.cgroup.memory_limit_bytes == 67108864 and .host.cgroup.cpu_limit == 1 and .resolved.batch_auto and .resolved.batch >= 1 and .resolved.batch < 128' "$tmp/r.json"
"$NUMABENCH" run --sample 3x128x128 --workers 1 --steps 3 --warmup 1 --quiet --no-save --json >"$tmp/r2.json" 2>"$tmp/err" ||
  bad "run without a recorded limit: exit $?: $(cat "$tmp/err")"
check "run: without the recorded limit the automatic batch is 128" '.resolved.batch == 128' "$tmp/r2.json"

# No batch fits and there is no cgroup limit: the memory guard's own
# message for a batch of 1 (the nodes), never a cgroup that does not exist.
NB_TEST_CGROUP_ROOT=$cg/v2-max "$NUMABENCH" run --sample 1x16384x16384 --workers 256 --mode none --steps 2 \
  --warmup 0 --quiet --no-save >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "more than the allowed nodes have free" "$tmp/err" &&
  ! grep -q cgroup "$tmp/err"; then
  ok "run, no batch fits, no limit: the nodes named, no cgroup"
else
  bad "run, no batch fits, no limit: exit $rc: $(cat "$tmp/err")"
fi

# bw --size within the nodes' free memory but beyond what the 64 MiB limit
# leaves: exit 2, one line naming --size, the limit and the fix.
NB_TEST_CGROUP_ROOT=$cg/v2-small-mem "$NUMABENCH" bw --size 64M --repeat 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^numabench: bw --size .* but the cgroup memory limit leaves 64 MiB (memory.max 64 MiB" "$tmp/err" &&
  grep -q "use a smaller --size" "$tmp/err"; then
  ok "bw --size beyond memory.max: exit 2, one line"
else
  bad "bw --size beyond memory.max: exit $rc: $(cat "$tmp/err")"
fi
NB_TEST_CGROUP_ROOT=$cg/v2-small-mem "$NUMABENCH" bw --size 1M --repeat 1 >"$tmp/out" 2>"$tmp/err" ||
  bad "bw --size 1M under a 64 MiB limit: exit $?: $(cat "$tmp/err")"

# A hybrid host: the CPU quota from v1 (12.5 CPUs, not "12" or "1.2e+01"),
# the memory limit from unified/ with its usage less the inactive page cache.
NB_TEST_CGROUP_ROOT=$cg/hybrid-long "$NUMABENCH" topo >"$tmp/h.txt" || bad "topo (hybrid) exit $?"
if grep -qx 'cgroup: CPU quota 12.5 CPUs (cpu.cfs_quota_us 1250000 100000 at /sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr), memory limit 1.0 GiB (memory.max, 300 MiB used, at /sys/fs/cgroup/unified/kubepods/pod1/ctr); cgroup v1 (cpu) and v2 (memory) /sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr' "$tmp/h.txt"; then
  ok "topo: hybrid cgroup line"
else
  bad "topo: hybrid cgroup line: $(grep cgroup "$tmp/h.txt")"
fi

NB_TEST_CGROUP_ROOT=$cg/hybrid-long "$NUMABENCH" topo --json >"$tmp/h.json" || bad "topo --json (hybrid) exit $?"
check "topo --json (hybrid): cpu from v1, memory from v2, 300 MiB used" \
  '.cgroup.version == 1 and .cgroup.cpu_version == 1 and .cgroup.memory_version == 2 and .cgroup.memory_used_bytes == 314572800 and .cgroup.cpu_quota_cpus == 12.5' "$tmp/h.json"

finish
