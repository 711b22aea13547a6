/* numabench: the records of a job audit, shared by job_audit.c (which fills
 * them) and report_job_audit.c (which only reads them). Not installed. */
#ifndef NB_JOB_AUDIT_INTERNAL_H
#define NB_JOB_AUDIT_INTERNAL_H

#include <stdint.h>

#include <numabench/audit.h>
#include <numabench/host.h>
#include <numabench/job_audit.h>

#include "audit-internal.h"
#include "nb-internal.h"
#include "procfs.h"

#define NB__JOB_MAX_GPUS 16 /* GPUs one process holds open that are kept */

/* One thread's CPU samples. */
struct nb__jthread {
  int tid;
  char name[32];
  struct nb_hist cpus;         /* samples by node */
  int seen[NB__MAX_SEEN_CPUS]; /* distinct CPUs, ascending after the run */
  int nseen;
  uint64_t last_ticks; /* utime + stime at the previous read */
  bool have_last;
  bool gone;       /* exited during sampling */
  char policy[64]; /* its own memory policy (task/TID/numa_maps), "" unknown */
};

/* Where one GPU is. */
struct nb__jgpu {
  char bus_id[NB_BUSID_LEN];
  int minor; /* -1 when named on the command line */
  int index; /* in the topology, -1 when it does not list it */
  int node;  /* OS index, -1 unknown */
};

/* Resident bytes of one kind of mapping per node. */
struct nb__jmem {
  uint64_t *bytes; /* per topology node (model order) */
  uint64_t other;  /* on nodes the topology does not have */
  uint64_t total;
};

/* One policy of numa_maps with how much it covers. */
struct nb__jpolicy {
  char text[64];
  int vmas;
  uint64_t bytes;
};

struct nb__jproc {
  int pid, ppid;
  long uid;
  char name[64];
  char *cmdline;
  bool requested; /* named with --pid */
  bool gone;      /* exited during the audit */
  int rank;       /* index of its rank, -1 none */
  int *cpus;      /* Cpus_allowed_list; ncpus -1 unknown */
  int ncpus;
  int *mems; /* Mems_allowed_list; nmems -1 unknown */
  int nmems;
  char policy[64];         /* the process's (task) policy */
  const char *policy_from; /* "get_mempolicy", "numa_maps", NULL unknown */
  struct nb__jpolicy *pols;
  int npols;
  struct nb__jmem mem[NB__MEM_NKINDS];
  bool pages_read;            /* numa_maps was read */
  int gpus[NB__JOB_MAX_GPUS]; /* indexes into the audit's GPUs */
  int ngpus;
  const char *gpu_how; /* "open device", "given", NULL */
  struct nb__jthread *threads;
  int nthreads;
  struct nb__strv problems; /* what could not be read, and why */
};

struct nb__jrank {
  int proc;             /* the process holding the GPU */
  int gpu;              /* index into the audit's GPUs, -1 when its GPUs span nodes */
  int node;             /* the GPU's node, -1 unknown */
  const char *gpu_from; /* how its GPU was chosen: its process's gpus_from, or "environ" */
  /* Where its data pages belong: the GPU's node, or for a node without
   * memory this process may use (memoryless), the nearest node with it, as
   * the planner (and so numabench exec and plan --check) places them. */
  int mem_node;
  int nprocs;
  long samples, samples_on;
  uint64_t bytes, bytes_on;     /* data pages (anon, shm, device) */
  double cpu_share, page_share; /* -1 when nothing observed */
  enum nb_job_verdict verdict;
  char why[160];
  char *fix; /* the numabench exec line; NULL when local */
};

struct nb_job_audit {
  nb_topo_t topo;
  struct nb_host_state host;
  double duration_s, interval_s;
  int nsamples;
  bool gpu_procs, children;
  struct nb__jproc *procs;
  int nprocs;
  struct nb__jgpu *gpus;
  int ngpus;
  struct nb__jrank *ranks;
  int nranks;
  int unreadable;           /* problems with the named processes */
  int refused_scan;         /* processes --gpu-procs could not look into */
  struct nb__strv warnings; /* about the whole audit */
};

#endif
