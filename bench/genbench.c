/* numabench-genbench: the sample generator's speed on one core, beside
 * memset on the same buffer, so that "is generation the bottleneck?" has a
 * number; a memory copy alone and two copies at once (two threads, each its
 * own buffers); and the direct replay pipeline's data path without the
 * harness, the reference bench/ceiling.sh sets `run --pipeline direct
 * --source replay` against.
 *
 * The data path: one thread (the worker) copies samples out of its pool into
 * two staging slots of a batch each, with the pipeline's own streaming copy
 * (nb__copy_stream); another (the copy engine) lands each filled slot a piece
 * at a time in a small slot that stays in its cache, as the host backend does
 * (NB__HOST_LANDING_BYTES). They hand slots over through two counters, by
 * spinning: no mutex, no condition variable, no timing per batch, no audit.
 * Both are bound to the node's CPUs and every buffer to its memory with the
 * library's own calls, as run binds them. What the pipeline delivers beside
 * this, in turn on the same machine, is the harness's own share; what this
 * delivers beside one copy alone (bw's ceiling) is what the machine allows
 * that data path, which moves every byte through memory three times (the
 * pool's read, staging's write, the engine's read) where a copy moves it
 * twice.
 * usage: numabench-genbench [CxHxW] [seconds] [--batch N] [--pool BYTES] [--workers N] [--node N] */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench.h>

#include "copy.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One copying thread: src to dst for seconds, its rate in bytes/s. */
struct copier {
  unsigned char *src, *dst;
  size_t bytes;
  double seconds, rate;
  pthread_barrier_t *start;
};

static void *copy_main(void *arg)
{
  struct copier *c = arg;
  memset(c->src, 1, c->bytes); /* first touch by the copying thread, outside the timing */
  memset(c->dst, 2, c->bytes);
  if (c->start)
    pthread_barrier_wait(c->start);
  long reps = 0;
  double t0 = now_s(), t;
  do {
    memcpy(c->dst, c->src, c->bytes);
    reps++;
  } while ((t = now_s()) - t0 < c->seconds);
  c->rate = (double)reps * (double)c->bytes / (t - t0);
  return NULL;
}

/* n copying threads at once (64 MiB buffers each), the slowest one's rate;
 * -1 when memory or threads are short. */
static double copies(int n, double seconds)
{
  struct copier c[2] = {0};
  pthread_t tid[2];
  pthread_barrier_t start;
  size_t bytes = (size_t)64 << 20;
  double slowest = -1;
  int started = 0;
  pthread_barrier_init(&start, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    c[i] = (struct copier){malloc(bytes), malloc(bytes), bytes, seconds, 0, &start};
    if (!c[i].src || !c[i].dst)
      goto out;
  }
  for (; started < n; started++)
    if (pthread_create(&tid[started], NULL, copy_main, &c[started]))
      goto out;
out:
  for (int i = 0; i < started; i++)
    pthread_join(tid[i], NULL);
  if (started == n)
    for (int i = 0; i < n; i++)
      if (slowest < 0 || c[i].rate < slowest)
        slowest = c[i].rate;
  for (int i = 0; i < n; i++) {
    free(c[i].src);
    free(c[i].dst);
  }
  pthread_barrier_destroy(&start);
  return started == n ? slowest : -1;
}

/* ---- the direct replay pipeline's data path, without the harness ---- */

/* Batches landed untimed before the timing starts, and the fewest timed. */
#define PATH_WARMUP 4
#define PATH_MIN_BATCHES 8

/* A worker of the path: batches w, w + W, w + 2W, ... as run deals them,
 * into its own two staging slots, out of its own pool. */
struct path_worker {
  struct path *p;
  int w;
  struct nb_buf pool, staging[2];
  atomic_long filled; /* its batches filled so far */
  nb_error_t err;
};

