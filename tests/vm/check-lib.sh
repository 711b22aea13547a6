# Host-side checks for VM cases (sourced). Each check prints ok/FAIL and
# counts failures in $fails.
ok() { echo "ok   $*"; }
bad() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

# vm_ran OUT NAME: the guest command NAME exited 0.
vm_ran() {
  local rc
  rc=$(cat "$1/$2.rc" 2>/dev/null || echo missing)
  if [ "$rc" = 0 ]; then ok "guest: $2 ran"; else bad "guest: $2 exit $rc: $(head -c 400 "$1/$2.err" 2>/dev/null)"; fi
}

# vm_check DESCRIPTION JQ-EXPRESSION FILE: FILE must hold exactly one JSON
# document and the expression must yield true for it (jq -e alone passes on
# an empty file).
vm_check() {
  if jq -s -e "length == 1 and (.[0] | ($2)) == true" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1 ($2)"; fi
}
