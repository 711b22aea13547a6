#!/bin/sh
# `numabench topo --json` on every fixture: valid JSON, the documented
# schema (docs/topo-schema.md), and the facts of each fixture machine.
. "$(dirname "$0")/lib.sh"
need jq

schema='
  (.nodes | length) as $n
  | .schema_version == 1 and (.source | IN("live","xml","fsroot")) and (.this_system | type == "boolean")
  and (.allowed_cpus | type == "array" and all(type == "number"))
  and (.nodes | type == "array" and length > 0 and all(
        (.os_index | type == "number") and (.cpus | all(type == "number"))
        and (.cpus_not_allowed | type == "array") and (.cores | type == "number")
        and (.memory_bytes | type == "number") and (.free_bytes | type == "number" or . == null)
        and (.has_cpus | type == "boolean") and (.allowed | type == "boolean")
        and (.package | type == "number" or . == null)))
  and (.distances | length == $n and all(length == $n and all(type == "number")))
  and (.distances_source | IN("firmware","default"))
  and (.gpu_source | IN("cuda","pci","devices","none"))
  and (.gpus | type == "array") and (.pci_devices | type == "array") and (.nodes | type == "array")
  and (.cuda | type == "string")
  and (.gpus | all((.index | type == "number") and (.pci_bus_id | test("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$"))
        and (.numa_node | type == "number" or . == null) and (.cpus | type == "array") and (.name | type == "string")
        and (.cuda_ordinal | type == "number" or . == null)
        and (.numa_node_source | IN("hwloc","sysfs","cuda","only_node","unknown"))
        and (.warnings | type == "array")))
  and (.pci_devices | all(.pci_bus_id | type == "string"))
  and (.warnings | type == "array")'

