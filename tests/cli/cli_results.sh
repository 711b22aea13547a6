#!/bin/sh
# Result files, report, compare, plots and presets: the experiment workflow
# end to end, as the README shows it.
. "$(dirname "$0")/lib.sh"
need jq
: "${NB_SOURCE_DIR:?}"
out="$tmp/results"

# A preset writes complete result files: JSON (the documented schema) and CSV.
"$NUMABENCH" --config "$NB_SOURCE_DIR/configs/ci-smoke.ini" --output "$out" >"$tmp/run.txt" 2>"$tmp/err" || bad "ci-smoke exit $?: $(cat "$tmp/err")"
json=$(ls "$out"/*.json)
csv=$(ls "$out"/*.csv)
[ "$(echo "$json" | wc -l)" -eq 1 ] && [ "$(echo "$csv" | wc -l)" -eq 1 ] && ok "one JSON and one CSV file" || bad "files: $(ls -a "$out")"
[ "$(ls -A "$out" | grep -c '^\.')" -eq 0 ] && ok "no temporary file left" || bad "temporary files left: $(ls -A "$out")"
case $(basename "$json") in
  20[0-9][0-9][01][0-9][0-3][0-9]T[0-9]*Z-*-none+bind+adversarial-torch-b8-3x64x64.json) ok "file name <time>-<host>-<config>: $(basename "$json")" ;;
  *) bad "file name $(basename "$json")" ;;
esac
schema='
  .schema_version == 1 and .tool == "numabench" and (.timestamp | test("^[0-9-]+T[0-9:]+Z$"))
  and (.host.hostname | type == "string") and (.host.kernel | type == "string") and (.cuda.built | type == "boolean")
  and (.host.numa_balancing | type == "number" or type == "null") and (.host.transparent_hugepages | type == "string" or type == "null")
  and (.host.smt_active | type == "boolean" or type == "null") and (.host | has("numa_balancing") and has("transparent_hugepages") and has("smt_active"))
  and (.topology.schema_version == 1) and (.config.repeat == 3) and (.user_set | index("repeat") != null)
  and (.resolved.repeat == 3) and (.interrupted == false)
  and ([.runs[] | select(.skipped | not)] | all(.repeat >= 0 and (.gpus | all(.step_ms | length == 30)) and .placement.achieved != null))
  and (.summary | all(.skipped or (.runs == 3 and (.steps_per_s | has("mean") and has("median") and has("sd") and has("cv") and has("min") and has("max") and (.ci95 | length) == 2))))'
check "result file: schema" "$schema" "$json"
check "modes interleaved: none, bind, none, bind, ..." '[.runs[] | select(.skipped | not) | .mode] | .[0:4] == ["none","bind","none","bind"]' "$json"
check "summary: bind has a speedup vs none with an interval" '(.summary[] | select(.mode == "bind") | .speedup_vs_none.ratio > 0 and (.speedup_vs_none.ci95 | length) == 2)' "$json"
check "summary statistics match the raw runs" '(.summary[] | select(.mode == "bind") | .steps_per_s.mean) as $m | ([.runs[] | select(.mode == "bind" and (.skipped | not)) | .steps_per_s] | add / length) as $raw | (($m - $raw) | fabs) < 1e-6 * $raw' "$json"
head -1 "$csv" | grep -q '^format,mode,repeat,gpu,node,steps_per_s' && ok "CSV header" || bad "CSV header: $(head -1 "$csv")"
rows=$(($(wc -l <"$csv") - 1))
want=$(jq '[.runs[] | select(.skipped | not) | .gpus[]] | length' "$json")
[ "$rows" -eq "$want" ] && ok "CSV: one row per mode x repeat x GPU ($rows)" || bad "CSV rows $rows, want $want"
awk -F, 'NR > 1 && $1 != "1" { bad = 1 } END { exit bad }' "$csv" && ok "CSV format version 1 on every row" || bad "CSV format column"

# Never overwritten: names the next runs would take already exist (the next
# seconds' names), so a run must pick a -2 name and leave them alone.
cp "$json" "$tmp/first.json"
rest=$(basename "$json" | sed 's/^[0-9]*T[0-9]*Z//')
now=$(date -u +%s)
placed=0
for k in 0 1 2 3 4 5 6 7 8 9 10; do
  name=$(date -u -d "@$((now + k))" +%Y%m%dT%H%M%SZ)$rest
  [ -e "$out/$name" ] && continue # the first run's own file
  echo "placeholder" >"$out/$name"
  echo "placeholder" >"$out/${name%.json}.csv"
  placed=$((placed + 1))
done
"$NUMABENCH" --config "$NB_SOURCE_DIR/configs/ci-smoke.ini" --output "$out" >/dev/null 2>"$tmp/err"
new=$(ls "$out"/*-2.json 2>/dev/null | head -1)
[ -n "$new" ] && [ -s "${new%.json}.csv" ] && ok "same name taken: written as $(basename "$new") with its .csv" || bad "no -2 file: $(ls "$out") $(cat "$tmp/err")"
cmp -s "$json" "$tmp/first.json" && ok "the first file is untouched" || bad "the first file changed"
[ "$(grep -l '^placeholder$' "$out"/*.json | wc -l)" -eq "$placed" ] && ok "existing files with the names were not overwritten" || bad "placeholders overwritten"
rm -f $(grep -l '^placeholder$' "$out"/*.json "$out"/*.csv) "$new" "${new%.json}.csv"

# report: the table, in three formats, from one and from several files.
"$NUMABENCH" report "$json" >"$tmp/report.txt" || bad "report exit $?"
mean=$(jq -r '.summary[] | select(.mode == "bind") | .steps_per_s.mean' "$json")
grep -q '^[^ ]* *[^ ]* *bind *3 ' "$tmp/report.txt" && ok "report: bind row" || bad "report: $(cat "$tmp/report.txt")"
"$NUMABENCH" report --format csv "$json" >"$tmp/report.csv"
got=$(awk -F, '$4 == "bind" { print $6 }' "$tmp/report.csv")
awk -v a="$got" -v b="$mean" 'BEGIN { exit !((a - b) ^ 2 < (1e-5 * b) ^ 2) }' && ok "report csv round-trips the mean ($got)" || bad "report csv $got vs $mean"
"$NUMABENCH" report --format md "$json" "$json" >"$tmp/report.md"
[ "$(grep -c '^| ' "$tmp/report.md")" -ge 4 ] && grep -q '^|---' "$tmp/report.md" && ok "report md, two files" || bad "report md: $(cat "$tmp/report.md")"
printf '{"schema_version": 7}' >"$tmp/bogus.json"
"$NUMABENCH" report "$tmp/bogus.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'not a numabench result file' "$tmp/err" && ok "report: bad file exit 2: $(cat "$tmp/err")" || bad "report bogus: $(cat "$tmp/err")"

# compare: 0 on the same data, 1 on a clearly worse copy, 2 when not comparable.
"$NUMABENCH" compare "$json" "$json" >"$tmp/cmp.txt"
[ $? -eq 0 ] && grep -q '^no regression' "$tmp/cmp.txt" && ok "compare same: exit 0" || bad "compare same: $(cat "$tmp/cmp.txt")"
# Synthetic copies with known, tight intervals: the measured noise of this
# machine must not decide the verdict.
jq '.summary |= map(if .skipped then . else .steps_per_s |= (.ci95 = [.mean * 0.99, .mean * 1.01]) end)' "$json" >"$tmp/tight.json"
jq '.summary |= map(if .skipped then . else .steps_per_s |= (.mean *= 0.5 | .median *= 0.5 | .min *= 0.5 | .max *= 0.5 | .ci95 |= map(. * 0.5)) end)' "$tmp/tight.json" >"$tmp/worse.json"
"$NUMABENCH" compare "$tmp/tight.json" "$tmp/worse.json" >"$tmp/cmp.txt"
[ $? -eq 1 ] && grep -q 'REGRESSION' "$tmp/cmp.txt" && ok "compare worse: exit 1" || bad "compare worse: $(cat "$tmp/cmp.txt")"
jq '.summary |= map(if .skipped then . else .steps_per_s |= (.mean *= 0.9 | .ci95 = [.mean * 0.5, .mean * 1.5]) end)' "$tmp/tight.json" >"$tmp/noisy.json"
"$NUMABENCH" compare "$tmp/tight.json" "$tmp/noisy.json" >"$tmp/cmp.txt"
[ $? -eq 0 ] && grep -q 'within the noise' "$tmp/cmp.txt" && ok "compare 10% slower but noisy: exit 0, within the noise" || bad "compare noisy: $(cat "$tmp/cmp.txt")"
"$NUMABENCH" compare "$tmp/worse.json" "$tmp/tight.json" >"$tmp/cmp.txt"
[ $? -eq 0 ] && grep -q 'faster' "$tmp/cmp.txt" && ok "compare better: exit 0, faster" || bad "compare better: $(cat "$tmp/cmp.txt")"
jq '.resolved.batch = 16 | .resolved.pipeline = "direct"' "$json" >"$tmp/other.json"
"$NUMABENCH" compare "$json" "$tmp/other.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'batch (8 vs 16)' "$tmp/err" && grep -q 'pipeline ("torch" vs "direct")' "$tmp/err" && ok "compare different settings: exit 2: $(cat "$tmp/err")" || bad "compare other: $(cat "$tmp/err")"

jq '.summary |= map(select(.mode != "bind"))' "$json" >"$tmp/nobind.json"
"$NUMABENCH" compare "$json" "$tmp/nobind.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'mode bind of .* is missing' "$tmp/err" && ok "compare: a vanished mode is not comparable (exit 2)" || bad "compare missing mode: $(cat "$tmp/err")"
jq '.interrupted = true' "$json" >"$tmp/int.json"
"$NUMABENCH" compare "$json" "$tmp/int.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'interrupted run' "$tmp/err" && ok "compare: an interrupted run is not comparable (exit 2)" || bad "compare interrupted: $(cat "$tmp/err")"

# The example CI job: records a baseline, then compares (no threshold decides this test).
NUMABENCH="$NUMABENCH" NB_RESULTS="$tmp/ci" sh "$NB_SOURCE_DIR/configs/ci/numabench-ci.sh" "$NB_SOURCE_DIR/configs/ci-smoke.ini" "$tmp/base.json" >"$tmp/ci1.txt" 2>&1
[ $? -eq 0 ] && [ -s "$tmp/base.json" ] && ok "CI job: baseline recorded" || bad "CI job 1: $(cat "$tmp/ci1.txt")"
NUMABENCH="$NUMABENCH" NB_RESULTS="$tmp/ci2" sh "$NB_SOURCE_DIR/configs/ci/numabench-ci.sh" "$NB_SOURCE_DIR/configs/ci-smoke.ini" "$tmp/base.json" >"$tmp/ci2.txt" 2>&1
rc=$?
{ [ $rc -eq 0 ] || [ $rc -eq 1 ]; } && grep -qi 'regression' "$tmp/ci2.txt" && ok "CI job: compared (exit $rc)" || bad "CI job 2: exit $rc: $(cat "$tmp/ci2.txt")"

# Bad presets: file, line and reason; exit 2.
printf '[numabench]\nbatch = 8\nfrobnicate = 1\n' >"$tmp/bad.ini"
"$NUMABENCH" --config "$tmp/bad.ini" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "bad.ini:3: unknown option 'frobnicate'" "$tmp/err" && ok "bad preset key: $(cat "$tmp/err")" || bad "bad preset: $(cat "$tmp/err")"
printf 'steps = none\n' >"$tmp/bad2.ini"
"$NUMABENCH" --config "$tmp/bad2.ini" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "bad2.ini:1: --steps: 'none' is not an integer" "$tmp/err" && ok "bad preset value: $(cat "$tmp/err")" || bad "bad preset 2: $(cat "$tmp/err")"
for p in seed-p4d ci-smoke gpu-work-sweep cpu-work-sweep replay-ceiling; do
  # Every shipped preset parses (--help after it stops before running).
  "$NUMABENCH" run --config "$NB_SOURCE_DIR/configs/$p.ini" --help >/dev/null 2>"$tmp/err" && ok "preset $p parses" || bad "preset $p: $(cat "$tmp/err")"
done
"$NUMABENCH" --config "$NB_SOURCE_DIR/configs/ci-smoke.ini" --steps 3 --repeat 1 --mode bind --no-save --json >"$tmp/over.json"
check "the command line overrides the preset" '.resolved.steps == 3 and .resolved.repeat == 1 and ([.runs[].mode] == ["bind"])' "$tmp/over.json"

# An interrupted run leaves a complete file marked interrupted.
"$NUMABENCH" --sample 3x16x16 --batch 2 --gpu-work 2000 --steps 100000 --mode bind --quiet --output "$tmp/int" >/dev/null 2>&1 &
pid=$!
sleep 1
kill -INT $pid
wait $pid
check "interrupted run: complete file, marked, not averaged" '.interrupted == true and .runs[0].interrupted == true and .runs[0].complete == false and .summary[0].runs == 0 and .summary[0].steps_per_s == null' "$(ls "$tmp"/int/*.json)"

# A sweep: one file per value; the plot draws it.
"$NUMABENCH" --sample 3x16x16 --batch 2 --steps 10 --warmup 1 --repeat 2 --mode none,bind --sweep gpu-work=0,500 --quiet --output "$tmp/sweep" >/dev/null 2>"$tmp/err"
[ "$(ls "$tmp"/sweep/*.json | wc -l)" -eq 2 ] && ok "sweep: two result files" || bad "sweep: $(ls "$tmp/sweep") $(cat "$tmp/err")"
check "sweep: the point is recorded" '.resolved.sweep.option == "gpu-work"' "$(ls "$tmp"/sweep/*gpu-work500*.json)"
"$NUMABENCH" --sweep nothing=1 --no-save >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && ok "bad sweep: exit 2" || bad "bad sweep: $(cat "$tmp/err")"

"$NUMABENCH" --sample 3x16x16 --batch 2 --steps 5 --warmup 1 --mode bind --sweep pipeline=torch,direct --quiet --output "$tmp/psweep" >/dev/null 2>&1
if command -v gnuplot >/dev/null 2>&1; then
  "$NB_SOURCE_DIR/plot/numabench-plot" -o "$tmp/pplots" "$tmp"/psweep/*.json 2>"$tmp/err" && [ -s "$tmp/pplots/sweep.png" ] \
    && ok "plot: a non-numeric sweep (pipeline) draws" || bad "plot pipeline sweep: $(cat "$tmp/err")"
  "$NB_SOURCE_DIR/plot/numabench-plot" -o "$tmp/plots" "$json" "$tmp"/sweep/*.json 2>"$tmp/err" || bad "plot exit $?: $(cat "$tmp/err")"
  for f in steps per-gpu speedup sweep; do
    for ext in png svg; do
      [ -s "$tmp/plots/$f.$ext" ] && ok "plot $f.$ext ($(wc -c <"$tmp/plots/$f.$ext") bytes)" || bad "plot $f.$ext missing"
    done
  done
  head -c 8 "$tmp/plots/steps.png" | od -An -c | grep -q 'P   N   G' && ok "steps.png is a PNG" || bad "steps.png is not a PNG"
  grep -q '<svg' "$tmp/plots/steps.svg" && ok "steps.svg is SVG" || bad "steps.svg"
  "$NB_SOURCE_DIR/plot/numabench-plot" -o "$tmp/plots" "$tmp/bogus.json" >/dev/null 2>&1
  [ $? -eq 2 ] && ok "plot: bad file exit 2" || bad "plot bad file"
else
  skip "gnuplot is not installed (apt-get install gnuplot-nox): the plots were not checked"
fi
finish