struct path {
  nb_topo_t topo;
  const struct nb_node *nd;
  size_t sample, batch, pool_samples; /* bytes per sample, samples per batch, samples per pool */
  int nworkers;
  double seconds;
  struct path_worker *wk;
  struct nb_buf slots;
  atomic_long landed; /* batches the engine has landed */
  atomic_int stop, failed;
  pthread_barrier_t ready; /* every thread bound and its buffers allocated */
  long timed;              /* batches landed in the timing */
  double elapsed, busy;    /* the timing's length; the engine's time landing in it */
  nb_error_t err;          /* the engine's */
};

/* Bind the calling thread to the node's CPUs and its memory, as run binds a
 * bound worker or copy engine. */
static int path_bind(const struct path *p, nb_error_t *err)
{
  struct nb_thread_plan tp = {NB_ROLE_WORKER,  0,           p->nd->ncpus,   p->nd->cpus,
                              p->nd->os_index, NB_MEM_BIND, p->nd->os_index};
  struct nb_bind_status st;
  return nb_bind_self(p->topo, &tp, NULL, 0, &st, err);
}

static int path_alloc(const struct path *p, struct nb_buf *b, size_t len, nb_error_t *err)
{
  struct nb_buf_plan bp = {NB_MEM_BIND, p->nd->os_index};
  return nb_buf_alloc(p->topo, b, len, &bp, NULL, 0, err);
}

/* Until *counter reaches at least want, or the run stops: 0, or -1 when
 * stopped. */
static int path_wait(struct path *p, atomic_long *counter, long want)
{
  while (atomic_load_explicit(counter, memory_order_acquire) < want) {
    if (atomic_load(&p->stop))
      return -1;
    sched_yield();
  }
  return 0;
}

/* A worker: its pool (first touched by it, as run's worker makes its pool),
 * then its batches, each into the staging slot its batch before the last
 * used once the engine has landed that one, sample by sample out of the
 * pool as run's direct worker copies them. */
static void *path_worker_main(void *arg)
{
  struct path_worker *pw = arg;
  struct path *p = pw->p;
  int W = p->nworkers, rc = path_bind(p, &pw->err);
  if (rc == 0)
    rc = path_alloc(p, &pw->pool, p->pool_samples * p->sample, &pw->err);
  for (int k = 0; rc == 0 && k < 2; k++)
    rc = path_alloc(p, &pw->staging[k], p->batch * p->sample, &pw->err);
  if (rc < 0)
    atomic_store(&p->failed, 1);
  pthread_barrier_wait(&p->ready);
  if (atomic_load(&p->failed))
    return NULL;
  const unsigned char *pool = pw->pool.addr;
  for (long j = 0;; j++) {
    long b = pw->w + j * W; /* slot j % 2 last held batch b - 2W */
    if (path_wait(p, &p->landed, b - 2 * W + 1) < 0)
      break;
    unsigned char *dst = pw->staging[j % 2].addr;
    for (size_t i = 0; i < p->batch; i++) {
      size_t k = ((size_t)b * p->batch + i) % p->pool_samples;
      nb__copy_stream(dst + i * p->sample, pool + k * p->sample, p->sample);
    }
    atomic_store_explicit(&pw->filled, j + 1, memory_order_release);
  }
  return NULL;
}

/* The copy engine: batch after batch in order, each landing a piece at a
 * time in one of two small slots, as the host backend's copy does. */
