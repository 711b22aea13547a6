/* numabench fuzz targets: an input written as a small file tree in a scratch
 * directory, for the readers that take a root (recorded /sys trees, cgroup
 * trees). The input is an archive of records PATH NUL CONTENT NUL. Only
 * relative paths of plain characters, without empty, `.` or `..`
 * components, under one of the target's prefixes are written, so that the
 * tree stays in its directory and the fuzzer spends its time on the reader.
 *
 * A target defines FUZZ_TREE_NAME (the scratch directory's tag),
 * FUZZ_TREE_MAX_FILE_BYTES, and calls fuzz_tree_init() from
 * LLVMFuzzerInitialize and fuzz_tree_write() from LLVMFuzzerTestOneInput. */
#ifndef NB_FUZZ_TREE_H
#define NB_FUZZ_TREE_H

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include "fuzz.h"

static char fuzz_root[256];

static int fuzz_tree_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  if (ftw->level > 0)
    remove(path);
  return 0;
}

/* Empty the scratch tree, keeping its root. */
static void fuzz_tree_clear(void)
{
  nftw(fuzz_root, fuzz_tree_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_tree_remove(void)
{
  fuzz_tree_clear();
  rmdir(fuzz_root);
}

/* Make the scratch root, removed at exit. Every input writes and removes
 * files: on tmpfs (/dev/shm) that is several times faster than on a disk, so
 * it is the default where TMPDIR does not say otherwise. */
static void fuzz_tree_init(const char *tag)
{
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir)
    dir = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(fuzz_root, sizeof fuzz_root, "%s/nb-fuzz-%s-%ld", dir, tag, (long)getpid());
  if (mkdir(fuzz_root, 0700) < 0 && errno != EEXIST)
    abort();
  atexit(fuzz_tree_remove);
}

/* Whether path may be written: under one of prefixes (NULL-terminated),
 * made of the characters of charset, with no empty, `.` or `..` component. */
static int fuzz_tree_admitted(const char *path, const char *const *prefixes, const char *charset)
{
  size_t len = strlen(path);
  if (len == 0 || len > 200 || path[len - 1] == '/')
    return 0;
  int ok = 0;
  for (const char *const *pre = prefixes; *pre; pre++)
    ok |= !strncmp(path, *pre, strlen(*pre));
  if (!ok)
    return 0;
  for (const char *p = path; *p; p++)
    if (!strchr(charset, *p))
      return 0;
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
static int fuzz_tree_make_dirs(const char *path, int dir_too, char *full, size_t len)
{
  snprintf(full, len, "%s/%s", fuzz_root, path);
  for (char *s = full + strlen(fuzz_root) + 1;; s++) {
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

/* Write one file of the tree, at most max bytes of it. A path that clashes
 * with one written before (a file where a directory is needed, or the
 * reverse) is dropped. */
static void fuzz_tree_file(const char *path, const uint8_t *data, size_t size, size_t max)
{
  char full[512];
  if (fuzz_tree_make_dirs(path, 0, full, sizeof full) < 0)
    return;
  FILE *f = fopen(full, "w");
  if (!f)
    return;
  if (size > max)
    size = max;
  if (fwrite(data, 1, size, f) != size)
    abort();
  fclose(f);
}

/* The next NUL-terminated field of the archive, or NULL at its end. */
static const uint8_t *fuzz_tree_field(const uint8_t **p, const uint8_t *end, size_t *len)
{
  if (*p >= end)
    return NULL;
  const uint8_t *start = *p, *nul = memchr(start, 0, (size_t)(end - start));
  *len = nul ? (size_t)(nul - start) : (size_t)(end - start);
  *p = nul ? nul + 1 : end;
  return start;
}

/* Empty the tree, then write the input's records: at most max_files files
 * of at most max_bytes each, those admitted() accepts. A record whose path
 * equals special (when not NULL) is not written: its content is returned,
 * malloc'ed, in *special_out (the first one only). */
static void fuzz_tree_write(const uint8_t *data, size_t size, int (*admitted)(const char *), int max_files,
                            size_t max_bytes, const char *special, char **special_out)
{
  fuzz_tree_clear();
  const uint8_t *p = data, *end = data + size, *name, *content;
  size_t nlen, clen;
  int files = 0;
  while (files < max_files && (name = fuzz_tree_field(&p, end, &nlen))) {
    if (!(content = fuzz_tree_field(&p, end, &clen)))
      content = p, clen = 0;
    char *path = fuzz_string(name, nlen);
    if (special && !strcmp(path, special) && !*special_out) {
      *special_out = fuzz_string(content, clen);
    } else if (admitted(path)) {
      fuzz_tree_file(path, content, clen, max_bytes);
      files++;
    }
    free(path);
  }
}

#endif
