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
#include "fuzz_tree.h"

#include "../../lib/src/cgroup.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_FILES 128
/* Over the reader's 64 KiB for /proc/self/cgroup, so that a longer file is
 * reached. */
#define MAX_FILE_BYTES (80 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fuzz_tree_init("cgroup");
  return 0;
}

/* Whether a record's path is one the tree may hold. Directory names of
 * cgroups may hold ',' (v1 "cpu,cpuacct") and '=' ("name=systemd"). */
static int admitted(const char *path)
{
  if (!strcmp(path, "proc/self/cgroup"))
    return 1;
  static const char *const prefixes[] = {"sys/fs/cgroup/", NULL};
  return fuzz_tree_admitted(path, prefixes,
                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:+,=/");
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
  fuzz_tree_write(data, size, admitted, MAX_FILES, MAX_FILE_BYTES, NULL, NULL);
  /* The mount point exists in every tree, so that inputs reach the walk. */
  char full[512];
  fuzz_tree_make_dirs("sys/fs/cgroup/x", 0, full, sizeof full);

  struct nb_cgroup cg;
  nb_cgroup_read(&cg, fuzz_root);
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
