#!/bin/sh
# --backend and --pin through the CLI on a machine without a usable GPU:
# --backend cuda (run and bw) is refused with exit 2 and one line naming the
# CUDA error (or the missing CUDA build) and the hint --backend host; auto
# falls back to host and says why; a CUDA error about the driver's version
# names the runtime and driver versions; a bad --pin or --backend is exit 2. On a
# machine with a usable GPU this skips: the gpu tests cover the CUDA backend.
. "$(dirname "$0")/lib.sh"
need jq
small="--sample 3x16x16 --batch 2 --warmup 1 --steps 3 --quiet --no-save"

"$NUMABENCH" topo --json >"$tmp/topo.json" || bad "topo exit $?"
if [ "$(jq -r .gpu_source "$tmp/topo.json")" = cuda ]; then
  echo "SKIP: this machine has a usable GPU; test_cuda_pipeline covers --backend cuda"
  exit 77
fi

one_line_refusal() { # NAME FILE RC
  if [ "$3" -eq 2 ] && [ "$(wc -l <"$2")" -eq 1 ] && grep -q 'use --backend host' "$2" &&
    grep -Eq 'cudaError[A-Za-z]+|built without CUDA|no CUDA device' "$2"; then
    ok "$1: exit 2, one line with the CUDA error and the hint"
  else
    bad "$1: exit $3: $(cat "$2")"
  fi
}

# A CUDA error about the driver's version (a CUDA build on a machine whose
# driver is too old or missing) names both versions.
driver_versions() { # NAME FILE
  if ! grep -Eq 'cudaError(InsufficientDriver|CallRequiresNewerDriver|UnsupportedPtxVersion|SystemDriverMismatch|CompatNotSupportedOnDevice)' "$2"; then
    echo "note: $1: not a driver-version error (no CUDA build, or no driver problem): versions not checked"
    return 0
  fi
  if grep -Eq '; runtime [0-9]+\.[0-9]+, (driver [0-9]+\.[0-9]+|no driver)\)' "$2"; then
    ok "$1: the driver error names the runtime and driver versions"
  else
    bad "$1: the driver error without both versions: $(cat "$2")"
  fi
}

"$NUMABENCH" run $small --backend cuda >"$tmp/out" 2>"$tmp/err"
one_line_refusal "run --backend cuda" "$tmp/err" $?
driver_versions "run --backend cuda" "$tmp/err"
jq -r .cuda "$tmp/topo.json" >"$tmp/cuda_status"
driver_versions "topo --json .cuda" "$tmp/cuda_status"
[ -s "$tmp/out" ] && bad "run --backend cuda wrote to stdout"
"$NUMABENCH" bw --backend cuda --size 1M >"$tmp/out" 2>"$tmp/err"
one_line_refusal "bw --backend cuda" "$tmp/err" $?
driver_versions "bw --backend cuda" "$tmp/err"
"$NUMABENCH" run $small --backend cuda --pin hostalloc >/dev/null 2>"$tmp/err"
one_line_refusal "run --backend cuda --pin hostalloc" "$tmp/err" $?

# auto: the host backend, and the reason in the devices line.
"$NUMABENCH" run $small --mode bind --json >"$tmp/auto.json" 2>"$tmp/err" || bad "auto exit $?: $(cat "$tmp/err")"
check "auto falls back to host" '.resolved.backend == "host" and .resolved.pin == null' "$tmp/auto.json"
"$NUMABENCH" bw --size 1M --repeat 1 --json >"$tmp/bw.json" 2>"$tmp/err" || bad "bw auto exit $?: $(cat "$tmp/err")"
check "bw auto is the host matrix" '.backend == "host" and (.alone | length) >= 1' "$tmp/bw.json"

for args in "--pin pinned" "--pin=" "--backend gpu"; do
  "$NUMABENCH" run $small $args >/dev/null 2>"$tmp/err"
  rc=$?
  opt=${args%% *}
  if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "${opt%%=*}" "$tmp/err"; then
    ok "run $args: exit 2, one line naming the option"
  else
    bad "run $args: exit $rc: $(cat "$tmp/err")"
  fi
done
finish
