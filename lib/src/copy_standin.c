/* numabench: the stand-in copy backend, a host stand-in for the CUDA engine,
 * so that the pipeline's CUDA path (feeder, completion thread, ring and
 * copy-back back-pressure, staging reuse, stops and failures) and bw's CUDA
 * path run where no GPU is. It is for tests, like fio's engines/null.c: the
 * CUDA table is swapped for it only when NB_TEST_STANDIN_GPUS names the PCI
 * devices to present as CUDA GPUs (nb__copy_ops_for).
 *
 * One "GPU" thread per device takes the submitted steps in order: it copies
 * the staging batch in two halves with a pause between (a staging slot
 * refilled before its copy completed shows up as wrong data under
 * --verify), sleeps --gpu-work, copies back when asked, and marks each step
 * done. The stand-in also checks the engine's contract and counts
 * violations: steps submitted in order, at most ring - 1 in flight, only
 * submitted steps polled, steps polled done in order, one copy-back in
 * flight. The count is process-wide on purpose: tests read it after runs.
 *
 * It has no spin kernel to calibrate: it reports the factor
 * NB_TEST_STANDIN_SPIN_SCALE says (1 when unset), so that tests can fake a
 * GPU whose timer is off; and NB_TEST_STANDIN_DEVICE_MEMORY gives its
 * devices a memory size that the device buffers must fit in. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"

static atomic_int violations;
static char first_violation[256];
static pthread_mutex_t violation_mu = PTHREAD_MUTEX_INITIALIZER;

static void violate(const char *what, long step)
{
  pthread_mutex_lock(&violation_mu);
  if (atomic_fetch_add(&violations, 1) == 0)
    snprintf(first_violation, sizeof first_violation, "%s (step %ld)", what, step);
  pthread_mutex_unlock(&violation_mu);
}

int nb__standin_violations(const char **first)
{
  *first = first_violation;
  return atomic_load(&violations);
}

static void nap(double s)
{
  if (s <= 0)
    return;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static int standin_usable(int *count, nb_error_t *err)
{
  (void)err;
  *count = 1;
  return 0;
}

static int standin_select(int ordinal, int gpu, nb_error_t *err)
{
  (void)ordinal, (void)gpu;
  return (void)err, 0;
}

static int standin_register(void *addr, size_t len, double *seconds, nb_error_t *err)
{
  (void)addr, (void)len, (void)err;
  *seconds = 1e-6;
  return 0;
}

static void standin_unregister(void *addr)
{
  (void)addr;
}

/* The CPUs the calling thread could run on during the last host_alloc, so
 * that tests see where the driver would have taken the pages from. */
static pthread_mutex_t alloc_mu = PTHREAD_MUTEX_INITIALIZER;
static int alloc_cpus[256];
static int alloc_ncpus = -1; /* -1: no host_alloc yet, or the affinity was unreadable */

int nb__standin_host_alloc_cpus(int *cpus, int max)
{
  pthread_mutex_lock(&alloc_mu);
  int n = alloc_ncpus;
  for (int i = 0; i < n && i < max; i++)
    cpus[i] = alloc_cpus[i];
  pthread_mutex_unlock(&alloc_mu);
  return n;
}

static void record_alloc_cpus(void)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  int ok = sched_getaffinity(0, sizeof set, &set) == 0;
  pthread_mutex_lock(&alloc_mu);
  alloc_ncpus = ok ? 0 : -1;
  for (int c = 0; ok && c < CPU_SETSIZE && alloc_ncpus < 256; c++)
    if (CPU_ISSET(c, &set))
      alloc_cpus[alloc_ncpus++] = c;
  pthread_mutex_unlock(&alloc_mu);
}

static int standin_host_alloc(void **addr, size_t len, double *seconds, nb_error_t *err)
{
  record_alloc_cpus();
  if (posix_memalign(addr, (size_t)sysconf(_SC_PAGESIZE), len))
    return nb__err(err, NB_ENOMEM, "fake cudaHostAlloc: out of memory");
  *seconds = 1e-6;
  return 0;
}

static void standin_free_host(void *addr)
{
  free(addr);
}

/* ---- one GPU ---- */

struct entry {
  long step; /* -1: unused */
  const void *src;
  int verify;
  atomic_int copied, done;
  struct nb__copy_step t;
};

struct standin_gpu {
  struct nb__copy_dev_config cfg;
  void *slot[2], *verify;
  struct entry *ring;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long submitted, polled; /* steps submitted; steps polled done */
  long verify_pending;    /* step whose copy-back is not polled yet, -1 none */
  atomic_int stop;
  int have_thread;
  pthread_t gpu;
  double prev_end, base;
  double spin_scale; /* the calibration it reports (NB__STANDIN_SPIN_ENV) */
};

