#!/bin/sh
# Build and run the whole test suite: unit, command-line, live-machine and
# QEMU-guest (vm) tests; GPU tests skip (77) without a usable GPU.
# Environment: NB_BUILD_DIR (default build), CC, NB_WERROR=1 (warnings are
# errors), NB_CMAKE_ARGS (more -D options), NB_CTEST_ARGS (e.g. -LE vm),
# NB_TEST_STRICT=1 (a skip for a missing tool fails instead). Without
# NB_CTEST_ARGS, label slow (the DataLoader guest case, 11 to 40 minutes
# under emulation) is left out: NB_CTEST_ARGS="-L slow" runs it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh --tests
build=${NB_BUILD_DIR:-build}
werror=OFF
[ "${NB_WERROR:-0}" = 1 ] && werror=ON
# shellcheck disable=SC2086
cmake -S . -B "$build" -DNB_WERROR=$werror ${NB_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" ${NB_CTEST_ARGS:--LE slow}
