#!/bin/sh
# Run every libFuzzer target of a -DNB_FUZZ=ON build for SECONDS each, over
# its seed corpus: the hand-made and regression inputs in seeds/TARGET and
# the repository's fixtures (tests/fixtures, tests/golden/inputs). Any
# finding (a sanitizer report, a failed check, a crash, a timeout, a leak)
# fails the run; the input that caused it is printed as hex and kept in
# NB_FUZZ_ARTIFACTS (default BUILD/fuzz-artifacts): add it to seeds/TARGET
# as a regression input once it is fixed.
#   tests/fuzz/run.sh BUILD SECONDS [TARGET...]
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD SECONDS [TARGET...]" >&2
  exit 2
fi
build=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
targets=${*:-fuzz_options fuzz_cpulist fuzz_ini fuzz_results fuzz_topo_xml fuzz_sysfs fuzz_procfs}
artifacts=${NB_FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# fuzz_cgroup: the cgroup reader (nb_cgroup_read) on recorded trees.
[ $# -gt 0 ] || targets="$targets fuzz_cgroup"

# archive ROOT PATH...: the files as fuzz_sysfs's records (PATH NUL CONTENT
# NUL), paths relative to ROOT; symbolic links are read through.
archive() {
  ar_root=$1
  shift
  for ar_p in "$@"; do
    [ -f "$ar_root/$ar_p" ] && { printf '%s\000' "$ar_p"; cat "$ar_root/$ar_p"; printf '\000'; }
  done
  return 0
}

# sysfs_seeds DIR: fuzz_sysfs seeds from the recorded QEMU tree (two nodes
# with CPUs, a memory-only node, PCI devices on each): the files hwloc and
# numabench read, whole and in parts.
sysfs_seeds() {
  fs_tree=$work/fsroot
  mkdir -p "$fs_tree"
  tar xjf "$src/tests/fixtures/fsroot-qemu-memonly.tar.bz2" -C "$fs_tree"
  fs_r=$fs_tree/vm
  nodes=$(cd "$fs_r" && for f in sys/devices/system/node/online sys/devices/system/node/possible \
    sys/devices/system/node/has_cpu sys/devices/system/node/has_memory sys/devices/system/node/node*/cpulist \
    sys/devices/system/node/node*/cpumap sys/devices/system/node/node*/distance \
    sys/devices/system/node/node*/meminfo; do echo "$f"; done)
  cpus=$(cd "$fs_r" && for f in sys/devices/system/cpu/online sys/devices/system/cpu/possible \
    sys/devices/system/cpu/present sys/devices/system/cpu/kernel_max sys/devices/system/cpu/cpu*/topology/* \
    proc/cpuinfo proc/meminfo; do echo "$f"; done)
  pci=$(cd "$fs_r" && for d in sys/bus/pci/devices/*; do
    for f in numa_node class vendor device local_cpus local_cpulist; do echo "$d/$f"; done
  done)
  # Word splitting on the newline-separated lists: no path has a space.
  # shellcheck disable=SC2086
  {
    archive "$fs_r" $nodes $cpus $pci >"$1/qemu-memonly-all"
    archive "$fs_r" $nodes $cpus >"$1/qemu-memonly-nopci"
    { archive "$fs_r" $nodes $cpus $pci; printf 'devices\000%s\000' "$(basename "$(ls -d "$fs_r"/sys/bus/pci/devices/* | tail -n 1)")"; } \
      >"$1/qemu-memonly-devices"
  }
}

# cgroup_seeds DIR: fuzz_cgroup seeds, one archive per recorded cgroup tree
# of tests/fixtures/cgroup/ (v1, v2, hybrid, garbage).
cgroup_seeds() {
  for cg_t in "$src"/tests/fixtures/cgroup/*/; do
    # shellcheck disable=SC2046
    archive "$cg_t" $(cd "$cg_t" && find proc sys -type f 2>/dev/null | tr ' ' '?') >"$1/$(basename "$cg_t")"
  done
}

# seed TARGET DIR: the corpus the target starts from.
seed() {
  mkdir -p "$2"
  cp "$here/seeds/$1"/* "$2"/ 2>/dev/null || true
  case $1 in
  fuzz_ini)
    # The first byte picks the command (2: run, whose options are most).
    for f in "$src"/tests/golden/inputs/*.ini "$src"/configs/*.ini; do
      [ -f "$f" ] && { printf '\002'; cat "$f"; } >"$2/$(basename "$f")"
    done
    ;;
  fuzz_cgroup) cgroup_seeds "$2" ;;
  fuzz_results) cp "$src"/tests/golden/inputs/*.json "$2"/ ;;
  fuzz_topo_xml) cp "$src"/tests/fixtures/*.xml "$src"/tests/golden/inputs/*.xml "$2"/ ;;
  fuzz_sysfs) sysfs_seeds "$2" ;;
  fuzz_procfs)
    # The recorded tree's files, behind the byte that picks their parser.
    for f in "$src"/tests/fixtures/proc/nvidia-8gpu/proc/[0-9]*/*; do
      case ${f##*/} in status) b='\000' ;; stat) b='\001' ;; numa_maps) b='\002' ;; *) continue ;; esac
      { printf "$b"; cat "$f"; } >"$2/$(echo "$f" | tr / _)"
    done
    ;;
  esac
}

# fuzz_one TARGET: run it, its report in $work/TARGET.report, and
# $work/TARGET.failed when it failed.
fuzz_one() {
  t=$1
  bin=$build/tests/fuzz/$t
  if [ ! -x "$bin" ]; then
    echo "FAIL $t: $bin not built (configure with CC=clang -DNB_FUZZ=ON)" >"$work/$t.report"
    : >"$work/$t.failed"
    return
  fi
  seed "$t" "$work/$t"
  # -timeout: an input slower than this is a hang (the topology child gives
  # up after 60 s itself); -rss_limit_mb: a memory blow-up is a finding.
  if "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work/$t" >"$work/$t.log" 2>&1; then
    echo "ok   $t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') runs in $secs s, corpus $(ls "$work/$t" | wc -l)" >"$work/$t.report"
  else
    {
      echo "FAIL $t: a finding (log tail below; inputs in $artifacts)"
      tail -n 40 "$work/$t.log" | sed 's/^/     /'
      for a in "$artifacts/$t"-*; do
        [ ! -f "$a" ] || echo "     input $(basename "$a"): $(head -c 512 "$a" | od -An -tx1 | tr -d ' \n')"
      done
    } >"$work/$t.report"
    : >"$work/$t.failed"
  fi
}

# The targets are single-threaded: NB_FUZZ_JOBS (default: the CPUs) run at
# once, each for its full SECONDS; lane k runs targets k, k + jobs, ...
jobs=${NB_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
lane=0
while [ "$lane" -lt "$jobs" ]; do
  (
    i=0
    for t in $targets; do
      [ $((i % jobs)) -eq "$lane" ] && fuzz_one "$t"
      i=$((i + 1))
    done
  ) &
  lane=$((lane + 1))
done
wait
failed=0
for t in $targets; do
  cat "$work/$t.report" 2>/dev/null || { echo "FAIL $t: no report"; failed=$((failed + 1)); continue; }
  [ ! -e "$work/$t.failed" ] || failed=$((failed + 1))
done
[ "$failed" -eq 0 ]
