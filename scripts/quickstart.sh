#!/bin/sh
# Quick start: install what is missing, build, show the topology and run
# numabench's main job (the benchmark) on defaults. Build directory:
# $NB_BUILD_DIR (default build).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
build=${NB_BUILD_DIR:-build}
cmake -S . -B "$build" ${NB_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
echo "built $build/bench/numabench"
echo
echo "== numabench topo: the machine as a GPU job sees it"
"$build/bench/numabench" topo
echo
echo "== numabench: the benchmark on defaults (modes none, bind, adversarial; 10 warmup + 100 steps)"
exec "$build/bench/numabench"