static void *gpu_main(void *arg)
{
  struct standin_gpu *g = arg;
  size_t half = g->cfg.batch_bytes / 2;
  for (long k = 0;; k++) {
    pthread_mutex_lock(&g->mu);
    while (g->submitted <= k && !atomic_load(&g->stop))
      pthread_cond_wait(&g->cv, &g->mu);
    int stop = atomic_load(&g->stop) && g->submitted <= k;
    struct entry *e = &g->ring[k % g->cfg.ring];
    pthread_mutex_unlock(&g->mu);
    if (stop)
      break;
    void *slot = g->slot[k % 2];
    double t0 = nb__now();
    memcpy(slot, e->src, half);
    nap(200e-6);
    memcpy((char *)slot + half, (const char *)e->src + half, g->cfg.batch_bytes - half);
    double t1 = nb__now();
    atomic_store(&e->copied, 1);
    double idle = t1 - g->prev_end;
    nap(atomic_load(&g->stop) ? 0 : g->cfg.work_us * 1e-6);
    double t2 = nb__now();
    if (e->verify)
      memcpy(g->verify, slot, g->cfg.batch_bytes);
    double t3 = nb__now();
    e->t = (struct nb__copy_step){t1 - t0, t2 - t1, idle > 0 ? idle : 0, t3 - g->prev_end};
    g->prev_end = t3;
    atomic_store(&e->done, 1);
  }
  return NULL;
}

static void standin_gpu_close(struct nb__copy_dev *d)
{
  struct standin_gpu *g = (struct standin_gpu *)d;
  if (!g)
    return;
  if (g->have_thread) {
    pthread_mutex_lock(&g->mu);
    atomic_store(&g->stop, 1);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->gpu, NULL);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
  }
  free(g->slot[0]);
  free(g->slot[1]);
  free(g->verify);
  free(g->ring);
  free(g);
}

/* The engine's device buffers (two batch slots and the resize's output)
 * against the memory NB__STANDIN_MEMORY_ENV gives the device: a failure
 * says what the engine's says. */
static int device_memory(const struct nb__copy_dev_config *cfg, nb_error_t *err)
{
  const char *mem = getenv(NB__STANDIN_MEMORY_ENV);
  if (!mem || !*mem)
    return 0;
  size_t limit = (size_t)strtoull(mem, NULL, 10), out = (size_t)cfg->batch * (size_t)cfg->channels *
                                                        (size_t)cfg->out_size * (size_t)cfg->out_size *
                                                        sizeof(float);
  if (2 * cfg->batch_bytes + out <= limit)
    return 0;
  nb__err(err, NB_ECUDA, "GPU %d: cudaMalloc: cudaErrorMemoryAllocation (out of memory)", cfg->gpu);
  nb__cuda_slots_oom(err, cfg->batch, cfg->batch_bytes, out, limit, limit);
  return NB_ECUDA;
}

static int standin_gpu_open(struct nb__copy_dev **gp, const struct nb__copy_dev_config *cfg, nb_error_t *err)
{
  *gp = NULL;
  int rc = device_memory(cfg, err);
  if (rc < 0)
    return rc;
  struct standin_gpu *g = calloc(1, sizeof *g);
  if (!g)
    return nb__err(err, NB_ENOMEM, "fake GPU: out of memory");
  g->cfg = *cfg;
  if (g->cfg.ring < 4)
    g->cfg.ring = 4;
  g->slot[0] = malloc(cfg->batch_bytes);
  g->slot[1] = malloc(cfg->batch_bytes);
  g->verify = cfg->verify ? malloc(cfg->batch_bytes) : NULL;
  g->ring = calloc((size_t)g->cfg.ring, sizeof *g->ring);
  if (!g->slot[0] || !g->slot[1] || (cfg->verify && !g->verify) || !g->ring) {
    standin_gpu_close((struct nb__copy_dev *)g);
    return nb__err(err, NB_ENOMEM, "fake GPU: out of memory");
  }
  for (int i = 0; i < g->cfg.ring; i++)
    g->ring[i].step = -1;
  const char *scale = getenv(NB__STANDIN_SPIN_ENV);
  g->spin_scale = scale && *scale ? strtod(scale, NULL) : 1.0;
  g->verify_pending = -1;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  if (pthread_create(&g->gpu, NULL, gpu_main, g)) {
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    standin_gpu_close((struct nb__copy_dev *)g);
    return nb__err(err, NB_EINTERNAL, "fake GPU: thread");
  }
  g->have_thread = 1;
  *gp = (struct nb__copy_dev *)g;
  return 0;
}

static int standin_gpu_use(struct nb__copy_dev *d, nb_error_t *err)
{
  (void)d, (void)err;
  return 0;
}

