/* numabench-genbench: the sample generator's speed on one core, beside
 * memset on the same buffer, so that "is generation the bottleneck?" has a
 * number; and a memory copy alone, two copies at once (two threads, each its
 * own buffers), and a copy beside a landing read, the references
 * bench/ceiling.sh sets `run --source replay` against. A direct replay
 * pipeline with the host backend moves every byte through memory twice at
 * the same time: the worker copies it out of its pool into staging, and the
 * copy engine reads it out of staging, landing it a piece at a time in a
 * slot that stays in its cache (as a GPU's DMA reads host memory once); so
 * where one copy already takes the node's memory bandwidth, a copy beside
 * such a read is what the pipeline can reach.
 * usage: numabench-genbench [CxHxW] [seconds] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench.h>

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The host backend's landing slot (lib/src/copy.h's NB__HOST_LANDING_BYTES). */
#define LANDING ((size_t)128 << 10)

/* One copying thread: src to dst for seconds, its rate in bytes/s; with
 * land, src lands in dst's first LANDING bytes a piece at a time. */
struct copier {
  unsigned char *src, *dst;
  size_t bytes;
  double seconds, rate;
  pthread_barrier_t *start;
  int land;
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
    if (c->land)
      for (size_t off = 0; off < c->bytes; off += LANDING)
        memcpy(c->dst, c->src + off, c->bytes - off < LANDING ? c->bytes - off : LANDING);
    else
      memcpy(c->dst, c->src, c->bytes);
    reps++;
  } while ((t = now_s()) - t0 < c->seconds);
  c->rate = (double)reps * (double)c->bytes / (t - t0);
  return NULL;
}

/* n copying threads at once (64 MiB buffers each, as numabench bw), the
 * second one landing its copy (land); the first thread's rate with land, else
 * the slowest thread's; -1 when memory or threads are short. */
static double copies(int n, int land, double seconds)
{
  struct copier c[2] = {0};
  pthread_t tid[2];
  pthread_barrier_t start;
  size_t bytes = (size_t)64 << 20;
  double slowest = -1;
  int started = 0;
  pthread_barrier_init(&start, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    c[i] = (struct copier){malloc(bytes), malloc(bytes), bytes, seconds, 0, &start, land && i == 1};
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
    for (int i = 0; i < (land ? 1 : n); i++)
      if (slowest < 0 || c[i].rate < slowest)
        slowest = c[i].rate;
  for (int i = 0; i < n; i++) {
    free(c[i].src);
    free(c[i].dst);
  }
  pthread_barrier_destroy(&start);
  return started == n ? slowest : -1;
}

int main(int argc, char **argv)
{
  int c = 3, h = 1024, w = 1024;
  double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  char tail;
  if ((argc > 1 && (sscanf(argv[1], "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c <= 0 || h <= 0 || w <= 0)) ||
      seconds <= 0) {
    fprintf(stderr, "usage: numabench-genbench [CxHxW] [seconds]\n");
    return 2;
  }
  size_t n = (size_t)c * (size_t)h * (size_t)w, bytes = n * sizeof(float);
  float *buf = malloc(bytes);
  if (!buf) {
    fprintf(stderr, "numabench-genbench: cannot allocate %zu bytes\n", bytes);
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
  double one = copies(1, 0, seconds), two = copies(2, 0, seconds), beside = copies(2, 1, seconds);
  if (one < 0 || two < 0 || beside < 0) {
    fprintf(stderr, "numabench-genbench: cannot allocate the copy buffers (4 x 64 MiB) or start a thread\n");
    return 1;
  }
  printf("sample %dx%dx%d (%.1f MiB), one core, %s code\n", c, h, w, (double)bytes / (1 << 20), nb_gen_isa());
  printf("generator  %6.2f GB/s  (%.2f G samples/s)\n", gen / 1e9, gsamples);
  printf("memset     %6.2f GB/s\n", ms / 1e9);
  printf("generator / memset: %.2f\n", gen / ms);
  printf("memcpy     %6.2f GB/s  (64 MiB, one thread)\n", one / 1e9);
  printf("memcpy x2  %6.2f GB/s  (each of two threads at once, the slower; unbound)\n", two / 1e9);
  printf("memcpy + landing read  %6.2f GB/s  (a copy while another thread lands 64 MiB in 128 KiB pieces; unbound)\n",
         beside / 1e9);
  return 0;
}
