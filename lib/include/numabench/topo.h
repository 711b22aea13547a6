/* numabench: the topology model.
 *
 * One small model of the machine that the planner and the benchmark read:
 * NUMA nodes with their CPUs and memory, the node distance matrix, the
 * process's allowed CPUs and nodes, cores (SMT siblings together), PCI
 * devices, and the GPUs with their NUMA node. It is fed by hwloc from the live
 * machine, from an hwloc XML file, or from a recorded /sys tree.
 *
 * Everything that can be used is restricted to what this process may use: the
 * CPUs of its affinity mask inside its cgroup, and the memory of the nodes of
 * its cpuset (Mems_allowed). A node's CPUs are allowed by the CPU set, its
 * memory by the memory set: a memoryless node (CPUs, no memory), which
 * Mems_allowed never lists, is allowed for its CPUs. Nodes and CPUs outside
 * are kept, marked not allowed.
 *
 * All arrays are owned by the topology and live until nb_topo_free().
 */
#ifndef NUMABENCH_TOPO_H
#define NUMABENCH_TOPO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <numabench/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_topo *nb_topo_t;

/** "dddd:bb:dd.f" plus NUL. */
#define NB_BUSID_LEN 13

/** Where the topology came from. */
enum nb_topo_kind {
  NB_TOPO_LIVE,  /* this machine, discovered now */
  NB_TOPO_XML,   /* an hwloc XML file (lstopo --of xml) */
  NB_TOPO_FSROOT /* a recorded /sys tree (hwloc-gather-topology, HWLOC_FSROOT) */
};

/** How the GPU list was found. */
enum nb_gpu_origin {
  NB_GPUS_NONE,   /* no GPU found */
  NB_GPUS_CUDA,   /* the CUDA runtime on the live machine */
  NB_GPUS_PCI,    /* NVIDIA display-class PCI devices or cudaN/nvmlN OS devices */
  NB_GPUS_DEVICES /* the user's --devices list of PCI bus ids */
};

/** How a device's NUMA node was determined. */
enum nb_node_origin {
  NB_NODE_UNKNOWN,  /* no locality known: numa_node is -1 */
  NB_NODE_HWLOC,    /* hwloc's PCI locality (sysfs local_cpus/numa_node, or the XML) */
  NB_NODE_SYSFS,    /* sysfs numa_node, where hwloc's locality was ambiguous */
  NB_NODE_CUDA,     /* the CUDA runtime's host NUMA id, where nothing else knew */
  NB_NODE_ONLY_NODE /* the machine has a single NUMA node */
};

/** How the distance matrix was obtained. */
enum nb_dist_origin {
  NB_DIST_FIRMWARE, /* from the OS (ACPI SLIT or device tree), via hwloc */
  NB_DIST_DEFAULT   /* none given: 10 local, 20 remote */
};

/** What to load. Zero-initialise, then set what differs from the defaults. */
struct nb_topo_config {
  const char *source;  /* NULL, "" or "live": this machine; a directory: a recorded
                          /sys tree; a file: hwloc XML */
  const char *devices; /* "BUSID[,BUSID...]": treat these PCI devices as the GPUs, or NULL */
  bool no_cuda;        /* do not ask the CUDA runtime even when it is built in */
};

struct nb_node {
  int os_index;                  /* the kernel's node number */
  bool has_cpus;                 /* the node has CPUs at all (false: memory-only node) */
  bool allowed;                  /* this process may use some of it: allowed CPUs, or its memory */
  bool mem_allowed;              /* its memory is in this process's memory set (Mems_allowed, the
                                    cpuset); a node without memory (memoryless: CPUs only) never is */
  uint64_t memory_bytes;         /* total memory of the node */
  int64_t free_bytes;            /* free memory now, -1 when unknown (recorded XML) */
  int ncpus;                     /* CPUs of the node this process may use */
  const int *cpus;               /* their OS indexes, ascending */
  int ncpus_not_allowed;         /* CPUs of the node outside the allowed set */
  const int *cpus_not_allowed;   /* their OS indexes, ascending */
  int ncores;                    /* physical cores with at least one allowed CPU */
  int package;                   /* OS index of the package holding the node's CPUs, -1 if none or several */
  bool gpu_memory;               /* a GPU's own memory exposed as a node (hwloc subtype GPUMemory, or
                                    the NVIDIA driver's numa_status; Grace Hopper's HBM): plans never
                                    choose it for host memory, interleaving included */
  char gpu_bus_id[NB_BUSID_LEN]; /* gpu_memory: the PCI bus id of the GPU it belongs to, "" unknown */
  int gpu;                       /* gpu_memory: numabench's index of that GPU, -1 when unknown (or
                                    not among the topology's GPUs) */
};

/** A physical core: its allowed hardware threads (SMT siblings). */
struct nb_core {
  int node;        /* OS index of the node its CPUs belong to */
  int ncpus;       /* allowed hardware threads */
  const int *cpus; /* their OS indexes, ascending */
};

struct nb_pci_dev {
  char bus_id[NB_BUSID_LEN]; /* dddd:bb:dd.f, lower case */
  uint16_t vendor_id;
  uint16_t device_id;
  uint16_t class_id; /* base class and subclass, e.g. 0x0302 (3D controller) */
  int numa_node;     /* -1 when unknown */
  enum nb_node_origin node_origin;
  const char *name; /* device name when known, else "" */
};

