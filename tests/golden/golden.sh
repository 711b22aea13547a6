#!/usr/bin/env bash
# Golden-output test: runs every case of cases.txt with the given numabench
# binary and compares stdout, stderr and the exit code byte for byte with the
# recorded files in expected/. See README.md in this directory.
#
# usage: golden.sh BINARY [--update] [NAME-PATTERN]
#   --update        rewrite the expected files from BINARY (an intended change)
#   NAME-PATTERN    run only the cases whose name matches this shell pattern
# Environment: NB_SHARED_TOPOLOGIES (hwloc's recorded machines; default
# ../shared/topologies next to the repository; cases that use them are
# skipped when it is absent), NB_FSROOT_DIR (an unpacked recorded /sys tree,
# e.g. CTest's fsroot_unpack fixture; unpacked here when not given).
# Exit: 0 all passed, 1 a mismatch, 2 bad usage, 77 every case skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)

usage() {
  echo "usage: $0 BINARY [--update] [NAME-PATTERN]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
bin=$1
shift
update=0
pattern='*'
for a in "$@"; do
  case $a in
    --update) update=1 ;;
    -*) usage ;;
    *) pattern=$a ;;
  esac
done
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
[ -x "$bin" ] || {
  echo "golden: $bin is not an executable" >&2
  exit 2
}

# Every case runs in a scratch directory that holds the inputs under short
# relative names, so that no output depends on where the repository or the
# build lives:
#   fixtures/  tests/fixtures        inputs/  tests/golden/inputs
#   shared/    recorded machines     fsroot/  the recorded /sys tree
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$src/tests/fixtures" "$work/fixtures"
ln -s "$here/inputs" "$work/inputs"
shared=${NB_SHARED_TOPOLOGIES:-$src/../shared/topologies}
have_shared=0
if [ -d "$shared" ]; then
  ln -s "$(cd "$shared" && pwd)" "$work/shared"
  have_shared=1
fi
if [ -n "${NB_FSROOT_DIR:-}" ] && [ -d "$NB_FSROOT_DIR" ]; then
  ln -s "$(cd "$NB_FSROOT_DIR" && pwd)" "$work/fsroot"
else
  mkdir "$work/unpack"
  if ! tar -xjf "$src/tests/fixtures/fsroot-qemu-memonly.tar.bz2" -C "$work/unpack" ||
    ! mv "$work/unpack/vm" "$work/fsroot"; then
    echo "golden: cannot unpack the recorded /sys tree" >&2
    exit 1
  fi
fi
mkdir "$work/run" "$work/actual"

# A fixed environment: nothing of the caller's (CUDA_VISIBLE_DEVICES,
# HWLOC_*, the locale) reaches the binary; a case adds its own variables.
# Sanitizer settings pass through so that the CI builds keep them.
base_env=(PATH=/usr/local/bin:/usr/bin:/bin LC_ALL=C TZ=UTC HOME="$work/run")
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS LD_LIBRARY_PATH; do
  [ -n "${!v:-}" ] && base_env+=("$v=${!v}")
done

# section TITLE FILE: the file's bytes under a title; a missing final newline
# is marked (as diff does) so that it is compared too.
section() {
  printf -- '--- %s\n' "$1"
  cat "$2"
  if [ -s "$2" ] && [ "$(tail -c 1 "$2" | wc -l)" -eq 0 ]; then
    printf '\n\\ no newline at end of %s\n' "$1"
  fi
}

passed=0 failed=0 skipped=0
declare -A seen=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case $line in '' | '#'*) continue ;; esac
  name=${line%%[[:space:]]*}
  text=${line#"$name"}
  text=${text#"${text%%[![:space:]]*}"}
  if [[ ! $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || [ -n "${seen[$name]:-}" ]; then
    echo "golden: cases.txt:$lineno: bad or repeated case name '$name'" >&2
    exit 2
  fi
  seen[$name]=1
  # shellcheck disable=SC2053
  [[ $name == $pattern ]] || continue
  if [ $have_shared = 0 ] && [[ $text == *shared/* ]]; then
    skipped=$((skipped + 1))
    continue
  fi
  # The case's words, as the shell reads them; leading VAR=VALUE words are
  # its environment.
  eval "set -- $text"
  case_env=()
  while [ $# -gt 0 ] && [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
    case_env+=("$1")
    shift
  done
  (cd "$work" && exec env -i "${base_env[@]}" "${case_env[@]}" timeout 120 "$bin" "$@" \
    >"$work/out" 2>"$work/err" </dev/null)
  rc=$?
  {
    printf 'case: %s\n' "$text"
    printf 'exit %d\n' "$rc"
    section stdout "$work/out"
    section stderr "$work/err"
  } >"$work/actual/$name"
  want=$here/expected/$name.txt
  if [ $update = 1 ]; then
    mkdir -p "$here/expected"
    cmp -s "$work/actual/$name" "$want" || echo "updated $name"
    cp "$work/actual/$name" "$want"
    passed=$((passed + 1))
  elif [ ! -e "$want" ]; then
    echo "FAIL $name: no expected/$name.txt (a new case: record it with --update and review it)"
    failed=$((failed + 1))
  elif cmp -s "$work/actual/$name" "$want"; then
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    diff -u --label "expected/$name.txt" --label "actual (this binary)" "$want" "$work/actual/$name" 2>&1 ||
      true
    failed=$((failed + 1))
  fi
done <"$here/cases.txt"

# An expected file without a case is a case removed by mistake (or a stale
# file): it fails here, and --update deletes it.
if [ "$pattern" = '*' ]; then
  for f in "$here"/expected/*.txt; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .txt)
    [ -n "${seen[$n]:-}" ] && continue
    if [ $update = 1 ]; then
      rm -f "$f"
      echo "removed expected/$n.txt (no such case)"
    else
      echo "FAIL expected/$n.txt has no case in cases.txt"
      failed=$((failed + 1))
    fi
  done
fi

[ $skipped -gt 0 ] && echo "skipped $skipped cases that read shared/: no recorded machines in $shared"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -ne 0 ] && exit 1
[ $passed -eq 0 ] && [ $skipped -gt 0 ] && exit 77
exit 0
