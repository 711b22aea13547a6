/* Fuzz target: the /proc parsers of `numabench audit` (procfs.c), which read
 * other processes' files and recorded trees. The first byte picks the
 * parser: status, task stat or a numa_maps line; the rest is the text. */
#include <errno.h>

#include "fuzz.h"
#include "nb-internal.h"
#include "procfs.h"

static void ascending(const int *v, int n, int max, const char *what, const char *text)
{
  for (int i = 0; i < n; i++) {
    FUZZ_CHECK(v[i] >= 0 && v[i] <= max, "%s of '%s': %d outside 0..%d", what, text, v[i], max);
    FUZZ_CHECK(i == 0 || v[i] > v[i - 1], "%s of '%s': not ascending at %d", what, text, i);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  char *text = fuzz_string(data + 1, size - 1);
  switch (data[0] % 3) {
  case 0: {
    struct nb__pstatus st;
    int rc = nb__pstatus_parse(text, &st);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM, "status '%s': code %d", text, rc);
    if (rc == 0) {
      FUZZ_CHECK(st.ppid >= 0 && strlen(st.name) < sizeof st.name, "status '%s': ppid %d", text, st.ppid);
      ascending(st.cpus, st.ncpus, NB_MAX_CPU_INDEX, "Cpus_allowed_list", text);
      ascending(st.mems, st.nmems, NB_MAX_NODE_INDEX, "Mems_allowed_list", text);
      nb__pstatus_free(&st);
    }
    break;
  }
  case 1: {
    struct nb__tstat t;
    int rc = nb__tstat_parse(text, &t);
    FUZZ_CHECK(rc == 0 || rc == NB_EFORMAT, "stat '%s': code %d", text, rc);
    FUZZ_CHECK(rc != 0 || (t.processor >= -1 && t.processor <= NB_MAX_CPU_INDEX), "stat '%s': processor %d",
               text, t.processor);
    break;
  }
  default: {
    struct nb__vma v;
    int rc = nb__vma_parse(text, &v);
    FUZZ_CHECK(rc == 0 || rc == NB_EFORMAT, "numa_maps '%s': code %d", text, rc);
    if (rc == 0) {
      FUZZ_CHECK(v.nnodes >= 0 && v.nnodes <= NB__VMA_NODES, "numa_maps '%s': %d nodes", text, v.nnodes);
      FUZZ_CHECK(v.kind < NB__MEM_NKINDS && strlen(v.policy) > 0, "numa_maps '%s': kind or policy", text);
      for (int i = 0; i < v.nnodes; i++)
        FUZZ_CHECK(v.node[i] >= 0 && v.node[i] <= NB_MAX_NODE_INDEX, "numa_maps '%s': node %d", text,
                   v.node[i]);
    }
    break;
  }
  }
  free(text);
  return 0;
}
