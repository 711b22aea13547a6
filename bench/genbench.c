/* numabench-genbench: the sample generator's speed on one core, beside
 * memset on the same buffer, so that "is generation the bottleneck?" has a
 * number. usage: numabench-genbench [CxHxW] [seconds] */
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
  printf("sample %dx%dx%d (%.1f MiB), one core, %s code\n", c, h, w, (double)bytes / (1 << 20), nb_gen_isa());
  printf("generator  %6.2f GB/s  (%.2f G samples/s)\n", gen / 1e9, gsamples);
  printf("memset     %6.2f GB/s\n", ms / 1e9);
  printf("generator / memset: %.2f\n", gen / ms);
  free(buf);
  return 0;
}
