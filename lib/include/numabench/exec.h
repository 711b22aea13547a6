/* numabench: placing one rank of a real job (`numabench exec`).
 *
 * Two pure steps and one that acts, like plan/bind:
 * - nb_rank_resolve (rank.c): which GPU this rank drives. --gpu, or the
 *   launcher's local rank selecting an entry of CUDA_VISIBLE_DEVICES
 *   (ordinals, GPU-<uuid> prefixes, MIG-GPU-<uuid>/gi/ci), honouring
 *   CUDA_DEVICE_ORDER, resolved to a PCI bus id and a NUMA node from the CUDA
 *   runtime's list, /proc/driver/nvidia, --devices or PCI order.
 * - nb_exec_place (exec.c): the rank's CPUs and memory policy for a mode, a
 *   CPU policy and a memory policy, computed identically in every rank so
 *   that ranks never overlap without talking to each other.
 * - nb_exec_bind (exec.c): apply them to the calling process through the bind
 *   module and read back what the kernel did; children inherit both.
 */
#ifndef NUMABENCH_EXEC_H
#define NUMABENCH_EXEC_H

#include <stdbool.h>
#include <stdio.h>

#include <numabench/bind.h>
#include <numabench/error.h>
#include <numabench/plan.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The CPUs a rank gets on its node (torchrun's --numa-binding names). */
enum nb_exec_policy {
  NB_EXEC_NODE,        /* every allowed CPU of the node */
  NB_EXEC_SOCKET,      /* every allowed CPU of the node's package */
  NB_EXEC_EXCLUSIVE,   /* a disjoint share of the node's cores (SMT siblings together) */
  NB_EXEC_CORE_COMPLEX /* one L3 domain per rank; the exclusive share where there are too few */
};

/** The rank's memory policy. */
enum nb_exec_mem {
  NB_EXEC_MEM_BIND,       /* MPOL_BIND to the node's memory node */
  NB_EXEC_MEM_PREFERRED,  /* MPOL_PREFERRED: that node first, others when full */
  NB_EXEC_MEM_INTERLEAVE, /* MPOL_INTERLEAVE over every allowed node with memory */
  NB_EXEC_MEM_NONE,       /* the default policy */
  NB_EXEC_MEM_LOCAL       /* MPOL_LOCAL: each page on the node of the CPU that first touches it, as the
                           * default, but an explicit policy: automatic NUMA balancing never moves it */
};

/** Most GPUs a rank's CUDA_VISIBLE_DEVICES list is resolved for. */
#define NB_RANK_MAX_GPUS 64
/** Most notes kept about a resolution or a placement. */
#define NB_EXEC_MAX_NOTES 6

/** One GPU as a rank sees it. */
struct nb_rank_gpu {
  int index;                 /* its index in the topology (numabench topo), -1 when not a topology GPU */
  char bus_id[NB_BUSID_LEN]; /* dddd:bb:dd.f */
  int numa_node;             /* -1 when unknown */
  bool node_overridden;      /* from --gpu-node */
  char uuid[48];             /* "GPU-..." when known, else "" */
};

/** What decides a rank's GPU. Zero-initialise, then set. */
struct nb_rank_config {
  const char *gpu;                     /* --gpu INDEX|BUSID, or NULL: the local rank decides */
  const struct nb_gpu_nodes *gpu_node; /* --gpu-node overrides by topology index, or NULL */
  const char *const *env; /* NAME=VALUE strings, NULL-terminated; NULL: this process's environment */
};

/** The rank, its GPU and the GPUs of its node's other ranks. */
struct nb_rank {
  int local_rank;       /* -1 when --gpu was given and no launcher variable is set */
  char rank_from[40];   /* the variable it came from ("LOCAL_RANK", ...), or "--gpu" */
  int local_world_size; /* ranks on this machine, 0 when no variable says */
  char size_from[40];   /* the variable it came from, "" when none */
  const char *source;   /* which list resolved the GPU: "cuda" (the CUDA runtime), "nvidia-proc"
                           (/proc/driver/nvidia/gpus), "devices" (--devices), "pci" (PCI bus order),
                           "option" (--gpu) */
  char entry[64];       /* the CUDA_VISIBLE_DEVICES entry that selected it, "" when none */
  struct nb_rank_gpu gpu;
  int nvisible;                                 /* GPUs the command's CUDA sees, in its order */
  struct nb_rank_gpu visible[NB_RANK_MAX_GPUS]; /* cuda:k of the command is visible[k] */
  bool cvd_set;                                 /* CUDA_VISIBLE_DEVICES is set for the command */
  char cvd[1024];     /* its value for the command (rewritten so that ordinals count in PCI order) */
  bool cvd_rewritten; /* cvd differs from the value given */
  int nnotes;
  char notes[NB_EXEC_MAX_NOTES][200]; /* what the user should know (orders assumed, entries ignored) */
};

/** Resolve the calling rank's GPU on the live topology (or a recorded one,
 *  for tests). GPU lists, in order: the topology's --devices; the CUDA
 *  runtime's (topology origin cuda); /proc/driver/nvidia/gpus; the
 *  topology's PCI GPUs in bus order (a note says so).
 *  - NB_EINVAL: no rank variable and no --gpu; a variable that is not a
 *    number; a rank beyond the GPUs visible; an entry that cannot be
 *    resolved (a MIG instance's own UUID, a UUID where no list has UUIDs);
 *    a --gpu naming no GPU; no GPU information at all. */
