# Shared by the command-line tests (sourced). The tests run the real binary
# ($NUMABENCH) and check its output with jq.
set -u
: "${NUMABENCH:?NUMABENCH must name the numabench binary}"
: "${NB_FIXTURES_DIR:?}"
fails=0

# A missing tool is a skip (77) with the reason; NB_TEST_STRICT=1 (CI) makes
# it a failure instead, so that CI cannot pass by skipping.
skip() {
  if [ "${NB_TEST_STRICT:-0}" = 1 ]; then
    echo "FAIL (strict): $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

need() {
  command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (apt-get install ${2:-$1})"
}

ok() { echo "ok   $*"; }
bad() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

# check DESCRIPTION JQ-EXPRESSION FILE: FILE must hold exactly one JSON
# document and the expression must yield true for it. (jq -e alone passes on
# an empty file.)
check() {
  if jq -s -e "length == 1 and (.[0] | ($2)) == true" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1 ($2)"; fi
}

finish() {
  if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  exit 0
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