for f in "$NB_FIXTURES_DIR"/*.xml; do
  name=$(basename "$f" .xml)
  "$NUMABENCH" topo --json --topology "$f" >"$tmp/$name.json" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    bad "$name: exit $rc: $(cat "$tmp/err")"
    continue
  fi
  check "$name: schema" "$schema" "$tmp/$name.json"
  [ "$(wc -l <"$tmp/$name.json")" -eq 1 ] || bad "$name: JSON spans several lines"
  check "$name: source is the file" ".source == \"xml\" and .source_path == \"$f\" and .this_system == false" "$tmp/$name.json"
done

j="$tmp/2s-8gpu-smt.json"
check "2s: 8 GPUs, 4 per node" '[.gpus[] | .numa_node] == [0,0,0,0,1,1,1,1]' "$j"
check "2s: SMT numbering" '.nodes[0].cpus == ([range(0;24)] + [range(48;72)]) and .nodes[1].cpus == ([range(24;48)] + [range(72;96)])' "$j"
check "2s: GPU cpus are their node's" '. as $r | all(.gpus[]; . as $g | .cpus == ($r.nodes[] | select(.os_index == $g.numa_node) | .cpus))' "$j"
check "2s: distance 21" '.distances == [[10,21],[21,10]] and .distances_source == "firmware"' "$j"
check "2s: cuda ordinals from cudaN" '[.gpus[].cuda_ordinal] == [0,1,2,3,4,5,6,7]' "$j"

j="$tmp/nps4-4gpu.json"
check "nps4: 8 nodes, GPUs on 1,3,5,7" '(.nodes | length) == 8 and [.gpus[].numa_node] == [1,3,5,7]' "$j"
check "nps4: PCI domain 0001" '.gpus[2].pci_bus_id == "0001:c1:00.0"' "$j"
check "nps4: no cuda ordinal without cudaN" 'all(.gpus[]; .cuda_ordinal == null)' "$j"

j="$tmp/memonly-cxl.json"
check "memonly: nodes 2 and 3 have no CPUs" '[.nodes[] | .has_cpus] == [true,true,false,false] and .nodes[2].cpus == [] and .nodes[3].cores == 0' "$j"

j="$tmp/unknown-node.json"
check "unknown: GPU 1 node null with a warning" '.gpus[1].numa_node == null and .gpus[1].numa_node_source == "unknown" and (.gpus[1].warnings | length) == 1 and .gpus[1].cpus == []' "$j"
check "unknown: node 1 has no GPU" '[.gpus[].numa_node] | index(1) == null' "$j"
check "unknown: default distances, said so" '.distances_source == "default" and .distances == [[10,20],[20,10]] and (.warnings | length) == 1' "$j"

j="$tmp/container.json"
check "container: node 1 not allowed" '[.nodes[].allowed] == [true,false] and .nodes[1].cpus == [] and .nodes[1].cpus_not_allowed == [4,5,6,7,12,13,14,15]' "$j"
check "container: allowed CPUs" '.allowed_cpus == [0,1,8,9]' "$j"

# --devices keeps the user's order and PCI-derived nodes.
"$NUMABENCH" topo --json --topology "$NB_FIXTURES_DIR/2s-8gpu-smt.xml" --devices 0000:a0:1d.0,10:1c.0 >"$tmp/dev.json"
check "--devices order and nodes" '.gpu_source == "devices" and [.gpus[] | [.index, .pci_bus_id, .numa_node]] == [[0,"0000:a0:1d.0",1],[1,"0000:10:1c.0",0]]' "$tmp/dev.json"

# A recorded /sys tree given as --topology.
root="$tmp/fsroot"
mkdir "$root"
tar -xjf "$NB_FIXTURES_DIR/fsroot-qemu-memonly.tar.bz2" -C "$root"
"$NUMABENCH" topo --json --topology "$root/vm" --devices 0000:41:00.0,0000:81:00.0 >"$tmp/fs.json"
check "fsroot: schema" "$schema" "$tmp/fs.json"
check "fsroot: 3 nodes, memory-only node 2, devices on 0 and 1" '.source == "fsroot" and [.nodes[].has_cpus] == [true,true,false] and [.gpus[].numa_node] == [0,1] and all(.nodes[]; .free_bytes > 0)' "$tmp/fs.json"
# Input that is not a regular file: a pipe and standard input.
"$NUMABENCH" topo --json --topology /dev/stdin <"$NB_FIXTURES_DIR/nps4-4gpu.xml" >"$tmp/stdin.json"
check "topology from standard input" '(.nodes | length) == 8 and .source_path == "/dev/stdin"' "$tmp/stdin.json"
cat "$NB_FIXTURES_DIR/nps4-4gpu.xml" | "$NUMABENCH" topo --json --topology /dev/stdin >"$tmp/pipe.json"
check "topology from a pipe" '(.gpus | length) == 4' "$tmp/pipe.json"

# A file name that is not UTF-8 still gives valid JSON.
bad_name="$tmp/caf$(printf '\351').xml"
cp "$NB_FIXTURES_DIR/nps4-4gpu.xml" "$bad_name"
"$NUMABENCH" topo --json --topology "$bad_name" >"$tmp/latin1.json"
check "non-UTF-8 path: valid JSON, bytes replaced" '.source_path | endswith("caf?.xml")' "$tmp/latin1.json"

# GPU-memory nodes and the host's kernel settings (docs/topo-schema.md).
gm_schema='all(.nodes[]; (.gpu_memory | type == "boolean")
  and (if .gpu_memory then (.gpu_memory_of | (.gpu | type == "number" or . == null)
        and (.pci_bus_id | type == "string" or . == null)) else .gpu_memory_of == null end))'
for f in "$NB_FIXTURES_DIR"/*.xml; do
  name=$(basename "$f" .xml)
  [ -s "$tmp/$name.json" ] || continue
  check "$name: gpu_memory fields" "$gm_schema" "$tmp/$name.json"
  check "$name: recorded, so no host settings" 'has("host") | not' "$tmp/$name.json"
done
check "fsroot: recorded tree, no host settings" 'has("host") | not' "$tmp/fs.json"
j="$tmp/gh200-like.json"
check "gh200: node 1 is GPU 0's memory, node 0 is not" '[.nodes[].gpu_memory] == [false,true]
  and .nodes[1].gpu_memory_of == {"gpu":0,"pci_bus_id":"0009:01:00.0"} and .nodes[1].has_cpus == false
  and .gpus[0].numa_node == 0 and .distances == [[10,80],[80,10]]' "$j"
check "gh200: a warning says plans leave node 1 out" 'any(.warnings[]; test("node 1 is the memory of GPU 0"))' "$j"
check "memonly: a CXL node is not GPU memory" 'all(.nodes[]; .gpu_memory == false)' "$tmp/memonly-cxl.json"
"$NUMABENCH" topo --topology "$NB_FIXTURES_DIR/gh200-like.xml" >"$tmp/gh200.txt"
grep -q "(none: GPU 0's memory)" "$tmp/gh200.txt" && ok "gh200 text: node 1 shown as GPU memory" ||
  bad "gh200 text does not show node 1 as GPU memory: $(cat "$tmp/gh200.txt")"
grep -q "^Kernel:" "$tmp/gh200.txt" && bad "gh200 text shows this host's kernel settings" ||
  ok "gh200 text: no kernel settings (not this machine)"

# The live machine: the host object says what the kernel says.
"$NUMABENCH" topo --json --no-cuda >"$tmp/live.json" 2>"$tmp/err" || bad "live topo: $(cat "$tmp/err")"
check "live: host object" '.host | type == "object"
  and (.numa_balancing | type == "number" or . == null)
  and (.transparent_hugepages | . == null or IN("always","madvise","never"))
  and (.smt_active | type == "boolean" or . == null) and (.warning | type == "string" or . == null)' "$tmp/live.json"
"$NUMABENCH" topo --no-cuda >"$tmp/live.txt" 2>"$tmp/err" || bad "live topo text: $(cat "$tmp/err")"
if [ -r /proc/sys/kernel/numa_balancing ]; then
  nb=$(cat /proc/sys/kernel/numa_balancing)
  check "live: numa_balancing is the kernel's ($nb)" ".host.numa_balancing == $nb" "$tmp/live.json"
  grep -q "^Kernel: numa_balancing $nb " "$tmp/live.txt" && ok "live text: numa_balancing $nb" ||
    bad "live text lacks numa_balancing $nb: $(head -4 "$tmp/live.txt")"
  if [ "$nb" = 1 ]; then
    check "live: balancing on is warned about" '.host.warning | test("NUMA balancing is on")' "$tmp/live.json"
    grep -q "^Warning: automatic NUMA balancing is on" "$tmp/live.txt" && ok "live text: warning" ||
      bad "live text lacks the NUMA balancing warning"
  else
    check "live: no warning with balancing $nb" "if $nb == 0 then .host.warning == null else true end" "$tmp/live.json"
  fi
else
  check "live: numa_balancing unknown without the sysctl" '.host.numa_balancing == null' "$tmp/live.json"
fi
thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
[ -n "$thp" ] && check "live: THP mode is the kernel's ($thp)" ".host.transparent_hugepages == \"$thp\"" "$tmp/live.json"
smt=$(cat /sys/devices/system/cpu/smt/active 2>/dev/null)
case "$smt" in
  0) check "live: SMT off" '.host.smt_active == false' "$tmp/live.json" ;;
  1) check "live: SMT on" '.host.smt_active == true' "$tmp/live.json" ;;
  *) check "live: SMT unknown" '.host.smt_active == null' "$tmp/live.json" ;;
esac
finish
