#!/bin/sh
# What `run` says on stderr besides errors is one line too (issue 14): the
# "results saved in" note shows a newline in --output as '?', and exit 3
# (placement not achieved, forced by an LD_PRELOADed library that refuses
# binding) is a single line naming the modes, the result files and the way
# out, the details being in the report on stdout.
. "$(dirname "$0")/lib.sh"
: "${NB_REFUSE_PRELOAD:?}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
small="--sample 3x16x16 --batch 2 --warmup 0 --steps 3 --quiet"

# lines FILE: the lines of FILE, a last one without a newline counted.
lines() {
  n=$(wc -l <"$1")
  if [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ]; then n=$((n + 1)); fi
  echo "$n"
}

nl='
'
out="$tmp/res${nl}two"
# shellcheck disable=SC2086
"$NUMABENCH" run $small --mode none --output "$out" >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(lines "$tmp/err")" -eq 1 ] && grep -q "^numabench: results saved in $tmp/res?two/" "$tmp/err" &&
  ls "$out"/*.json "$out"/*.csv >/dev/null 2>&1; then
  ok "a newline in --output is shown as '?' in the one 'results saved' line; the files are there"
else
  bad "--output with a newline: exit $rc, stderr: $(cat "$tmp/err")"
fi

# shellcheck disable=SC2086
LD_PRELOAD="$NB_REFUSE_PRELOAD" "$NUMABENCH" run $small --mode none,bind --output "$tmp/r3" >"$tmp/out" 2>"$tmp/err"
rc=$?
saved=$(ls "$tmp/r3"/*.json 2>/dev/null)
if [ "$rc" -eq 3 ] && [ "$(lines "$tmp/err")" -eq 1 ] && grep -q '^numabench: placement not achieved in mode bind (' "$tmp/err" &&
  grep -q -F "results saved in $saved and .csv" "$tmp/err" && grep -q 'allow-misplacement' "$tmp/err"; then
  ok "exit 3: one line naming the mode, the result files and --allow-misplacement"
else
  bad "exit 3: exit $rc, stderr: $(cat "$tmp/err")"
fi
grep -q 'PLACEMENT NOT ACHIEVED' "$tmp/out" && ok "exit 3: the details are in the report on stdout" ||
  bad "exit 3 report: $(cat "$tmp/out")"

# shellcheck disable=SC2086
LD_PRELOAD="$NB_REFUSE_PRELOAD" "$NUMABENCH" run $small --mode bind,interleave --no-save --json >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 3 ] && [ "$(lines "$tmp/err")" -eq 1 ] &&
  grep -q '^numabench: placement not achieved in modes bind, interleave (details: [^;]*); --allow' "$tmp/err"; then
  ok "exit 3 with --no-save: one line, both modes, no result path"
else
  bad "exit 3 --no-save: exit $rc, stderr: $(cat "$tmp/err")"
fi
finish
