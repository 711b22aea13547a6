# Shared by the exec-* VM cases (sourced by them; not a case itself).
#
# The ranks are tests/helpers/nb_testproc (NB_VM_EXTRA_BINS copies it into
# the guest): a rank forks two workers, every process touches 8 MiB and then
# runs 10% of the time (--duty 10), so that numabench audit sees every thread
# run without a dozen spinners slowing the emulated guest, until killed.
# In the guest, exec_guest_lib defines:
#   launch TAG RANK SIZE EXEC-OPTIONS...  one rank in the background:
#       LOCAL_RANK=RANK LOCAL_WORLD_SIZE=SIZE numabench exec --json OPTIONS --
#       nb_testproc ..., its JSON line in /out/TAG.json.
#   observe TAG  waits until the rank and its workers have touched their
#       memory, then copies what the kernel says about each (ROLE = rank, w1,
#       w2): /proc/PID/status (TAG.ROLE.status), /proc/PID/numa_maps
#       (TAG.ROLE.maps); the rank's pid is in /tmp/pid.TAG.rank.
#   audit NAME DEVICES TAG:GPU...  numabench audit --json --expect-local of
#       those ranks (GPU an index into DEVICES), as NAME.json.
#   stop TAG...  kills the ranks (a rank's SIGTERM ends its workers).
# On the host, exec_check checks those files: every process of the rank on
# its planned CPUs, its workers children of the rank, and every anonymous
# mapping under the planned memory policy with its pages on the planned
# node(s), as numa_maps reports them; audit_check checks audit's JSON.
NB_VM_EXTRA_BINS=${NB_TESTPROC:-$(dirname "$NUMABENCH")/../tests/nb_testproc}

exec_guest_lib() {
  cat <<'GUEST'
launch() {
  tag=$1 r=$2 n=$3
  shift 3
  LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n numabench exec --json "$@" -- nb_testproc --workers 2 --touch 8 --duty 10 --seconds 900 --ready /tmp/pid.$tag.rank 2>/out/$tag.json &
}
observe() {
  n=0
  while [ ! -s /tmp/pid.$1.rank ] && [ $n -lt 240 ]; do
    sleep 1
    n=$((n + 1))
  done
  rpid=$(cat /tmp/pid.$1.rank 2>/dev/null)
  [ -n "$rpid" ] || return
  # The workers: the processes whose parent is the rank.
  w=0
  for f in $(grep -l "^PPid:[[:space:]]*$rpid\$" /proc/[0-9]*/status 2>/dev/null); do
    w=$((w + 1))
    echo "${f#/proc/}" | cut -d/ -f1 >/tmp/pid.$1.w$w
  done
  for role in rank w1 w2; do
    pid=$(cat /tmp/pid.$1.$role 2>/dev/null)
    [ -n "$pid" ] || continue
    cat /proc/$pid/status >/out/$1.$role.status
    cat /proc/$pid/numa_maps >/out/$1.$role.maps
  done
}
audit() {
  name=$1 dev=$2 list=
  shift 2
  for tr in "$@"; do list=$list${list:+,}$(cat /tmp/pid.${tr%%:*}.rank 2>/dev/null):${tr#*:}; done
  run $name.json numabench audit --devices $dev --pid $list --duration 1 --json --expect-local
}
stop() {
  for tag in "$@"; do
    pid=$(cat /tmp/pid.$tag.rank 2>/dev/null)
    [ -n "$pid" ] && kill $pid 2>/dev/null
  done
  sleep 1
}
run topo.json numabench topo --json
GUEST
}

# audit_check OUT NAME RC VERDICT TAG:GPU_NODE:MEM_NODE...: numabench audit
# (NAME.json) exited RC and judged every rank VERDICT (local, remote, split),
# in the order given; each rank TAG's process is the rank exec started, its
# two workers were found as its descendants, and for local the kernel's
# numbers say so: every CPU sample on GPU_NODE, every data page on MEM_NODE
# (the GPU's node, or the nearest node with memory for a memoryless one).
audit_check() {
  local out=$1 name=$2 rc=$3 verdict=$4 item tag gn mn i=0 pid got
  shift 4
  got=$(cat "$out/$name.json.rc" 2>/dev/null)
  if [ "$got" = "$rc" ]; then ok "audit $name: exit $rc"; else bad "audit $name: exit $got, expected $rc: $(head -c 300 "$out/$name.json.err")"; fi
  for item in "$@"; do
    tag=${item%%:*} gn=${item#*:} mn=${item##*:}
    gn=${gn%%:*}
    pid=$(awk '/^Pid:/ {print $2}' "$out/$tag.rank.status" 2>/dev/null)
    vm_check "audit $name: rank $tag (pid $pid): GPU node $gn, verdict $verdict" ".ranks[$i].gpu_node == $gn and .ranks[$i].verdict == \"$verdict\"" "$out/$name.json"
    vm_check "audit $name: rank $tag: the rank and its 2 workers (descendants), every thread sampled" ".ranks[$i].pid == ${pid:-0} and (.ranks[$i].processes | length) == 3 and .ranks[$i].cpu_samples > 0 and all(.processes[] | select(.rank_pid == ${pid:-0}) | .threads[]; .cpu_samples.total > 0) and ([.processes[] | select(.rank_pid == ${pid:-0})] | length) == 3 and ([.processes[] | select(.rank_pid == ${pid:-0} and .pid != ${pid:-0}) | .ppid] | unique) == [${pid:-0}]" "$out/$name.json"
    if [ "$verdict" = local ]; then
      vm_check "audit $name: rank $tag: every thread's CPU samples on node $gn, >= 8 MiB anonymous on node $mn in every process" "[.processes[] | select(.rank_pid == ${pid:-0})] as \$p | all(\$p[].threads[]; all(.cpu_samples.nodes[]; .node == $gn)) and all(\$p[]; ([.resident.anon.nodes[] | select(.node == $mn) | .bytes] | add // 0) >= 8388608) and .ranks[$i].cpu_share == 1 and .ranks[$i].page_share >= 0.99" "$out/$name.json"
    fi
    if [ "$verdict" = remote ]; then
      vm_check "audit $name: rank $tag: no CPU sample and under 1% of the data pages on node $gn, the fix names its GPU" ".ranks[$i] as \$r | \$r.cpu_share == 0 and \$r.page_share <= 0.01 and (\$r.fix | startswith(\"numabench exec --gpu \" + \$r.gpu + \" -- nb_testproc\"))" "$out/$name.json"
    fi
    i=$((i + 1))
  done
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
