#!/bin/bash
# A real Slurm on this machine (issue 13): installs Debian's slurm-wlm and
# munge when missing (as root, with apt-get), writes a minimal slurm.conf for
# localhost in a scratch directory (no cgroups: proctrack/linuxproc,
# task/none; own ports, state, spool and logs), starts munged, slurmctld and
# slurmd, submits configs/slurm/numabench.sbatch with the CI smoke preset,
# waits for it (bounded), checks the files it wrote (a probe record, run's
# JSON and CSV, bw's JSON, all complete, one host), and runs numabench fleet
# on them when this build has it. Stops only the daemons it started.
# Exit 77 (skip) with the reason where Slurm cannot start here: not root, no
# packages and no way to install them, a daemon that does not come up.
# NB_SLURM_NO_INSTALL=1: never install, skip instead.
. "$(dirname "$0")/lib.sh"
src=${NB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
need jq

[ "$(id -u)" = 0 ] || skip "not root: slurmd must run as root to start job steps (SlurmdUser=root)"
have_slurm() {
  for t in munged munge slurmctld slurmd sbatch squeue sinfo scancel; do
    command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null 2>&1 || return 1
  done
}
export PATH=$PATH:/usr/sbin:/sbin
if ! have_slurm; then
  [ "${NB_SLURM_NO_INSTALL:-0}" != 1 ] || skip "slurm-wlm/munge not installed and NB_SLURM_NO_INSTALL=1"
  command -v apt-get >/dev/null 2>&1 || skip "slurm-wlm and munge are not installed and there is no apt-get"
  echo "installing slurm-wlm and munge (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge \
    >"$tmp/apt.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$tmp/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge \
      >>"$tmp/apt.log" 2>&1 || skip "apt-get install slurm-wlm munge failed: $(tail -n 1 "$tmp/apt.log")"
  fi
  have_slurm || skip "slurm-wlm and munge installed, but their commands are missing"
fi

# Everything lives under $tmp; munged wants every directory on the way to
# its socket searchable by all.
chmod 755 "$tmp"
S=$tmp/slurm
mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/job" "$tmp/results"
chmod 755 "$S" "$S/munge"
pids=()
cleanup() {
  # A job still there (the wait ran out) goes first, then the daemons this
  # test started, by their process ids, newest first.
  [ -n "${job:-}" ] && scancel "$job" >/dev/null 2>&1
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Ports nobody listens on (/proc/net/tcp*, hex), in the unprivileged range.
port_free() {
  local hex
  hex=$(printf ':%04X ' "$1")
  ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2}' | grep -q "${hex% }\$"
}
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    port_free "$p" && port_free $((p + 1)) && { echo "$p"; return; }
  done
  echo 0
}
port=$(pick_port)
[ "$port" != 0 ] || skip "no free TCP port pair found for slurmctld and slurmd"

dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$S/munge/munge.key"
munged -F --key-file="$S/munge/munge.key" --socket="$S/munge/munge.sock" --pid-file="$S/munge/munged.pid" \
  --log-file="$S/munge/munged.log" --seed-file="$S/munge/seed" >"$S/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$S/munge/munge.sock" ] && break; sleep 0.1; done
munge -S "$S/munge/munge.sock" -n </dev/null | unmunge -S "$S/munge/munge.sock" >/dev/null 2>&1 ||
  skip "munged did not start: $(tail -n 1 "$S/munged.out")"

host=$(hostname -s)
# The node as slurmd sees it (CPUs, sockets, memory), so that it registers
# without a mismatch.
node_line=$(slurmd -C 2>/dev/null | grep '^NodeName=')
[ -n "$node_line" ] || skip "slurmd -C describes no node here"
node_line=${node_line/NodeName=* CPUs=/NodeName=$host CPUs=}
cat >"$S/slurm.conf" <<EOF
ClusterName=nbtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
$node_line State=UNKNOWN NodeAddr=127.0.0.1
PartitionName=nbtest Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
# Empty plug-in stacks: nothing of the system's /etc/slurm reaches the test.
: >"$S/plugstack.conf"
echo "PlugStackConfig=$S/plugstack.conf" >>"$S/slurm.conf"
export SLURM_CONF=$S/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" >"$S/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" >"$S/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1)
  case $state in idle | mixed | allocated) break ;; esac
  sleep 0.2
done
case $state in
idle) ok "slurmctld and slurmd up, node $host idle" ;;
*)
  echo "--- slurmctld.log"; tail -n 15 "$S/slurmctld.log" 2>/dev/null
  echo "--- slurmd.log"; tail -n 15 "$S/slurmd.log" 2>/dev/null
  skip "the Slurm daemons did not come up here (node state '${state:-none}'; logs above)"
  ;;
esac

# The shipped script, unchanged, as a user submits it.
cd "$S/job" || exit 1
t0=$(date +%s)
if ! job=$(sbatch --parsable --nodes=1 "$src/configs/slurm/numabench.sbatch" --output "$tmp/results" \
  --config "$src/configs/ci-smoke.ini" --bw-size 4M --numabench "$NUMABENCH" 2>"$S/sbatch.err"); then
  bad "sbatch refused the script: $(cat "$S/sbatch.err")"
  finish
