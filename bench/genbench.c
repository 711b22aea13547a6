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
 * usage: numabench-genbench [CxHxW] [seconds] [--batch N] [--pool BYTES] [--node N] */
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

/* Batches each run untimed before the timing starts, and the fewest timed. */
#define PATH_WARMUP 4
#define PATH_MIN_BATCHES 8

struct path {
  nb_topo_t topo;
  const struct nb_node *nd;
  size_t sample, batch, pool_samples; /* bytes per sample, samples per batch, samples in the pool */
  double seconds;
  struct nb_buf pool, staging[2], slots;
  atomic_long filled, landed; /* batches the worker has filled, the engine has landed */
  atomic_int stop, failed;
  pthread_barrier_t ready;  /* both threads bound and their buffers allocated */
  long timed;               /* batches landed in the timing */
  double elapsed, busy;     /* the timing's length; the engine's time landing in it */
  nb_error_t err;
};

/* Bind the calling thread to the node's CPUs and its memory, as run binds a
 * bound worker. */
static int path_bind(struct path *p)
{
  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, p->nd->ncpus, p->nd->cpus, p->nd->os_index, NB_MEM_BIND,
                              p->nd->os_index};
  struct nb_bind_status st;
  return nb_bind_self(p->topo, &tp, NULL, 0, &st, &p->err);
}

static int path_alloc(struct path *p, struct nb_buf *b, size_t len)
{
  struct nb_buf_plan bp = {NB_MEM_BIND, p->nd->os_index};
  return nb_buf_alloc(p->topo, b, len, &bp, NULL, 0, &p->err);
}

/* Until *counter reaches at least want, or the other thread stops: 0, or -1
 * when stopped. */
static int path_wait(struct path *p, atomic_long *counter, long want)
{
  while (atomic_load_explicit(counter, memory_order_acquire) < want) {
    if (atomic_load(&p->stop))
      return -1;
    sched_yield();
  }
  return 0;
}

/* The worker: its pool (first touched by it, as run's worker makes its
 * pool), then batch after batch into the staging slot the engine has
 * landed, sample by sample out of the pool as run's direct worker copies. */
static void *path_worker(void *arg)
{
  struct path *p = arg;
  int rc = path_bind(p);
  if (rc == 0)
    rc = path_alloc(p, &p->pool, p->pool_samples * p->sample);
  for (int k = 0; rc == 0 && k < 2; k++)
    rc = path_alloc(p, &p->staging[k], p->batch * p->sample);
  if (rc < 0)
    atomic_store(&p->failed, 1);
  pthread_barrier_wait(&p->ready);
  if (rc < 0 || atomic_load(&p->failed))
    return NULL;
  for (long b = 0; path_wait(p, &p->landed, b - 1) == 0; b++) {
    unsigned char *dst = p->staging[b % 2].addr;
    const unsigned char *pool = p->pool.addr;
    for (size_t i = 0; i < p->batch; i++) {
      size_t k = ((size_t)b * p->batch + i) % p->pool_samples;
      nb__copy_stream(dst + i * p->sample, pool + k * p->sample, p->sample);
    }
    atomic_store_explicit(&p->filled, b + 1, memory_order_release);
  }
  return NULL;
}

/* The copy engine: each filled staging slot lands a piece at a time in one
 * of two small slots, as the host backend's copy does. */
