#!/bin/sh
# --help lists every option of the table for its command; --version names the
# version and the optional parts.
. "$(dirname "$0")/lib.sh"

"$NUMABENCH" --help >"$tmp/help" 2>&1 && grep -q '^  topo ' "$tmp/help" && ok "--help lists topo" || bad "--help"
"$NUMABENCH" topo --help >"$tmp/topo-help" 2>&1 || bad "topo --help exit $?"
for opt in --topology --devices --json --no-cuda --help; do
  grep -q -- "$opt" "$tmp/topo-help" && ok "topo --help shows $opt" || bad "topo --help lacks $opt"
done
"$NUMABENCH" help topo | cmp -s - "$tmp/topo-help" && ok "help topo = topo --help" || bad "help topo differs"

"$NUMABENCH" --version >"$tmp/version" 2>&1 || bad "--version exit $?"
head -1 "$tmp/version" | grep -Eq '^numabench [0-9A-Za-z]' && ok "version line: $(head -1 "$tmp/version")" || bad "version line"
for part in CUDA hwloc libnuma jansson; do
  grep -q "^$part: " "$tmp/version" && ok "--version reports $part" || bad "--version lacks $part"
done
if [ -n "${NB_SOURCE_DIR:-}" ] && git -C "$NB_SOURCE_DIR" rev-parse >/dev/null 2>&1; then
  want=$(git -C "$NB_SOURCE_DIR" describe --tags --always --dirty)
  head -1 "$tmp/version" | grep -qF "numabench $want" && ok "version is git describe ($want)" \
    || bad "version '$(head -1 "$tmp/version")' is not git describe '$want' (rebuild?)"
fi
finish
