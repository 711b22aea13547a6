/* numabench: the input pipeline.
 *
 * Per device, all devices at once: W workers build batches, the feeder hands
 * them in order to the staging slots and submits each to the copy backend
 * (copy.h), and the completion thread, bound to the device's node, polls the
 * backend: it frees a staging slot once its copy is complete and takes each
 * step's times. The backend's table holds everything that differs between
 * the host, CUDA and stand-in backends; this file has no backend branches.
 *
 * Hand-offs are slot states under one mutex per device, with a condition
 * variable per waiter (each worker, the feeder, the completion thread), so
 * that a freed slot wakes only the worker it belongs to; batches move in
 * order, each exactly once. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <numabench/gen.h>
#include <numabench/run.h>

#include "audit-internal.h"
#include "nb-internal.h"
#include "pipeline.h"

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_SUBMITTED };

static int stopping(struct nb_run *r);
static int checked(struct nb_run *r, long b);

/* gp->mu held: a slot of batch b's worker is free again (worker w builds
 * batches w, w + W...; each worker waits on its own condition variable). */
static void wake_worker_of(struct gpu_pipe *gp, long b)
{
  pthread_cond_signal(&gp->cv_worker[b % gp->gp->nworkers]);
}

/* Record the first error and stop everything. */
void nb__run_fail(struct nb_run *r, const nb_error_t *e)
{
  pthread_mutex_lock(&r->err_mu);
  if (!r->err.code)
    r->err = *e;
  pthread_mutex_unlock(&r->err_mu);
  nb_run_stop(r);
}

void nb_run_stop(nb_run_t r)
{
  atomic_store(&r->stop, 1);
  for (int i = 0; i < r->ngpus; i++) {
    pthread_mutex_lock(&r->g[i].mu);
    for (int w = 0; w < r->g[i].gp->nworkers; w++)
      pthread_cond_broadcast(&r->g[i].cv_worker[w]);
    pthread_cond_broadcast(&r->g[i].cv_feeder);
    pthread_cond_broadcast(&r->g[i].cv_engine);
    pthread_mutex_unlock(&r->g[i].mu);
  }
}

static int stopping(struct nb_run *r)
{
  return atomic_load(&r->stop);
}

/* Wait (mutex held) until cond or stop; returns 0, or -1 when stopping. */
#define WAIT_UNTIL(gp, cv, cond)                                                                             \
  ({                                                                                                         \
    int _rc = 0;                                                                                             \
    while (!(cond)) {                                                                                        \
      if (stopping((gp)->run)) {                                                                             \
        _rc = -1;                                                                                            \
        break;                                                                                               \
      }                                                                                                      \
      pthread_cond_wait(&(gp)->cv, &(gp)->mu);                                                               \
    }                                                                                                        \
    _rc;                                                                                                     \
  })

static int injected(struct gpu_pipe *gp, enum nb__fault where, long batch, const char *who)
{
  struct nb_run *r = gp->run;
  if (r->fault != where || r->fault_batch != batch)
    return 0;
  nb_error_t e = {0};
  nb__err(&e, NB_EIO, "GPU %d %s: injected failure at batch %ld (--fail-at)", gp->gp->gpu, who, batch);
  nb__run_fail(r, &e);
  return 1;
}

/* Every thread: bind as planned, then allocate and first-touch its buffers,
 * then wait for all threads of all devices. */
static int setup_thread(struct gpu_pipe *gp, struct nb__taudit *a, nb_error_t *e)
{
  struct nb_run *r = gp->run;
  const int *il;
  int nil = nb_plan_interleave_nodes(r->plan, &il);
  return nb_bind_self(r->topo, a->tp, il, nil, &a->bind, e);
}

/* Buffer i of a kind, on plan's node, page-locked as pin says, by the
 * calling thread. */
static int alloc_buf(struct gpu_pipe *gp, enum nb__buf_kind kind, int i, const struct nb_buf_plan *plan,
                     enum nb_pin pin, nb_error_t *e)
{
  struct nb_run *r = gp->run;
  const int *il;
  int nil = nb_plan_interleave_nodes(r->plan, &il);
  size_t len = nb__layout_bytes(&r->layout, kind);
  int rc = nb_buf_alloc_pinned(r->topo, &gp->bufs[kind][i], len, plan, il, nil, r->ops->pinner, pin, e);
  if (pin != NB_PIN_NONE) /* only the feeder pins: no other thread writes pin_s */
    gp->pin_s += gp->bufs[kind][i].pin_s;
  return rc;
}

/* The calling thread's buffers of a kind (worker w's, or the device's with
 * w = -1). */
