/* numabench: the input pipeline, with the host and the CUDA backends.
 *
 * Per device, all devices at once: W workers build batches, the feeder hands
 * them in order to the staging slots.
 *
 * Host backend: the device thread (the copy engine, bound to the device's
 * node) copies each slot into device memory and models the device's compute
 * as a timeline: step k's work starts when its data is in and step k-1's
 * work is done, and lasts --gpu-work. Two device slots let the copy of k+1
 * overlap the work of k, as on a GPU with one copy and one compute engine.
 *
 * CUDA backend: staging is page-locked; the feeder queues each slot's
 * cudaMemcpyAsync and the step's kernels (cuda_engine.cu), and the device
 * thread is the completion thread: it frees a staging slot once its copy is
 * complete and takes each step's times from CUDA events.
 *
 * Hand-offs are slot states under one mutex and condition variable per
 * device; batches move in order, each exactly once. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <numabench/gen.h>
#include <numabench/run.h>

#include "audit-internal.h"
#include "nb-internal.h"
#include "pipeline.h"

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_SUBMITTED };

double nb__now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int stopping(struct nb_run *r);
static int cuda_checks(struct nb_run *r, long b);

/* Wait until monotonic time t, or until the run stops (a long --gpu-work
 * must not delay a stop). The condition variable uses CLOCK_MONOTONIC. */
static void wait_until(struct gpu_pipe *gp, double t)
{
  struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
  pthread_mutex_lock(&gp->mu);
  while (nb__now() < t && !stopping(gp->run))
    if (pthread_cond_timedwait(&gp->cv, &gp->mu, &ts) == ETIMEDOUT)
      break;
  pthread_mutex_unlock(&gp->mu);
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
    pthread_cond_broadcast(&r->g[i].cv);
    pthread_mutex_unlock(&r->g[i].mu);
  }
}

static int stopping(struct nb_run *r)
{
  return atomic_load(&r->stop);
}

/* Wait (mutex held) until cond or stop; returns 0, or -1 when stopping. */
#define WAIT_UNTIL(gp, cond)                                                                                 \
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

