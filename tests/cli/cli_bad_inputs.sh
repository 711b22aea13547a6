#!/bin/bash
# The bad-input table: every row of tests/cli/bad-inputs/*.tsv is one command
# line with the exit code it must give and a word its one-line error must
# contain. The contract (README, issue 14): bad input exits 2 with exactly one
# line on stderr naming the input; nothing crashes, hangs or passes silently.
#
# Row format, one per line (blank lines and lines starting with # are skipped):
#   EXIT<TAB>WORD<TAB>ARGS...
# EXIT  the exit code numabench must give.
# WORD  a case-sensitive string the single stderr line must contain. For
#       EXIT 0 rows stderr may hold any number of lines and WORD must appear in
#       stdout or stderr; "-" checks nothing.
# ARGS  numabench's arguments as a shell reads them: they are eval'ed, so
#       quotes, $'...' escapes, $(...) and redirections (>/dev/full, <FILE)
#       work; a pipe (| head -c 10) works too and the row's exit code is
#       numabench's (pipefail). Variables set for a row:
#         $FIX  the repository's tests/fixtures
#         $IN   tests/cli/bad-inputs/inputs (hand-made bad files)
#         $TMP  a fresh, empty scratch directory for this row only, except
#               for $TMP/fifo (a FIFO nobody writes) and $TMP/dir (an empty
#               directory)
# stdin is /dev/null unless the row redirects it.
#
# A row fails on: another exit code; with EXIT != 0, stderr not exactly one
# line or lacking WORD; a crash (exit >= 128 other than 130/143, unless EXIT
# says so; any sanitizer report); not finishing within 20 s (timeout).
# NB_BAD_INPUTS_FILTER=REGEX runs only the rows whose ARGS match;
# NB_BAD_INPUTS_DIR=DIR reads the tables of DIR instead.
set -u -o pipefail
: "${NUMABENCH:?NUMABENCH must name the numabench binary}"
src=${NB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=${NB_FIXTURES_DIR:-$src/tests/fixtures}
IN=$src/tests/cli/bad-inputs/inputs
export FIX IN
table_dir=${NB_BAD_INPUTS_DIR:-$src/tests/cli/bad-inputs}
limit=20

work=$(mktemp -d)
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT

passed=0
failed=0
tab=$(printf '\t')

fail() {
  echo "FAIL $where: $*"
  echo "     numabench $args"
  sed -n '1,5s/^/     stderr: /p' "$work/err"
  failed=$((failed + 1))
}

run_row() {
  TMP="$work/row"
  chmod -R u+rwx "$TMP" 2>/dev/null
  rm -rf "$TMP"
  mkdir -p "$TMP/dir"
  mkfifo "$TMP/fifo"
  export TMP
  # -k: a child that ignores SIGTERM is killed 5 s later; timeout itself
  # then exits 124 (or 137), which the checks below call a hang.
  (cd "$TMP" && eval "timeout -k 5 $limit \"\$NUMABENCH\" $args") >"$work/out" 2>"$work/err" </dev/null
  rc=$?
}

check_row() {
  local lines
  lines=$(wc -l <"$work/err")
  # A last line without a newline is still a line.
  if [ -s "$work/err" ] && [ -n "$(tail -c 1 "$work/err")" ]; then lines=$((lines + 1)); fi
  if grep -q -e 'Sanitizer' -e 'runtime error:' "$work/err"; then
    fail "sanitizer report (exit $rc)"
  elif [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$want" -ne 137 ]; }; then
    fail "did not finish within $limit s (exit $rc)"
  elif [ "$rc" -ge 128 ] && [ "$rc" -ne 130 ] && [ "$rc" -ne 143 ] && [ "$rc" -ne "$want" ]; then
    fail "crashed: exit $rc (signal $((rc - 128)))"
  elif [ "$rc" -ne "$want" ]; then
    fail "exit $rc, want $want"
  elif [ "$want" -eq 0 ]; then
    if [ "$word" != - ] && ! grep -q -F -e "$word" "$work/out" "$work/err"; then
      fail "output lacks '$word'"
    else
      passed=$((passed + 1))
    fi
  elif [ "$lines" -ne 1 ]; then
    fail "$lines lines on stderr, want 1"
  elif ! grep -q -F -e "$word" "$work/err"; then
    fail "message lacks '$word'"
  else
    passed=$((passed + 1))
  fi
}

shopt -s nullglob
tables=("$table_dir"/*.tsv)
if [ ${#tables[@]} -eq 0 ]; then
  echo "FAIL: no tables in $table_dir"
  exit 1
fi
for table in "${tables[@]}"; do
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case $line in '' | '#'*) continue ;; esac
    where="$(basename "$table"):$n"
    want=${line%%"$tab"*}
    rest=${line#*"$tab"}
    word=${rest%%"$tab"*}
    args=${rest#*"$tab"}
    if [ "$rest" = "$line" ] || [ "$args" = "$rest" ] || ! [ "$want" -ge 0 ] 2>/dev/null; then
      : >"$work/err"
      fail "malformed row (want EXIT<TAB>WORD<TAB>ARGS)"
      continue
    fi
    if [ -n "${NB_BAD_INPUTS_FILTER:-}" ] && ! [[ $args =~ $NB_BAD_INPUTS_FILTER ]]; then continue; fi
    run_row
    check_row
  done <"$table"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
