/* Fuzz target: a recorded /sys tree (`--topology DIR`). The input is a small
 * archive, records of PATH NUL CONTENT NUL, written as a tree in a scratch
 * directory and loaded with nb_topo_load exactly as `--topology DIR` loads
 * it: hwloc reads the tree in a forked child, and the parent reads the files
 * numabench takes from the tree itself (node cpulists and meminfo, PCI
 * numa_node) and checks the whole for consistency. A record named `devices`
 * is the --devices list instead of a file.
 *
 * Only the parts of a tree hwloc and numabench read are written (paths under
 * sys/devices/system/, sys/bus/pci/devices/, sys/devices/pci*, proc/), each
 * path relative, without `.` or `..` and of plain characters, so that the
 * fuzzer spends its time on the reader and never writes outside the scratch
 * directory. The child is not instrumented for coverage (it is a fork): the
 * fuzzer steers by the parent's side, which is where numabench's own reading
 * and validation of the tree are. run.sh seeds it with the files of
 * tests/fixtures/fsroot-qemu-memonly.tar.bz2 that these paths admit. */
#include "fuzz_tree.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* At most this many files of at most this many bytes each: a recorded tree
 * of a big machine has thousands, but the fuzzer needs only a few. */
#define MAX_FILES 512
#define MAX_FILE_BYTES 65536

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fuzz_tree_init("sysfs");
  return 0;
}

/* Whether a record's path is one the tree may hold. */
static int admitted(const char *path)
{
  static const char *const prefixes[] = {"sys/devices/system/", "sys/bus/pci/devices/", "sys/devices/pci",
                                         "proc/", NULL};
  return fuzz_tree_admitted(path, prefixes,
                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:+/");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *devices = NULL;
  fuzz_tree_write(data, size, admitted, MAX_FILES, MAX_FILE_BYTES, "devices", &devices);
  /* What marks a directory as a recorded tree, so that every input reaches
   * hwloc and the model rather than only the first check. */
  char full[512];
  fuzz_tree_make_dirs("sys/devices/system/cpu", 1, full, sizeof full);

  nb_topo_t topo = fuzz_topo_load(fuzz_root, devices);
  if (topo) {
    /* What the planner relies on once a tree is accepted (issue 14: a node
     * with CPUs but no core divided by zero; an absurd MemFree overflowed). */
    for (int i = 0; i < nb_topo_nnodes(topo); i++) {
      const struct nb_node *nd = nb_topo_node(topo, i);
      FUZZ_CHECK(nd->ncpus == 0 || nd->ncores > 0, "node %d: %d CPUs on no core", nd->os_index, nd->ncpus);
      FUZZ_CHECK(nd->free_bytes >= -1, "node %d: free memory %lld", nd->os_index, (long long)nd->free_bytes);
    }
    /* Every mode planned on it: a refusal is fine, a crash or an unknown
     * code is a finding. */
    for (int m = 0; m < NB_NMODES; m++) {
      struct nb_plan_config pc = {.mode = (enum nb_mode)m};
      nb_plan_t plan = NULL;
      nb_error_t perr = {0};
      int prc = nb_plan_make(&plan, topo, &pc, &perr);
      FUZZ_CHECK(prc == 0 || nb_err_is_usage(prc) || prc == NB_ENOTSUP || prc == NB_ENOMEM,
                 "plan %s: code %d: %s", nb_mode_name((enum nb_mode)m), prc, perr.msg);
      fuzz_check_msg(&perr, prc);
      nb_plan_free(plan);
    }
    nb_topo_free(topo);
  }
  free(devices);
  return 0;
}
