#!/bin/bash
# numabench probe (issue 13): the probe file's document and key order, the
# fingerprint checked against an independent SHA-256 of the facts (jq's
# sorted compact form through sha256sum), --output (complete files, never
# overwritten), and the same probe object in the result files of run,
# launch and bw --json.
. "$(dirname "$0")/lib.sh"
need jq
need sha256sum coreutils

# fp FILE JQ-PATH: SHA-256 of the facts at that path, computed apart from
# numabench: sorted keys, no spaces, no newline (docs/probe-schema.md).
fp() { jq -j -c -S "$2.facts" "$1" | sha256sum | cut -d' ' -f1; }

"$NUMABENCH" probe --json >"$tmp/live.json" || bad "probe --json exit $?"
check "probe --json: the probe file's keys in order" \
  '[keys_unsorted[]] == ["schema_version","tool","kind","version","timestamp","probe"] and .schema_version == 1 and .tool == "numabench" and .kind == "probe"' \
  "$tmp/live.json"
check "probe object keys in order" \
  '.probe | [keys_unsorted[]] == ["hostname","group","fingerprint","facts","extra"]' "$tmp/live.json"
check "group keys" '.probe.group | [keys_unsorted[]] == ["cpu_model","gpu_model","gpus","nodes"] and (.cpu_model | type) == "string" and (.gpus | type) == "number"' "$tmp/live.json"
check "facts keys in order" \
  '.probe.facts | [keys_unsorted[]] == ["nodes","distances","gpus","nps","smt","numa_balancing","transparent_hugepages","kernel","driver"]' \
  "$tmp/live.json"
check "node keys" '[.probe.facts.nodes[] | [keys_unsorted[]] == ["node","cpus","cpuset","memory_gib","has_cpus","has_memory","gpu_memory"]] | all' "$tmp/live.json"
check "live: the host facts are known" '.probe.facts.kernel != null and .probe.hostname != "unknown"' "$tmp/live.json"
check "live: distances square" '.probe.facts.distances as $d | ($d | length) == (.probe.facts.nodes | length) and ([$d[] | length == ($d | length)] | all)' "$tmp/live.json"
want=$(fp "$tmp/live.json" .probe)
[ "$(jq -r .probe.fingerprint "$tmp/live.json")" = "$want" ] && ok "fingerprint = sha256sum of the sorted compact facts" ||
  bad "fingerprint $(jq -r .probe.fingerprint "$tmp/live.json") != $want"
"$NUMABENCH" probe >"$tmp/live.txt" || bad "probe exit $?"
grep -q "^fingerprint  *$want\$" "$tmp/live.txt" && ok "text shows the same fingerprint" || bad "text: $(head -3 "$tmp/live.txt")"

# A recorded topology: host-only facts null, same fingerprint each time, and
# the same as the text's.
X=$NB_FIXTURES_DIR/nps4-4gpu.xml
"$NUMABENCH" probe --json --topology "$X" >"$tmp/x1.json" || bad "probe --topology exit $?"
"$NUMABENCH" probe --json --topology "$X" >"$tmp/x2.json" || bad "probe --topology exit $?"
check "recorded: host facts null, nps 4" '.probe.facts | .kernel == null and .numa_balancing == null and .driver == null and .nps == 4' "$tmp/x1.json"
[ "$(jq -r .probe.fingerprint "$tmp/x1.json")" = "$(jq -r .probe.fingerprint "$tmp/x2.json")" ] &&
  [ "$(jq -r .probe.fingerprint "$tmp/x1.json")" = "$(fp "$tmp/x1.json" .probe)" ] && ok "recorded: stable fingerprint" ||
  bad "recorded: fingerprints differ"
# A different machine: a different fingerprint.
"$NUMABENCH" probe --json --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" >"$tmp/y.json"
[ "$(jq -r .probe.fingerprint "$tmp/x1.json")" != "$(jq -r .probe.fingerprint "$tmp/y.json")" ] &&
  ok "another machine, another fingerprint" || bad "two machines, one fingerprint"
# The GPUs taken from another list (--devices) are the process's, not the
# machine's: the facts and the fingerprint stay; extra says what was used.
"$NUMABENCH" probe --json --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" --devices 0000:a0:1d.0,0000:10:1c.0 >"$tmp/y2.json"
check "--devices: all 8 GPUs in the facts, 2 in extra" \
  '.probe.group.gpus == 8 and (.probe.facts.gpus | length) == 8 and .probe.extra.gpus_enumerated.origin == "devices" and (.probe.extra.gpus_enumerated.gpus | length) == 2 and .probe.extra.gpus_enumerated.gpus[0].node == 1' "$tmp/y2.json"
[ "$(jq -r .probe.fingerprint "$tmp/y.json")" = "$(jq -r .probe.fingerprint "$tmp/y2.json")" ] &&
  ok "--devices: the machine's fingerprint" || bad "--devices changed the fingerprint"

