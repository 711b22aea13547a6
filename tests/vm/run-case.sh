#!/bin/sh
# Run VM test cases: tests/vm/run-case.sh CASE... (cases/CASE.sh).
# Environment: NUMABENCH (the binary to test), NB_VM_WORK (work directory,
# keeps the fetched kernel), NB_VM_KERNEL, NB_VM_ACCEL, NB_TEST_STRICT.
set -u
NB_VM_DIR=$(cd "$(dirname "$0")" && pwd)
: "${NUMABENCH:?NUMABENCH must name the numabench binary}"
: "${NB_VM_WORK:=${TMPDIR:-/tmp}/numabench-vm}"
mkdir -p "$NB_VM_WORK"
. "$NB_VM_DIR/vm-lib.sh"
. "$NB_VM_DIR/check-lib.sh"

vm_prereqs
# Cases run in parallel (one CTest test per group of cases, ctest -j): the
# kernel and the host-root modules are fetched into $NB_VM_WORK once, by
# whichever comes first, while the others wait on this lock (flock(1),
# util-linux).
command -v flock >/dev/null 2>&1 || vm_skip "flock (util-linux) is needed to share $NB_VM_WORK between cases"
exec 9>"$NB_VM_WORK/.fetch.lock"
vm_lock() {
  flock -w 1800 9 || { echo "FAIL: $NB_VM_WORK/.fetch.lock still held after 30 min (a fetch hung?)" >&2; exit 1; }
}
vm_lock
KERNEL=$(vm_kernel) || exit $?
flock -u 9

total_fails=0 skipped=0
for case_name in "$@"; do
  LAYOUT= PCI=0 NB_VM_HOSTROOT=0 VM_CASE_TIMEOUT= VM_NODE_MEM_MB=
  unset -f guest check prereq 2>/dev/null
  . "$NB_VM_DIR/cases/$case_name.sh"
  dir="$NB_VM_WORK/$case_name"
  rm -rf "$dir"
  mkdir -p "$dir"
  # What one case needs beyond the harness (its prereq function; the host's
  # root for NB_VM_HOSTROOT=1): a skip (77) of that case, not of the others.
  rc=0
  if command -v prereq >/dev/null 2>&1; then
    (prereq) 2>"$dir/skip" || rc=$?
  fi
  if [ $rc = 0 ] && [ "$NB_VM_HOSTROOT" = 1 ]; then
    vm_lock
    VM_HOSTROOT_MODDIR=$(vm_hostroot_prereqs 2>"$dir/skip") || rc=$?
    flock -u 9
  fi
  if [ $rc != 0 ]; then
    echo "== $case_name: $(cat "$dir/skip")"
    if [ $rc = 77 ]; then skipped=$((skipped + 1)); else total_fails=$((total_fails + 1)); fi
    continue
  fi
  guest >"$dir/guest.sh"
  vm_initrd "$dir/initrd.gz" "$dir/guest.sh"
  start=$(date +%s)
  vm_boot "$LAYOUT" "$PCI" "$dir/initrd.gz" "$dir/console.log"
  rc=$?
  # QEMU itself killed by a signal before the guest's init started (seen
  # once under TCG on a loaded host: a segfault while booting from ROM) is
  # the emulator's failure, not the case's: boot once more, and say so.
  if [ "$rc" -ge 128 ] && [ "$rc" != 137 ] && ! grep -aq '^=== NB-GUEST-START' "$dir/console.log"; then
    echo "== $case_name: qemu exit $rc before the guest started; booting it again"
    tail -n 3 "$dir/console.log"
    vm_boot "$LAYOUT" "$PCI" "$dir/initrd.gz" "$dir/console.log"
    rc=$?
  fi
  echo "== $case_name: layout $LAYOUT, PCI devices $PCI, qemu exit $rc, $(($(date +%s) - start)) s"
  if ! grep -aq '^=== NB-GUEST-DONE' "$dir/console.log"; then
    echo "FAIL $case_name: the guest did not finish; last console lines:"
    tail -n 30 "$dir/console.log"
    total_fails=$((total_fails + 1))
    continue
  fi
  grep -a '^=== NB-GUEST-START' "$dir/console.log" | tr -d '\r'
  vm_unpack "$dir/console.log" "$dir/out"
  fails=0
  check "$dir/out"
  total_fails=$((total_fails + fails))
done
[ "$total_fails" -eq 0 ] || { echo "$total_fails VM check(s) failed"; exit 1; }
# Every case skipped: the run is a skip; some: the others passed, and the
# skipped ones said why above.
[ "$skipped" -lt $# ] || exit 77
exit 0