static int standin_gpu_start(struct nb__copy_dev *d, nb_error_t *err)
{
  struct standin_gpu *g = (struct standin_gpu *)d;
  (void)err;
  g->base = g->prev_end = nb__now();
  return 0;
}

static int standin_gpu_submit(struct nb__copy_dev *d, long step, const void *src, int verify, nb_error_t *err)
{
  struct standin_gpu *g = (struct standin_gpu *)d;
  (void)err;
  pthread_mutex_lock(&g->mu);
  if (step != g->submitted)
    violate("submitted out of order", step);
  if (step - g->cfg.ring + 1 >= g->polled)
    violate("more than ring - 1 steps in flight", step);
  if (verify && g->verify_pending >= 0)
    violate("a copy-back submitted while the previous one is not polled", step);
  struct entry *e = &g->ring[step % g->cfg.ring];
  e->step = step;
  e->src = src;
  e->verify = verify && g->verify;
  atomic_store(&e->copied, 0);
  atomic_store(&e->done, 0);
  if (e->verify)
    g->verify_pending = step;
  g->submitted = step + 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
  return 0;
}

static struct entry *polled_entry(struct standin_gpu *g, long step)
{
  pthread_mutex_lock(&g->mu);
  long submitted = g->submitted;
  pthread_mutex_unlock(&g->mu);
  struct entry *e = &g->ring[step % g->cfg.ring];
  if (step >= submitted || e->step != step) {
    violate("polled a step not submitted (or already reused)", step);
    return NULL;
  }
  return e;
}

static int standin_gpu_poll_copy(struct nb__copy_dev *d, long step, nb_error_t *err)
{
  struct standin_gpu *g = (struct standin_gpu *)d;
  struct entry *e = polled_entry(g, step);
  if (!e)
    return nb__err(err, NB_EINTERNAL, "fake GPU: contract violated");
  return atomic_load(&e->copied);
}

static int standin_gpu_poll_step(struct nb__copy_dev *d, long step, struct nb__copy_step *t, nb_error_t *err)
{
  struct standin_gpu *g = (struct standin_gpu *)d;
  struct entry *e = polled_entry(g, step);
  if (!e)
    return nb__err(err, NB_EINTERNAL, "fake GPU: contract violated");
  if (!atomic_load(&e->done))
    return 0;
  *t = e->t;
  pthread_mutex_lock(&g->mu);
  if (step != g->polled)
    violate("steps polled done out of order", step);
  g->polled = step + 1;
  if (g->verify_pending == step)
    g->verify_pending = -1;
  pthread_mutex_unlock(&g->mu);
  return 1;
}

static const void *standin_gpu_verify_buf(struct nb__copy_dev *d, long step)
{
  (void)step;
  return ((struct standin_gpu *)d)->verify;
}

static double standin_spin_scale(struct nb__copy_dev *d)
{
  return ((struct standin_gpu *)d)->spin_scale;
}

static int standin_bw_copy(int ordinal, int gpu, void *host, size_t len, int h2d, int repeat, double *samples,
                           void (*start)(void *arg), void *start_arg, nb_error_t *err)
{
  (void)ordinal;
  void *dev = malloc(len);
  if (!dev) {
    if (start)
      start(start_arg);
    return nb__err(err, NB_ENOMEM, "fake GPU %d: out of memory", gpu);
  }
  memset(dev, 1, len);
  if (start)
    start(start_arg);
  for (int k = 0; k < repeat; k++) {
    double t0 = nb__now();
    memcpy(h2d ? dev : host, h2d ? host : dev, len);
    double t = nb__now() - t0;
    samples[k] = (double)len / (t > 0 ? t : 1e-9) / 1e9;
  }
  free(dev);
  return 0;
}

static const struct nb_pinner standin_pinner = {
    .register_mem = standin_register,
    .unregister_mem = standin_unregister,
    .host_alloc = standin_host_alloc,
    .free_host = standin_free_host,
};

const struct nb__copy_ops nb__copy_standin = {
    .name = "cuda",
    .devices_text = "the test stand-in for CUDA GPUs (NB_TEST_STANDIN_GPUS); staging pinned with",
    .flags = NB__COPY_GPUS,
    .verify_every = NB_CUDA_VERIFY_EVERY,
    .verify_inflight = 1,
    .verified_how = "came back from the GPU",
    .usable = standin_usable,
    .pinner = &standin_pinner,
    .select = standin_select,
    .open = standin_gpu_open,
    .attach = standin_gpu_use,
    .start = standin_gpu_start,
    .submit = standin_gpu_submit,
    .poll_copy = standin_gpu_poll_copy,
    .poll_step = standin_gpu_poll_step,
    .verify_buf = standin_gpu_verify_buf,
    .spin_scale = standin_spin_scale,
    .close = standin_gpu_close,
    .bw_job = nb__cuda_bw_job,
    .bw_copy = standin_bw_copy,
};
