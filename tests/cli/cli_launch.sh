#!/bin/bash
# numabench launch on this machine, with PCI devices standing in for GPUs
# (--devices): 4 ranks of tests/helpers/nb_launchtest.c (forks workers,
# touches memory, prints its environment, its pids and a throughput line).
# Checks the environment each rank saw, --metric, the statistics, the result
# files report and compare read, --nnodes/--node-rank, a failing rank, a rank
# hanging past --timeout, a rank leaving its workers behind, SIGINT and
# SIGTERM mid-run: exit codes, results marked, and no process left (/proc).
. "$(dirname "$0")/lib.sh"
need jq
: "${NB_LAUNCHTEST:?NB_LAUNCHTEST must name the nb_launchtest helper}"
"$NUMABENCH" exec --help >/dev/null 2>&1 || skip "numabench exec is not built here (issue 11): launch places ranks through it"

mapfile -t pci < <(ls /sys/bus/pci/devices 2>/dev/null)
[ "${#pci[@]}" -ge 4 ] || skip "fewer than 4 PCI devices to stand in for GPUs"
D4="${pci[0]},${pci[1]},${pci[2]},${pci[3]}"
"$NUMABENCH" topo --json --no-cuda --devices "$D4" >"$tmp/topo.json" || bad "topo --devices exit $?"
[ "$(jq '[.gpus[].numa_node | select(. == null)] | length' "$tmp/topo.json")" = 0 ] ||
  skip "the stand-in devices' NUMA nodes are unknown here"
L=("$NUMABENCH" launch --devices "$D4" --quiet)
METRIC='throughput: ([0-9.]+)'

