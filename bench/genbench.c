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
#include "parse.h"

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

#define USAGE                                                                                                \
  "usage: numabench-genbench [CxHxW] [seconds] [--batch N] [--pool BYTES] [--workers N] [--node N]\n"

struct args {
  struct nb_shape shape;
  double seconds;
  long batch, workers, node; /* node -1: the first with CPUs and memory */
  size_t pool;
};

/* The command line into a, with the project's parsers (parse.h): -1 to go
 * on, else the exit code (0 --help, 2 bad input, its line printed). */
static int parse_args(int argc, char **argv, struct args *a)
{
  *a = (struct args){{3, 1024, 1024}, 1.0, 32, 1, -1, (size_t)256 << 20};
  int npos = 0;
  nb_error_t e = {0};
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      printf(USAGE);
      return 0;
    } else if (v && !strcmp(o, "--batch")) {
      if (nb__parse_long(argv[++i], 1, 65536, &a->batch))
        return fprintf(stderr, "numabench-genbench: --batch %s: use a whole number from 1 to 65536\n", v), 2;
    } else if (v && !strcmp(o, "--workers")) {
      if (nb__parse_long(argv[++i], 1, 1024, &a->workers))
        return fprintf(stderr, "numabench-genbench: --workers %s: use a whole number from 1 to 1024\n", v), 2;
    } else if (v && !strcmp(o, "--node")) {
      if (nb__parse_long(argv[++i], 0, 1 << 20, &a->node))
        return fprintf(stderr, "numabench-genbench: --node %s: use a node number (numabench topo)\n", v), 2;
    } else if (v && !strcmp(o, "--pool")) {
      if (nb__parse_size(argv[++i], &a->pool, &e) < 0)
        return fprintf(stderr, "numabench-genbench: --pool %s: %s\n", v, e.msg), 2;
    } else if (o[0] == '-' || npos == 2) {
      return fprintf(stderr, USAGE), 2;
    } else if (npos++ == 0) {
      if (nb__parse_shape(o, &a->shape, &e) < 0)
        return fprintf(stderr, "numabench-genbench: %s: %s\n" USAGE, o, e.msg), 2;
    } else if (a->seconds = atof(o), !(a->seconds > 0 && a->seconds <= 3600)) { /* NaN too */
      return fprintf(stderr, USAGE), 2;
    }
  }
  return -1;
}

/* The generator on one core beside memset, on one sample of n floats for
 * seconds each: bytes/s of each, and samples' values/s; -1 when the sample
 * cannot be allocated. */
static int gen_beside_memset(size_t n, double seconds, double *gen, double *values, double *ms)
{
  size_t bytes = n * sizeof(float);
  float *buf = malloc(bytes);
  if (!buf)
    return -1;
  memset(buf, 0, bytes); /* first touch outside the timing */
  long reps = 0;
  double t0 = now_s(), t;
  do
    nb_gen_normal(buf, n, 1, (uint64_t)reps++);
  while ((t = now_s()) - t0 < seconds);
  *gen = (double)reps * (double)bytes / (t - t0);
  *values = (double)reps * (double)n / (t - t0);
  long mreps = 0;
  t0 = now_s();
  do
    memset(buf, (int)(mreps++ & 0xff), bytes);
  while ((t = now_s()) - t0 < seconds);
  *ms = (double)mreps * (double)bytes / (t - t0);
  free(buf);
  return 0;
}

/* The path's node, and room on it for a pool (as run sizes one: a prime
 * number of samples, more than two batches) and two staging batches per
 * worker: NULL with the line printed when --node names no such node or the
 * buffers would not fit. */
