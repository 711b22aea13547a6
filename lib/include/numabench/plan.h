/* numabench: the placement plan.
 *
 * A pure function of a topology and options: for every GPU, where its feeder
 * thread, its worker threads and its buffers should live (CPUs, memory node
 * and policy). No system calls: a plan can be made for any recorded machine,
 * printed and tested; only plans of the live machine are ever applied
 * (numabench/bind.h).
 */
#ifndef NUMABENCH_PLAN_H
#define NUMABENCH_PLAN_H

#include <stdbool.h>
#include <stdio.h>

#include <numabench/error.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Placement modes; what each does is in its nb_mode_info. */
enum nb_mode {
  NB_MODE_NONE,        /* nothing bound: the scheduler decides (the audit records where) */
  NB_MODE_BIND,        /* feeder, workers and buffers on the GPU's node */
  NB_MODE_ADVERSARIAL, /* workers on the GPU's node; feeder and staging on the farthest node */
  NB_MODE_REMOTE,      /* feeder, workers and buffers on the farthest node with CPUs */
  NB_MODE_INTERLEAVE,  /* CPUs unbound, memory interleaved over all allowed nodes */
};
#define NB_NMODES 5

/** Memory policy of a thread or a buffer. */
enum nb_mem_policy {
  NB_MEM_DEFAULT,    /* the process default (local allocation): unbound */
  NB_MEM_BIND,       /* MPOL_BIND to one node */
  NB_MEM_INTERLEAVE, /* MPOL_INTERLEAVE over the allowed nodes */
};

enum nb_role { NB_ROLE_FEEDER, NB_ROLE_WORKER, NB_ROLE_DEVICE };

struct nb_thread_plan {
  enum nb_role role;
  int worker;                    /* worker number within its GPU; -1 for the feeder */
  int ncpus;                     /* CPUs it may run on; 0 = unbound */
  const int *cpus;               /* their OS indexes, ascending */
  int cpu_node;                  /* node of those CPUs, -1 when unbound */
  enum nb_mem_policy mem_policy; /* for the memory it allocates */
  int mem_node;                  /* NB_MEM_BIND: the node; else -1 */
};

/** A buffer's placement. */
struct nb_buf_plan {
  enum nb_mem_policy policy;
  int node; /* NB_MEM_BIND: the node; else -1 */
};

struct nb_gpu_plan {
  int gpu;            /* GPU index in the topology, or the simulated device's number */
  const char *bus_id; /* "" for a simulated device */
  const char *name;
  int gpu_node;                 /* -1 when unknown (allowed only for none and interleave) */
  bool gpu_node_overridden;     /* from --gpu-node */
  struct nb_thread_plan feeder; /* receives batches, copies them to the device */
  int nworkers;
  const struct nb_thread_plan *workers;
  struct nb_thread_plan device;  /* host backend: the thread playing the device's copy engine, on the
                                    GPU's node in every mode (that is where a GPU's DMA engine sits) */
  struct nb_buf_plan staging;    /* pinned staging slots the feeder copies from */
  struct nb_buf_plan device_buf; /* the device's memory (host backend: a buffer on the GPU's node) */
  int nshare;                    /* the CPUs set aside for this GPU (union of its threads') */
  const int *share;
  bool oversubscribed; /* more threads than CPUs: threads share CPUs */
  int nnotes;
  const char *const *notes;
};

/** Where a mode puts a thread (its CPUs and the memory it allocates) or a
 *  buffer, relative to the GPU it serves. */
enum nb_place {
  NB_PLACE_UNBOUND,    /* nothing bound: the scheduler and first touch decide */
  NB_PLACE_GPU_NODE,   /* the GPU's NUMA node */
  NB_PLACE_FAR_NODE,   /* the usable node farthest from the GPU's (ties: the lowest OS index) */
  NB_PLACE_INTERLEAVE, /* CPUs unbound; memory interleaved over the allowed nodes with memory */
};

/** What a mode needs from the topology; nb_plan_make refuses a mode whose
 *  needs are not met, with the error named here. */
enum nb_mode_need {
  NB_NEED_GPU_NODE = 1 << 0,      /* every planned GPU's node is known (else --gpu-node): NB_EINVAL */
  NB_NEED_GPU_NODE_CPUS = 1 << 1, /* the GPU's node has CPUs this process may use: NB_EINVAL */
  NB_NEED_FAR_NODE = 1 << 2,      /* two allowed nodes with CPUs, so a far one exists: NB_ENOTSUP */
};

/** One row of the mode table, which drives parsing, feasibility and
 *  planning. Whatever the mode, the device thread (host backend) and the
 *  device's memory sit on the GPU's node: that is where the GPU is. */
struct nb_mode_info {
  enum nb_mode mode;
  const char *name;      /* as --mode takes it */
  const char *help;      /* one line, for --help and documentation */
  enum nb_place feeder;  /* the thread receiving batches and copying them to the device */
  enum nb_place workers; /* the worker threads, and the batch buffers they allocate */
  enum nb_place staging; /* the pinned staging slots the feeder copies from */
  unsigned needs;        /* enum nb_mode_need flags */
  const char *note;      /* written into every GPU's plan notes, or NULL */
};

