# Shared by the exec-* VM cases (sourced by them; not a case itself).
#
# In the guest, exec_guest_lib defines:
#   launch TAG RANK SIZE EXEC-OPTIONS...  one rank in the background:
#       LOCAL_RANK=RANK LOCAL_WORLD_SIZE=SIZE numabench exec --json OPTIONS --
#       sh /tmp/rank.sh, its JSON line in /out/TAG.json. The rank touches 1 MB,
#       forks two workers that touch 1 MB each, and all three sleep.
#   observe TAG  waits for the rank and its workers, then copies what the
#       kernel says about each (ROLE = rank, w1, w2): /proc/PID/status
#       (TAG.ROLE.status), /proc/PID/numa_maps (TAG.ROLE.maps), and stops them.
# On the host, exec_check checks those files: every process of the rank on
# its planned CPUs, its workers children of the rank, and every anonymous
# mapping under the planned memory policy with its pages on the planned
# node(s), as numa_maps reports them.

exec_guest_lib() {
  cat <<'GUEST'
cat >/tmp/rank.sh <<'RANK'
x=$(head -c 1000000 /dev/zero | tr '\0' a)
echo $$ >/tmp/pid.$TAG.rank
for w in 1 2; do
  TAG=$TAG W=$w sh -c 'y=$(head -c 1000000 /dev/zero | tr "\0" b); echo $$ >/tmp/pid.$TAG.w$W; sleep 120' &
done
sleep 120
RANK
launch() {
  tag=$1 r=$2 n=$3
  shift 3
  TAG=$tag LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n numabench exec --json "$@" -- sh /tmp/rank.sh 2>/out/$tag.json &
}
observe() {
  n=0
  while [ $n -lt 240 ]; do
    [ -s /tmp/pid.$1.rank ] && [ -s /tmp/pid.$1.w1 ] && [ -s /tmp/pid.$1.w2 ] && break
    sleep 1
    n=$((n + 1))
  done
  for role in rank w1 w2; do
    pid=$(cat /tmp/pid.$1.$role 2>/dev/null)
    [ -n "$pid" ] || continue
    cat /proc/$pid/status >/out/$1.$role.status
    cat /proc/$pid/numa_maps >/out/$1.$role.maps
  done
  for role in w1 w2 rank; do
    pid=$(cat /tmp/pid.$1.$role 2>/dev/null)
    [ -n "$pid" ] && kill $pid 2>/dev/null
  done
}
run topo.json numabench topo --json
GUEST
}

# A kernel list ("0-3,8") as a JSON array.
exec_expand() {
  echo "$1" | tr ',' '\n' | awk -F- 'NF { lo = $1; hi = (NF > 1 ? $2 : $1); for (i = lo; i <= hi; i++) print i }' | jq -s -c .
}

# exec_check OUT TAG CPU_NODE POLICY PAGE_NODES WHAT: the rank TAG and its two
# workers run on CPU_NODE's CPUs (those exec reported from the kernel), and
# every anonymous mapping has policy POLICY ("bind:1", "interleave:0-2") and
# pages only on the nodes of PAGE_NODES (a regex on the node numbers).
exec_check() {
  local out=$1 tag=$2 cn=$3 pol=$4 pn=$5 what=$6 role want node_cpus got rpid
  vm_check "$tag ($what): exec achieved, CPUs on node $cn" ".achieved == true and .cpu_node == $cn and (.cpus_seen | length) > 0 and .cpus_seen == .cpus_planned" "$out/$tag.json"
  want=$(jq -c .cpus_seen "$out/$tag.json" 2>/dev/null)
  node_cpus=$(jq -c ".nodes[] | select(.os_index == $cn) | .cpus" "$out/topo.json" 2>/dev/null)
  if [ -n "$want" ] && jq -n -e "($want - $node_cpus) == []" >/dev/null 2>&1; then ok "$tag: CPUs $want are node $cn's"; else bad "$tag: CPUs $want not within node $cn's $node_cpus"; fi
  rpid=$(awk '/^Pid:/ {print $2}' "$out/$tag.rank.status" 2>/dev/null)
  for role in rank w1 w2; do
    if [ ! -s "$out/$tag.$role.status" ]; then
      bad "$tag $role: no /proc status captured"
      continue
    fi
    got=$(exec_expand "$(awk '/^Cpus_allowed_list/ {print $2}' "$out/$tag.$role.status")")
    if [ "$got" = "$want" ]; then ok "$tag $role: kernel Cpus_allowed_list $got"; else bad "$tag $role: Cpus_allowed_list $got, exec bound $want"; fi
    if [ "$role" != rank ]; then
      if grep -q "^PPid:[[:space:]]*$rpid$" "$out/$tag.$role.status"; then ok "$tag $role: a child of the rank ($rpid)"; else bad "$tag $role: not a child of $rpid"; fi
    fi
    # Anonymous mappings with pages: policy and nodes as numa_maps reports them.
    if awk -v pol="$pol" -v pn="^($pn)$" '
        /anon=/ && !/file=/ && / N[0-9]+=/ {
          seen++
          if ($2 != pol) { print "policy " $2 " at " $1; badn++ }
          for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), a, "="); if (a[1] !~ pn) { print "pages on node " a[1] " at " $1; badn++ } }
        }
        END { if (!seen) { print "no anonymous pages"; exit 1 } exit badn > 0 }' "$out/$tag.$role.maps" >"$out/$tag.$role.why"; then
      ok "$tag $role: numa_maps: every anonymous mapping $pol, pages on node(s) $pn"
    else
      bad "$tag $role: numa_maps: $(head -3 "$out/$tag.$role.why" | tr '\n' ';')"
    fi
  done
}
