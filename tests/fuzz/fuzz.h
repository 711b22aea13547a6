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

#endif
