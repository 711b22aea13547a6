#!/bin/sh
# In a "container" that refuses binding (LD_PRELOAD: sched_setaffinity,
# set_mempolicy, mbind and move_pages fail with EPERM), plan --check and run
# must degrade, say what was refused, and never claim placement: exit 3.
. "$(dirname "$0")/lib.sh"
need jq
: "${NB_REFUSE_PRELOAD:?}"
# Sanitizer runtimes want to be first; this preload does not mind.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

LD_PRELOAD="$NB_REFUSE_PRELOAD" "$NUMABENCH" plan --check --mode bind >"$tmp/check.txt" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] && ok "plan --check with binding refused: exit 3" || bad "plan --check refused: exit $rc: $(cat "$tmp/err")"
grep -q 'CPU affinity refused' "$tmp/check.txt" && grep -q 'mbind refused' "$tmp/check.txt" \
  && grep -q '^PLACEMENT NOT ACHIEVED' "$tmp/check.txt" && ok "the report says what was refused" \
  || bad "report: $(cat "$tmp/check.txt")"

LD_PRELOAD="$NB_REFUSE_PRELOAD" "$NUMABENCH" plan --check --mode bind --json >"$tmp/check.json" 2>/dev/null
check "threads: level none, affinity refused with EPERM" 'all(.audit.gpus[].threads[]; .bind_level == "none" and .cpu_error == "Operation not permitted" and .ok == false)' "$tmp/check.json"
check "buffers: mbind refused, pages unverifiable" 'all(.audit.gpus[].buffers[]; .policy == "default" and .policy_error == "Operation not permitted" and .page_query_error == "Operation not permitted" and .ok == false)' "$tmp/check.json"

LD_PRELOAD="$NB_REFUSE_PRELOAD" "$NUMABENCH" run --sample 3x16x16 --batch 2 --steps 5 --mode bind --quiet --no-save --json >"$tmp/run.json" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] && ok "run with binding refused: exit 3" || bad "run refused: exit $rc: $(cat "$tmp/err")"
check "run: measured anyway, placement not achieved" '.runs[0].steps_per_s > 0 and .runs[0].placement.achieved == false' "$tmp/run.json"
LD_PRELOAD="$NB_REFUSE_PRELOAD" "$NUMABENCH" run --sample 3x16x16 --batch 2 --steps 5 --mode bind --quiet --no-save --allow-misplacement >/dev/null 2>&1
rc=$?
[ "$rc" -eq 0 ] && ok "--allow-misplacement: exit 0" || bad "--allow-misplacement: exit $rc"
finish
