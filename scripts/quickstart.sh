#!/bin/sh
# Quick start: install what is missing, build, and run numabench's main job
# on defaults. Build directory: $NB_BUILD_DIR (default build).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
build=${NB_BUILD_DIR:-build}
cmake -S . -B "$build" ${NB_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
echo "built $build/bench/numabench; running: numabench topo"
echo
exec "$build/bench/numabench" topo