static const struct nb_node *path_setup(nb_topo_t topo, const struct args *a, struct nb_run_config *rc,
                                        size_t *pool_samples)
{
  const struct nb_node *nd = path_node(topo, (int)a->node);
  if (!nd) {
    if (a->node >= 0)
      fprintf(stderr,
              "numabench-genbench: --node %ld: that node has no CPUs this process may use or no memory "
              "in its memory set; use one that numabench topo lists with both\n",
              a->node);
    else
      fprintf(stderr,
              "numabench-genbench: no node has both CPUs this process may use and memory in its memory "
              "set; name one with --node\n");
    return NULL;
  }
  *rc = (struct nb_run_config){.channels = a->shape.c,
                               .height = a->shape.h,
                               .width = a->shape.w,
                               .batch = (int)a->batch,
                               .source = NB_SOURCE_REPLAY,
                               .pool_bytes = a->pool};
  *pool_samples = nb_run_pool_samples(rc);
  double need =
      (double)a->workers * ((double)*pool_samples + 2.0 * (double)a->batch) * (double)nb_run_sample_bytes(rc);
  if (nd->free_bytes >= 0 && need > 0.9 * (double)nd->free_bytes) {
    fprintf(stderr,
            "numabench-genbench: --pool %zu MiB and two batches of %ld samples for each of %ld "
            "worker(s) need %.0f MiB on node %d, which has %.0f MiB free; use a smaller --pool, --batch "
            "or --workers\n",
            a->pool >> 20, a->batch, a->workers, need / (1 << 20), nd->os_index,
            (double)nd->free_bytes / (1 << 20));
    return NULL;
  }
  return nd;
}

int main(int argc, char **argv)
{
  struct args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0)
    return rc;
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  struct nb_topo_config tc = {.no_cuda = true};
  if (nb_topo_load(&topo, &tc, &err) < 0) {
    fprintf(stderr, "numabench-genbench: %s\n", err.msg);
    return 1;
  }
  struct nb_run_config cfg;
  size_t pool_samples = 0;
  const struct nb_node *nd = path_setup(topo, &a, &cfg, &pool_samples);
  if (!nd) {
    nb_topo_free(topo);
    return 2;
  }
  int c = a.shape.c, h = a.shape.h, w = a.shape.w;
  size_t n = (size_t)c * (size_t)h * (size_t)w, bytes = n * sizeof(float);
  double gen, values, ms;
  if (gen_beside_memset(n, a.seconds, &gen, &values, &ms) < 0) {
    fprintf(stderr, "numabench-genbench: cannot allocate %zu bytes\n", bytes);
    nb_topo_free(topo);
    return 1;
  }
  double one = copies(1, a.seconds), two = copies(2, a.seconds);
  if (one < 0 || two < 0) {
    fprintf(stderr, "numabench-genbench: cannot allocate the copy buffers (4 x 64 MiB) or start a thread\n");
    nb_topo_free(topo);
    return 1;
  }
  double busy = 0, path = pipeline_path(topo, nd, &cfg, (int)a.workers, pool_samples, a.seconds, &busy);
  int path_node_index = nd->os_index, path_cpus = nd->ncpus;
  nb_topo_free(topo);
  if (path < 0)
    return 1;
  printf("sample %dx%dx%d (%.1f MiB), one core, %s code\n", c, h, w, (double)bytes / (1 << 20), nb_gen_isa());
  printf("generator  %6.2f GB/s  (%.2f G samples/s)\n", gen / 1e9, values / 1e9);
  printf("memset     %6.2f GB/s\n", ms / 1e9);
  printf("generator / memset: %.2f\n", gen / ms);
  printf("memcpy     %6.2f GB/s  (64 MiB, one thread)\n", one / 1e9);
  printf("memcpy x2  %6.2f GB/s  (each of two threads at once, the slower; unbound)\n", two / 1e9);
  printf(
      "pipeline path  %6.2f GB/s  (direct + replay without the harness: batch %ld, %ld worker(s), pools of "
      "%zu samples (%.1f MiB), node %d; engine busy %.2f)\n",
      path / 1e9, a.batch, a.workers, pool_samples, (double)(pool_samples * bytes) / (1 << 20),
      path_node_index, busy);
  /* Its threads wait by spinning: with more of them than CPUs, the waits
   * take CPU time from the copies, which run's sleeping waits do not. */
  if (a.workers + 1 > path_cpus)
    printf("pipeline path: %ld worker(s) and the engine on %d CPU(s): its spinning waits take CPU from the "
           "copies, so it is no fair reference here (use at most %d worker(s))\n",
           a.workers, path_cpus, path_cpus > 1 ? path_cpus - 1 : 1);
  return 0;
}
