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
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* At most this many files of at most this many bytes each: a recorded tree
 * of a big machine has thousands, but the fuzzer needs only a few. */
#define MAX_FILES 512
#define MAX_FILE_BYTES 65536

static char root[256];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  if (ftw->level > 0)
    remove(path);
  return 0;
}

/* Empty the scratch tree, keeping its root. */
static void clear_root(void)
{
  nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_root(void)
{
  clear_root();
  rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  /* Every input writes and removes a few hundred files, and hwloc opens
   * them all: on tmpfs (/dev/shm) that is several times faster than on a
   * disk, so it is the default where TMPDIR does not say otherwise. */
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir)
    dir = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(root, sizeof root, "%s/nb-fuzz-sysfs-%ld", dir, (long)getpid());
  if (mkdir(root, 0700) < 0 && errno != EEXIST)
    abort();
  atexit(remove_root);
  return 0;
}

/* Whether a record's path is one the tree may hold. */
static int admitted(const char *path)
{
  static const char *const prefixes[] = {"sys/devices/system/", "sys/bus/pci/devices/", "sys/devices/pci",
                                         "proc/"};
  size_t len = strlen(path);
  if (len == 0 || len > 200 || path[len - 1] == '/')
    return 0;
  int ok = 0;
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    ok |= !strncmp(path, prefixes[i], strlen(prefixes[i]));
  if (!ok)
    return 0;
  for (const char *p = path; *p; p++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:+/", *p))
      return 0;
  /* No empty, `.` or `..` component: the file stays under the root. */
  for (const char *c = path; *c;) {
    size_t n = strcspn(c, "/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return 0;
    c += n + (c[n] == '/');
  }
  return 1;
}

/* Create the directories of path under the root (the last component too
 * when dir_too). Returns 0, or -1 when one clashes with a file written
 * before. */
static int make_dirs(const char *path, int dir_too, char *full, size_t len)
{
  snprintf(full, len, "%s/%s", root, path);
  for (char *s = full + strlen(root) + 1;; s++) {
    char *slash = strchr(s, '/');
    if (!slash && !dir_too)
      return 0;
    if (slash)
      *slash = '\0';
    int r = mkdir(full, 0700);
    if (!slash)
      return r < 0 && errno != EEXIST ? -1 : 0;
    *slash = '/';
    if (r < 0 && errno != EEXIST)
      return -1;
    s = slash;
  }
}

/* Write one file of the tree. A path that clashes with one written before
 * (a file where a directory is needed, or the reverse) is dropped. */
static void write_file(const char *path, const uint8_t *data, size_t size)
{
  char full[512];
  if (make_dirs(path, 0, full, sizeof full) < 0)
    return;
  FILE *f = fopen(full, "w");
  if (!f)
    return;
  if (size > MAX_FILE_BYTES)
    size = MAX_FILE_BYTES;
  if (fwrite(data, 1, size, f) != size)
    abort();
  fclose(f);
}

/* The next NUL-terminated field of the archive, or NULL at its end. */
static const uint8_t *field(const uint8_t **p, const uint8_t *end, size_t *len)
{
  if (*p >= end)
    return NULL;
  const uint8_t *start = *p, *nul = memchr(start, 0, (size_t)(end - start));
  *len = nul ? (size_t)(nul - start) : (size_t)(end - start);
  *p = nul ? nul + 1 : end;
  return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  clear_root();
  char *devices = NULL;
  const uint8_t *p = data, *end = data + size, *name, *content;
  size_t nlen, clen;
  int files = 0;
  while (files < MAX_FILES && (name = field(&p, end, &nlen))) {
    if (!(content = field(&p, end, &clen)))
      content = p, clen = 0;
    char *path = fuzz_string(name, nlen);
    if (!strcmp(path, "devices") && !devices) {
      devices = fuzz_string(content, clen);
    } else if (admitted(path)) {
      write_file(path, content, clen);
      files++;
    }
    free(path);
  }
  /* What marks a directory as a recorded tree, so that every input reaches
   * hwloc and the model rather than only the first check. */
  char full[512];
  make_dirs("sys/devices/system/cpu", 1, full, sizeof full);

  struct nb_topo_config tc = {
      .source = root, .devices = devices && *devices ? devices : NULL, .no_cuda = true};
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  int rc = nb_topo_load(&topo, &tc, &err);
  FUZZ_CHECK(rc == 0 || nb_err_is_usage(rc) || rc == NB_EIO || rc == NB_ENOMEM, "code %d: %s", rc, err.msg);
  fuzz_check_msg(&err, rc);
  FUZZ_CHECK((rc == 0) == (topo != NULL), "code %d with topology %p", rc, (void *)topo);
  if (topo) {
    /* What the planner relies on once a tree is accepted (issue 14: a node
     * with CPUs but no core divided by zero; an absurd MemFree overflowed). */
    for (int i = 0; i < nb_topo_nnodes(topo); i++) {
      const struct nb_node *nd = nb_topo_node(topo, i);
      FUZZ_CHECK(nd && nd->os_index >= 0, "node %d", i);
      FUZZ_CHECK(nd->ncpus == 0 || nd->ncores > 0, "node %d: %d CPUs on no core", nd->os_index, nd->ncpus);
      FUZZ_CHECK(nd->free_bytes >= -1, "node %d: free memory %lld", nd->os_index, (long long)nd->free_bytes);
    }
    for (int i = 0; i < nb_topo_ngpus(topo); i++)
      FUZZ_CHECK(nb_topo_gpu(topo, i) != NULL, "gpu %d", i);
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