static void *path_engine(void *arg)
{
  struct path *p = arg;
  size_t bytes = p->batch * p->sample, piece = bytes < NB__HOST_LANDING_BYTES ? bytes : NB__HOST_LANDING_BYTES;
  int rc = path_bind(p);
  if (rc == 0)
    rc = path_alloc(p, &p->slots, 2 * piece);
  if (rc < 0)
    atomic_store(&p->failed, 1);
  pthread_barrier_wait(&p->ready);
  if (rc < 0 || atomic_load(&p->failed))
    return NULL;
  double t0 = 0;
  for (long b = 0; path_wait(p, &p->filled, b + 1) == 0; b++) {
    const unsigned char *src = p->staging[b % 2].addr;
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
 * it has no CPUs or no memory this process may use. */
static const struct nb_node *path_node(nb_topo_t topo, int node)
{
  for (int k = 0; k < nb_topo_nnodes(topo); k++) {
    const struct nb_node *nd = nb_topo_node(topo, k);
    if ((node < 0 || nd->os_index == node) && nd->ncpus && nd->memory_bytes && nd->allowed)
      return nd;
  }
  return NULL;
}

/* The data path on node nd for seconds: its GB/s, and how busy the engine
 * was; -1 with a message when it could not run. */
static double pipeline_path(nb_topo_t topo, const struct nb_node *nd, size_t sample, size_t batch,
                            size_t pool_bytes, double seconds, double *busy)
{
  struct path *p = calloc(1, sizeof *p);
  if (!p) {
    fprintf(stderr, "numabench-genbench: out of memory\n");
    return -1;
  }
  p->topo = topo;
  p->nd = nd;
  p->sample = sample;
  p->batch = batch;
  p->seconds = seconds;
  /* At least two batches and one sample more than them, as run's pool, so
   * that a batch is never in the cache from the one before. */
  p->pool_samples = pool_bytes / sample;
  if (p->pool_samples < 2 * batch + 1)
    p->pool_samples = 2 * batch + 1;
  pthread_barrier_init(&p->ready, NULL, 2);
  pthread_t w, e;
  double rate = -1;
  int ew = pthread_create(&w, NULL, path_worker, p);
  int ee = ew ? ew : pthread_create(&e, NULL, path_engine, p);
  if (ew || ee) {
    /* The barrier would never open: the thread started, if any, is left to
     * the process's exit. */
    fprintf(stderr, "numabench-genbench: starting a thread: %s\n", strerror(ew ? ew : ee));
    return -1;
  }
  pthread_join(w, NULL);
  pthread_join(e, NULL);
  if (atomic_load(&p->failed))
    fprintf(stderr, "numabench-genbench: the pipeline path: %s\n", p->err.msg);
  else if (p->elapsed > 0) {
    rate = (double)p->timed * (double)(batch * sample) / p->elapsed;
    *busy = p->busy / p->elapsed;
  }
  nb_buf_free(&p->pool);
  nb_buf_free(&p->staging[0]);
  nb_buf_free(&p->staging[1]);
  nb_buf_free(&p->slots);
  pthread_barrier_destroy(&p->ready);
  free(p);
  return rate;
}

static int usage(void)
{
  fprintf(stderr, "usage: numabench-genbench [CxHxW] [seconds] [--batch N] [--pool BYTES] [--node N]\n");
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
  long long batch = 32, pool = 256LL << 20;
  double seconds = 1.0;
  char tail;
  for (int a = 1; a < argc; a++) {
    if (a + 1 < argc && !strcmp(argv[a], "--batch")) {
      if ((batch = number(argv[++a], 0)) < 1 || batch > 65536)
        return fprintf(stderr, "numabench-genbench: --batch %s: use a whole number from 1 to 65536\n", argv[a]), 2;
    } else if (a + 1 < argc && !strcmp(argv[a], "--pool")) {
      if ((pool = number(argv[++a], 1)) < 1)
        return fprintf(stderr, "numabench-genbench: --pool %s: use a size in bytes, e.g. 256M\n", argv[a]), 2;
    } else if (a + 1 < argc && !strcmp(argv[a], "--node")) {
      long long v = number(argv[++a], 0);
      if (v < 0 || v > 1 << 20)
        return fprintf(stderr, "numabench-genbench: --node %s: use a node number (numabench topo)\n", argv[a]), 2;
      node = (int)v;
    } else if (argv[a][0] == '-' || npos == 2) {
      return usage();
    } else if (npos++ == 0) {
      if (sscanf(argv[a], "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c <= 0 || h <= 0 || w <= 0 ||
          (double)c * h * w > (double)(1 << 28))
        return usage();
    } else if ((seconds = atof(argv[a])) <= 0 || seconds > 3600) {
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
    fprintf(stderr, "numabench-genbench: --node %d: no node with that number has CPUs and memory this process "
                    "may use; use one that numabench topo lists with both\n", node);
    nb_topo_free(topo);
    return 2;
  }
  size_t n = (size_t)c * (size_t)h * (size_t)w, bytes = n * sizeof(float);
  /* The path's pool and two staging batches, on the node at once. */
  double need = (double)pool + 2.0 * (double)batch * (double)bytes;
  if (nd->free_bytes >= 0 && need > 0.9 * (double)nd->free_bytes) {
    fprintf(stderr, "numabench-genbench: --pool %lld MiB and two batches of %lld samples need %.0f MiB on node %d, "
                    "which has %.0f MiB free; use a smaller --pool or --batch\n",
            pool >> 20, batch, need / (1 << 20), nd->os_index, (double)nd->free_bytes / (1 << 20));
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
  double busy = 0, path = pipeline_path(topo, nd, bytes, (size_t)batch, (size_t)pool, seconds, &busy);
  nb_topo_free(topo);
  if (path < 0)
    return 1;
  printf("sample %dx%dx%d (%.1f MiB), one core, %s code\n", c, h, w, (double)bytes / (1 << 20), nb_gen_isa());
  printf("generator  %6.2f GB/s  (%.2f G samples/s)\n", gen / 1e9, gsamples);
  printf("memset     %6.2f GB/s\n", ms / 1e9);
  printf("generator / memset: %.2f\n", gen / ms);
  printf("memcpy     %6.2f GB/s  (64 MiB, one thread)\n", one / 1e9);
  printf("memcpy x2  %6.2f GB/s  (each of two threads at once, the slower; unbound)\n", two / 1e9);
  printf("pipeline path  %6.2f GB/s  (direct + replay without the harness: batch %lld, pool %lld MiB, node's CPUs; "
         "engine busy %.2f)\n",
         path / 1e9, batch, pool >> 20, busy);
  return 0;
}
