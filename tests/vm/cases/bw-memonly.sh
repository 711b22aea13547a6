# numabench bw in the guest with a memory-only node 2: rows are the CPU
# nodes 0 and 1, columns all three memory nodes, every cell's placement
# confirmed by the kernel (bandwidth itself means nothing under emulation).
LAYOUT=memonly
PCI=0

guest() {
  cat <<'GUEST'
run bw.json numabench bw --size 4M --repeat 2 --json
GUEST
}

check() {
  local out=$1 j=$1/bw.json
  vm_ran "$out" bw.json
  vm_check "rows: CPU nodes 0 and 1; columns: memory nodes 0, 1, 2" '.rows_cpu_nodes == [0,1] and .cols_memory_nodes == [0,1,2]' "$j"
  vm_check "every cell measured and placed as planned" '[.alone[][], .all_at_once[][]] | length == 12 and all(.median > 0 and .placed)' "$j"
}
