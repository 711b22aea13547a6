/* numabench: the input pipeline and the benchmark run.
 *
 * For every device of a plan, at the same time: W worker threads build
 * batches of float32 N(0,1) samples, a feeder thread hands them in order to
 * pinned staging slots, and the copy backend moves each slot to the device,
 * where the step's work runs. One run = one plan (mode); nb_run_modes runs a
 * list of modes in turn on the same settings.
 */
#ifndef NUMABENCH_RUN_H
#define NUMABENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <numabench/audit.h>
#include <numabench/bind.h>
#include <numabench/error.h>
#include <numabench/opts.h>
#include <numabench/plan.h>
#include <numabench/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

enum nb_pipeline {
  NB_PIPE_TORCH,  /* workers build whole batches in their own memory (2 in flight each); the feeder copies
                     each into a pinned staging slot (PyTorch's DataLoader with pin_memory) */
  NB_PIPE_DIRECT, /* workers write samples straight into the staging slots: no extra copy */
};

enum nb_backend { NB_BACKEND_AUTO, NB_BACKEND_HOST, NB_BACKEND_CUDA };

/** Where a worker's samples come from. */
enum nb_source {
  NB_SOURCE_RANDN,  /* generated per sample, N(0,1) (the seed's torch.randn) */
  NB_SOURCE_REPLAY, /* copied from a pool of generated samples in the worker's own memory, made before the
                       timed region (decoded data read from the page cache): memory speed */
};

/** --pool-size's default: bytes of each worker's replay pool (in whole
 *  samples, raised to the next prime number of samples above two batches;
 *  nb_run_pool_samples). */
#define NB_POOL_DEFAULT_BYTES ((size_t)256 << 20)

/** The CUDA backend copies back and checks every this-many-th batch with
 *  --verify (batches 0, N, 2N..., and the one --fail-at corrupt:N spoiled);
 *  the host backend checks all. */
#define NB_CUDA_VERIFY_EVERY 4

/** The side of the square the CUDA backend resizes samples to (torchvision's
 *  Resize(224)). */
#define NB_CUDA_RESIZE 224

/** Pipeline stages timed per step (milliseconds per batch in reports). */
enum nb_stage {
  NB_STAGE_GENERATE,     /* workers: N(0,1) samples */
  NB_STAGE_COLLATE,      /* workers: samples into the batch (torch) */
  NB_STAGE_STAGING_COPY, /* feeder: batch into the pinned staging slot (torch) */
  NB_STAGE_DEVICE_COPY,  /* backend: staging slot to the device */
  NB_STAGE_DEVICE_WORK,  /* device: the step's work (host: --gpu-work; CUDA: measured resize + spin) */
  NB_STAGE_CPU_WORK,     /* workers: --cpu-work, the per-sample spin (decode/augmentation) */
};
#define NB_NSTAGES 6

/** What to run (resolved; zero-initialise then set). */
struct nb_run_config {
  int channels, height, width; /* sample shape */
  int batch;                   /* samples per batch */
  int warmup;                  /* steps before timing */
  int steps;                   /* timed steps */
  uint64_t seed;               /* data seed */
  enum nb_pipeline pipeline;
  enum nb_backend backend; /* resolved: HOST or CUDA */
  enum nb_pin pin;         /* CUDA: how staging is page-locked (REGISTER or HOSTALLOC); ignored by host */
  int gpu_work_us;         /* device work per step (CUDA: a calibrated spin kernel after the resize) */
  bool verify;             /* check delivered batches' checksums: host every batch, CUDA every
                              NB_CUDA_VERIFY_EVERY-th (copied back from the GPU) */
  struct nb_fault fail_at; /* inject a failure at a worker, the feeder or the device, or flip a bit of
                              a batch in staging (tests; nb_parse_fault); stage NB_FAULT_NONE: none */
  /* Progress: called from GPU 0's device side after each step; may be NULL. */
  void (*progress)(void *arg, int step, int total);
  void *progress_arg;
  enum nb_source source; /* randn (default) or replay */
  size_t pool_bytes;     /* replay: each worker's pool, nb_run_pool_samples (0: NB_POOL_DEFAULT_BYTES) */
  int cpu_work_us;       /* per sample, a calibrated spin on the worker's core after the sample is made */
};

