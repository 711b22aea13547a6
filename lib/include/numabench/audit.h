/* numabench: the audit. Asks the kernel where threads ran and where pages
 * are — never inferred from what was asked — and `plan --check`, which
 * applies a plan to real threads and small buffers and audits it.
 */
#ifndef NUMABENCH_AUDIT_H
#define NUMABENCH_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <numabench/bind.h>
#include <numabench/error.h>
#include <numabench/plan.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Fraction of CPU samples or pages that must be on the planned node. */
#define NB_PLACEMENT_THRESHOLD 0.99

/** Counts per node of the topology (model order), plus those on no known
 *  node (pages not present, CPUs outside the topology). */
struct nb_hist {
  int nnodes;
  long *count; /* nnodes entries */
  long other;  /* on no node of the topology: not present, or not a page the kernel can query */
  long total;
  long efault; /* of other: pages move_pages cannot query (-EFAULT: a driver's special mapping) */
};

/** Per-node numastat counters (/sys/devices/system/node/nodeN/numastat). */
struct nb_numastat {
  int nnodes;
  int *node;           /* OS index */
  uint64_t *numa_hit;  /* pages allocated where intended */
  uint64_t *numa_miss; /* allocated here although intended elsewhere */
  uint64_t *numa_foreign;
  uint64_t *other_node; /* allocated here by a process on another node */
};

int nb_hist_init(struct nb_hist *h, nb_topo_t topo);
void nb_hist_free(struct nb_hist *h);
/** Share of the total on the node with this OS index (0 when empty). */
double nb_hist_share(const struct nb_hist *h, nb_topo_t topo, int os_node);

/** Count where up to max_samples pages of [addr, addr+len) are, evenly
 *  spaced (move_pages with nodes = NULL).
 *  - NB_EPERM/NB_EIO: the kernel refused. */
int nb_audit_pages(nb_topo_t topo, const void *addr, size_t len, int max_samples, struct nb_hist *h,
                   nb_error_t *err);

/** Record the CPU the calling thread runs on now (sched_getcpu). */
void nb_audit_cpu_sample(nb_topo_t topo, struct nb_hist *h);

/** The calling thread's memory policy as the kernel reports it. */
void nb_audit_mempolicy(enum nb_mem_seen *seen, int *nodes, int max, int *n);

/** Read the numastat counters of every node; zeroed counters where the kernel
 *  has none. Returns 0 or NB_ENOMEM. */
int nb_numastat_read(nb_topo_t topo, struct nb_numastat *s);
void nb_numastat_free(struct nb_numastat *s);

/* ---- plan --check ---- */

struct nb_check_config {
  double seconds;      /* how long each thread works and samples its CPU; 0: 0.2 s */
  size_t buf_bytes;    /* size of each buffer; 0: 8 MiB */
  int move_staging_to; /* >= 0: move GPU 0's staging pages there before the audit (self-test) */
};

typedef struct nb_check *nb_check_t;

/** Apply the plan on this machine: for every GPU a feeder and its workers as
 *  real threads, bound as planned, each allocating and first-touching its
 *  buffer (workers: a batch buffer; feeder: the staging buffer and the device
 *  buffer), working while sampling its CPU; then audit it all.
 *  - NB_EINVAL: the plan's topology is not this machine.
 *  - NB_ENOMEM, NB_EINTERNAL (thread creation), NB_EPERM/NB_EIO (audit). */
int nb_check_run(nb_plan_t plan, const struct nb_check_config *cfg, nb_check_t *checkp, nb_error_t *err);
void nb_check_free(nb_check_t check);

/** Whether every thread and buffer with a planned node or policy is there
 *  (>= NB_PLACEMENT_THRESHOLD of CPU samples and pages). */
bool nb_check_achieved(nb_check_t check);

/** Per-thread and per-buffer placement, with the verdict.
 *  - NB_EIO: writing failed. */
int nb_check_write_text(nb_check_t check, FILE *out, nb_error_t *err);

/** The plan with, per thread and buffer, what the kernel reported
 *  (docs/plan-schema.md, "audit").
 *  - NB_EIO, NB_ENOMEM. */
int nb_check_write_json(nb_check_t check, FILE *out, nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