static void *path_engine(void *arg)
{
  struct path *p = arg;
  size_t bytes = p->batch * p->sample,
         piece = bytes < NB__HOST_LANDING_BYTES ? bytes : NB__HOST_LANDING_BYTES;
  int W = p->nworkers, rc = path_bind(p, &p->err);
  if (rc == 0)
    rc = path_alloc(p, &p->slots, 2 * piece, &p->err);
  if (rc < 0)
    atomic_store(&p->failed, 1);
  pthread_barrier_wait(&p->ready);
  if (atomic_load(&p->failed))
    return NULL;
  double t0 = 0;
  for (long b = 0;; b++) {
    struct path_worker *pw = &p->wk[b % W];
    if (path_wait(p, &pw->filled, b / W + 1) < 0)
      break;
    const unsigned char *src = pw->staging[(b / W) % 2].addr;
    unsigned char *land = (unsigned char *)p->slots.addr + (size_t)(b % 2) * piece;
    double c0 = now_s();
    for (size_t off = 0; off < bytes; off += piece)
      memcpy(land, src + off, bytes - off < piece ? bytes - off : piece);
    double c1 = now_s();
    atomic_store_explicit(&p->landed, b + 1, memory_order_release);
    if (b == PATH_WARMUP - 1) {
      t0 = c1;
    } else if (b >= PATH_WARMUP) {
      p->busy += c1 - c0;
      p->timed++;
      if (p->timed >= PATH_MIN_BATCHES && c1 - t0 >= p->seconds) {
        p->elapsed = c1 - t0;
        break;
      }
    }
  }
  atomic_store(&p->stop, 1);
  return NULL;
}

/* The node --node names (-1: the first with CPUs and memory), or NULL when
 * it has no CPUs this process may use or no memory in its memory set. */
static const struct nb_node *path_node(nb_topo_t topo, int node)
{
  for (int k = 0; k < nb_topo_nnodes(topo); k++) {
    const struct nb_node *nd = nb_topo_node(topo, k);
    if ((node < 0 || nd->os_index == node) && nd->ncpus && nd->memory_bytes && nd->mem_allowed)
      return nd;
  }
  return NULL;
}

/* The data path on node nd for seconds: its GB/s, and how busy the engine
 * was; -1 with a message when it could not run. */
static double pipeline_path(nb_topo_t topo, const struct nb_node *nd, const struct nb_run_config *rc, int W,
                            size_t pool_samples, double seconds, double *busy)
{
  struct path *p = calloc(1, sizeof *p);
  if (!p || !(p->wk = calloc((size_t)W, sizeof *p->wk))) {
    free(p);
    fprintf(stderr, "numabench-genbench: out of memory\n");
    return -1;
  }
  p->topo = topo;
  p->nd = nd;
  p->sample = nb_run_sample_bytes(rc);
  p->batch = (size_t)rc->batch;
  p->pool_samples = pool_samples;
  p->nworkers = W;
  p->seconds = seconds;
  pthread_barrier_init(&p->ready, NULL, (unsigned)W + 1);
  pthread_t *tid = calloc((size_t)W + 1, sizeof *tid);
  int started = 0, e = tid ? 0 : ENOMEM;
  for (; !e && started < W; started++) {
    p->wk[started].p = p;
    p->wk[started].w = started;
    e = pthread_create(&tid[started], NULL, path_worker_main, &p->wk[started]);
  }
  if (!e)
    e = pthread_create(&tid[W], NULL, path_engine, p);
  if (e) {
    /* The barrier would never open: the threads started are left to the
     * process's exit. */
    fprintf(stderr, "numabench-genbench: starting a thread: %s\n", strerror(e));
    return -1;
  }
  for (int k = 0; k <= W; k++)
    pthread_join(tid[k], NULL);
  double rate = -1;
  const nb_error_t *why = p->err.code ? &p->err : NULL;
  for (int k = 0; !why && k < W; k++)
    if (p->wk[k].err.code)
      why = &p->wk[k].err;
  if (why)
    fprintf(stderr, "numabench-genbench: the pipeline path: %s\n", why->msg);
  else if (p->elapsed > 0) {
    rate = (double)p->timed * (double)(p->batch * p->sample) / p->elapsed;
    *busy = p->busy / p->elapsed;
  }
  for (int k = 0; k < W; k++) {
    nb_buf_free(&p->wk[k].pool);
    nb_buf_free(&p->wk[k].staging[0]);
    nb_buf_free(&p->wk[k].staging[1]);
  }
  nb_buf_free(&p->slots);
  pthread_barrier_destroy(&p->ready);
  free(tid);
  free(p->wk);
  free(p);
  return rate;
}

