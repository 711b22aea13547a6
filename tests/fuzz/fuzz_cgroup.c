/* Fuzz target: the cgroup reader (nb_cgroup_read) on a recorded tree, as the
 * test-only NB_TEST_CGROUP_ROOT gives it. The input is a small archive of
 * records PATH NUL CONTENT NUL (fuzz_sysfs's format), written as a tree in a
 * scratch directory: proc/self/cgroup and files under sys/fs/cgroup/ (the
 * v2 cpu.max, memory.max, memory.high, memory.current, memory.stat; the v1
 * hierarchies' cpu.cfs_*, memory.limit_in_bytes, usage_in_bytes). Only
 * relative paths of plain characters without `.` or `..` components are
 * written, so the tree stays in its directory.
 *
 * The reader never fails; what it returns is checked: counts in range and
 * consistent, every kept path and warning one printable line (a recorded
 * path or file may hold control characters). run.sh seeds it from
 * tests/fixtures/cgroup/. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include "fuzz.h"

#include "../../lib/src/cgroup.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_FILES 128
/* Over the reader's 64 KiB for /proc/self/cgroup, so that a longer file is
 * reached. */
#define MAX_FILE_BYTES (80 * 1024)

static char root[256];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  if (ftw->level > 0)
    remove(path);
  return 0;
}

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
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir)
    dir = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(root, sizeof root, "%s/nb-fuzz-cgroup-%ld", dir, (long)getpid());
  if (mkdir(root, 0700) < 0 && errno != EEXIST)
    abort();
  atexit(remove_root);
  return 0;
}

/* Whether a record's path is one the tree may hold. Directory names of
 * cgroups may hold ',' (v1 "cpu,cpuacct") and '=' ("name=systemd"). */
static int admitted(const char *path)
{
  size_t len = strlen(path);
  if (len == 0 || len > 200 || path[len - 1] == '/')
    return 0;
  if (strcmp(path, "proc/self/cgroup") && strncmp(path, "sys/fs/cgroup/", strlen("sys/fs/cgroup/")))
    return 0;
  for (const char *p = path; *p; p++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:+,=/", *p))
      return 0;
  for (const char *c = path; *c;) {
    size_t n = strcspn(c, "/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return 0;
    c += n + (c[n] == '/');
  }
  return 1;
}

/* Create the directories of path under the root; -1 when one clashes with a
 * file written before. */
static int make_dirs(const char *path, char *full, size_t len)
{
  snprintf(full, len, "%s/%s", root, path);
  for (char *s = full + strlen(root) + 1;; s++) {
    char *slash = strchr(s, '/');
    if (!slash)
      return 0;
    *slash = '\0';
    int r = mkdir(full, 0700);
    *slash = '/';
    if (r < 0 && errno != EEXIST)
      return -1;
    s = slash;
  }
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
  char full[512];
  if (make_dirs(path, full, sizeof full) < 0)
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

static const uint8_t *field(const uint8_t **p, const uint8_t *end, size_t *len)
{
  if (*p >= end)
    return NULL;
  const uint8_t *start = *p, *nul = memchr(start, 0, (size_t)(end - start));
  *len = nul ? (size_t)(nul - start) : (size_t)(end - start);
  *p = nul ? nul + 1 : end;
  return start;
}

/* A kept text: terminated within its array, one printable line. */
static void check_text(const char *what, const char *s, size_t cap)
{
  FUZZ_CHECK(memchr(s, 0, cap) != NULL, "%s not terminated", what);
  for (const char *p = s; *p; p++)
    FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control character 0x%02x in %s '%s'",
               (unsigned char)*p, what, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  clear_root();
  const uint8_t *p = data, *end = data + size, *name, *content;
  size_t nlen, clen;
  int files = 0;
  while (files < MAX_FILES && (name = field(&p, end, &nlen))) {
    if (!(content = field(&p, end, &clen)))
      content = p, clen = 0;
    char *path = fuzz_string(name, nlen);
    if (admitted(path)) {
      write_file(path, content, clen);
      files++;
    }
    free(path);
  }
  /* The mount point exists in every tree, so that inputs reach the walk. */
  char full[512];
  make_dirs("sys/fs/cgroup/x", full, sizeof full);

  struct nb_cgroup cg;
  nb_cgroup_read(&cg, root);
  FUZZ_CHECK(cg.version >= 0 && cg.version <= 2, "version %d", cg.version);
  FUZZ_CHECK(cg.nwarnings >= 0 && cg.nwarnings <= NB_CGROUP_MAX_WARNINGS, "%d warnings", cg.nwarnings);
  for (int i = 0; i < cg.nwarnings; i++)
    check_text("warning", cg.warnings[i], sizeof cg.warnings[i]);
  check_text("path", cg.path, sizeof cg.path);
  check_text("cpu_path", cg.cpu_path, sizeof cg.cpu_path);
  check_text("mem_path", cg.mem_path, sizeof cg.mem_path);
  FUZZ_CHECK(cg.cpu_file && cg.mem_file, "file names NULL");
  if (cg.cpu_limit > 0) {
    FUZZ_CHECK(cg.cpu_quota_us > 0 && cg.cpu_period_us > 0, "quota %lld period %lld",
               (long long)cg.cpu_quota_us, (long long)cg.cpu_period_us);
    FUZZ_CHECK(cg.cpu_version == 1 || cg.cpu_version == 2, "cpu version %d", cg.cpu_version);
  } else {
    FUZZ_CHECK(cg.cpu_limit == -1 && cg.cpu_quota_us == -1, "cpu limit %d quota %lld", cg.cpu_limit,
               (long long)cg.cpu_quota_us);
  }
  if (cg.mem_limit >= 0) {
    FUZZ_CHECK(cg.mem_avail >= 0 && cg.mem_avail <= cg.mem_limit, "limit %lld available %lld",
               (long long)cg.mem_limit, (long long)cg.mem_avail);
    FUZZ_CHECK(cg.mem_used >= -1, "used %lld", (long long)cg.mem_used);
    FUZZ_CHECK(cg.mem_version == 1 || cg.mem_version == 2, "memory version %d", cg.mem_version);
  } else {
    FUZZ_CHECK(cg.mem_avail == -1, "no limit but available %lld", (long long)cg.mem_avail);
  }
  /* What the reporters print from it. */
  char buf[64], text[NB_CGROUP_PATH_LEN + 160];
  if (cg.cpu_limit > 0)
    nb__cpus_text(buf, sizeof buf, (double)cg.cpu_quota_us / (double)cg.cpu_period_us);
  if (cg.mem_limit >= 0)
    check_text("room", nb__cgroup_room_text(&cg, text, sizeof text), sizeof text);
  return 0;
}
