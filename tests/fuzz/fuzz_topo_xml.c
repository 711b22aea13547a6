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
  nb_topo_free(fuzz_topo_load(path, devices));
  free(devices);
  return 0;
}