struct nb_gpu_result {
  int gpu;
  int node;        /* the device's node, -1 unknown */
  int steps_done;  /* steps completed, warmup included */
  int timed_steps; /* of which timed */
  double seconds;  /* timed interval */
  double steps_per_s, samples_per_s, gbps;
  double stage_ms[NB_NSTAGES];  /* mean per batch over all batches */
  double starved_pct;           /* share of the timed interval the device waited for data */
  double alloc_s;               /* allocating and first-touching all buffers */
  double pin_s;                 /* page-locking them (CUDA backend) */
  double copy_gbps;             /* batch bytes / mean time of one device copy (the copy engine's rate) */
  double spin_scale;            /* CUDA: the spin kernel's calibration, time asked / time measured by
                                   events (1 is exact); NAN when not measured (host backend) */
  double *step_ms;              /* timed_steps durations, raw */
  struct nb_welford step_stats; /* of step_ms */
  long verified, mismatches;    /* --verify: batches checked, wrong */
  uint64_t digest;              /* of the checksums of all delivered batches, in order */
  bool short_intervals;         /* timed steps shorter than 20 clock ticks */
  double pool_s;                /* replay: generating the pools (the slowest worker's), before timing */
  size_t pool_bytes;            /* replay: each worker's pool as allocated; 0 for randn */
  double cpu_work_rate;         /* --cpu-work: the workers' calibrated spin iterations per microsecond
                                   (their mean); NAN without --cpu-work */
};

typedef struct nb_run *nb_run_t;

/** Bytes of one sample of cfg's shape (float32 values). */
size_t nb_run_sample_bytes(const struct nb_run_config *cfg);

/** Memory the run needs per node (bytes), as the plan places it; memory
 *  whose node is not fixed (unbound or interleaved) is counted in *floating.
 *  need has nb_topo_nnodes entries in topology order. */
void nb_run_memory(nb_plan_t plan, const struct nb_run_config *cfg, uint64_t *need, uint64_t *floating);

/** Largest batch (at most max) whose memory fits within fraction of each
 *  node's free memory for all these plans; 0 when not even 1 fits. */
int nb_run_pick_batch(nb_plan_t *plans, int nplans, const struct nb_run_config *cfg, int max,
                      double fraction);

/** Refuse a configuration that needs more memory than a node has free.
 *  - NB_EINVAL: the numbers, and what to lower. */
int nb_run_check_memory(nb_plan_t plan, const struct nb_run_config *cfg, nb_error_t *err);

/** Run the pipeline for one plan (live machine only). Blocks until done,
 *  stopped (nb_run_stop) or failed. The result holds what was measured even
 *  when stopped or failed part-way.
 *  - NB_EINVAL: not this machine, bad configuration, --fail-at malformed.
 *  - NB_ENOMEM, NB_EINTERNAL (threads), NB_ECUDA.
 *  - NB_EIO: a verify mismatch or injected failure stops the run with the
 *    failing thread's message. */
int nb_run_start(nb_run_t *runp, nb_plan_t plan, const struct nb_run_config *cfg, nb_error_t *err);
int nb_run_wait(nb_run_t run, nb_error_t *err);

/** Ask a running run to stop after the current step. Safe from any thread,
 *  not from a signal handler. */
void nb_run_stop(nb_run_t run);
bool nb_run_interrupted(nb_run_t run);

int nb_run_ngpus(nb_run_t run);
const struct nb_gpu_result *nb_run_gpu(nb_run_t run, int i);
/** Aggregate steps/s: the slowest GPU's, as a synchronous data-parallel job sees it. */
double nb_run_steps_per_s(nb_run_t run);
nb_plan_t nb_run_plan(nb_run_t run);
/** The placement audit of this run (threads' CPUs and policies, buffers' pages). */
bool nb_run_placement_achieved(nb_run_t run);
void nb_run_free(nb_run_t run);

/** Resolve --backend for this machine. HOST stays host. CUDA needs a usable
 *  CUDA runtime with devices and the topology's GPUs enumerated by it;
 *  otherwise NB_ECUDA / NB_ENOTSUP / NB_EINVAL with one line naming the CUDA
 *  error (or the reason) and the hint `--backend host`. AUTO becomes CUDA
 *  when that holds, else HOST with the reason in why (one line). */
int nb_backend_resolve(nb_topo_t topo, enum nb_backend asked, enum nb_backend *out, char *why, size_t len,
                       nb_error_t *err);