/** The mode's row of the table; NULL for a value outside [0, NB_NMODES).
 *  Rows are in enum order: iterate with for (m = 0; m < NB_NMODES; m++). */
const struct nb_mode_info *nb_mode_info(enum nb_mode mode);

typedef struct nb_plan *nb_plan_t;

/** Most items in a --gpus or --gpu-node list. */
#define NB_MAX_GPU_ITEMS 64

/** Which GPUs to plan (--gpus, read by nb_parse_gpus): the first count, or
 *  indexes and ranges. Whether they exist is the planner's to check. */
struct nb_gpu_select {
  long count; /* > 0: the first count GPUs by index; 0: the ranges */
  int n;      /* ranges */
  struct {
    long lo, hi; /* one GPU: lo == hi */
  } range[NB_MAX_GPU_ITEMS];
  char text[256]; /* as given, for messages */
};

/** GPU=NODE overrides (--gpu-node, read by nb_parse_gpu_nodes). */
struct nb_gpu_nodes {
  int n;
  struct {
    long gpu, node;
  } item[NB_MAX_GPU_ITEMS];
  char text[256]; /* as given, for messages */
};

/** What to plan. Zero-initialise, then set. */
struct nb_plan_config {
  enum nb_mode mode;
  const struct nb_gpu_select *gpus; /* NULL: all */
  int workers; /* workers per GPU; 0: fill the GPU's share of cores (one thread per core) */
  const struct nb_gpu_nodes *gpu_node; /* override GPUs' nodes; NULL: none */
};

/** Parse a mode name ("bind"); -1 when unknown. */
int nb_mode_parse(const char *name);
const char *nb_mode_name(enum nb_mode mode);
const char *nb_mem_policy_name(enum nb_mem_policy p);

/** Make a plan. With no GPU in the topology, one simulated device per
 *  allowed node with CPUs stands in (nb_plan_simulated says so).
 *  - NB_EINVAL: bad --gpus, --workers or --gpu-node; a GPU with unknown
 *    node under a mode that needs it; a GPU node without allowed CPUs.
 *  - NB_ENOTSUP: the mode cannot exist on this topology (adversarial and
 *    remote need two allowed nodes with CPUs).
 *  - NB_ENOMEM: out of memory. */
int nb_plan_make(nb_plan_t *planp, nb_topo_t topo, const struct nb_plan_config *cfg, nb_error_t *err);
void nb_plan_free(nb_plan_t plan);

enum nb_mode nb_plan_mode(nb_plan_t plan);
int nb_plan_ngpus(nb_plan_t plan);
const struct nb_gpu_plan *nb_plan_gpu(nb_plan_t plan, int i);
int nb_plan_workers(nb_plan_t plan);
/** Whether --workers was 0 and the planner chose the count. */
bool nb_plan_workers_auto(nb_plan_t plan);
/** Whether the cgroup's CPU quota lowered that automatic count (below one
 *  thread per core of each GPU's share). */
bool nb_plan_workers_by_quota(nb_plan_t plan);
/** True when the devices are simulated (no GPU in the topology). */
bool nb_plan_simulated(nb_plan_t plan);
/** Nodes memory is interleaved over (NB_MODE_INTERLEAVE), ascending. */
int nb_plan_interleave_nodes(nb_plan_t plan, const int **nodes);
nb_topo_t nb_plan_topo(nb_plan_t plan);

/** One block per GPU: node, feeder and worker CPUs, buffer nodes, notes.
 *  - NB_EIO: writing failed. */
int nb_plan_write_text(nb_plan_t plan, FILE *out, nb_error_t *err);

/** The plan as one JSON object (docs/plan-schema.md).
 *  - NB_EIO, NB_ENOMEM. */
int nb_plan_write_json(nb_plan_t plan, FILE *out, nb_error_t *err);

/** A mode skipped inside a list, as one JSON object on one line:
 *  {"schema_version":1,"mode":"...","skipped":true,"reason":"..."}.
 *  - NB_EIO, NB_ENOMEM. */
int nb_plan_write_skip_json(enum nb_mode mode, const char *reason, FILE *out, nb_error_t *err);

/** One shell line per GPU rank launching argv under numactl with this plan's
 *  binding: `numactl --physcpubind=CPUS --membind=NODE env LOCAL_RANK=i
 *  RANK=i WORLD_SIZE=n ... CMD ARGS`, arguments shell-quoted.
 *  - NB_ENOTSUP: adversarial placement cannot be launched this way (child
 *    workers inherit the launcher's binding).
 *  - NB_EIO: writing failed. */
int nb_plan_write_numactl(nb_plan_t plan, int argc, const char *const *argv, FILE *out, nb_error_t *err);

/** Quote a word for POSIX sh. Writes at most len bytes; returns the length
 *  the full text needs. */
int nb_shell_quote(char *buf, size_t len, const char *word);

#ifdef __cplusplus
}
#endif
#endif
