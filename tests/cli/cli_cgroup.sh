#!/bin/sh
# cgroup limits on this machine, in a real cgroup: as root, create a child
# cgroup (v2 with the cpu and memory controllers, else the v1 cpu and memory
# hierarchies), give it a CPU quota of 2 CPUs and a memory limit of 256 MiB,
# run numabench inside it, and check that topo --json shows the limits, that
# the automatic worker count follows the quota, that an explicit batch too
# big for the limit is refused with exit 2 and one line, and that a default
# run (the default sample, automatic batch) completes instead of being
# OOM-killed. The cgroup is removed afterwards.
#
# Without root, a cgroup hierarchy or the controllers this is a skip (77)
# even under NB_TEST_STRICT: a CI container may lawfully lack the
# permission (as cli_backend does for a machine with a GPU).
. "$(dirname "$0")/lib.sh"
need jq

cannot() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || cannot "not root: creating a cgroup needs root"
quota=200000 period=100000 limit=$((256 * 1024 * 1024))
name=numabench-test-$$
dirs=""
enabled=""
cleanup() {
  for d in $dirs; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null
  done
  # Hand the host's root cgroup back as it was: disable only the controllers
  # this test enabled (after its child is gone, which the kernel requires).
  for c in $enabled; do
    echo "-$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
      echo "warning: could not disable the $c controller again in /sys/fs/cgroup/cgroup.subtree_control" >&2
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  # Pure v2: the controllers must be available and enabled for children of
  # the root (root is exempt from the no-internal-processes rule).
  for c in cpu memory; do
    grep -qw $c /sys/fs/cgroup/cgroup.controllers || cannot "cgroup v2 has no $c controller here"
    if ! grep -qw $c /sys/fs/cgroup/cgroup.subtree_control; then
      echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
        cannot "cannot enable the $c controller for child cgroups"
      enabled="$enabled $c"
    fi
  done
  d=/sys/fs/cgroup/$name
  mkdir "$d" 2>/dev/null || cannot "cannot create $d"
  dirs=$d
  echo "$quota $period" >"$d/cpu.max" && echo $limit >"$d/memory.max" || cannot "cannot set cpu.max/memory.max in $d"
  echo 0 >"$d/memory.swap.max" 2>/dev/null
  kind="v2 $d"
elif [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/cpu ]; then
  cpu=/sys/fs/cgroup/cpu/$name mem=/sys/fs/cgroup/memory/$name
  mkdir "$cpu" 2>/dev/null || cannot "cannot create $cpu"
  dirs=$cpu
  mkdir "$mem" 2>/dev/null || cannot "cannot create $mem"
  dirs="$cpu $mem"
  echo $period >"$cpu/cpu.cfs_period_us" && echo $quota >"$cpu/cpu.cfs_quota_us" ||
    cannot "cannot set the CFS quota in $cpu"
  echo $limit >"$mem/memory.limit_in_bytes" || cannot "cannot set memory.limit_in_bytes in $mem"
  echo $limit >"$mem/memory.memsw.limit_in_bytes" 2>/dev/null
  kind="v1 $cpu $mem"
else
  cannot "no cgroup v2 hierarchy and no v1 cpu and memory hierarchies at /sys/fs/cgroup"
fi
echo "cgroup: $kind (quota $quota/$period, memory $limit bytes)"

# Run a command inside the cgroup(s): a shell moves itself in, then execs.
inside() {
  sh -c 'for d in $0; do echo $$ >"$d/cgroup.procs" || exit 99; done; exec "$@"' "$dirs" "$@"
}

inside "$NUMABENCH" topo --json >"$tmp/topo.json" || bad "topo --json inside: exit $?"
check "topo --json: the quota (2 CPUs) and the memory limit (256 MiB)" \
  ".cgroup.cpu_quota_us == $quota and .cgroup.cpu_period_us == $period and .cgroup.cpu_limit == 2 and .cgroup.memory_limit_bytes == $limit" \
  "$tmp/topo.json"

# The workers: the quota's 2 CPUs shared by the devices, one of them the
# feeder; never more than without the quota.
"$NUMABENCH" plan --json >"$tmp/free.json" || bad "plan outside: exit $?"
inside "$NUMABENCH" plan --json >"$tmp/plan.json" || bad "plan inside: exit $?"
free=$(jq .workers_per_gpu "$tmp/free.json")
ndev=$(jq '.gpus | length' "$tmp/plan.json")
want=$((2 / ndev - 1))
[ $want -ge 1 ] || want=1
[ "$free" -lt $want ] && want=$free
got=$(jq .workers_per_gpu "$tmp/plan.json")
if [ "$got" = "$want" ]; then
  ok "plan: $got worker(s) per device under the quota ($free without, $ndev device(s))"
  [ "$free" -gt "$want" ] || echo "note: the quota does not bind here ($free worker(s) without it)"
else
  bad "plan: $got worker(s) per device under a 2-CPU quota, want $want ($free without, $ndev device(s))"
fi

# An explicit batch far beyond 256 MiB (32 x 3 MiB, in several buffers): refused up front, one line.
inside "$NUMABENCH" run --sample 3x512x512 --batch 32 --steps 2 --warmup 0 --quiet --no-save >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'cgroup memory limit' "$tmp/err" &&
  grep -q 'lower --batch (now 32)' "$tmp/err"; then
  ok "run --batch 32 beyond the limit: exit 2: $(cat "$tmp/err")"
else
  bad "run --batch 32 beyond the limit: exit $rc: $(cat "$tmp/err")"
fi

# A default run (default sample, automatic batch) completes: without the
# limit its batch would take more than 256 MiB and be OOM-killed (137).
inside "$NUMABENCH" run --mode none --steps 3 --warmup 1 --quiet --no-save --json >"$tmp/run.json" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ]; then
  ok "default run inside the limit: exit 0, batch $(jq .resolved.batch "$tmp/run.json")"
else
  bad "default run inside the limit: exit $rc: $(cat "$tmp/err")"
fi
check "run: the result records the limit" ".host.cgroup.memory_limit_bytes == $limit and .host.cgroup.cpu_limit == 2" "$tmp/run.json"

finish