fi
job=${job%%;*}
ok "sbatch: job $job"
st=""
for _ in $(seq 240); do
  st=$(squeue -h -j "$job" -o %T 2>/dev/null)
  [ -z "$st" ] && break
  sleep 0.5
done
if [ -n "$st" ]; then
  bad "job $job still $st after 120 s"
  cat "numabench-$job.out" 2>/dev/null
  finish
fi
echo "job $job done in $(($(date +%s) - t0)) s; its output:"
sed 's/^/  | /' "numabench-$job.out"
# The job's exit code, from slurmctld's record (no accounting database).
ec=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.* ExitCode=\([0-9]*:[0-9]*\).*/\1/p' | head -n 1)
[ "$ec" = "0:0" ] && ok "job exit code 0:0" || bad "job exit code '${ec:-unknown}'"

R=$tmp/results
probe=$(ls "$R"/*-probe.json 2>/dev/null)
runj=$(ls "$R"/*.json 2>/dev/null | grep -v -e '-probe.json$' -e '-bw.json$')
bwj=$(ls "$R"/*-bw.json 2>/dev/null)
[ "$(echo "$probe" | grep -c .)" = 1 ] && ok "one probe record" || bad "probe records: '$probe'"
[ "$(echo "$runj" | grep -c .)" = 1 ] && ok "one run result" || bad "run results: '$runj'"
[ "$(echo "$bwj" | grep -c .)" = 1 ] && ok "one bw result" || bad "bw results: '$bwj'"
[ -f "${runj%.json}.csv" ] && ok "run's CSV beside its JSON" || bad "no CSV for '$runj'"
[ "$(find "$R" -name '.*' | wc -l)" = 0 ] && ok "no temporary file left" || bad "left: $(find "$R" -name '.*')"
if [ -f "$probe" ] && [ -f "$runj" ] && [ -f "$bwj" ]; then
  check "probe record complete" '.kind == "probe" and (.probe.fingerprint | test("^[0-9a-f]{64}$")) and .probe.facts.kernel != null' "$probe"
  # The preset's 3 modes x 3 repeats of 30 steps; a mode this machine
  # cannot have (adversarial on one node) is listed once, skipped.
  check "run result complete: the preset's modes x 3 repeats, every run complete" \
    '.command == "run" and .interrupted == false and .resolved.steps == 30 and ([.summary[].mode] == ["none","bind","adversarial"]) and ([.runs[] | select(.skipped == false)] | length) as $n | $n >= 3 and $n % 3 == 0 and ([.runs[] | select(.skipped == false) | .complete] | all)' "$runj"
  check "bw result complete" '.command == "bw" and .bytes == 4194304 and (.alone | length) > 0' "$bwj"
  fp=$(jq -r .probe.fingerprint "$probe")
  check "run result: the probe record's fingerprint and host" ".probe.fingerprint == \"$fp\" and .probe.hostname == \"$(jq -r .probe.hostname "$probe")\"" "$runj"
  check "bw result: the probe record's fingerprint" ".probe.fingerprint == \"$fp\"" "$bwj"
  case $(basename "$probe") in *"-$host-probe.json") ok "files named by host" ;; *) bad "probe file name $(basename "$probe")" ;; esac
fi

# The fleet report on what the job wrote, where this build has it.
if "$NUMABENCH" fleet --help >/dev/null 2>&1; then
  # One host: compared with its own probe record as the golden baseline, it
  # is consistent (exit 0).
  "$NUMABENCH" fleet --baseline "$probe" "$R" >"$tmp/fleet.txt" 2>&1
  rc=$?
  sed 's/^/  | /' "$tmp/fleet.txt"
  [ $rc = 0 ] && ok "fleet --baseline (its own probe): exit 0, consistent" || bad "fleet --baseline exit $rc"
  # A golden record with numa_balancing flipped (fingerprint recomputed as
  # docs/probe-schema.md defines it): the host has drifted (exit 1).
  jq --tab '.probe.facts.numa_balancing = (if .probe.facts.numa_balancing == 1 then 0 else 1 end)' "$probe" >"$tmp/golden.json"
  nfp=$(jq -j -c -S .probe.facts "$tmp/golden.json" | sha256sum | cut -d' ' -f1)
  jq ".probe.fingerprint = \"$nfp\"" "$tmp/golden.json" >"$tmp/golden2.json"
  "$NUMABENCH" fleet --baseline "$tmp/golden2.json" "$R" >"$tmp/fleet2.txt" 2>&1
  rc=$?
  [ $rc = 1 ] && grep -q numa_balancing "$tmp/fleet2.txt" && ok "fleet: numa_balancing drift against a golden record found (exit 1)" ||
    { bad "fleet with a drifted golden record: exit $rc"; cat "$tmp/fleet2.txt"; }
else
  echo "note: this build has no 'numabench fleet' (numabench fleet --help fails): the report is not run"
fi
finish
