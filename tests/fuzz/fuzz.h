/* numabench fuzz targets (libFuzzer): shared helpers. Each target feeds one
 * input parser arbitrary bytes under ASan and UBSan and checks the error
 * contract on top: a known error code and a one-line message. */
#ifndef NB_FUZZ_H
#define NB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numabench.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding: libFuzzer reports the abort with the input that caused it. */
#define FUZZ_CHECK(cond, ...)                                                                                \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      fprintf(stderr, "fuzz check failed: %s: ", #cond);                                                     \
      fprintf(stderr, __VA_ARGS__);                                                                          \
      fputc('\n', stderr);                                                                                   \
      abort();                                                                                               \
    }                                                                                                        \
  } while (0)

/* Every message is one printable line (control characters are scrubbed). */
static inline void fuzz_check_line(const nb_error_t *err)
{
  for (const char *p = err->msg; *p; p++)
    FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control character 0x%02x in '%s'", (unsigned char)*p,
               err->msg);
}

/* An error: its code recorded, and a message that is one printable line. */
static inline void fuzz_check_msg(const nb_error_t *err, int rc)
{
  if (rc >= 0)
    return;
  FUZZ_CHECK(rc == err->code, "returned %d, recorded %d", rc, err->code);
  FUZZ_CHECK(err->msg[0] != '\0', "error %d without a message", rc);
  fuzz_check_line(err);
}

/* The input as a C string (a command line or a file name stops at NUL). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* The input as the content of a regular file, one per process (the loaders
 * take paths). Returns the path. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
  static char path[256];
  static FILE *f;
  if (!f) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/nb-fuzz-%ld.in", dir && *dir ? dir : "/tmp", (long)getpid());
    if (!(f = fopen(path, "w+")))
      abort();
  }
  if (ftruncate(fileno(f), 0) < 0 || fseek(f, 0, SEEK_SET) < 0 || fwrite(data, 1, size, f) != size ||
      fflush(f) != 0)
    abort();
  return path;
}

/* The per-process file goes when the fuzzer exits. */
static inline void fuzz_file_cleanup(void)
{
  char path[256];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/nb-fuzz-%ld.in", dir && *dir ? dir : "/tmp", (long)getpid());
  unlink(path);
}

/* Load a topology (an hwloc XML file or a recorded /sys tree) as
 * --topology does, with the --devices list when not NULL or empty, and check
 * the error contract and what every reader of the model relies on. Returns
 * the topology, or NULL when it was refused. */
static inline nb_topo_t fuzz_topo_load(const char *source, const char *devices)
{
  struct nb_topo_config tc = {
      .source = source, .devices = devices && *devices ? devices : NULL, .no_cuda = true};
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  int rc = nb_topo_load(&topo, &tc, &err);
  FUZZ_CHECK(rc == 0 || nb_err_is_usage(rc) || rc == NB_EIO || rc == NB_ENOMEM, "code %d: %s", rc, err.msg);
  fuzz_check_msg(&err, rc);
  FUZZ_CHECK((rc == 0) == (topo != NULL), "code %d with topology %p", rc, (void *)topo);
  for (int i = 0; topo && i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    FUZZ_CHECK(nd && nd->os_index >= 0, "node %d", i);
  }
  for (int i = 0; topo && i < nb_topo_ngpus(topo); i++)
    FUZZ_CHECK(nb_topo_gpu(topo, i) != NULL, "gpu %d", i);
  return topo;
}

#endif
