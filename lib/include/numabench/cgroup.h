/* numabench: the CPU and memory limits of this process's cgroup.
 *
 * A container can be limited by a CPU quota (cgroup v2 cpu.max, v1
 * cpu.cfs_quota_us) or a memory limit (v2 memory.max, v1
 * memory.limit_in_bytes) rather than by a cpuset. Its allowed CPUs and the
 * nodes' free memory then overstate what the process may use, and a run sized
 * by them is throttled or OOM-killed (exit 137, no message, no result). The
 * limits are read once, when the live topology is loaded, walking from the
 * process's cgroup up to the root and keeping the tightest; a recorded
 * topology is not this machine and has none.
 *
 * Values that cannot be read or parsed are unknown (-1) with a warning, never
 * an error: a missing limit must not stop a benchmark.
 */
#ifndef NUMABENCH_CGROUP_H
#define NUMABENCH_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest cgroup directory kept, the NUL included; longer ones are cut. */
#define NB_CGROUP_PATH_LEN 256
/** Warnings kept; later ones are dropped. */
#define NB_CGROUP_MAX_WARNINGS 8

/** What was found. Every count is -1 when unknown or unlimited. */
struct nb_cgroup {
  int version;                       /* 2 (unified), 1 (v1 controllers), 0: no cgroup found */
  char path[NB_CGROUP_PATH_LEN];     /* the process's own cgroup directory, "" when not found */
  int64_t cpu_quota_us;              /* the tightest CPU quota per period, -1 for none */
  int64_t cpu_period_us;             /* its period, -1 for none */
  int cpu_limit;                     /* ceil(quota / period): CPUs the quota allows in all, -1 for none */
  const char *cpu_file;              /* its file: "cpu.max" or "cpu.cfs_quota_us"; "" for none */
  char cpu_path[NB_CGROUP_PATH_LEN]; /* the directory holding that quota */
  int64_t mem_limit;                 /* the limit in bytes of the level with the least room left, -1 none */
  int64_t mem_used;                  /* that level's usage (memory.current, usage_in_bytes) less its
                                        inactive page cache (memory.stat), -1 unknown */
  int64_t mem_avail;                 /* mem_limit - mem_used (0 when over), -1 when no limit */
  const char *mem_file;              /* the file of that limit: "memory.max", "memory.high" or
                                        "memory.limit_in_bytes"; "" for none */
  char mem_path[NB_CGROUP_PATH_LEN]; /* the directory holding that limit */
  int cpu_version;                   /* the cgroup version of the CPU quota's controller, 0 for none */
  int mem_version;                   /* the cgroup version of the memory limit's controller, 0 for none */
  int nwarnings;                     /* values that could not be read or made no sense */
  char warnings[NB_CGROUP_MAX_WARNINGS][NB_CGROUP_PATH_LEN + 96];
};

/** The environment variable that moves "/proc" and "/sys/fs/cgroup" under a
 *  recorded tree: tests only (tests/fixtures/cgroup/), never a user option. */
#define NB_CGROUP_TEST_ROOT_ENV "NB_TEST_CGROUP_ROOT"

/** Read the limits of this process's cgroup. root: NULL or "" for this
 *  machine, else a directory holding proc/self/cgroup and sys/fs/cgroup/ (a
 *  recorded tree). Never fails: what cannot be read is unknown, with a
 *  warning where a file exists but makes no sense. */
void nb_cgroup_read(struct nb_cgroup *cg, const char *root);

/** The limits read when topo was loaded, NULL for a topology that is not this
 *  machine (a recorded topology takes no limit from the machine it is shown
 *  on). */
const struct nb_cgroup *nb_topo_cgroup(nb_topo_t topo);

#ifdef __cplusplus
}
#endif

#endif