const char *nb_stage_name(enum nb_stage s);
const char *nb_pipeline_name(enum nb_pipeline p);
const char *nb_backend_name(enum nb_backend b);
const char *nb_source_name(enum nb_source s);
/** Samples in each worker's replay pool for cfg: pool_bytes (or the default)
 *  in whole samples, raised to more than two batches and then to the next
 *  prime, so that every worker reads the whole pool (not one batch of it
 *  again and again, from the cache) whatever the worker count below that
 *  prime; 0 for randn. */
size_t nb_run_pool_samples(const struct nb_run_config *cfg);

/* ---- the placement audit of a run, for the reporters ---- */

/** What the kernel said about one thread of a run, and about one kind of
 *  buffer of one GPU (all its worker slots, its staging slots...). The
 *  records are opaque: the library's reporters read them. */
typedef struct nb__taudit nb_thread_audit_t;
typedef struct nb__baudit nb_buf_audit_t;

/** Kinds of buffers audited per GPU: worker slots, scratch samples, staging
 *  slots, device slots, replay pools. */
#define NB_RUN_NBUFKINDS 5

/** Threads audited for GPU i of the run (feeder, device, then the workers). */
int nb_run_audit_nthreads(nb_run_t run, int i);
/** Thread k of GPU i (0 <= k < nb_run_audit_nthreads). */
const nb_thread_audit_t *nb_run_thread_audit(nb_run_t run, int i, int k);
/** Buffers of kind k (0 <= k < NB_RUN_NBUFKINDS) of GPU i; NULL when the run
 *  has none of that kind to audit. */
const nb_buf_audit_t *nb_run_buf_audit(nb_run_t run, int i, int k);
/** The numastat counters read before and after the run. */
void nb_run_numastat(nb_run_t run, const struct nb_numastat **before, const struct nb_numastat **after);

/* ---- reports ---- */

/** One run of a point: a mode in one repeat, or a mode skipped (recorded
 *  once, with repeat 0). */
struct nb_report_entry {
  enum nb_mode mode;
  int repeat;              /* 0 .. repeats-1 */
  nb_run_t run;            /* NULL for a skipped mode */
  const char *skip_reason; /* NULL when it ran */
};

/** The runs of one sweep point (every mode, every repeat, in the order they
 *  ran) with the configuration, for the reporters and the result files. */
struct nb_report {
  const struct nb_config *options; /* the option table's values, with which the user set */
  const struct nb_run_config *run; /* resolved */
  nb_topo_t topo;                  /* the machine (summary in result files) */
  int batch_auto;                  /* batch chosen by numabench */
  const char *devices_text;        /* what the devices are ("simulated: one per node with CPUs", ...) */
  int repeats;                     /* --repeat */
  const char *sweep_option;        /* --sweep: the option varied, NULL without a sweep */
  const char *sweep_value;         /* its value for these runs */
  int nentries;
  const struct nb_report_entry *entries;
  bool interrupted;        /* stopped (nb_experiment_stop) before every run was done */
  bool placement_achieved; /* in every run of a mode other than none */
};

/** Per-mode statistics over the repeats: steps/s and GB/s summaries, and
 *  the speedup against none with its 95% interval (NaN when not defined). */
struct nb_mode_summary {
  enum nb_mode mode;
  int runs;
  struct nb_stats steps_per_s, gbps;
  double speedup, speedup_lo, speedup_hi;
  bool placement_achieved; /* in every repeat */
  bool skipped;
};

/** Summarise per mode (in order of first appearance); *n receives the count.
 *  Returns an array to free(), NULL on OOM. */
struct nb_mode_summary *nb_report_summary(const struct nb_report *r, int *n);

/** One table per run, then the summary per mode with the speedups. - NB_EIO. */
int nb_report_write_text(const struct nb_report *r, FILE *out, nb_error_t *err);
/** One JSON document (docs/results-schema.md). - NB_EIO, NB_ENOMEM. */
int nb_report_write_json(const struct nb_report *r, FILE *out, nb_error_t *err);

/** Save the result file <dir>/<timestamp>-<host>-<short-config>.json and the
 *  same data as .csv (one row per mode x repeat x GPU). Each is written to
 *  a temporary name and linked into place, so a file is complete or absent;
 *  an existing file is never overwritten (a -2, -3... suffix is added).
 *  path receives the JSON file's path.
 *  - NB_EIO: the directory cannot be created or written. */
int nb_report_save(const struct nb_report *r, const char *dir, char *path, size_t len, nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
