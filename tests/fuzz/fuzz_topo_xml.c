/* Fuzz target: an hwloc XML topology (nb_topo_load of a file: hwloc parses
 * it in a forked child, the parent reads back hwloc's own export and builds
 * the model). Text after the first NUL byte, when there is any, is the
 * --devices list. The child is not instrumented for coverage: the fuzzer
 * steers by the parent's side (the checks of what hwloc loaded, the model). */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  atexit(fuzz_file_cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, 0, size);
  size_t xml_len = nul ? (size_t)(nul - data) : size;
  char *devices = nul ? fuzz_string(nul + 1, size - xml_len - 1) : NULL;
  const char *path = fuzz_file(data, xml_len);
  struct nb_topo_config tc = {
      .source = path, .devices = devices && *devices ? devices : NULL, .no_cuda = true};
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  int rc = nb_topo_load(&topo, &tc, &err);
  FUZZ_CHECK(rc == 0 || nb_err_is_usage(rc) || rc == NB_EIO || rc == NB_ENOMEM, "code %d: %s", rc, err.msg);
  fuzz_check_msg(&err, rc);
  FUZZ_CHECK((rc == 0) == (topo != NULL), "code %d with topology %p", rc, (void *)topo);
  if (topo) {
    /* What the rest of numabench reads from the model. */
    for (int i = 0; i < nb_topo_nnodes(topo); i++) {
      const struct nb_node *nd = nb_topo_node(topo, i);
      FUZZ_CHECK(nd && nd->os_index >= 0, "node %d", i);
    }
    for (int i = 0; i < nb_topo_ngpus(topo); i++)
      FUZZ_CHECK(nb_topo_gpu(topo, i) != NULL, "gpu %d", i);
    nb_topo_free(topo);
  }
  free(devices);
  return 0;
}