# The CUDA path (the stand-in presents this machine's first PCI devices as
# CUDA GPUs, as cli_cuda_standin.sh does): what CUDA enumerates is in extra,
# never in the facts, so probe, probe --no-cuda and CUDA's view agree. On a
# GPU machine with a CUDA build the same holds for the real runtime: the
# facts' GPUs come from the PCI bus and the driver's /proc, not from CUDA.
standin=$(ls /sys/bus/pci/devices 2>/dev/null | head -n 2 | tr '\n' ',' | sed 's/,$//')
if [ -n "$standin" ]; then
  NB_TEST_STANDIN_GPUS=$standin "$NUMABENCH" probe --json >"$tmp/sc.json" || bad "probe (stand-in CUDA) exit $?"
  "$NUMABENCH" probe --json --no-cuda >"$tmp/nc.json" || bad "probe --no-cuda exit $?"
  check "stand-in CUDA: its GPUs in extra, origin cuda" \
    '.probe.extra.gpus_enumerated.origin == "cuda" and (.probe.extra.gpus_enumerated.gpus | length) >= 1' "$tmp/sc.json"
  [ "$(jq -r .probe.fingerprint "$tmp/sc.json")" = "$want" ] && [ "$(jq -r .probe.fingerprint "$tmp/nc.json")" = "$want" ] &&
    [ "$(jq -c .probe.group "$tmp/sc.json")" = "$(jq -c .probe.group "$tmp/live.json")" ] &&
    ok "probe, probe --no-cuda and a CUDA enumeration: one fingerprint, one group" ||
    bad "fingerprints: plain $want, stand-in $(jq -r .probe.fingerprint "$tmp/sc.json"), --no-cuda $(jq -r .probe.fingerprint "$tmp/nc.json")"
else
  echo "note: no PCI device to present as a CUDA GPU; test_probe covers the CUDA path"
fi

# --output: a complete file, equal to --json but for the time, never
# overwritten, no temporary file left.
"$NUMABENCH" probe --json --output "$tmp/out/sub" >"$tmp/o1.json" 2>"$tmp/o1.err" || bad "probe --output exit $?"
"$NUMABENCH" probe --output "$tmp/out/sub" >/dev/null 2>"$tmp/o2.err" || bad "probe --output (2) exit $?"
n=$(find "$tmp/out/sub" -name '*-probe*.json' | wc -l)
[ "$n" = 2 ] && ok "--output: two runs, two files" || bad "--output: $n files: $(ls -a "$tmp/out/sub")"
[ "$(find "$tmp/out/sub" -name '.*' -type f | wc -l)" = 0 ] && ok "--output: no temporary file left" || bad "temporary files left"
f1=$(sed -n 's/^numabench: probe: saved //p' "$tmp/o1.err")
[ -f "$f1" ] && ok "--output: the note names the file" || bad "--output note: $(cat "$tmp/o1.err")"
[ -f "$f1" ] && [ "$(jq -S 'del(.timestamp, .probe.extra)' "$f1")" = "$(jq -S 'del(.timestamp, .probe.extra)' "$tmp/o1.json")" ] &&
  ok "--output: the file is the --json document" || bad "--output: file and stdout differ"
[ -f "$f1" ] && check "--output: a complete probe file" '.kind == "probe" and (.probe.fingerprint | test("^[0-9a-f]{64}$"))' "$f1"

# Result files carry the same probe object (the live machine's facts).
"$NUMABENCH" run --no-cuda --sample 3x32x32 --batch 4 --warmup 1 --steps 3 --mode bind --quiet \
  --output "$tmp/res" >/dev/null 2>"$tmp/run.err" || bad "run exit $?: $(cat "$tmp/run.err")"
r=$(ls "$tmp"/res/*.json 2>/dev/null | head -1)
if [ -n "$r" ]; then
  check "run result: probe present, last" '[keys_unsorted[]][-1] == "probe" and (.probe | [keys_unsorted[]] == ["hostname","group","fingerprint","facts","extra"])' "$r"
  [ "$(jq -r .probe.fingerprint "$r")" = "$want" ] && ok "run result: the probe's fingerprint" || bad "run result fingerprint $(jq -r .probe.fingerprint "$r") != $want"
else
  bad "run wrote no result file"
fi
"$NUMABENCH" bw --no-cuda --json --size 1M --repeat 1 >"$tmp/bw.json" 2>/dev/null || bad "bw exit $?"
check "bw --json: probe present" '.probe.fingerprint | test("^[0-9a-f]{64}$")' "$tmp/bw.json"
[ "$(jq -r .probe.fingerprint "$tmp/bw.json")" = "$want" ] && ok "bw: the probe's fingerprint" || bad "bw fingerprint differs"
# A PCI device stands in for the rank's GPU (as in cli_launch.sh): the
# probe object is what is checked here, not the launch.
dev=$("$NUMABENCH" topo --json --no-cuda | jq -r '.pci_devices[0].pci_bus_id // empty')
[ -n "$dev" ] || skip "no PCI device to stand in for launch's GPU"
"$NUMABENCH" launch --no-cuda --devices "$dev" --quiet --nproc 1 --mode none --output "$tmp/launch" -- true >/dev/null \
  2>"$tmp/l.err" || bad "launch exit $?: $(head -3 "$tmp/l.err")"
l=$(ls "$tmp"/launch/*.json 2>/dev/null | head -1)
if [ -n "$l" ]; then
  check "launch result: probe present" '.kind == "launch" and (.probe.fingerprint | test("^[0-9a-f]{64}$"))' "$l"
  # The launch's GPUs are --devices': the machine's facts are probe's, the
  # device it used is in extra.
  [ "$(jq -r .probe.fingerprint "$l")" = "$want" ] &&
    [ "$(jq -r '.probe.extra.gpus_enumerated.gpus[0].bus_id' "$l")" = "$dev" ] &&
    ok "launch result: the probe's fingerprint, --devices in extra" || bad "launch fingerprint differs"
else
  bad "launch wrote no result file"
fi
finish