int nb_rank_resolve(nb_topo_t topo, const struct nb_rank_config *cfg, struct nb_rank *out, nb_error_t *err);

/** How to place the rank. Zero-initialise, then set. */
struct nb_exec_config {
  enum nb_mode mode; /* bind, remote, adversarial (CPUs on the GPU's node, memory on the farthest),
                        none, interleave */
  enum nb_exec_policy policy;
  enum nb_exec_mem mem;
};

/** Where the rank goes. Owned arrays: nb_exec_place_free. */
struct nb_exec_place {
  enum nb_mode mode;
  enum nb_exec_policy policy;
  enum nb_exec_mem mem;
  int cpu_node;   /* node of the CPUs, -1 unbound */
  int ncpus;      /* 0: CPUs unbound */
  int *cpus;      /* ascending */
  int mem_node;   /* bind/preferred: the node; else -1 */
  int nmem_nodes; /* interleave: the nodes */
  int mem_nodes[NB_RANK_MAX_GPUS];
  int nnotes;
  char notes[NB_EXEC_MAX_NOTES][200];
};

/** Compute the rank's placement: a pure function of the topology, the
 *  resolved rank and cfg (the planner decides the nodes: the GPU's, the
 *  farthest, the nearest with memory).
 *  - NB_EINVAL: the GPU's node unknown (give --gpu-node); its node has no
 *    CPUs this process may use; exclusive or core-complex without a local
 *    world size, or with fewer cores than ranks on the node.
 *  - NB_ENOTSUP: the mode cannot exist here (remote on one node).
 *  - NB_ENOMEM. */
int nb_exec_place(nb_topo_t topo, const struct nb_rank *rank, const struct nb_exec_config *cfg,
                  struct nb_exec_place *out, nb_error_t *err);
void nb_exec_place_free(struct nb_exec_place *p);

/** What the kernel reports after binding. */
struct nb_exec_bound {
  struct nb_bind_status st; /* the bind module's record: level, policy seen, errnos */
  int ncpus_seen;           /* sched_getaffinity of the process now */
  int *cpus_seen;           /* owned: nb_exec_bound_free */
  bool achieved;            /* CPUs and policy as asked */
};

/** Bind the calling process (it must be single-threaded: the policy and the
 *  mask are the thread's, and exec passes them on) and read both back.
 *  - NB_EINVAL: the topology is not this machine. - NB_ENOMEM. */
int nb_exec_bind(nb_topo_t topo, const struct nb_exec_place *p, struct nb_exec_bound *b, nb_error_t *err);
void nb_exec_bound_free(struct nb_exec_bound *b);

/** What one rank's line reports. */
struct nb_exec_report {
  const struct nb_rank *rank;        /* NULL when the GPU could not be resolved (--allow-unbound) */
  const struct nb_exec_place *place; /* NULL when nothing was placed */
  const struct nb_exec_bound *bound; /* what the kernel reports; NULL when nothing was bound */
  const char *unbound_reason;        /* --allow-unbound: why the command runs unbound, else NULL */
  const char *cuda_visible_devices;  /* as the command gets it, NULL when unset */
  const char *command;               /* argv[0] of the command */
};

/** The rank's one line (`numabench exec: rank 3 -> GPU 3 0000:20:1d.0 node
 *  0: CPUs 18-23,66-71, memory bind 0 (...)`) or, with json, one JSON object
 *  on one line (docs/exec-json.md). CPUs and memory are the kernel's answer.
 *  - NB_EIO, NB_ENOMEM. */
int nb_exec_write_line(const struct nb_exec_report *rep, bool json, FILE *out, nb_error_t *err);

/** One torchrun line launching argv through `numabench exec` with this
 *  plan's mode (bound modes: --policy exclusive, the plan's split of each
 *  node's cores), CUDA_DEVICE_ORDER=PCI_BUS_ID and, when the plan selects
 *  GPUs, CUDA_VISIBLE_DEVICES in PCI ordinals; --devices for stand-ins.
 *  - NB_ENOTSUP: the plan's devices are simulated (no GPU to launch on).
 *  - NB_EINVAL: no command. - NB_EIO, NB_ENOMEM. */
int nb_plan_write_torchrun(nb_plan_t plan, int argc, const char *const *argv, FILE *out, nb_error_t *err);

/** The same as a complete bash launcher: one `numabench exec` per local rank
 *  with LOCAL_RANK, RANK, LOCAL_WORLD_SIZE and WORLD_SIZE set, in the
 *  background; TERM and INT forwarded to the ranks; exits with the status of
 *  the first rank that fails, stopping the others. Errors as above. */
int nb_plan_write_script(nb_plan_t plan, int argc, const char *const *argv, FILE *out, nb_error_t *err);

const char *nb_exec_policy_name(enum nb_exec_policy p);
const char *nb_exec_mem_name(enum nb_exec_mem m);

#ifdef __cplusplus
}
#endif
#endif