struct nb_gpu {
  int index;                 /* numabench's GPU index (see nb_topo_gpu_origin) */
  int cuda_ordinal;          /* the CUDA runtime's ordinal, -1 when not from CUDA */
  char bus_id[NB_BUSID_LEN]; /* dddd:bb:dd.f, lower case */
  int numa_node;             /* OS index of the GPU's node, -1 when unknown */
  enum nb_node_origin node_origin;
  int ncpus;        /* allowed CPUs local to the GPU (its node's); 0 when unknown */
  const int *cpus;  /* their OS indexes, ascending */
  const char *name; /* model name, never NULL */
  int nwarnings;    /* things about this GPU the user should know */
  const char *const *warnings;
};

/** Load a topology. On error *topop is NULL and err says what is wrong with
 *  which input. Loading a file or /sys tree runs hwloc in a child process so
 *  that a malformed file cannot crash the caller; call it before starting
 *  threads.
 *  - NB_EINVAL: malformed --devices list.
 *  - NB_ENOENT: the source does not exist, or a --devices id is not a PCI
 *    device of the topology.
 *  - NB_EFORMAT: the file or tree is not a readable topology.
 *  - NB_EIO: the source cannot be read.
 *  - NB_ENOMEM: out of memory.
 *  - NB_EINTERNAL: hwloc failed on the live machine. */
int nb_topo_load(nb_topo_t *topop, const struct nb_topo_config *cfg, nb_error_t *err);

/** Free a topology; NULL is accepted. */
void nb_topo_free(nb_topo_t topo);

enum nb_topo_kind nb_topo_kind(nb_topo_t topo);
/** The source as given ("live" for the live machine). */
const char *nb_topo_source(nb_topo_t topo);
/** True only for the live machine: nothing else may ever be used to bind. */
bool nb_topo_is_this_system(nb_topo_t topo);
/** hwloc's version string of the topology (the library that recorded it for XML). */
const char *nb_topo_hwloc_version(nb_topo_t topo);

int nb_topo_nnodes(nb_topo_t topo);
/** Nodes in ascending OS index; i in [0, nnodes). */
const struct nb_node *nb_topo_node(nb_topo_t topo, int i);
/** Model index of the node with this OS index, -1 when there is none. */
int nb_topo_node_index(nb_topo_t topo, int os_index);
/** Distance between the nodes at model indexes i and j. */
int nb_topo_distance(nb_topo_t topo, int i, int j);
enum nb_dist_origin nb_topo_distance_origin(nb_topo_t topo);

/** OS index of the node a CPU belongs to (allowed or not); -1 when the CPU is
 *  not in the topology or belongs to no node. */
int nb_topo_cpu_node(nb_topo_t topo, int cpu);

/** The allowed CPUs of the process, ascending. */
int nb_topo_allowed_cpus(nb_topo_t topo, const int **cpus);

int nb_topo_ncores(nb_topo_t topo);
/** Cores ordered by node, then by first CPU. */
const struct nb_core *nb_topo_core(nb_topo_t topo, int i);

int nb_topo_npci(nb_topo_t topo);
/** PCI devices in bus id order. */
const struct nb_pci_dev *nb_topo_pci(nb_topo_t topo, int i);

int nb_topo_ngpus(nb_topo_t topo);
/** GPUs ordered by index. */
const struct nb_gpu *nb_topo_gpu(nb_topo_t topo, int i);
enum nb_gpu_origin nb_topo_gpu_origin(nb_topo_t topo);
/** What the CUDA runtime said ("not built", "not asked", "3 devices",
 *  "cudaErrorNoDevice: ..."); never NULL. */
const char *nb_topo_cuda_status(nb_topo_t topo);

/** Warnings about the topology as a whole (missing distances, CUDA trouble). */
int nb_topo_nwarnings(nb_topo_t topo);
const char *nb_topo_warning(nb_topo_t topo, int i);

/** Human-readable summary: nodes, distances, GPUs, warnings.
 *  - NB_EIO: writing to out failed. */
int nb_topo_write_text(nb_topo_t topo, FILE *out, nb_error_t *err);

/** The topology as JSON (schema in docs/topo-schema.md), one document.
 *  - NB_EIO: writing to out failed.
 *  - NB_ENOMEM: out of memory. */
int nb_topo_write_json(nb_topo_t topo, FILE *out, nb_error_t *err);

const char *nb_gpu_origin_name(enum nb_gpu_origin o);
const char *nb_node_origin_name(enum nb_node_origin o);
const char *nb_topo_kind_name(enum nb_topo_kind k);

/** Parse a PCI bus id ("dddd:bb:dd.f" or "bb:dd.f", any case) into the
 *  canonical lower-case dddd:bb:dd.f form.
 *  - NB_EINVAL: not a bus id. */
int nb_parse_bus_id(const char *text, char out[NB_BUSID_LEN]);

/** Write CPU OS indexes as ranges ("0-23,48-71"); "" for none. Truncates to
 *  len; returns the length the full text needs, like snprintf. */
int nb_format_cpulist(char *buf, size_t len, const int *cpus, int n);

#ifdef __cplusplus
}
#endif
#endif
