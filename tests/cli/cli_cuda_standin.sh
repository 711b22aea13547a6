#!/bin/sh
# The CLI's CUDA path end to end without a GPU: the stand-in copy backend in
# place of the CUDA engine (the test-only switch NB_TEST_STANDIN_GPUS), with
# this machine's first PCI devices presented as CUDA GPUs. The JSON report (backend, pin, copy rate, pin time, verified
# batches, no host "device" buffer), the text report, the CSV columns, a
# --fail-at failure naming the GPU and batch, SIGINT mid-run (exit 130, an
# interrupted report), bw's CUDA JSON, the spin calibration recorded and
# judged, interleave + --pin hostalloc refused, and device memory too small
# for the batch.
. "$(dirname "$0")/lib.sh"
need jq
NB_TEST_STANDIN_GPUS=$(ls /sys/bus/pci/devices 2>/dev/null | head -n 2 | tr '\n' ',' | sed 's/,$//')
[ -n "$NB_TEST_STANDIN_GPUS" ] || skip "no PCI device to present as a GPU"
export NB_TEST_STANDIN_GPUS
fake=$NUMABENCH
small="--sample 3x32x32 --batch 4 --warmup 2 --steps 20 --gpu-work 200 --quiet"

"$fake" run $small --mode none,bind --verify --json --output "$tmp/res" >"$tmp/run.json" 2>"$tmp/err" ||
  bad "run exit $?: $(cat "$tmp/err")"
check "resolved: cuda backend, register pinning" '.resolved.backend == "cuda" and .resolved.pin == "register"' "$tmp/run.json"
check "every GPU: all steps, copy rate and pin time, 6 batches verified" \
  'all(.runs[].gpus[]; .steps_done == 22 and .copy_gbps > 0 and .pin_s >= 0 and .verify.batches == 6 and .verify.mismatches == 0)' "$tmp/run.json"