static int alloc_bufs(struct gpu_pipe *gp, struct nb_buf *bufs, int n, size_t len,
                      const struct nb_buf_plan *plan, nb_error_t *e)
{
  const int *il;
  int nil = nb_plan_interleave_nodes(gp->run->plan, &il);
  for (int i = 0; i < n; i++) {
    int rc = nb_buf_alloc(gp->run->topo, &bufs[i], len, plan, il, nil, e);
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

static void *worker_main(void *arg)
{
  struct worker_arg *wa = arg;
  struct gpu_pipe *gp = wa->gp;
  struct nb_run *r = gp->run;
  int w = wa->w, W = gp->gp->nworkers, torch = r->cfg.pipeline == NB_PIPE_TORCH;
  struct nb__taudit *a = &gp->taudit[2 + w];
  nb_error_t e = {0};
  size_t S = r->sample_bytes, nel = S / sizeof(float);

  int rc = setup_thread(gp, a, &e);
  if (rc == 0 && torch) {
    struct nb_buf_plan own = {a->tp->mem_policy, a->tp->mem_node};
    rc = alloc_bufs(gp, &gp->wslot[2 * w], 2, r->batch_bytes, &own, &e);
    if (rc == 0)
      rc = alloc_bufs(gp, &gp->scratch[w], 1, S, &own, &e);
  }
  after_setup(r, rc, &e);

  double gen = 0, col = 0;
  long batches = 0;
  for (long b = w; !stopping(r) && b < r->total; b += W) {
    int s = torch ? 2 * w + (int)((b / W) % 2) : (int)(b % gp->nstage);
    int *state = torch ? &gp->wstate[s] : &gp->sstate[s];
    pthread_mutex_lock(&gp->mu);
    int waited = WAIT_UNTIL(gp, *state == SLOT_FREE);
    if (waited == 0)
      *state = SLOT_FILLING;
    pthread_mutex_unlock(&gp->mu);
    if (waited < 0 || injected(gp, NB__FAULT_WORKER, b, "worker"))
      break;
    unsigned char *dst = torch ? gp->wslot[s].addr : gp->stage[s].addr;
    float *scratch = torch ? gp->scratch[w].addr : NULL;
    /* Warm-up batches never enter the statistics. */
    int timed = b >= r->cfg.warmup;
    double gen0 = gen, col0 = col;
    for (int i = 0; i < r->cfg.batch; i++) {
      uint64_t stream = ((uint64_t)gp->gp->gpu << 40) | ((uint64_t)b * (uint64_t)r->cfg.batch + (uint64_t)i);
      double t0 = nb__now();
      if (torch) {
        /* A Dataset's __getitem__, then default_collate's copy. */
        nb_gen_normal(scratch, nel, r->cfg.seed, stream);
        double t1 = nb__now();
        memcpy(dst + (size_t)i * S, scratch, S);
        gen += t1 - t0;
        col += nb__now() - t1;
      } else {
        nb_gen_normal((float *)(dst + (size_t)i * S), nel, r->cfg.seed, stream);
        gen += nb__now() - t0;
      }
      nb__taudit_sample(a, r->topo);
    }
    if (r->cfg.verify)
      gp->expected[b] = nb_checksum(dst, r->batch_bytes, 0);
    pthread_mutex_lock(&gp->mu);
    *state = SLOT_READY;
    (torch ? gp->wbatch : gp->sbatch)[s] = b;
    pthread_cond_broadcast(&gp->cv);
    pthread_mutex_unlock(&gp->mu);
    if (timed)
      batches++;
    else
      gen = gen0, col = col0;
  }
  pthread_mutex_lock(&gp->mu);
  gp->stage_s[NB_STAGE_GENERATE] += gen;
  gp->stage_s[NB_STAGE_COLLATE] += col;
  gp->gen_batches += batches;
  pthread_mutex_unlock(&gp->mu);
  return NULL;
}

/* ---- feeder ---- */

static void *feeder_main(void *arg)
{
  struct gpu_pipe *gp = arg;
  struct nb_run *r = gp->run;
  struct nb__taudit *a = &gp->taudit[0];
  int W = gp->gp->nworkers, torch = r->cfg.pipeline == NB_PIPE_TORCH;
  nb_error_t e = {0};
  int cuda = r->cfg.backend == NB_BACKEND_CUDA;
  int rc = setup_thread(gp, a, &e);
  /* CUDA: the GPU first (its context is made here, not in the pinning's
   * time), then the staging slots. */
  if (rc == 0 && cuda) {
    const struct nb_gpu *dev = nb_topo_gpu(r->topo, gp->gp->gpu);
    struct nb__cuda_gpu_config cc = {.ordinal = dev ? dev->cuda_ordinal : -1,
                                     .gpu = gp->gp->gpu,
                                     .batch_bytes = r->batch_bytes,
                                     .batch = r->cfg.batch,
                                     .channels = r->cfg.channels,
                                     .height = r->cfg.height,
                                     .width = r->cfg.width,
                                     .out_size = NB_CUDA_RESIZE,
                                     .work_us = r->cfg.gpu_work_us,
                                     .ring = gp->nstage + 3,
                                     .verify = r->cfg.verify};
    if (cc.ordinal < 0)
      rc = nb__err(&e, NB_EINVAL, "GPU %d (%s) is not a CUDA device: use --backend host", gp->gp->gpu,
                   gp->gp->bus_id);
    else
      rc = nb__cuda_gpu_open(&gp->cuda, &cc, &e);
  }
  /* The staging slots are the feeder's: on the plan's staging node, pinned
   * for the CUDA backend. */
  const int *il;
  int nil = nb_plan_interleave_nodes(r->plan, &il);
  for (int k = 0; rc == 0 && k < gp->nstage; k++) {
    nb_error_t pe = {0};
    rc = nb_buf_alloc_pinned(r->topo, &gp->stage[k], r->batch_bytes, &gp->gp->staging, il, nil,
                             cuda ? r->cfg.pin : NB_PIN_NONE, &pe);
    if (rc < 0)
      nb__err(&e, rc, "GPU %d: staging slot %d of %d (%zu bytes, --pin %s): %s", gp->gp->gpu, k + 1,
              gp->nstage, r->batch_bytes, nb_pin_name(cuda ? r->cfg.pin : NB_PIN_NONE), pe.msg);
    gp->pin_s += gp->stage[k].pin_s;
  }
  after_setup(r, rc, &e);
  if (rc == 0 && cuda && (rc = nb__cuda_gpu_start(gp->cuda, &e)) < 0)
    nb__run_fail(r, &e);

  double copy = 0;
  for (long b = 0; !stopping(r) && b < r->total; b++) {
    int t = (int)(b % gp->nstage);
    pthread_mutex_lock(&gp->mu);
    int waited;
    if (torch) {
      int s = 2 * (int)(b % W) + (int)((b / W) % 2);
      waited =
          WAIT_UNTIL(gp, gp->wstate[s] == SLOT_READY && gp->wbatch[s] == b && gp->sstate[t] == SLOT_FREE);
      if (waited == 0) {
        gp->sstate[t] = SLOT_FILLING;
        pthread_mutex_unlock(&gp->mu);
        if (injected(gp, NB__FAULT_FEEDER, b, "feeder"))
          break;
        /* pin_memory: the worker's batch into pinned staging. */
        double t0 = nb__now();
        memcpy(gp->stage[t].addr, gp->wslot[s].addr, r->batch_bytes);
        if (b >= r->cfg.warmup)
          copy += nb__now() - t0;
        pthread_mutex_lock(&gp->mu);
        gp->wstate[s] = SLOT_FREE;
        pthread_cond_broadcast(&gp->cv); /* its worker may build the next batch now */
        gp->sbatch[t] = b;
      }
    } else {
      waited = WAIT_UNTIL(gp, gp->sstate[t] == SLOT_READY && gp->sbatch[t] == b);
      /* injected() stops the run, which takes this mutex: let it go first. */
      if (waited == 0 && r->fault == NB__FAULT_FEEDER && r->fault_batch == b) {
        pthread_mutex_unlock(&gp->mu);
        injected(gp, NB__FAULT_FEEDER, b, "feeder");
        break;
      }
    }
    if (waited == 0 && r->fault == NB__FAULT_CORRUPT && r->fault_batch == b)
      ((unsigned char *)gp->stage[t].addr)[r->batch_bytes / 2] ^= 0x40; /* --verify must notice */
    if (waited == 0 && cuda) {
      /* Queue the copy and the step's work, once step b - ring + 1 was
       * polled done (its events are free again, and the previous step's
       * stay) and the copy-back buffer is free. */
      int check = cuda_checks(r, b);
      long ring = gp->nstage + 3;
      waited = WAIT_UNTIL(gp, gp->steps_done > b - ring + 1 && !(check && gp->verify_busy));
      if (waited == 0) {
        gp->verify_busy |= check;
        pthread_mutex_unlock(&gp->mu);
        rc = nb__cuda_gpu_submit(gp->cuda, b, gp->stage[t].addr, check, &e);
        pthread_mutex_lock(&gp->mu);
        if (rc < 0) {
          pthread_mutex_unlock(&gp->mu);
          nb__run_fail(r, &e);
          break;
        }
      }
    }
    if (waited == 0) {
      /* Hand the slot to the copy engine, in order. */
      gp->sstate[t] = SLOT_SUBMITTED;
      gp->submitted = b + 1;
      pthread_cond_broadcast(&gp->cv);
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

/* ---- the CUDA backend's completion thread ---- */

/* --verify with CUDA copies back every NB_CUDA_VERIFY_EVERY-th batch, and
 * the one --fail-at corrupt:N spoiled. */
static int cuda_checks(struct nb_run *r, long b)
{
  return r->cfg.verify &&
         (b % NB_CUDA_VERIFY_EVERY == 0 || (r->fault == NB__FAULT_CORRUPT && r->fault_batch == b));
}

/* Steps complete in order. Two cursors: copies (their staging slots are
 * freed as soon as each copy is complete) and steps (their times read from
 * the events). Events are polled; a batch copy takes milliseconds, so a
 * 20 us nap between polls costs nothing measurable, and the times are the
 * GPU's own. */
static void *cuda_complete_main(void *arg)
{
  struct gpu_pipe *gp = arg;
  struct nb_run *r = gp->run;
  struct nb__taudit *a = &gp->taudit[1];
  nb_error_t e = {0};
  int rc = setup_thread(gp, a, &e);
  after_setup(r, rc, &e);
  if (rc == 0 && !stopping(r))
    rc = nb__cuda_gpu_use(gp->cuda, &e);

  double copy = 0, work = 0, idle = 0, end = 0;
  long c = 0, s = 0, nap_ns = 10000;
  /* A GPU that stops making progress without an error must not hang the
   * run: a minute (plus 100 steps of --gpu-work) without any is a failure. */
  double last = nb__now(), patience = 60.0 + 100 * r->cfg.gpu_work_us * 1e-6;
  gp->t_start = 0; /* times are seconds since the GPU's start event, summed step by step */
  while (rc == 0 && s < r->total && !stopping(r)) {
    pthread_mutex_lock(&gp->mu);
    long submitted = gp->submitted;
    int waited = 0, waited_for_feeder = 0;
    if (s == c && submitted <= c) {
      waited = WAIT_UNTIL(gp, gp->submitted > c);
      submitted = gp->submitted;
      waited_for_feeder = 1;
    }
    pthread_mutex_unlock(&gp->mu);
    if (waited < 0)
      break;
    if (waited_for_feeder)
      last = nb__now(); /* the host, not the GPU, was slow */
    int progress = 0;
    if (c < submitted) {
      int done = nb__cuda_gpu_poll_copy(gp->cuda, c, &e);
      if (done < 0) {
        nb_error_t pe = e;
        rc = nb__err(&e, done, "%s (waiting for the copy of batch %ld)", pe.msg, c);
        break;
      }
      if (done) {
        pthread_mutex_lock(&gp->mu);
        gp->sstate[c % gp->nstage] = SLOT_FREE; /* its copy is complete: the slot may be refilled */
        pthread_cond_broadcast(&gp->cv);
        pthread_mutex_unlock(&gp->mu);
        c++;
        progress = 1;
      }
    }
    if (s < c) {
      struct nb__cuda_step t;
      int done = nb__cuda_gpu_poll_step(gp->cuda, s, &t, &e);
      if (done < 0) {
        nb_error_t pe = e;
        rc = nb__err(&e, done, "%s (waiting for step %ld)", pe.msg, s);
        break;
      }
      if (done) {
        if (injected(gp, NB__FAULT_DEVICE, s, "device"))
          break;
        int check = cuda_checks(r, s);
        if (check) {
          gp->verified++;
          if (nb_checksum(nb__cuda_gpu_verify_buf(gp->cuda), r->batch_bytes, 0) != gp->expected[s]) {
            gp->mismatches++;
            nb__err(
                &e, NB_EIO,
                "GPU %d: --verify: batch %ld came back from the GPU with the wrong data (checksum mismatch)",
                gp->gp->gpu, s);
            nb__run_fail(r, &e);
            break;
          }
        }
        if (s >= r->cfg.warmup) {
          copy += t.copy_s;
          work += t.work_s;
          idle += t.idle_s;
        }
        end += t.step_s;
        pthread_mutex_lock(&gp->mu);
        gp->done_t[s] = end;
        gp->steps_done = s + 1;
        if (check)
          gp->verify_busy = 0;
        pthread_cond_broadcast(&gp->cv);
        pthread_mutex_unlock(&gp->mu);
        nb__taudit_sample(a, r->topo);
        if (gp->index == 0 && r->cfg.progress)
          r->cfg.progress(r->cfg.progress_arg, (int)s + 1, (int)r->total);
        s++;
        progress = 1;
      }
    }
    /* Nothing yet: nap, longer each time (10 us to 0.5 ms), so that polling
     * takes no CPU from the workers; the times come from events anyway. */
    if (progress) {
      nap_ns = 10000;
      last = nb__now();
    } else if (nb__now() - last > patience) {
      rc = nb__err(&e, NB_ECUDA,
                   "GPU %d: no step or copy completed for %.0f s (step %ld, copy %ld outstanding): the GPU "
                   "stopped making progress",
                   gp->gp->gpu, patience, s, c);
      break;
    } else {
      struct timespec nap = {0, nap_ns};
      nanosleep(&nap, NULL);
      nap_ns = nap_ns * 2 > 500000 ? 500000 : nap_ns * 2;
    }
  }
  if (rc < 0)
    nb__run_fail(r, &e);
  pthread_mutex_lock(&gp->mu);
  gp->stage_s[NB_STAGE_DEVICE_COPY] += copy;
  gp->stage_s[NB_STAGE_DEVICE_WORK] += work;
  gp->idle_s = idle;
  pthread_mutex_unlock(&gp->mu);
  return NULL;
}

/* ---- the host backend's device ---- */

static void *device_main(void *arg)
{
  struct gpu_pipe *gp = arg;
  struct nb_run *r = gp->run;
  struct nb__taudit *a = &gp->taudit[1];
  nb_error_t e = {0};
  int rc = setup_thread(gp, a, &e);
  /* Device memory: two slots on the GPU's node. */
  if (rc == 0)
    rc = alloc_bufs(gp, gp->dev, 2, r->batch_bytes, &gp->gp->device_buf, &e);
  after_setup(r, rc, &e);

  double work = r->cfg.gpu_work_us * 1e-6, copy = 0, idle = 0;
  gp->t_start = nb__now();
  double prev_end = gp->t_start,
         end2[2] = {gp->t_start, gp->t_start}; /* work end of the steps that used each slot */
  for (long b = 0; !stopping(r) && b < r->total; b++) {
    int t = (int)(b % gp->nstage), d = (int)(b % 2);
    pthread_mutex_lock(&gp->mu);
    int waited = WAIT_UNTIL(gp, gp->submitted > b);
    pthread_mutex_unlock(&gp->mu);
    if (waited < 0 || injected(gp, NB__FAULT_DEVICE, b, "device"))
      break;
    /* The slot is free once the work of the step that last used it is done. */
    if (end2[d] > nb__now())
      wait_until(gp, end2[d]);
    double t0 = nb__now();
    memcpy(gp->dev[d].addr, gp->stage[t].addr, r->batch_bytes);
    double t1 = nb__now();
    if (b >= r->cfg.warmup)
      copy += t1 - t0;
    pthread_mutex_lock(&gp->mu);
    gp->sstate[t] = SLOT_FREE; /* its copy is complete: the slot may be refilled */
    pthread_cond_broadcast(&gp->cv);
    pthread_mutex_unlock(&gp->mu);
    if (r->cfg.verify) {
      gp->verified++;
      if (nb_checksum(gp->dev[d].addr, r->batch_bytes, 0) != gp->expected[b]) {
        gp->mismatches++;
        nb__err(&e, NB_EIO, "GPU %d: --verify: batch %ld arrived with the wrong data (checksum mismatch)",
                gp->gp->gpu, b);
        nb__run_fail(r, &e);
        break;
      }
    }
    /* The compute timeline: starts when data is in and the previous step is
     * done; the wait for data is starvation. */
    double start = t1 > prev_end ? t1 : prev_end;
    if (b >= r->cfg.warmup)
      idle += start - prev_end;
    prev_end = end2[d] = start + work;
    gp->done_t[b] = prev_end;
    gp->steps_done = b + 1;
    nb__taudit_sample(a, r->topo);
    if (gp->index == 0 && r->cfg.progress)
      r->cfg.progress(r->cfg.progress_arg, (int)b + 1, (int)r->total);
  }
  if (prev_end > nb__now())
    wait_until(gp, prev_end);
  pthread_mutex_lock(&gp->mu);
  gp->stage_s[NB_STAGE_DEVICE_COPY] += copy;
  gp->idle_s = idle;
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

void nb_run_free(nb_run_t r)
{
  if (!r)
    return;
  for (int i = 0; r->g && i < r->ngpus; i++) {
    struct gpu_pipe *gp = &r->g[i];
    int W = gp->gp ? gp->gp->nworkers : 0;
    for (int k = 0; gp->wslot && k < 2 * W; k++)
      nb_buf_free(&gp->wslot[k]);
    for (int k = 0; gp->scratch && k < W; k++)
      nb_buf_free(&gp->scratch[k]);
    /* The GPU may still read staging: its queues end first. */
    nb__cuda_gpu_close(gp->cuda);
    gp->cuda = NULL;
    for (int k = 0; gp->stage && k < gp->nstage; k++)
      nb_buf_free(&gp->stage[k]);
    for (int k = 0; k < 2; k++)
      nb_buf_free(&gp->dev[k]);
    for (int k = 0; gp->taudit && k < W + 2; k++)
      nb__taudit_free(&gp->taudit[k]);
    for (int k = 0; k < NB__NBUFKINDS; k++)
      nb__baudit_free(&gp->baudit[k]);
    free(gp->wslot);
    free(gp->scratch);
    free(gp->wstate);
    free(gp->wbatch);
    free(gp->stage);
    free(gp->sstate);
    free(gp->sbatch);
    free(gp->expected);
    free(gp->done_t);
    free(gp->taudit);
    free(r->res ? r->res[i].step_ms : NULL);
    if (gp->sync_init) {
      pthread_mutex_destroy(&gp->mu);
      pthread_cond_destroy(&gp->cv);
    }
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

int nb_run_start(nb_run_t *runp, nb_plan_t plan, const struct nb_run_config *cfg, nb_error_t *err)
{
  *runp = NULL;
  nb_topo_t topo = nb_plan_topo(plan);
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "topology %s is not this machine: its plans are never run",
                   nb_topo_source(topo));
  if (cfg->channels <= 0 || cfg->height <= 0 || cfg->width <= 0 || cfg->batch <= 0 || cfg->steps <= 0 ||
      cfg->warmup < 0 || cfg->gpu_work_us < 0)
    return nb__err(err, NB_EINVAL, "run: sample shape, batch and steps must be positive");
  if (cfg->backend != NB_BACKEND_HOST && cfg->backend != NB_BACKEND_CUDA)
    return nb__err(err, NB_EINVAL, "run: the backend must be resolved to host or cuda");
  if (cfg->backend == NB_BACKEND_CUDA && (cfg->pin != NB_PIN_REGISTER && cfg->pin != NB_PIN_HOSTALLOC))
    return nb__err(err, NB_EINVAL, "run: the CUDA backend needs --pin register or hostalloc");
  struct nb_run *r = calloc(1, sizeof *r);
  if (!r)
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  pthread_mutex_init(&r->err_mu, NULL);
  r->plan = plan;
  r->topo = topo;
  r->cfg = *cfg;
  r->sample_bytes = (size_t)cfg->channels * (size_t)cfg->height * (size_t)cfg->width * sizeof(float);
  r->batch_bytes = r->sample_bytes * (size_t)cfg->batch;
  r->total = (long)cfg->warmup + cfg->steps;
  r->ngpus = nb_plan_ngpus(plan);
  int rc = parse_fault(r, &cfg->fail_at, err);
  if (rc < 0) {
    nb_run_free(r);
    return rc;
  }
  r->g = calloc((size_t)r->ngpus, sizeof *r->g);
  r->res = calloc((size_t)r->ngpus, sizeof *r->res);
  if (!r->g || !r->res)
    goto oom;
  int nthreads = 0, nworkers = 0;
  for (int i = 0; i < r->ngpus; i++) {
    struct gpu_pipe *gp = &r->g[i];
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    int W = g->nworkers;
    gp->run = r;
    gp->index = i;
    gp->gp = g;
    /* torch: double-buffered staging; direct: workers fill staging slots
     * themselves, two in flight each, as torch's per-worker prefetch. */
    gp->nstage = cfg->pipeline == NB_PIPE_TORCH ? 2 : 2 * W;
    gp->wslot = calloc((size_t)(2 * W), sizeof *gp->wslot);
    gp->scratch = calloc((size_t)W, sizeof *gp->scratch);
    gp->wstate = calloc((size_t)(2 * W), sizeof *gp->wstate);
    gp->wbatch = calloc((size_t)(2 * W), sizeof *gp->wbatch);
    gp->stage = calloc((size_t)gp->nstage, sizeof *gp->stage);
    gp->sstate = calloc((size_t)gp->nstage, sizeof *gp->sstate);
    gp->sbatch = calloc((size_t)gp->nstage, sizeof *gp->sbatch);
    gp->expected = calloc((size_t)r->total, sizeof *gp->expected);
    gp->done_t = calloc((size_t)r->total, sizeof *gp->done_t);
    gp->taudit = calloc((size_t)W + 2, sizeof *gp->taudit);
    if (!gp->wslot || !gp->scratch || !gp->wstate || !gp->wbatch || !gp->stage || !gp->sstate ||
        !gp->sbatch || !gp->expected || !gp->done_t || !gp->taudit)
      goto oom;
    pthread_mutex_init(&gp->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gp->cv, &ca);
    pthread_condattr_destroy(&ca);
    gp->sync_init = 1;
    if (nb__taudit_init(&gp->taudit[0], topo, &g->feeder) < 0 ||
        nb__taudit_init(&gp->taudit[1], topo, &g->device) < 0)
      goto oom;
    for (int w = 0; w < W; w++)
      if (nb__taudit_init(&gp->taudit[2 + w], topo, &g->workers[w]) < 0)
        goto oom;
    static const char *const kinds[NB__NBUFKINDS] = {"worker_batches", "worker_scratch", "staging", "device"};
    for (int k = 0; k < NB__NBUFKINDS; k++)
      if (nb__baudit_init(&gp->baudit[k], topo, kinds[k], -1) < 0)
        goto oom;
    nthreads += W + 2;
    nworkers += W;
  }
  r->tids = calloc((size_t)nthreads, sizeof *r->tids);
  r->wargs = calloc((size_t)nworkers, sizeof *r->wargs);
  if (!r->tids || !r->wargs || nb_numastat_read(topo, &r->before) < 0)
    goto oom;

  /* All threads of all devices, then the start line. */
  nb__gate_init(&r->ready);
  r->gate_init = 1;
  int started = 0, wi = 0;
  for (int i = 0; i < r->ngpus && rc == 0; i++) {
    struct gpu_pipe *gp = &r->g[i];
    struct {
      void *(*fn)(void *);
      void *arg;
    } jobs[2] = {{feeder_main, gp}, {cfg->backend == NB_BACKEND_CUDA ? cuda_complete_main : device_main, gp}};
    for (int j = 0; j < 2 + gp->gp->nworkers && rc == 0; j++) {
      void *(*fn)(void *) = j < 2 ? jobs[j].fn : worker_main;
      void *arg = j < 2 ? jobs[j].arg : &r->wargs[wi];
      if (j >= 2)
        r->wargs[wi++] = (struct worker_arg){gp, j - 2};
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
  *runp = r;
  return rc;
oom:
  nb_run_free(r);
  return nb__err(err, NB_ENOMEM, "run: out of memory");
}