static int alloc_bufs(struct gpu_pipe *gp, enum nb__buf_kind kind, int w, const struct nb_buf_plan *plan,
                      enum nb_pin pin, nb_error_t *e)
{
  int n = w < 0 ? gp->nbufs[kind] : gp->run->layout.per_worker[kind], first = w < 0 ? 0 : w * n;
  for (int i = first; i < first + n; i++) {
    int rc = alloc_buf(gp, kind, i, plan, pin, e);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void after_setup(struct nb_run *r, int rc, nb_error_t *e)
{
  if (rc < 0)
    nb__run_fail(r, e);
  nb__gate_arrive(&r->ready);
}

/* ---- workers ---- */

/* The spin behind --cpu-work: a chain of dependent multiply-adds that
 * touches no memory, so that it costs the worker's core time and nothing
 * else. The empty asm keeps the compiler from shortening the chain. */
static uint64_t spin(uint64_t iters, uint64_t x)
{
  for (uint64_t i = 0; i < iters; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

/* CPU seconds of the calling thread: time it was descheduled does not count.
 * Where the kernel has no such clock, the monotonic one. */
static double thread_cpu_now(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
    return nb__now();
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The spin's iterations per microsecond of the thread's CPU time, the best
 * of five runs of about a millisecond. Where the thread's CPU clock does not
 * advance (some sandboxes report 0 for it), the doubling would run to 2^32
 * iterations and the rate come out 0, so that --cpu-work silently did
 * nothing: after 20 ms of wall time with a clock that has not moved, the
 * wall clock times the spin instead. */
static double spin_calibrate(uint64_t *sink)
{
  uint64_t n = 1024;
  double t = 0, best = 0, (*clock)(void) = thread_cpu_now, w0 = nb__now();
  for (; n < (1ull << 32); n *= 2) {
    double t0 = clock();
    *sink = spin(n, *sink);
    if ((t = clock() - t0) >= 1e-3)
      break;
    if (t <= 0 && clock == thread_cpu_now && nb__now() - w0 > 0.02) {
      clock = nb__now;
      n = 512;
    }
  }
  for (int k = 0; k < 5; k++) {
    double t0 = clock();
    *sink = spin(n, *sink);
    t = clock() - t0;
    if (t > 0 && (double)n / (t * 1e6) > best)
      best = (double)n / (t * 1e6);
  }
  return best;
}

/* direct + replay: a sample from the pool straight into a staging slot,
 * with streaming (non-temporal) stores. The worker never reads the slot
 * again (the device's copy engine does), so pulling its lines into the cache
 * first, as memcpy does below its non-temporal threshold (about 3/4 of the
 * L3; a sample is far smaller), only costs memory bandwidth: a third more,
 * measured on an EPYC VM (6 vs 8 GB/s for 588 KiB samples). Unaligned ends
 * go through memcpy. */
#if defined(__x86_64__)
__attribute__((target("avx"))) static void copy_stream_avx(unsigned char *d, const unsigned char *s, size_t n)
{
  size_t head = (32 - ((uintptr_t)d & 31)) & 31, i;
  if (head > n)
    head = n;
  memcpy(d, s, head);
  for (i = head; i + 128 <= n; i += 128) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(s + i)),
            b = _mm256_loadu_si256((const __m256i *)(s + i + 32)),
            c = _mm256_loadu_si256((const __m256i *)(s + i + 64)),
            e = _mm256_loadu_si256((const __m256i *)(s + i + 96));
    _mm256_stream_si256((__m256i *)(d + i), a);
    _mm256_stream_si256((__m256i *)(d + i + 32), b);
    _mm256_stream_si256((__m256i *)(d + i + 64), c);
    _mm256_stream_si256((__m256i *)(d + i + 96), e);
  }
  memcpy(d + i, s + i, n - i);
  /* The stores are weakly ordered: fence before the slot is handed on. */
  _mm_sfence();
}

static void copy_stream_sse2(unsigned char *d, const unsigned char *s, size_t n)
{
  size_t head = (16 - ((uintptr_t)d & 15)) & 15, i;
  if (head > n)
    head = n;
  memcpy(d, s, head);
  for (i = head; i + 64 <= n; i += 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)(s + i)), b = _mm_loadu_si128((const __m128i *)(s + i + 16)),
            c = _mm_loadu_si128((const __m128i *)(s + i + 32)),
            e = _mm_loadu_si128((const __m128i *)(s + i + 48));
    _mm_stream_si128((__m128i *)(d + i), a);
    _mm_stream_si128((__m128i *)(d + i + 16), b);
    _mm_stream_si128((__m128i *)(d + i + 32), c);
    _mm_stream_si128((__m128i *)(d + i + 48), e);
  }
  memcpy(d + i, s + i, n - i);
  _mm_sfence();
}

void nb__copy_stream(void *d, const void *s, size_t n)
{
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx"))
    copy_stream_avx(d, s, n);
  else
    copy_stream_sse2(d, s, n);
}
#else
void nb__copy_stream(void *d, const void *s, size_t n)
{
  memcpy(d, s, n);
}
#endif

/* The stream of sample i of the device's sequence (batch b's sample k is
 * b * batch + k): the same in every pipeline and worker count. */
static uint64_t sample_stream(const struct gpu_pipe *gp, uint64_t i)
{
  return ((uint64_t)gp->gp->gpu << 40) | i;
}

/* --source replay: worker w's pool, in its own memory, filled by it (first
 * touch) with the device's samples 0 .. pool_samples-1, before the start
 * line. Every worker's pool holds the same samples, so that what a batch
 * holds depends on neither the worker count nor the pipeline; while the
 * sequence has not wrapped around the pool, it is exactly what randn
 * delivers. */
static int make_pool(struct gpu_pipe *gp, int w, const struct nb_buf_plan *own, nb_error_t *e)
{
  struct nb_run *r = gp->run;
  int rc = alloc_bufs(gp, NB__BUF_POOL, w, own, NB_PIN_NONE, e);
  if (rc < 0 || !r->layout.pool_samples)
    return rc;
  double t0 = nb__now();
  unsigned char *pool = gp->bufs[NB__BUF_POOL][w].addr;
  size_t S = r->sample_bytes;
  for (size_t j = 0; j < r->layout.pool_samples; j++)
    nb_gen_normal((float *)(pool + j * S), S / sizeof(float), r->cfg.seed, sample_stream(gp, j));
  double t = nb__now() - t0;
  pthread_mutex_lock(&gp->mu);
  if (t > gp->pool_s)
    gp->pool_s = t;
  pthread_mutex_unlock(&gp->mu);
  return 0;
}

/* A worker's set-up, before the start line: binding, its own buffers (torch),
 * its pool (replay) and the spin's calibration (--cpu-work), all on its
 * own core and memory. */
static int worker_setup(struct gpu_pipe *gp, int w, struct nb__taudit *a, double *rate, nb_error_t *e)
{
  struct nb_run *r = gp->run;
  int rc = setup_thread(gp, a, e);
  struct nb_buf_plan own = {a->tp->mem_policy, a->tp->mem_node};
  if (rc == 0)
    rc = alloc_bufs(gp, NB__BUF_WORKER, w, &own, NB_PIN_NONE, e);
  if (rc == 0)
    rc = alloc_bufs(gp, NB__BUF_SCRATCH, w, &own, NB_PIN_NONE, e);
  if (rc == 0)
    rc = make_pool(gp, w, &own, e);
  if (rc == 0 && r->cfg.cpu_work_us > 0) {
    uint64_t sink = (uint64_t)w + 1;
    *rate = spin_calibrate(&sink);
    if (!(*rate > 0) || !isfinite(*rate))
      return nb__err(e, NB_EIO,
                     "run: --cpu-work: neither the thread's CPU clock nor the wall clock timed the spin "
                     "(rate %g); run without --cpu-work on this machine",
                     *rate);
    pthread_mutex_lock(&gp->mu);
    gp->cpu_rate_sum += *rate;
    pthread_mutex_unlock(&gp->mu);
  }
  return rc;
}

/* What a worker sums over its timed batches. */
struct worker_times {
  double gen, col, cpu;
};

/* Batch b into dst, sample by sample: made (generated, or copied from the
 * pool), then --cpu-work's spin, then (torch) collated from the scratch
 * sample, as a Dataset's __getitem__ and default_collate do. */
static void build_batch(struct gpu_pipe *gp, int w, long b, unsigned char *dst, uint64_t spin_iters,
                        uint64_t spin_slice, struct worker_times *t)
{
  struct nb_run *r = gp->run;
  struct nb__taudit *a = &gp->taudit[2 + w];
  int torch = r->cfg.pipeline == NB_PIPE_TORCH, replay = r->cfg.source == NB_SOURCE_REPLAY;
  size_t S = r->sample_bytes, nel = S / sizeof(float);
  const unsigned char *pool = replay ? gp->bufs[NB__BUF_POOL][w].addr : NULL;
  unsigned char *scratch = torch ? gp->bufs[NB__BUF_SCRATCH][w].addr : NULL;
  uint64_t sink = (uint64_t)b;
  for (int i = 0; i < r->cfg.batch; i++) {
    uint64_t k = (uint64_t)b * (uint64_t)r->cfg.batch + (uint64_t)i;
    unsigned char *out = torch ? scratch : dst + (size_t)i * S;
    double t0 = nb__now();
    if (replay && torch)
      memcpy(out, pool + (size_t)(k % r->layout.pool_samples) * S, S);
    else if (replay)
      nb__copy_stream(out, pool + (size_t)(k % r->layout.pool_samples) * S, S);
    else
      nb_gen_normal((float *)out, nel, r->cfg.seed, sample_stream(gp, k));
    double t1 = nb__now(), t2 = t1;
    if (spin_iters) {
      /* In slices of about a millisecond, so that a long --cpu-work never
       * delays a stop. */
      for (uint64_t left = spin_iters; left && !stopping(r);) {
        uint64_t n = left < spin_slice ? left : spin_slice;
        sink = spin(n, sink);
        left -= n;
      }
      t2 = nb__now();
    }
    t->gen += t1 - t0;
    t->cpu += t2 - t1;
    if (torch) {
      memcpy(dst + (size_t)i * S, scratch, S);
      t->col += nb__now() - t2;
    }
    nb__taudit_sample(a, r->topo);
  }
  /* The spin's result is used, so the spin is not dead code. */
  __asm__ volatile("" : : "r"(sink));
}

static void *worker_main(void *arg)
{
  struct worker_arg *wa = arg;
  struct gpu_pipe *gp = wa->gp;
  struct nb_run *r = gp->run;
  int w = wa->w, W = gp->gp->nworkers, torch = r->cfg.pipeline == NB_PIPE_TORCH;
  nb_error_t e = {0};
  double rate = 0;
  int rc = worker_setup(gp, w, &gp->taudit[2 + w], &rate, &e);
  after_setup(r, rc, &e);
  uint64_t spin_iters = (uint64_t)((double)r->cfg.cpu_work_us * rate + 0.5),
           spin_slice = (uint64_t)(1000 * rate) + 1;

  struct worker_times sum = {0};
  long batches = 0;
  for (long b = w; rc == 0 && !stopping(r) && b < r->total; b += W) {
    int s = torch ? 2 * w + (int)((b / W) % 2) : (int)(b % gp->nstage);
    int *state = torch ? &gp->wstate[s] : &gp->sstate[s];
    pthread_mutex_lock(&gp->mu);
    int waited = WAIT_UNTIL(gp, cv_worker[w], *state == SLOT_FREE);
    if (waited == 0)
      *state = SLOT_FILLING;
    pthread_mutex_unlock(&gp->mu);
    if (waited < 0 || injected(gp, NB__FAULT_WORKER, b, "worker"))
      break;
    unsigned char *dst = torch ? gp->bufs[NB__BUF_WORKER][s].addr : gp->bufs[NB__BUF_STAGING][s].addr;
    /* Warm-up batches never enter the statistics. */
    struct worker_times t = {0};
    build_batch(gp, w, b, dst, spin_iters, spin_slice, &t);
    if (r->cfg.verify)
      gp->expected[b] = nb_checksum(dst, r->batch_bytes, 0);
    pthread_mutex_lock(&gp->mu);
    *state = SLOT_READY;
    (torch ? gp->wbatch : gp->sbatch)[s] = b;
    pthread_cond_signal(&gp->cv_feeder);
    pthread_mutex_unlock(&gp->mu);
    if (b >= r->cfg.warmup) {
      batches++;
      sum.gen += t.gen, sum.col += t.col, sum.cpu += t.cpu;
    }
  }
  pthread_mutex_lock(&gp->mu);
  gp->stage_s[NB_STAGE_GENERATE] += sum.gen;
  gp->stage_s[NB_STAGE_COLLATE] += sum.col;
  gp->stage_s[NB_STAGE_CPU_WORK] += sum.cpu;
  gp->gen_batches += batches;
  pthread_mutex_unlock(&gp->mu);
  return NULL;
}

/* ---- feeder ---- */

/* torch (gp->mu held, and held again on return): the worker's batch b into
 * staging slot t, as pin_memory does. 0, or -1 when stopping or failed. */
static int take_worker_batch(struct gpu_pipe *gp, long b, int t, double *copy)
{
  struct nb_run *r = gp->run;
  int W = gp->gp->nworkers, s = 2 * (int)(b % W) + (int)((b / W) % 2);
  if (WAIT_UNTIL(gp, cv_feeder,
                 gp->wstate[s] == SLOT_READY && gp->wbatch[s] == b && gp->sstate[t] == SLOT_FREE) < 0)
    return -1;
  gp->sstate[t] = SLOT_FILLING;
  pthread_mutex_unlock(&gp->mu);
  /* injected() stops the run, which takes this mutex: it is not held here. */
  int failed = injected(gp, NB__FAULT_FEEDER, b, "feeder");
  if (!failed) {
    double t0 = nb__now();
    memcpy(gp->bufs[NB__BUF_STAGING][t].addr, gp->bufs[NB__BUF_WORKER][s].addr, r->batch_bytes);
    if (b >= r->cfg.warmup)
      *copy += nb__now() - t0;
  }
  pthread_mutex_lock(&gp->mu);
  if (failed)
    return -1;
  gp->wstate[s] = SLOT_FREE;
  wake_worker_of(gp, b); /* its worker may build the next batch now */
  gp->sbatch[t] = b;
  return 0;
}

/* direct (gp->mu held, and held again on return): wait for the worker to
 * have written batch b into staging slot t. */
static int take_staged(struct gpu_pipe *gp, long b, int t)
{
  struct nb_run *r = gp->run;
  if (WAIT_UNTIL(gp, cv_feeder, gp->sstate[t] == SLOT_READY && gp->sbatch[t] == b) < 0)
    return -1;
  if (r->fault == NB__FAULT_FEEDER && r->fault_batch == b) {
    pthread_mutex_unlock(&gp->mu);
    injected(gp, NB__FAULT_FEEDER, b, "feeder");
    pthread_mutex_lock(&gp->mu);
    return -1;
  }
  return 0;
}

/* The device's spin-kernel calibration, recorded; a run with device work
 * needs it usable, a run without work runs whatever it is (on a shared or
 * time-sliced GPU the calibration can be far off and harmless). */
static int check_spin(struct gpu_pipe *gp, nb_error_t *e)
{
  struct nb_run *r = gp->run;
  /* Only the feeder writes it; the results read it after the join. */
  double scale = r->ops->spin_scale ? r->ops->spin_scale(gp->dev) : NAN;
  gp->spin_scale = scale;
  if (r->cfg.gpu_work_us == 0 || isnan(scale) || (scale >= NB__SPIN_SCALE_MIN && scale <= NB__SPIN_SCALE_MAX))
    return 0;
  return nb__err(e, NB_ECUDA,
                 "GPU %d: the spin kernel asked for 2 ms ran %.3f ms by CUDA events: the GPU's timer is "
                 "unusable for --gpu-work (--gpu-work 0 runs without it)",
                 gp->gp->gpu, 2.0 / scale);
}

static void *feeder_main(void *arg)
{
  struct gpu_pipe *gp = arg;
  struct nb_run *r = gp->run;
  const struct nb__copy_ops *ops = r->ops;
  struct nb__taudit *a = &gp->taudit[0];
  nb_error_t e = {0};
  int rc = setup_thread(gp, a, &e);
  /* The device first (a GPU's context is made here, not in the pinning's
   * time), then the staging slots: the feeder's, on the plan's staging
   * node, pinned as the backend does. */
  if (rc == 0) {
    const struct nb_gpu *dev = nb_topo_gpu(r->topo, gp->gp->gpu);
    struct nb__copy_dev_config cc = {.ordinal = dev ? dev->cuda_ordinal : -1,
                                     .gpu = gp->gp->gpu,
                                     .bus_id = gp->gp->bus_id,
                                     .batch_bytes = r->batch_bytes,
                                     .batch = r->cfg.batch,
                                     .channels = r->cfg.channels,
                                     .height = r->cfg.height,
                                     .width = r->cfg.width,
                                     .out_size = NB_CUDA_RESIZE,
                                     .work_us = r->cfg.gpu_work_us,
                                     .ring = gp->nstage + 3,
                                     .verify = r->cfg.verify,
                                     .slots = gp->bufs[NB__BUF_DEVICE],
                                     .stop = &r->stop};
    rc = ops->open(&gp->dev, &cc, &e);
  }
  if (rc == 0)
    rc = check_spin(gp, &e);
  enum nb_pin pin = nb__copy_pin(ops, r->cfg.pin);
  for (int k = 0; rc == 0 && k < gp->nstage; k++) {
    nb_error_t pe = {0};
    if ((rc = alloc_buf(gp, NB__BUF_STAGING, k, &gp->gp->staging, pin, &pe)) < 0)
      nb__err(&e, rc, "GPU %d: staging slot %d of %d (%zu bytes, --pin %s): %s", gp->gp->gpu, k + 1,
              gp->nstage, r->batch_bytes, nb_pin_name(pin), pe.msg);
  }
  after_setup(r, rc, &e);
  if (rc == 0 && (rc = ops->start(gp->dev, &e)) < 0)
    nb__run_fail(r, &e);

  double copy = 0;
  for (long b = 0; rc == 0 && !stopping(r) && b < r->total; b++) {
    int t = (int)(b % gp->nstage);
    pthread_mutex_lock(&gp->mu);
    int waited =
        r->cfg.pipeline == NB_PIPE_TORCH ? take_worker_batch(gp, b, t, &copy) : take_staged(gp, b, t);
    if (waited == 0 && r->fault == NB__FAULT_CORRUPT && r->fault_batch == b)
      ((unsigned char *)gp->bufs[NB__BUF_STAGING][t].addr)[r->batch_bytes / 2] ^=
          0x40; /* --verify must notice */
    if (waited == 0) {
      /* Submit once step b - ring + 1 was polled done (its ring entry is
       * free again, and the previous step's stays) and, when the backend
       * copies back into few buffers, one of them is free. */
      int check = checked(r, b), ring = gp->nstage + 3;
      waited = WAIT_UNTIL(gp, cv_feeder,
                          gp->steps_done > b - ring + 1 &&
                              !(check && ops->verify_inflight && gp->verify_busy >= ops->verify_inflight));
      if (waited == 0) {
        gp->verify_busy += check;
        pthread_mutex_unlock(&gp->mu);
        rc = ops->submit(gp->dev, b, gp->bufs[NB__BUF_STAGING][t].addr, check, &e);
        pthread_mutex_lock(&gp->mu);
        if (rc < 0) {
          pthread_mutex_unlock(&gp->mu);
          nb__run_fail(r, &e);
          break;
        }
        /* Hand the slot to the backend, in order. */
        gp->sstate[t] = SLOT_SUBMITTED;
        gp->submitted = b + 1;
        pthread_cond_signal(&gp->cv_engine);
      }
    }
    pthread_mutex_unlock(&gp->mu);
    nb__taudit_sample(a, r->topo);
    if (waited < 0)
      break;
  }
  pthread_mutex_lock(&gp->mu);
  gp->stage_s[NB_STAGE_STAGING_COPY] += copy;
  pthread_mutex_unlock(&gp->mu);
  return NULL;
}

/* ---- completion ---- */

/* --verify checks every batch the backend copies back: every
 * ops->verify_every-th (host: all; CUDA: every 4th), and the one --fail-at
 * corrupt:N spoiled. */
static int checked(struct nb_run *r, long b)
{
  return r->cfg.verify &&
         (b % r->ops->verify_every == 0 || (r->fault == NB__FAULT_CORRUPT && r->fault_batch == b));
}

/* What the completion thread sums over the timed steps. */
struct completion {
  double copy, work, idle, end;
};

/* Copy c complete? Then its staging slot may be refilled. 1, 0, or a code. */
static int complete_copy(struct gpu_pipe *gp, long c, nb_error_t *e)
{
  int done = gp->run->ops->poll_copy(gp->dev, c, e);
  if (done < 0) {
    nb_error_t pe = *e;
    return nb__err(e, done, "%s (waiting for the copy of batch %ld)", pe.msg, c);
  }
  if (done) {
    pthread_mutex_lock(&gp->mu);
    gp->sstate[c % gp->nstage] = SLOT_FREE;
    /* torch: the feeder copies into it; direct: batch c's worker builds its
     * batch c + nstage in it (nstage is a multiple of W). */
    if (gp->run->cfg.pipeline == NB_PIPE_TORCH)
      pthread_cond_signal(&gp->cv_feeder);
    else
      wake_worker_of(gp, c);
    pthread_mutex_unlock(&gp->mu);
  }
  return done;
}

/* What complete_step says when it already failed the run itself (an
 * injected failure, a --verify mismatch): nothing more to record. */
#define FAILED_RUN 2

/* Step s done? Then check its data (--verify) and record its times. 1, 0,
 * FAILED_RUN, or a code with e filled. */
static int complete_step(struct gpu_pipe *gp, long s, struct completion *sum, nb_error_t *e)
{
  struct nb_run *r = gp->run;
  struct nb__copy_step t;
  int done = r->ops->poll_step(gp->dev, s, &t, e);
  if (done < 0) {
    nb_error_t pe = *e;
    return nb__err(e, done, "%s (waiting for step %ld)", pe.msg, s);
  }
  if (!done)
    return 0;
  if (injected(gp, NB__FAULT_DEVICE, s, "device"))
    return FAILED_RUN;
  int check = checked(r, s);
  if (check) {
    gp->verified++;
    uint64_t got = r->ops->verify_sum ? r->ops->verify_sum(gp->dev, s)
                                      : nb_checksum(r->ops->verify_buf(gp->dev, s), r->batch_bytes, 0);
    if (got != gp->expected[s]) {
      gp->mismatches++;
      nb__err(e, NB_EIO, "GPU %d: --verify: batch %ld %s with the wrong data (checksum mismatch)",
              gp->gp->gpu, s, r->ops->verified_how);
      nb__run_fail(r, e);
      return FAILED_RUN;
    }
  }
  if (s >= r->cfg.warmup) {
    sum->copy += t.copy_s;
    sum->work += t.work_s;
    sum->idle += t.idle_s;
  }
  sum->end += t.step_s;
  pthread_mutex_lock(&gp->mu);
  gp->done_t[s] = sum->end;
  gp->steps_done = s + 1;
  gp->verify_busy -= check;
  pthread_cond_signal(&gp->cv_feeder);
  pthread_mutex_unlock(&gp->mu);
  nb__taudit_sample(&gp->taudit[1], r->topo);
  if (gp->index == 0 && r->cfg.progress)
    r->cfg.progress(r->cfg.progress_arg, (int)s + 1, (int)r->total);
  return 1;
}

/* The completion thread, bound to the device's node. Steps complete in
 * order. Two cursors: copies (their staging slots are freed as soon as each
 * copy is complete) and steps (their times from the backend). A backend
 * that answers "not yet" is polled again after a nap; a batch copy takes
 * milliseconds, so a nap of 10 us to 0.5 ms costs nothing measurable, and
 * the times are the device's own. */
static void *complete_main(void *arg)
{
  struct gpu_pipe *gp = arg;
  struct nb_run *r = gp->run;
  struct nb__taudit *a = &gp->taudit[1];
  nb_error_t e = {0};
  int rc = setup_thread(gp, a, &e);
  /* A host-memory device's slots are this thread's, on the device's node. */
  if (rc == 0)
    rc = alloc_bufs(gp, NB__BUF_DEVICE, -1, &gp->gp->device_buf, NB_PIN_NONE, &e);
  after_setup(r, rc, &e);
  if (rc == 0 && !stopping(r))
    rc = r->ops->attach(gp->dev, &e);

  struct completion sum = {0};
  long c = 0, s = 0, nap_ns = 10000;
  /* A device that stops making progress without an error must not hang the
   * run: a minute (plus 100 steps of --gpu-work) without any is a failure. */
  double last = nb__now(), patience = 60.0 + 100 * r->cfg.gpu_work_us * 1e-6;
  while (rc == 0 && s < r->total && !stopping(r)) {
    pthread_mutex_lock(&gp->mu);
    long submitted = gp->submitted;
    int waited = 0, waited_for_feeder = 0;
    if (s == c && submitted <= c) {
      waited = WAIT_UNTIL(gp, cv_engine, gp->submitted > c);
      submitted = gp->submitted;
      waited_for_feeder = 1;
    }
    pthread_mutex_unlock(&gp->mu);
    if (waited < 0)
      break;
    if (waited_for_feeder)
      last = nb__now(); /* the host, not the device, was slow */
    int progress = 0, done;
    if (c < submitted && (done = complete_copy(gp, c, &e)) != 0) {
      if (done < 0) {
        rc = done;
        break;
      }
      c++;
      progress = 1;
    }
    if (s < c && (done = complete_step(gp, s, &sum, &e)) != 0) {
      if (done != 1) {
        rc = done == FAILED_RUN ? 0 : done;
        break;
      }
      s++;
      progress = 1;
    }
    /* Nothing yet: nap, longer each time (10 us to 0.5 ms), so that polling
     * takes no CPU from the workers. */
    if (progress) {
      nap_ns = 10000;
      last = nb__now();
    } else if (nb__now() - last > patience) {
      rc = nb__err(&e, NB_ECUDA,
                   "GPU %d: no step or copy completed for %.0f s (step %ld, copy %ld outstanding): the GPU "
                   "stopped making progress",
                   gp->gp->gpu, patience, s, c);
      break;
    } else if (!stopping(r)) {
      struct timespec nap = {0, nap_ns};
      nanosleep(&nap, NULL);
      nap_ns = nap_ns * 2 > 500000 ? 500000 : nap_ns * 2;
    }
  }
  if (rc < 0)
    nb__run_fail(r, &e);
  else if (r->ops->drain && gp->dev && !stopping(r))
    r->ops->drain(gp->dev);
  pthread_mutex_lock(&gp->mu);
  gp->stage_s[NB_STAGE_DEVICE_COPY] += sum.copy;
  gp->stage_s[NB_STAGE_DEVICE_WORK] += sum.work;
  gp->idle_s = sum.idle;
  pthread_mutex_unlock(&gp->mu);
  return NULL;
}

/* ---- set-up, run, results ---- */

/* The failure to inject, as the option parser read it (nb_parse_fault). */
static int parse_fault(struct nb_run *r, const struct nb_fault *f, nb_error_t *err)
{
  static const enum nb__fault kinds[] = {NB__FAULT_NONE, NB__FAULT_WORKER, NB__FAULT_FEEDER, NB__FAULT_DEVICE,
                                         NB__FAULT_CORRUPT};
  if ((unsigned)f->stage >= sizeof kinds / sizeof kinds[0] || f->batch < 0)
    return nb__err(err, NB_EINVAL, "run: fail_at {stage %d, batch %ld} is not a failure to inject",
                   (int)f->stage, f->batch);
  r->fault = kinds[f->stage];
  r->fault_batch = f->batch;
  return 0;
}

/* ---- the buffer layout ---- */

void nb__layout(struct nb__layout *l, const struct nb_run_config *cfg, const struct nb__copy_ops *ops)
{
  int torch = cfg->pipeline == NB_PIPE_TORCH;
  memset(l, 0, sizeof *l);
  l->sample_bytes = nb_run_sample_bytes(cfg);
  l->batch_bytes = l->sample_bytes * (size_t)cfg->batch;
  /* torch: each worker builds whole batches in its memory, two in flight,
   * from one sample at a time; staging is double-buffered. direct: workers
   * fill staging slots themselves, two in flight each, as torch's
   * per-worker prefetch. */
  l->per_worker[NB__BUF_WORKER] = torch ? 2 : 0;
  l->per_worker[NB__BUF_SCRATCH] = torch ? 1 : 0;
  l->per_gpu[NB__BUF_STAGING] = torch ? 2 : 0;
  l->per_worker[NB__BUF_STAGING] = torch ? 0 : 2;
  /* A GPU's slots are in its own memory; the host backend's on its node,
   * where a batch lands piece by piece (copy_host.c). */
  l->per_gpu[NB__BUF_DEVICE] = ops->flags & NB__COPY_HOST_MEMORY ? 2 : 0;
  l->device_bytes = l->batch_bytes < NB__HOST_LANDING_BYTES ? l->batch_bytes : NB__HOST_LANDING_BYTES;
  /* replay: one pool per worker, in its memory. */
  l->pool_samples = nb_run_pool_samples(cfg);
  l->pool_bytes = l->pool_samples * l->sample_bytes;
  l->per_worker[NB__BUF_POOL] = l->pool_samples ? 1 : 0;
}

static int is_prime(size_t n)
{
  if (n < 2)
    return 0;
  for (size_t d = 2; d <= n / d; d++)
    if (n % d == 0)
      return 0;
  return 1;
}

/* The pool is a prime number of samples, more than two batches. Worker w
 * builds batches w, w + W, w + 2W..., whose starts b * B fall on multiples
 * of gcd(W * B, P) in the pool: a worker reads only min(B, g) / g of it, and
 * with P = 2B and an even W it re-reads one batch, cache-resident, for the
 * whole run. A prime P > B shares no factor with B, so g is 1 (every worker
 * streams through the whole pool) unless W is a multiple of P, which needs
 * more workers per device than two batches hold samples. The pool's sample
 * j is still randn's sample j, so replay delivers randn's data until the
 * sequence wraps. */
size_t nb_run_pool_samples(const struct nb_run_config *cfg)
{
  if (cfg->source != NB_SOURCE_REPLAY)
    return 0;
  size_t S = nb_run_sample_bytes(cfg), want = cfg->pool_bytes ? cfg->pool_bytes : NB_POOL_DEFAULT_BYTES;
  size_t n = S ? want / S : 0, two = 2 * (size_t)(cfg->batch > 0 ? cfg->batch : 1) + 1;
  for (n = n > two ? n : two; !is_prime(n); n++)
    ;
  return n;
}

int nb__layout_count(const struct nb__layout *l, enum nb__buf_kind kind, int nworkers)
{
  return l->per_gpu[kind] + nworkers * l->per_worker[kind];
}

size_t nb__layout_bytes(const struct nb__layout *l, enum nb__buf_kind kind)
{
  return kind == NB__BUF_SCRATCH  ? l->sample_bytes
         : kind == NB__BUF_POOL   ? l->pool_bytes
         : kind == NB__BUF_DEVICE ? l->device_bytes
                                  : l->batch_bytes;
}

const char *nb__buf_kind_name(enum nb__buf_kind kind)
{
  static const char *const names[NB__NBUFKINDS] = {"worker_batches", "worker_scratch", "staging", "device",
                                                   "replay_pool"};
  return (unsigned)kind < NB__NBUFKINDS ? names[kind] : "?";
}

size_t nb_run_sample_bytes(const struct nb_run_config *cfg)
{
  return (size_t)cfg->channels * (size_t)cfg->height * (size_t)cfg->width * sizeof(float);
}

/* ---- set-up and tear-down ---- */

/* Unmap every buffer (the backend's device first: a GPU may still read
 * staging until its queues end). The records stay. */
void nb__run_free_buffers(struct nb_run *r)
{
  for (int i = 0; r->g && i < r->ngpus; i++) {
    struct gpu_pipe *gp = &r->g[i];
    r->ops->close(gp->dev);
    gp->dev = NULL;
    for (int k = 0; k < NB__NBUFKINDS; k++)
      for (int j = 0; gp->bufs[k] && j < gp->nbufs[k]; j++)
        nb_buf_free(&gp->bufs[k][j]);
  }
}

void nb_run_free(nb_run_t r)
{
  if (!r)
    return;
  nb__run_free_buffers(r);
  for (int i = 0; r->g && i < r->ngpus; i++) {
    struct gpu_pipe *gp = &r->g[i];
    int W = gp->gp ? gp->gp->nworkers : 0;
    for (int k = 0; gp->taudit && k < W + 2; k++)
      nb__taudit_free(&gp->taudit[k]);
    for (int k = 0; k < NB__NBUFKINDS; k++) {
      nb__baudit_free(&gp->baudit[k]);
      free(gp->bufs[k]);
    }
    free(gp->wstate);
    free(gp->wbatch);
    free(gp->sstate);
    free(gp->sbatch);
    free(gp->expected);
    free(gp->done_t);
    free(gp->taudit);
    free(r->res ? r->res[i].step_ms : NULL);
    if (gp->sync_init) {
      pthread_mutex_destroy(&gp->mu);
      for (int w = 0; w < gp->gp->nworkers; w++)
        pthread_cond_destroy(&gp->cv_worker[w]);
      pthread_cond_destroy(&gp->cv_feeder);
      pthread_cond_destroy(&gp->cv_engine);
    }
    free(gp->cv_worker);
  }
  nb_numastat_free(&r->before);
  nb_numastat_free(&r->after);
  if (r->gate_init)
    nb__gate_destroy(&r->ready);
  pthread_mutex_destroy(&r->err_mu);
  free(r->g);
  free(r->res);
  free(r->tids);
  free(r->wargs);
  free(r);
}

/* One device's records, slots and audits; its threads are not started. */
static int gpu_init(struct nb_run *r, int i)
{
  struct gpu_pipe *gp = &r->g[i];
  const struct nb_gpu_plan *g = nb_plan_gpu(r->plan, i);
  int W = g->nworkers;
  gp->run = r;
  gp->spin_scale = r->res[i].spin_scale = NAN; /* until the backend's open measures it */
  gp->index = i;
  gp->gp = g;
  for (int k = 0; k < NB__NBUFKINDS; k++) {
    gp->nbufs[k] = nb__layout_count(&r->layout, (enum nb__buf_kind)k, W);
    if (!(gp->bufs[k] = calloc((size_t)gp->nbufs[k] + 1, sizeof *gp->bufs[k])))
      return NB_ENOMEM;
  }
  gp->nstage = gp->nbufs[NB__BUF_STAGING];
  int nwslots = gp->nbufs[NB__BUF_WORKER] + 1;
  gp->wstate = calloc((size_t)nwslots, sizeof *gp->wstate);
  gp->wbatch = calloc((size_t)nwslots, sizeof *gp->wbatch);
  gp->sstate = calloc((size_t)gp->nstage, sizeof *gp->sstate);
  gp->sbatch = calloc((size_t)gp->nstage, sizeof *gp->sbatch);
  gp->expected = calloc((size_t)r->total, sizeof *gp->expected);
  gp->done_t = calloc((size_t)r->total, sizeof *gp->done_t);
  gp->taudit = calloc((size_t)W + 2, sizeof *gp->taudit);
  gp->cv_worker = calloc((size_t)W + 1, sizeof *gp->cv_worker);
  if (!gp->wstate || !gp->wbatch || !gp->sstate || !gp->sbatch || !gp->expected || !gp->done_t ||
      !gp->taudit || !gp->cv_worker)
    return NB_ENOMEM;
  pthread_mutex_init(&gp->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  for (int w = 0; w < W; w++)
    pthread_cond_init(&gp->cv_worker[w], &ca);
  pthread_cond_init(&gp->cv_feeder, &ca);
  pthread_cond_init(&gp->cv_engine, &ca);
  pthread_condattr_destroy(&ca);
  gp->sync_init = 1;
  if (nb__taudit_init(&gp->taudit[0], r->topo, &g->feeder) < 0 ||
      nb__taudit_init(&gp->taudit[1], r->topo, &g->device) < 0)
    return NB_ENOMEM;
  for (int w = 0; w < W; w++)
    if (nb__taudit_init(&gp->taudit[2 + w], r->topo, &g->workers[w]) < 0)
      return NB_ENOMEM;
  for (int k = 0; k < NB__NBUFKINDS; k++)
    if (nb__baudit_init(&gp->baudit[k], r->topo, nb__buf_kind_name((enum nb__buf_kind)k), -1) < 0)
      return NB_ENOMEM;
  return 0;
}

/* Every thread of every device, then the start line. A thread that fails
 * to start fails the run; those that did start still pass the gate. */
static int start_threads(struct nb_run *r, int nthreads, nb_error_t *err)
{
  int rc = 0, started = 0, wi = 0;
  nb__gate_init(&r->ready);
  r->gate_init = 1;
  for (int i = 0; i < r->ngpus && rc == 0; i++) {
    struct gpu_pipe *gp = &r->g[i];
    for (int j = 0; j < 2 + gp->gp->nworkers && rc == 0; j++) {
      void *(*fn)(void *) = j == 0 ? feeder_main : j == 1 ? complete_main : worker_main;
      void *arg = gp;
      if (j >= 2) {
        r->wargs[wi] = (struct worker_arg){gp, j - 2};
        arg = &r->wargs[wi++];
      }
      int e = pthread_create(&r->tids[started], NULL, fn, arg);
      if (e)
        rc = nb__err_sys(err, NB_EINTERNAL, e, "run: creating thread %d of %d", started + 1, nthreads);
      else
        started++;
    }
  }
  r->nstarted = started;
  if (rc < 0) {
    nb_error_t e = *err;
    nb__run_fail(r, &e);
  }
  nb__gate_open(&r->ready, started);
  return rc;
}

static int check_config(nb_topo_t topo, const struct nb_run_config *cfg, nb_error_t *err)
{
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "topology %s is not this machine: its plans are never run",
                   nb_topo_source(topo));
  if (cfg->channels <= 0 || cfg->height <= 0 || cfg->width <= 0 || cfg->batch <= 0 || cfg->steps <= 0 ||
      cfg->warmup < 0)
    return nb__err(err, NB_EINVAL, "run: sample shape, batch and steps must be positive");
  if (cfg->gpu_work_us < 0 || cfg->cpu_work_us < 0)
    return nb__err(err, NB_EINVAL,
                   "run: gpu_work_us and cpu_work_us (--gpu-work, --cpu-work) must be 0 or more, "
                   "got %d and %d",
                   cfg->gpu_work_us, cfg->cpu_work_us);
  if (cfg->source != NB_SOURCE_RANDN && cfg->source != NB_SOURCE_REPLAY)
    return nb__err(err, NB_EINVAL, "run: the source must be randn or replay");
  if (cfg->backend != NB_BACKEND_HOST && cfg->backend != NB_BACKEND_CUDA)
    return nb__err(err, NB_EINVAL, "run: the backend must be resolved to host or cuda");
  if (nb__copy_ops_for(cfg->backend)->pinner && cfg->pin != NB_PIN_REGISTER && cfg->pin != NB_PIN_HOSTALLOC)
    return nb__err(err, NB_EINVAL, "run: the CUDA backend needs --pin register or hostalloc");
  return 0;
}

int nb_run_start(nb_run_t *runp, nb_plan_t plan, const struct nb_run_config *cfg, nb_error_t *err)
{
  *runp = NULL;
  nb_topo_t topo = nb_plan_topo(plan);
  int rc = check_config(topo, cfg, err);
  if (rc == 0)
    rc = nb__copy_pin_check(nb__copy_ops_for(cfg->backend), cfg->pin, nb_plan_mode(plan), err);
  if (rc < 0)
    return rc;
  struct nb_run *r = calloc(1, sizeof *r);
  if (!r)
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  pthread_mutex_init(&r->err_mu, NULL);
  r->plan = plan;
  r->topo = topo;
  r->cfg = *cfg;
  r->ops = nb__copy_ops_for(cfg->backend);
  nb__layout(&r->layout, cfg, r->ops);
  r->sample_bytes = r->layout.sample_bytes;
  r->batch_bytes = r->layout.batch_bytes;
  r->total = (long)cfg->warmup + cfg->steps;
  r->ngpus = nb_plan_ngpus(plan);
  if ((rc = parse_fault(r, &cfg->fail_at, err)) < 0) {
    nb_run_free(r);
    return rc;
  }
  r->g = calloc((size_t)r->ngpus, sizeof *r->g);
  r->res = calloc((size_t)r->ngpus, sizeof *r->res);
  if (!r->g || !r->res)
    goto oom;
  int nthreads = 0, nworkers = 0;
  for (int i = 0; i < r->ngpus; i++) {
    if (gpu_init(r, i) < 0)
      goto oom;
    nthreads += r->g[i].gp->nworkers + 2;
    nworkers += r->g[i].gp->nworkers;
  }
  r->tids = calloc((size_t)nthreads, sizeof *r->tids);
  r->wargs = calloc((size_t)nworkers + 1, sizeof *r->wargs);
  if (!r->tids || !r->wargs || nb_numastat_read(topo, &r->before) < 0)
    goto oom;
  rc = start_threads(r, nthreads, err);
  *runp = r;
  return rc;
oom:
  nb_run_free(r);
  return nb__err(err, NB_ENOMEM, "run: out of memory");
}
