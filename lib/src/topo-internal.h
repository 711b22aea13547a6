/* numabench: the topology model's internals, shared by topo*.c and report_topo.c. */
#ifndef NB_TOPO_INTERNAL_H
#define NB_TOPO_INTERNAL_H

#include <hwloc.h>

#include <numabench/cgroup.h>
#include <numabench/topo.h>

#include "nb-internal.h"

struct nb_topo {
  enum nb_topo_kind kind;
  char *source;           /* as given; "live" for this machine */
  char *sysroot;          /* "" for live, the tree for fsroot, NULL for XML (no sysfs) */
  char hwloc_version[32]; /* hwlocVersion recorded in the topology */
  hwloc_topology_t hw;    /* kept for the planner and the binder */

  int nnodes;
  struct nb_node *nodes; /* ascending OS index; cpu arrays owned below */
  int *dist;             /* nnodes * nnodes */
  enum nb_dist_origin dist_origin;

  int nallowed;
  int *allowed;
  int ncpu_node; /* entries in cpu_node */
  int *cpu_node; /* CPU OS index -> node OS index, -1 for none */

  int ncores;
  struct nb_core *cores;

  int npci;
  struct nb_pci_dev *pci;

  int ngpus;
  struct nb_gpu *gpus;
  enum nb_gpu_origin gpu_origin;
  char *cuda_status;

  struct nb__strv warnings;
  struct nb__strv *gpu_warnings; /* one list per GPU */

  struct nb__arena arena; /* the arrays and strings handed out through the public structs */

  struct nb_cgroup cgroup; /* the process's cgroup limits; read for the live machine only */
  bool have_cgroup;        /* cgroup holds them (live, or set by a test) */
};

/* Load hwloc's topology for cfg->source into *hw; fills topo->kind, source,
 * sysroot. Files and trees are parsed in a child process. */
int nb__topo_load_hwloc(struct nb_topo *topo, const char *source, nb_error_t *err);

struct nb__cuda_info;

/* Find the GPUs (devices list, CUDA or PCI) once nodes and PCI are known.
 * cuda: what the CUDA runtime enumerated, or NULL to ask it (live machine,
 * CUDA built, cfg->no_cuda unset). Tests pass a recorded enumeration. */
int nb__topo_find_gpus(struct nb_topo *topo, const struct nb_topo_config *cfg,
                       const struct nb__cuda_info *cuda, nb_error_t *err);

/* Mark the nodes that are a GPU's own memory (hwloc subtype GPUMemory, or
 * the NVIDIA driver's numa_status), name their GPU once the GPUs are known,
 * and say in the warnings that plans leave them out. NB_ENOMEM or 0. */
int nb__topo_gpu_memory(struct nb_topo *topo);

/* nb_topo_load with a given CUDA enumeration instead of the runtime's (tests). */
int nb__topo_load_with_cuda(nb_topo_t *topop, const struct nb_topo_config *cfg,
                            const struct nb__cuda_info *cuda, nb_error_t *err);

/* Keep an array or string alive until nb_topo_free; returns it, NULL on OOM
 * (and frees it). */
int *nb__topo_own(struct nb_topo *topo, int *arr);
const char *nb__topo_own_str(struct nb_topo *topo, char *s);
const char *nb__topo_strdup(struct nb_topo *topo, const char *s);

/* The allowed CPUs of node (model index) from an hwloc cpuset. */
int nb__topo_cpus_of_set(hwloc_const_bitmap_t set, int **out);

/* Locate a PCI device by canonical bus id, NULL when absent. */
const struct nb_pci_dev *nb__topo_find_pci(const struct nb_topo *topo, const char *bus_id);

/* Read this machine's cgroup limits into a live topology (cgroup.c); their
 * warnings join the topology's. 0, or NB_ENOMEM. */
int nb__topo_read_cgroup(struct nb_topo *topo);

/* The logical index of the L3 cache above a CPU, -1 when the topology names
 * none (exec --policy core-complex). */
int nb__topo_cpu_l3(nb_topo_t topo, int cpu);

/* Whether node os's memory may hold host data: in this process's memory
 * set, with memory, and not a GPU's own memory. The one rule the planner,
 * the memory guard and the job audit share. */
bool nb__topo_mem_usable(nb_topo_t topo, int os);

/* The node that holds the memory of threads on node os's CPUs: os when its
 * memory is usable, else the nearest node whose memory is, ties to the
 * lowest OS index (the kernel's fallback for a memoryless node). -1 when
 * none. */
int nb__topo_mem_node(nb_topo_t topo, int os);

#endif
