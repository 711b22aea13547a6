#!/bin/sh
# Every bad input: exit 2, exactly one line on stderr naming the input,
# nothing on stdout, never a crash (exit >= 128) or a hang.
. "$(dirname "$0")/lib.sh"

printf '' > "$tmp/empty.xml"
printf 'hello\n' > "$tmp/garbage.xml"
head -c 400 "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" > "$tmp/truncated.xml"
sed '0,/ complete_cpuset="[^"]*"/s///' "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" > "$tmp/crashes-hwloc.xml"
mkdir "$tmp/emptydir"
x="$NB_FIXTURES_DIR/2s-8gpu-smt.xml"

# expect_usage "WORD THE MESSAGE MUST CONTAIN" ARGS...
expect_usage() {
  want=$1
  shift
  timeout 60 "$NUMABENCH" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 2 ]; then
    bad "numabench $*: exit $rc, want 2 ($(head -c 300 "$tmp/err"))"
  elif [ "$lines" -ne 1 ]; then
    bad "numabench $*: $lines lines on stderr, want 1"
  elif [ -s "$tmp/out" ]; then
    bad "numabench $*: wrote to stdout on error"
  elif ! grep -q "^numabench.*$want" "$tmp/err"; then
    bad "numabench $*: message lacks '$want': $(cat "$tmp/err")"
  else
    ok "numabench $*: $(cat "$tmp/err")"
  fi
}

expect_usage "no-such-file.xml" topo --topology "$tmp/no-such-file.xml"
expect_usage "empty file" topo --topology "$tmp/empty.xml"
expect_usage "not XML" topo --topology "$tmp/garbage.xml"
expect_usage "truncated.xml" topo --topology "$tmp/truncated.xml"
expect_usage "crashes-hwloc.xml: malformed" topo --topology "$tmp/crashes-hwloc.xml"
expect_usage "not a recorded /sys tree" topo --topology "$tmp/emptydir"
expect_usage "needs a value" topo --topology
expect_usage "needs a value" topo --topology ""
expect_usage "'zz' is not a PCI bus id" topo --topology "$x" --devices zz
expect_usage "not a PCI bus id" topo --topology "$x" --devices 0000:10:1c.0,
expect_usage "no PCI device 0000:99:00.0" topo --topology "$x" --devices 0000:99:00.0
expect_usage "listed twice" topo --topology "$x" --devices 10:1c.0,0000:10:1c.0
expect_usage "unknown option --bogus" topo --bogus
expect_usage "unknown option -z" topo -z
expect_usage "unexpected argument 'extra'" topo extra
expect_usage "unknown command 'frobnicate'" frobnicate
expect_usage "unknown option --bogus" --bogus
expect_usage "unknown command 'nope'" help nope
expect_usage "'maybe' is not a boolean" topo --json=maybe
expect_usage "option --help takes no value" topo --help=x
expect_usage "character device, not a regular file" topo --topology /dev/null
nl="$tmp/new
line.xml"
expect_usage "line.xml: cannot open" topo --topology "$nl"

# A full disk is an error, not a silent truncation.
if [ ! -w /dev/full ]; then
  echo "note: no writable /dev/full here: the full-disk check did not run"
else
  "$NUMABENCH" topo --topology "$x" >/dev/full 2>"$tmp/err"
  rc=$?
  if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
    ok "stdout on a full disk: exit 1, $(cat "$tmp/err")"
  else
    bad "stdout on a full disk: exit $rc"
  fi
fi
finish
