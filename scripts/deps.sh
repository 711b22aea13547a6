#!/bin/sh
# Install the Debian/Ubuntu packages numabench needs, or say exactly how.
#   scripts/deps.sh [--tests] [--ci]
# --tests adds what the test suite uses (jq, python3, QEMU, busybox-static,
# slurm-wlm and munge for the single-node Slurm test, ...);
# --ci adds clang and its sanitizer and libFuzzer runtimes (libclang-rt-dev)
# for the compiler matrix and the fuzz step, and python3-torch (CPU) for the
# torch-labelled test. As root, missing packages are
# installed with apt-get; otherwise the apt-get command is printed and the
# script fails only when a package needed to build is missing.
set -eu

build="cmake make gcc libc6-dev pkg-config libhwloc-dev libnuma-dev libjansson-dev libcmocka-dev libgsl-dev libinih-dev nettle-dev"
tests="jq python3 qemu-system-x86 busybox-static cpio bzip2 util-linux gnuplot-nox slurm-wlm munge"
ci="clang libclang-rt-dev python3-torch"
want=$build
with_tests=0
for arg in "$@"; do
  case $arg in
  --tests) want="$want $tests"; with_tests=1 ;;
  --ci) want="$want $tests $ci"; with_tests=1 ;;
  *) echo "usage: scripts/deps.sh [--tests] [--ci]" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: not a Debian/Ubuntu system; install the equivalents of: $want" >&2
  exit 0
fi

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

# The VM tests fetch Debian's kernel image with `apt-get download`, which
# needs package lists.
need_lists=0
if [ "$with_tests" = 1 ] && ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  need_lists=1
fi

if [ -z "$missing" ] && [ "$need_lists" = 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing:${missing:- (package lists only)}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  [ -z "$missing" ] || apt-get install -y -q --no-install-recommends $missing >/dev/null
  exit 0
fi
echo "deps: missing packages:$missing" >&2
echo "deps: install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
for p in $missing; do
  case " $build " in *" $p "*) exit 1 ;; esac
done
echo "deps: going on; tests that need them will be skipped and say why" >&2
exit 0