check "no host buffer stands for device memory" 'all(.runs[].placement.gpus[].buffers[]; .name != "device")' "$tmp/run.json"
check "bind achieved" '.runs[1].placement.achieved == true' "$tmp/run.json"
csv=$(ls "$tmp"/res/*.csv 2>/dev/null | head -n 1)
if [ -n "$csv" ] && head -n 1 "$csv" | grep -q ',pin_s,copy_gbps,spin_scale,cpu_work_ms,pool_s$' && [ "$(wc -l <"$csv")" -ge 3 ]; then
  ok "CSV: pin_s, copy_gbps, spin_scale, cpu_work_ms and pool_s columns, a row per GPU"
else
  bad "CSV: $(head -n 2 "$csv" 2>/dev/null)"
fi

check "every GPU: the spin calibration recorded (the stand-in's exact 1)" 'all(.runs[].gpus[]; .spin_scale == 1)' "$tmp/run.json"

# A GPU whose spin calibration is off (faked: 5x) still runs without device
# work, recording the factor, and stops a run that asks for work, naming the
# GPU and the way out.
nowork="--sample 3x32x32 --batch 4 --warmup 2 --steps 20 --quiet --no-save --mode bind"
NB_TEST_STANDIN_SPIN_SCALE=5 "$fake" run $nowork --gpu-work 0 --json >"$tmp/scale.json" 2>"$tmp/err" ||
  bad "bad calibration, --gpu-work 0: exit $?: $(cat "$tmp/err")"
check "bad calibration, --gpu-work 0: runs, factor recorded" 'all(.runs[].gpus[]; .steps_done == 22 and .spin_scale == 5)' "$tmp/scale.json"
NB_TEST_STANDIN_SPIN_SCALE=5 "$fake" run $nowork --gpu-work 200 >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -Eq '^numabench: GPU [01]: the spin kernel .* unusable for --gpu-work \(--gpu-work 0 runs without it\)$' "$tmp/err"; then
  ok "bad calibration, --gpu-work 200: exit 1, GPU named"
else
  bad "bad calibration, --gpu-work 200: exit $rc: $(cat "$tmp/err")"
fi
"$fake" run $nowork --backend host --json >"$tmp/host.json" 2>"$tmp/err" || bad "host: exit $?: $(cat "$tmp/err")"
check "host backend: no spin calibration (null)" 'all(.runs[].gpus[]; has("spin_scale") and .spin_scale == null)' "$tmp/host.json"

"$fake" run $small --mode bind --pin hostalloc --no-save >"$tmp/run.txt" 2>"$tmp/err" || bad "text exit $?: $(cat "$tmp/err")"
if grep -q 'backend cuda' "$tmp/run.txt" && grep -q 'pinned in' "$tmp/run.txt" && grep -q 'cudaHostAlloc' "$tmp/run.txt"; then
  ok "text: backend, pinning and its time shown"
else
  bad "text: $(cat "$tmp/run.txt")"
fi

# Interleaved staging cannot come from cudaHostAlloc (the driver serves it
# from the calling CPU's node): refused before anything runs, alone or in a
# list; --pin register interleaves.
for modes in interleave none,interleave; do
  "$fake" run $small --mode $modes --pin hostalloc --no-save >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -s "$tmp/out" ] &&
    grep -q -- '--mode interleave cannot run with --pin hostalloc' "$tmp/err"; then
    ok "--mode $modes --pin hostalloc: exit 2, one line naming the mode and --pin"
  else
    bad "--mode $modes --pin hostalloc: exit $rc: $(cat "$tmp/err")"
  fi
done
"$fake" run $small --mode interleave --pin register --no-save >/dev/null 2>"$tmp/err" ||
  bad "--mode interleave --pin register: exit $?: $(cat "$tmp/err")"

# Device buffers that do not fit the GPU (the stand-in's memory: room for
# about 2 samples of 3x32x32 and their 224x224 output): exit 1, one line with
# the CUDA error, what was asked and the --batch that fits.
NB_TEST_STANDIN_DEVICE_MEMORY=1300000 "$fake" run $small --mode bind --no-save >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -Eq '^numabench: GPU [01]: cudaMalloc: cudaErrorMemoryAllocation \(out of memory\): the device slots need 2 x 48 KiB and the resize output 2\.3 MiB at --batch 4, .*; lower --batch \(about 2 fits\)$' "$tmp/err"; then
  ok "device memory short: exit 1, what was asked and the --batch that fits"
else
  bad "device memory short: exit $rc: $(cat "$tmp/err")"
fi

"$fake" run $small --mode bind --verify --fail-at corrupt:5 --no-save >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -Eq 'GPU [01]: --verify: batch 5 came back from the GPU with the wrong data' "$tmp/err"; then
  ok "corrupt:5: exit 1, GPU and batch named"
else
  bad "corrupt:5: exit $rc: $(cat "$tmp/err")"
fi

"$fake" run --sample 3x32x32 --batch 4 --gpu-work 2000 --steps 100000 --mode bind --json --quiet --no-save \
  >"$tmp/sig.json" 2>"$tmp/err" &
pid=$!
sleep 1
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] && ok "SIGINT: exit 130" || bad "SIGINT: exit $rc: $(cat "$tmp/err")"
check "SIGINT: report interrupted, steps counted" '.interrupted == true and all(.runs[0].gpus[]; .steps_done > 0)' "$tmp/sig.json"

"$fake" bw --backend cuda --size 1M --repeat 2 --json >"$tmp/bw.json" 2>"$tmp/err" || bad "bw exit $?: $(cat "$tmp/err")"
check "bw: CUDA matrices for both GPUs, both ways, with totals" \
  '.backend == "cuda" and (.cols_gpus | length) == 2 and ([.h2d, .d2h | .alone, .all_at_once | .[][] | .median > 0] | all) and (.h2d.all_at_once_total | length) == (.rows_cpu_nodes | length)' "$tmp/bw.json"
finish
