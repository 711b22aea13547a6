#!/bin/bash
# Files in and out (issue 14, classes 2, 3, 4 and 9), the behaviours that end
# in exit 0 or need more than one line to check; the refusals are rows of
# tests/cli/bad-inputs/files.tsv.
. "$(dirname "$0")/lib.sh"
need jq
need python3
IN=$(cd "$(dirname "$0")/bad-inputs/inputs" && pwd)
RUN=(run --steps 2 --warmup 0 --sample 1x8x8 --batch 2 --mode none --quiet)

# Class 4: a file of an interrupted run is read, shown as far as it goes, and
# marked.
if out=$("$NUMABENCH" report "$IN/files-interrupted-none.json" 2>"$tmp/err"); then
  if grep -q '^golden-host .* none  *0  *- ' <<<"$out" && grep -q 'interrupted run' <<<"$out" && [ ! -s "$tmp/err" ]; then
    ok "report reads an interrupted file: a row with 0 runs, '-' statistics, marked"
  else bad "report on an interrupted file: $out"; fi
else bad "report on an interrupted file exits $?: $(cat "$tmp/err")"; fi
out=$("$NUMABENCH" report --format csv "$IN/files-interrupted.json" "$IN/files-base.json")
if [ "$(grep -c ',true$' <<<"$out")" = 2 ] && [ "$(grep -c ',false$' <<<"$out")" = 2 ]; then
  ok "report --format csv: an interrupted column, true for the interrupted file only"
else bad "csv interrupted column: $out"; fi
out=$("$NUMABENCH" report --format md "$IN/files-interrupted.json")
if grep -q '^$' <<<"$out" && tail -1 <<<"$out" | grep -q 'interrupted run'; then
  ok "report --format md: the mark is a paragraph after the table"
else bad "md interrupted mark: $out"; fi

# Class 9: CSV fields are quoted (RFC 4180); text rows are never split.
"$NUMABENCH" report --format csv "$IN/files-hostile-host.json" "$IN/files-base.json" >"$tmp/h.csv"
if python3 - "$tmp/h.csv" <<'PY'; then
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
assert len(rows) == 5, rows
assert all(len(r) == len(rows[0]) == 14 for r in rows), rows
assert rows[1][1] == 'gold,en "host"\nline2', rows[1][1]
assert rows[3][1] == 'golden-host'
PY
  ok "report --format csv quotes a hostname with a comma, quotes and a newline"
else bad "report --format csv quoting: $(cat "$tmp/h.csv")"; fi
out=$("$NUMABENCH" report "$IN/files-hostile-host.json")
if [ "$(wc -l <<<"$out")" = 3 ] && grep -q 'gold,en "host"?line2' <<<"$out"; then
  ok "report (text): a newline in a hostname does not split the row"
else bad "text report with a hostile hostname: $out"; fi
out=$("$NUMABENCH" report --format md "$IN/files-hostile-host.json" "$IN/files-base.json")
if [ "$(grep -c '^|' <<<"$out")" = 6 ]; then ok "report --format md keeps one row per mode"; else bad "md rows: $out"; fi
n=$("$NUMABENCH" report --format csv "$IN/files-20-modes.json" | wc -l)
if [ "$n" = 21 ]; then ok "report shows all 20 modes of a file (it kept 16)"; else bad "20 modes: $n lines"; fi

# Class 6: compare still passes files that are complete.
if "$NUMABENCH" compare "$IN/files-base.json" "$IN/files-base.json" >/dev/null 2>&1; then
  ok "compare of a complete file with itself: exit 0"
else bad "compare base base"; fi

# Class 2: presets that are fine stay fine (CRLF, a byte order mark, comments
# indented or long up to the limit).
printf '\xef\xbb\xbf; preset\r\n[numabench]\r\nmode = bind\r\n  ; an indented comment\r\nworkers = 1\r\n' >"$tmp/ok.ini"
printf 'workers = 1%198s\n' '' | cut -c1-198 >"$tmp/198.ini"
for f in ok 198; do
  if "$NUMABENCH" plan --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" --config "$tmp/$f.ini" >/dev/null 2>"$tmp/err"; then
    ok "preset $f.ini accepted"
  else bad "preset $f.ini: $(cat "$tmp/err")"; fi
done
mkfifo "$tmp/writer.fifo"
(cat "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" >"$tmp/writer.fifo") &
sleep 0.2
if timeout 20 "$NUMABENCH" topo --topology /dev/stdin <"$tmp/writer.fifo" >/dev/null 2>"$tmp/err"; then
  ok "a FIFO with its writer is still read as --topology /dev/stdin"
else bad "FIFO with a writer: $(cat "$tmp/err")"; fi
wait

# Class 3: --output is checked before anything is measured.
start=$(date +%s)
timeout 20 "$NUMABENCH" run --steps 16000000 --output /dev/null --quiet >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && [ $(($(date +%s) - start)) -lt 10 ] && grep -q -- '--output /dev/null' "$tmp/err"; then
  ok "--output /dev/null refused before the run"
else bad "--output /dev/null: exit $rc, $(cat "$tmp/err")"; fi
"$NUMABENCH" "${RUN[@]}" --output "$tmp/new/deep/dir" >/dev/null 2>&1
if ls "$tmp/new/deep/dir/"*.json >/dev/null 2>&1; then ok "--output creates missing parents"; else bad "--output parents"; fi

# Class 3: a full stdout or a closed pipe: the files are saved, exit 1.
if [ -w /dev/full ]; then
  "$NUMABENCH" "${RUN[@]}" --output "$tmp/full" >/dev/full 2>"$tmp/err"
  rc=$?
  if [ $rc = 1 ] && ls "$tmp/full/"*.json "$tmp/full/"*.csv >/dev/null 2>&1 && grep -q 'standard output' "$tmp/err" &&
    jq -e '.summary | length == 1' "$tmp/full/"*.json >/dev/null; then
    ok "stdout on /dev/full: exit 1, the result files saved"
  else bad "stdout on /dev/full: exit $rc, $(cat "$tmp/err"), $(ls "$tmp/full" 2>&1)"; fi
fi
# A pipe whose reader is gone before the report is written: EPIPE, not death
# by SIGPIPE. (python holds the write end after closing the read end.)
python3 - "$NUMABENCH" "$tmp/pipe" "${RUN[@]}" >"$tmp/pipe.out" 2>"$tmp/err" <<'PY'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1]] + sys.argv[3:] + ['--json', '--output', sys.argv[2]], stdout=w)
print(p.returncode)
PY
rc=$(cat "$tmp/pipe.out")
if [ "$rc" = 1 ] && ls "$tmp/pipe/"*.json >/dev/null 2>&1 && grep -q 'Broken pipe' "$tmp/err"; then
  ok "stdout a closed pipe: exit 1 (not SIGPIPE), the result files saved"
else bad "closed pipe: exit $rc, $(cat "$tmp/err")"; fi

finish