static int usage(void)
{
  fprintf(
      stderr,
      "usage: numabench-genbench [CxHxW] [seconds] [--batch N] [--pool BYTES] [--workers N] [--node N]\n");
  return 2;
}

/* A whole number from text, or -1 when it is not one (a size may end in K,
 * M or G: binary multiples). */
static long long number(const char *text, int size)
{
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  long long m = 1;
  if (size && *end) {
    m = *end == 'K' ? 1LL << 10 : *end == 'M' ? 1LL << 20 : *end == 'G' ? 1LL << 30 : 0;
    end += m != 0;
  }
  if (errno || end == text || *end || v < 0 || m == 0 || v > (1LL << 40) / m)
    return -1;
  return v * m;
}

int main(int argc, char **argv)
{
  int c = 3, h = 1024, w = 1024, node = -1, npos = 0;
  long long batch = 32, pool = 256LL << 20, workers = 1;
  double seconds = 1.0;
  char tail;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
      printf("usage: numabench-genbench [CxHxW] [seconds] [--batch N] [--pool BYTES] [--workers N] [--node "
             "N]\n");
      return 0;
    } else if (a + 1 < argc && !strcmp(argv[a], "--batch")) {
      if ((batch = number(argv[++a], 0)) < 1 || batch > 65536)
        return fprintf(stderr, "numabench-genbench: --batch %s: use a whole number from 1 to 65536\n",
                       argv[a]),
               2;
    } else if (a + 1 < argc && !strcmp(argv[a], "--pool")) {
      if ((pool = number(argv[++a], 1)) < 1)
        return fprintf(stderr, "numabench-genbench: --pool %s: use a size in bytes, e.g. 256M\n", argv[a]), 2;
    } else if (a + 1 < argc && !strcmp(argv[a], "--workers")) {
      if ((workers = number(argv[++a], 0)) < 1 || workers > 1024)
        return fprintf(stderr, "numabench-genbench: --workers %s: use a whole number from 1 to 1024\n",
                       argv[a]),
               2;
    } else if (a + 1 < argc && !strcmp(argv[a], "--node")) {
      long long v = number(argv[++a], 0);
      if (v < 0 || v > 1 << 20)
        return fprintf(stderr, "numabench-genbench: --node %s: use a node number (numabench topo)\n",
                       argv[a]),
               2;
      node = (int)v;
    } else if (argv[a][0] == '-' || npos == 2) {
      return usage();
    } else if (npos++ == 0) {
      if (sscanf(argv[a], "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c <= 0 || h <= 0 || w <= 0 ||
          (double)c * h * w > (double)(1 << 28))
        return usage();
    } else if (seconds = atof(argv[a]), !(seconds > 0 && seconds <= 3600)) { /* NaN too */
      return usage();
    }
  }
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  struct nb_topo_config tc = {.no_cuda = true};
  if (nb_topo_load(&topo, &tc, &err) < 0) {
    fprintf(stderr, "numabench-genbench: %s\n", err.msg);
    return 1;
  }
  const struct nb_node *nd = path_node(topo, node);
  if (!nd) {
    if (node >= 0)
      fprintf(stderr,
              "numabench-genbench: --node %d: that node has no CPUs this process may use or no memory "
              "in its memory set; use one that numabench topo lists with both\n",
              node);
    else
      fprintf(stderr,
              "numabench-genbench: no node has both CPUs this process may use and memory in its memory "
              "set; name one with --node\n");
    nb_topo_free(topo);
    return 2;
  }
  /* The path's pools, as run sizes them (a prime number of samples, more
   * than two batches), and two staging batches per worker. */
  struct nb_run_config rc = {.channels = c,
                             .height = h,
                             .width = w,
                             .batch = (int)batch,
                             .source = NB_SOURCE_REPLAY,
                             .pool_bytes = (size_t)pool};
  size_t n = (size_t)c * (size_t)h * (size_t)w, bytes = n * sizeof(float),
         pool_samples = nb_run_pool_samples(&rc);
  double need = (double)workers * ((double)pool_samples + 2.0 * (double)batch) * (double)bytes;
  if (nd->free_bytes >= 0 && need > 0.9 * (double)nd->free_bytes) {
    fprintf(stderr,
            "numabench-genbench: --pool %lld MiB and two batches of %lld samples for each of %lld "
            "worker(s) need %.0f MiB on node %d, which has %.0f MiB free; use a smaller --pool, --batch "
            "or --workers\n",
            pool >> 20, batch, workers, need / (1 << 20), nd->os_index, (double)nd->free_bytes / (1 << 20));
    nb_topo_free(topo);
    return 2;
  }
  float *buf = malloc(bytes);
  if (!buf) {
    fprintf(stderr, "numabench-genbench: cannot allocate %zu bytes\n", bytes);
    nb_topo_free(topo);
    return 1;
  }
  memset(buf, 0, bytes); /* first touch outside the timing */
  long reps = 0;
  double t0 = now_s(), t;
  do
    nb_gen_normal(buf, n, 1, (uint64_t)reps++);
  while ((t = now_s()) - t0 < seconds);
  double gen = (double)reps * (double)bytes / (t - t0);
  double gsamples = (double)reps * (double)n / (t - t0) / 1e9;
  long mreps = 0;
  t0 = now_s();
  do
    memset(buf, (int)(mreps++ & 0xff), bytes);
  while ((t = now_s()) - t0 < seconds);
  double ms = (double)mreps * (double)bytes / (t - t0);
  free(buf);
  double one = copies(1, seconds), two = copies(2, seconds);
  if (one < 0 || two < 0) {
    fprintf(stderr, "numabench-genbench: cannot allocate the copy buffers (4 x 64 MiB) or start a thread\n");
    nb_topo_free(topo);
    return 1;
  }
  double busy = 0, path = pipeline_path(topo, nd, &rc, (int)workers, pool_samples, seconds, &busy);
  int path_node_index = nd->os_index, path_cpus = nd->ncpus;
  nb_topo_free(topo);
  if (path < 0)
    return 1;
  printf("sample %dx%dx%d (%.1f MiB), one core, %s code\n", c, h, w, (double)bytes / (1 << 20), nb_gen_isa());
  printf("generator  %6.2f GB/s  (%.2f G samples/s)\n", gen / 1e9, gsamples);
  printf("memset     %6.2f GB/s\n", ms / 1e9);
  printf("generator / memset: %.2f\n", gen / ms);
  printf("memcpy     %6.2f GB/s  (64 MiB, one thread)\n", one / 1e9);
  printf("memcpy x2  %6.2f GB/s  (each of two threads at once, the slower; unbound)\n", two / 1e9);
  printf(
      "pipeline path  %6.2f GB/s  (direct + replay without the harness: batch %lld, %lld worker(s), pools of "
      "%zu samples (%.1f MiB), node %d; engine busy %.2f)\n",
      path / 1e9, batch, workers, pool_samples, (double)(pool_samples * bytes) / (1 << 20), path_node_index,
      busy);
  /* Its threads wait by spinning: with more of them than CPUs, the waits
   * take CPU time from the copies, which run's sleeping waits do not. */
  if (workers + 1 > path_cpus)
    printf("pipeline path: %lld worker(s) and the engine on %d CPU(s): its spinning waits take CPU from the "
           "copies, so it is no fair reference here (use at most %d worker(s))\n",
           workers, path_cpus, path_cpus > 1 ? path_cpus - 1 : 1);
  return 0;
}
