/* numabench: the pipeline's internals, shared by pipeline.c (threads) and
 * run.c (results, memory). Not installed. */
#ifndef NB_PIPELINE_H
#define NB_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>

#include <numabench/run.h>

#include "audit-internal.h"
#include "copy.h"
#include "nb-internal.h"

enum nb__fault { NB__FAULT_NONE, NB__FAULT_WORKER, NB__FAULT_FEEDER, NB__FAULT_DEVICE, NB__FAULT_CORRUPT };

/* The run's buffers per device: which, how many, how big. The one layout
 * used by the memory guard (run.c), allocation, audit and free. */
enum nb__buf_kind {
  NB__BUF_WORKER,  /* torch: 2 batch slots per worker, in the worker's memory */
  NB__BUF_SCRATCH, /* torch: one sample per worker (__getitem__'s output) */
  NB__BUF_STAGING, /* the staging slots (pinned by GPU backends) */
  NB__BUF_DEVICE,  /* the device's slots, when they are host memory (host backend) */
  NB__BUF_POOL,    /* --source replay: one pool of samples per worker, in the worker's memory */
  NB__NBUFKINDS
};

struct nb__layout {
  size_t sample_bytes, batch_bytes;
  size_t device_bytes;             /* a host-memory device's slot (NB__HOST_LANDING_BYTES at most) */
  size_t pool_samples, pool_bytes; /* replay: each worker's pool; 0 for randn */
  int per_worker[NB__NBUFKINDS];   /* buffers of each kind per worker thread */
  int per_gpu[NB__NBUFKINDS];      /* buffers of each kind per device, besides */
};

/* The layout of one device's buffers for a run of cfg on backend ops. */
void nb__layout(struct nb__layout *l, const struct nb_run_config *cfg, const struct nb__copy_ops *ops);
/* How many buffers of kind a device with nworkers workers has, and each one's size. */
int nb__layout_count(const struct nb__layout *l, enum nb__buf_kind kind, int nworkers);
size_t nb__layout_bytes(const struct nb__layout *l, enum nb__buf_kind kind);
/* The name of the kind in audits ("staging"). */
const char *nb__buf_kind_name(enum nb__buf_kind kind);

struct gpu_pipe {
  struct nb_run *run;
  int index; /* in the plan */
  const struct nb_gpu_plan *gp;
  pthread_mutex_t mu; /* guards every state below that threads share */
  /* Who waits on what, so that a change wakes only the thread it is for (on
   * a machine with few cores, a thread woken for nothing takes a core from
   * the copy): each worker (one of its own slots free: worker w's are the
   * slots of batches w, w + W...), the feeder (a batch ready, a staging slot
   * free for torch, a step done), the completion thread (a batch
   * submitted). A stop wakes them all. */
  pthread_cond_t *cv_worker; /* one per worker */
  pthread_cond_t cv_feeder, cv_engine;
  int sync_init;
  int nstage;                         /* staging slots */
  int nbufs[NB__NBUFKINDS];           /* buffers of each kind */
  struct nb_buf *bufs[NB__NBUFKINDS]; /* by kind; worker w's are [w * per_worker, (w + 1) * per_worker) */
  int *wstate;                        /* enum slot_state per worker slot */
  long *wbatch;                       /* batch in each worker slot */
  int *sstate;
  long *sbatch;
  long submitted;     /* batches handed to the copy backend */
  uint64_t *expected; /* --verify: each batch's checksum, by its worker */
  double *done_t;     /* completion time of each step, seconds since the device's start */
  long steps_done;
  struct nb__copy_dev *dev;   /* this device in its backend (opened by the feeder) */
  int verify_busy;            /* --verify: copy-backs submitted and not yet checked */
  double pin_s;               /* page-locking the staging slots (GPU backends) */
  double spin_scale;          /* the device's spin-kernel calibration (ops->spin_scale); NAN: none */
  double stage_s[NB_NSTAGES]; /* summed seconds per stage */
  long gen_batches;           /* batches the workers built */
  double idle_s;              /* device starved, timed steps */
  long verified, mismatches;
  double pool_s;             /* replay: the slowest worker's pool generation */
  double cpu_rate_sum;       /* --cpu-work: the workers' calibrated spin rates, summed */
  struct nb__taudit *taudit; /* feeder, device, workers */
  struct nb__baudit baudit[NB__NBUFKINDS];
};

struct worker_arg {
  struct gpu_pipe *gp;
  int w;
};

struct nb_run {
  nb_plan_t plan;
  nb_topo_t topo;
  struct nb_run_config cfg;
  const struct nb__copy_ops *ops; /* the copy backend */
  struct nb__layout layout;
  size_t sample_bytes, batch_bytes;
  long total; /* warmup + steps */
  int ngpus;
  struct gpu_pipe *g;
  struct nb__gate ready;
  int gate_init;
  pthread_t *tids;
  int nstarted;
  struct worker_arg *wargs;
  atomic_int stop;
  pthread_mutex_t err_mu;
  nb_error_t err; /* the first thread error */
  enum nb__fault fault;
  long fault_batch;
  struct nb_numastat before, after;
  struct nb_gpu_result *res;
  double steps_per_s;
  bool interrupted, achieved;
};

void nb__run_fail(struct nb_run *r, const nb_error_t *e);
/* Close the backend's devices and unmap every buffer; the records stay. */
void nb__run_free_buffers(struct nb_run *r);

#endif
