/* numabench: the pipeline's internals, shared by pipeline.c (threads) and
 * run.c (results, memory). Not installed. */
#ifndef NB_PIPELINE_H
#define NB_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>

#include <numabench/run.h>

#include "audit-internal.h"
#include "cuda_engine.h"
#include "nb-internal.h"

enum nb__fault { NB__FAULT_NONE, NB__FAULT_WORKER, NB__FAULT_FEEDER, NB__FAULT_DEVICE, NB__FAULT_CORRUPT };

/* Kinds of buffers audited per device. */
enum { NB__BUF_WORKER, NB__BUF_SCRATCH, NB__BUF_STAGING, NB__BUF_DEVICE, NB__NBUFKINDS };

struct gpu_pipe {
  struct nb_run *run;
  int index; /* in the plan */
  const struct nb_gpu_plan *gp;
  pthread_mutex_t mu; /* guards every state below that threads share */
  pthread_cond_t cv;
  int sync_init;
  int nstage;             /* staging slots */
  struct nb_buf *wslot;   /* torch: 2 batch slots per worker, in the worker's memory */
  int *wstate;            /* enum slot_state per worker slot */
  long *wbatch;           /* batch in each worker slot */
  struct nb_buf *scratch; /* torch: one sample per worker (__getitem__'s output) */
  struct nb_buf *stage;   /* staging slots (pinned by the CUDA backend) */
  int *sstate;
  long *sbatch;
  long submitted;       /* batches handed to the copy engine */
  struct nb_buf dev[2]; /* device memory slots */
  uint64_t *expected;   /* --verify: each batch's checksum, by its worker */
  double *done_t;       /* completion time of each step */
  double t_start;       /* the device's start */
  long steps_done;
  struct nb__cuda_gpu *cuda;  /* CUDA backend: this GPU's engine (opened by the feeder) */
  int verify_busy;            /* CUDA --verify: the copy-back buffer holds a batch not yet checked */
  double pin_s;               /* CUDA: page-locking the staging slots */
  double stage_s[NB_NSTAGES]; /* summed seconds per stage */
  long gen_batches;           /* batches the workers built */
  double idle_s;              /* device starved, timed steps */
  long verified, mismatches;
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

double nb__now(void);
void nb__run_fail(struct nb_run *r, const nb_error_t *e);

#endif