# Every pid the helpers printed ("pids RANK WORKER...") in the log files of
# dir must be gone (or a zombie about to be reaped by init).
no_leftovers() {
  local what=$1 dir=$2 left=""
  for pid in $(cat "$dir"/*.log 2>/dev/null | awk '$1 == "pids" { for (i = 2; i <= NF; i++) print $i }'); do
    if [ -r "/proc/$pid/stat" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] &&
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nb_launchtest; then
      left="$left $pid"
    fi
  done
  local n
  n=$(cat "$dir"/*.log 2>/dev/null | awk '$1 == "pids"' | wc -l)
  if [ "$n" -eq 0 ]; then
    bad "$what: no rank printed its pids"
  elif [ -z "$left" ]; then
    ok "$what: no process of the $n rank runs left (/proc)"
  else
    bad "$what: processes left:$left"
    kill -9 $left 2>/dev/null
  fi
}

# 1. 4 ranks, none and bind, 2 repeats, --metric: environment, metric, stats.
"${L[@]}" --nproc 4 --mode none,bind --repeat 2 --metric "$METRIC" --output "$tmp/res" --log-dir "$tmp/logs" \
  --json -- "$NB_LAUNCHTEST" --workers 2 --mb 4 --seconds 0.3 >"$tmp/r1.json" 2>"$tmp/r1.err"
rc=$?
[ $rc -eq 0 ] && ok "4 ranks x none,bind x 2: exit 0" || bad "exit $rc: $(tail -3 "$tmp/r1.err")"
check "the document: kind launch, 4 runs interleaved none,bind,none,bind, every one ok with 4 ranks" \
  '.kind == "launch" and .command == "launch" and ([.runs[].mode] == ["none","bind","none","bind"]) and ([.runs[].repeat] == [0,0,1,1]) and all(.runs[]; .outcome == "ok" and .complete and (.ranks | length) == 4)' \
  "$tmp/r1.json"
check "host fingerprint: numa_balancing and transparent_hugepages recorded" \
  '(.host | has("numa_balancing") and has("transparent_hugepages")) and .resolved.command[0] == "'"$NB_LAUNCHTEST"'"' \
  "$tmp/r1.json"
check "--metric: every rank's last throughput (100 x (1 + rank)), the run's value the slowest rank's (rank 0)" \
  'all(.runs[]; ([.ranks[].metric] == [100,200,300,400]) and .value == 100 and .slowest_rank == 0)' "$tmp/r1.json"
check "statistics: per mode 2 runs, mean = median = 100, sd 0, speedup of bind vs none 1" \
  '.resolved.value == "metric" and all(.summary[]; .runs == 2 and .value.n == 2 and .value.mean == 100 and .value.median == 100 and .value.sd == 0) and (.summary[1].speedup_vs_none.ratio == 1) and .summary[0].speedup_vs_none == null' \
  "$tmp/r1.json"
check "each rank placed by exec in the run's mode, achieved (the kernel's answer)" \
  'all(.runs[]; .mode as $m | all(.ranks[]; .exec.mode == $m and .exec.local_rank == .rank and .exec.achieved == true))' \
  "$tmp/r1.json"
jq -e --arg d "$D4" 'all(.runs[]; all(.ranks[]; .exec.gpu.bus_id == ($d | split(","))[.rank]))' "$tmp/r1.json" >/dev/null &&
  ok "rank r drives --devices entry r" || bad "a rank drove another GPU than its --devices entry"
# The environment each rank saw, from its own output (--log-dir files).
envok=1
for m in none bind; do
  for rep in 0 1; do
    port=""
    for r in 0 1 2 3; do
      f="$tmp/logs/$m-$rep-rank$r.log"
      line=$(grep '^env ' "$f" 2>/dev/null)
      want="env LOCAL_RANK=$r RANK=$r WORLD_SIZE=4 LOCAL_WORLD_SIZE=4 MASTER_ADDR=127.0.0.1 MASTER_PORT="
      case "$line" in "$want"*" CUDA_DEVICE_ORDER=PCI_BUS_ID") ;; *)
        envok=0
        echo "  $f: $line"
        ;;
      esac
      p=$(echo "$line" | sed 's/.*MASTER_PORT=\([0-9]*\).*/\1/')
      [ -z "$port" ] && port=$p
      [ "$p" = "$port" ] || envok=0
      jq -e --argjson p "${p:-0}" --arg m "$m" --argjson rep $rep '.runs[] | select(.mode == $m and .repeat == $rep) | .master_port == $p' "$tmp/r1.json" >/dev/null || envok=0
    done
  done
done
[ $envok = 1 ] && ok "environment: LOCAL_RANK, RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, one MASTER_PORT per run (recorded), CUDA_DEVICE_ORDER" ||
  bad "the ranks' environment (above)"
no_leftovers "4 ranks x 4 runs" "$tmp/logs"
file=$(ls "$tmp"/res/*launch*.json 2>/dev/null | head -1)
[ -n "$file" ] && [ -f "${file%.json}.csv" ] && ok "result files: $(basename "$file") and .csv" || bad "no result files in $tmp/res"
jq -S 'del(.timestamp, .host, .topology, .cuda)' "$file" >"$tmp/saved" 2>/dev/null
jq -S 'del(.timestamp, .host, .topology, .cuda)' "$tmp/r1.json" >"$tmp/printed"
cmp -s "$tmp/saved" "$tmp/printed" && ok "the saved JSON is the printed document" || bad "saved and printed documents differ"
[ "$(grep -c '^1,launch,' "${file%.json}.csv")" = 16 ] && ok "CSV: one row per rank and run (16)" || bad "CSV rows: $(wc -l <"${file%.json}.csv")"
"$NUMABENCH" report "$file" >"$tmp/report" 2>&1 && grep -q "launch, 4 ranks" "$tmp/report" &&
  grep -Eq '^[^ ]+ +[^ ]+ +bind +2 +100' "$tmp/report" && ok "report reads it (bind: 2 runs, 100)" ||
  bad "report: $(cat "$tmp/report")"
"$NUMABENCH" report --format csv "$file" | grep -q ',bind,2,100,' && ok "report --format csv" || bad "report csv"
"$NUMABENCH" compare "$file" "$file" >"$tmp/cmp" 2>&1 && grep -q "no regression" "$tmp/cmp" &&
  grep -q "^bind *value" "$tmp/cmp" && ok "compare reads two launch files (value per mode)" || bad "compare: $(cat "$tmp/cmp")"

# 2. Without --metric: runs per second of wall time; the statistics are the
# mean of the runs' values.
"${L[@]}" --nproc 2 --mode none,bind --repeat 3 --no-save --json -- "$NB_LAUNCHTEST" --workers 1 --seconds 0.2 \
  >"$tmp/r2.json" 2>"$tmp/r2.err" || bad "no --metric: exit $?: $(tail -2 "$tmp/r2.err")"
jq -e 'all(.runs[]; ((.value - 1 / .wall_s) | fabs) < 1e-9 and .wall_s > 0.2) and (. as $d | all($d.summary[]; .mode as $m | .runs == 3 and (((.value.mean) - ([$d.runs[] | select(.mode == $m) | .value] | add / 3)) | fabs) < 1e-9)) and (((.summary[1].speedup_vs_none.ratio) - (.summary[1].value.mean / .summary[0].value.mean)) | fabs) < 1e-9' \
  "$tmp/r2.json" >/dev/null && ok "no --metric: value 1/wall_s, mean over 3 runs, speedup = ratio of means" ||
  bad "no --metric statistics"

# 3. --nnodes/--node-rank pass through into RANK and WORLD_SIZE.
"${L[@]}" --nproc 2 --mode none --nnodes 3 --node-rank 1 --no-save --log-dir "$tmp/logs3" -- "$NB_LAUNCHTEST" \
  --workers 0 --seconds 0 >/dev/null 2>&1 || bad "--nnodes: exit $?"
grep -q '^env LOCAL_RANK=1 RANK=3 WORLD_SIZE=6 LOCAL_WORLD_SIZE=2 ' "$tmp/logs3/none-0-rank1.log" &&
  ok "--nnodes 3 --node-rank 1: rank 1 sees RANK=3 WORLD_SIZE=6" || bad "--nnodes: $(cat "$tmp/logs3/none-0-rank1.log")"

# 4. A failing rank stops the run: the others are stopped (they ignore
# SIGTERM: SIGKILL after --grace), exit 1, the run recorded failed.
"${L[@]}" --nproc 4 --mode none,bind --metric "$METRIC" --grace 1 --no-save --log-dir "$tmp/logs4" --json -- \
  "$NB_LAUNCHTEST" --seconds 0.3 --fail-rank 2 --exit 5 --ignore-term >"$tmp/r4.json" 2>"$tmp/r4.err"
rc=$?
[ $rc -eq 1 ] && ok "failing rank: exit 1" || bad "failing rank: exit $rc"
check "failing rank: run failed at rank 2 (exit 5, its last line), bind not run" \
  '(.runs | length) == 1 and .runs[0].outcome == "failed" and .runs[0].failed_rank == 2 and .runs[0].ranks[2].exit_code == 5 and (.runs[0].ranks[2].last_lines[-1] | test("failing on purpose")) and .runs[0].value == null and .summary[1].runs == 0' \
  "$tmp/r4.json"
grep -q "numabench: launch: a run failed" "$tmp/r4.err" && ok "failing rank: said on stderr" || bad "no failure line: $(cat "$tmp/r4.err")"
no_leftovers "failing rank" "$tmp/logs4"
"${L[@]}" --nproc 2 --mode none,bind --keep-going --metric "$METRIC" --no-save --json -- "$NB_LAUNCHTEST" \
  --workers 1 --seconds 0.1 --fail-rank 1 >"$tmp/r4k.json" 2>/dev/null
rc=$?
check "--keep-going: both modes ran and failed, exit still 1 ($rc)" \
  '[.runs[].outcome] == ["failed","failed"] and '"$rc"' == 1' "$tmp/r4k.json"

# 5. A rank hanging past --timeout (ignoring SIGTERM, its workers too).
start=$(date +%s)
"${L[@]}" --nproc 2 --mode bind --timeout 2 --grace 1 --no-save --log-dir "$tmp/logs5" --json -- "$NB_LAUNCHTEST" \
  --seconds 0.2 --hang-rank 1 --ignore-term >"$tmp/r5.json" 2>/dev/null
rc=$?
took=$(($(date +%s) - start))
[ $rc -eq 1 ] && [ $took -lt 15 ] && ok "hanging rank: exit 1 after ${took}s (--timeout 2, --grace 1)" || bad "hanging rank: exit $rc after ${took}s"
check "hanging rank: run recorded timeout, rank 1 killed by SIGKILL" \
  '.runs[0].outcome == "timeout" and .runs[0].ranks[1].signal == 9 and .runs[0].ranks[0].exit_code == 0' "$tmp/r5.json"
no_leftovers "hanging rank" "$tmp/logs5"

# 6. A rank that exits 0 leaving its workers running: they go with the run.
"${L[@]}" --nproc 2 --mode none --no-save --log-dir "$tmp/logs6" -- "$NB_LAUNCHTEST" --seconds 0.1 --orphan \
  >/dev/null 2>&1 || bad "orphans: exit $?"
no_leftovers "workers left by their rank" "$tmp/logs6"

# 7. A rank printing no line that matches --metric: the run has no value.
"${L[@]}" --nproc 2 --mode none --metric "$METRIC" --no-save --json -- "$NB_LAUNCHTEST" --workers 0 --seconds 0 \
  --no-metric-rank 1 >"$tmp/r7.json" 2>/dev/null
check "--metric not printed by rank 1: the run has no value, rank 1 null, not averaged" \
  '.runs[0].outcome == "ok" and .runs[0].complete == false and .runs[0].ranks[1].metric == null and .runs[0].ranks[0].metric == 100 and .summary[0].runs == 0' \
  "$tmp/r7.json"

# 8. SIGINT and SIGTERM mid-run: forwarded, results saved and marked, 130/143.
for sig in INT TERM; do
  want=$([ $sig = INT ] && echo 130 || echo 143)
  "${L[@]}" --nproc 4 --mode none,bind --repeat 3 --grace 1 --output "$tmp/res8$sig" --log-dir "$tmp/logs8$sig" \
    --json -- "$NB_LAUNCHTEST" --seconds 30 >"$tmp/r8$sig.json" 2>"$tmp/r8$sig.err" &
  pid=$!
  for _ in $(seq 100); do
    [ "$(cat "$tmp/logs8$sig"/*.log 2>/dev/null | grep -c '^pids')" -ge 4 ] && break
    sleep 0.1
  done
  kill -$sig $pid
  wait $pid
  rc=$?
  [ $rc -eq "$want" ] && ok "SIG$sig mid-run: exit $want" || bad "SIG$sig mid-run: exit $rc, want $want"
  f=$(ls "$tmp/res8$sig"/*.json 2>/dev/null | head -1)
  if [ -n "$f" ]; then
    check "SIG$sig: result file saved, interrupted, the run interrupted, no other run started" \
      '.interrupted == true and .signal == '"$([ $sig = INT ] && echo 2 || echo 15)"' and (.runs | length) == 1 and .runs[0].outcome == "interrupted"' \
      "$f"
  else
    bad "SIG$sig: no result file"
  fi
  no_leftovers "SIG$sig mid-run" "$tmp/logs8$sig"
done

# 9. The shipped preset parses (--help after it stops before running).
src=${NB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
"$NUMABENCH" launch --config "$src/configs/launch-seed.ini" --help >/dev/null 2>"$tmp/err" && ok "preset launch-seed parses" ||
  bad "preset launch-seed: $(cat "$tmp/err")"

finish
