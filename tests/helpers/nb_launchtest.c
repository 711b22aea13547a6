/* nb_launchtest: a stand-in for one rank of a training job, for the tests of
 * numabench launch. It prints the launcher's environment, forks "dataloader
 * worker" children that allocate and touch memory and burn CPU, prints a
 * throughput line, and can misbehave on purpose: fail, hang, ignore SIGTERM,
 * or leave its workers behind.
 *
 *   nb_launchtest [--workers N] [--mb M] [--seconds S] [--rate X]
 *                 [--fail-rank R --exit C] [--hang-rank R] [--ignore-term]
 *                 [--orphan] [--no-metric-rank R] [--stray-cpus LO-HI]
 *
 * Lines: "env LOCAL_RANK=... RANK=... WORLD_SIZE=... LOCAL_WORLD_SIZE=...
 * MASTER_ADDR=... MASTER_PORT=... CUDA_DEVICE_ORDER=...", "pids RANKPID
 * WORKER...", then "average throughput: V samples/s" with V = X * (1 +
 * LOCAL_RANK) (so that the slowest rank is rank 0). --stray-cpus moves every
 * worker to CPUs LO-HI by itself (sched_setaffinity), as a library that
 * resets affinity in its workers would: the launcher must notice.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Allocate and touch mb MiB, then work until killed or seconds pass. */
static void work(long mb, double seconds)
{
  size_t len = (size_t)mb << 20;
  char *p = len ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : NULL;
  double end = now() + seconds;
  volatile unsigned long sink = 0;
  while (now() < end) {
    for (size_t i = 0; p && p != MAP_FAILED && i < len; i += 4096)
      p[i]++;
    for (int i = 0; i < 2000000; i++)
      sink += (unsigned long)i;
    usleep(20000);
  }
}

static const char *env(const char *name)
{
  const char *v = getenv(name);
  return v ? v : "(unset)";
}

int main(int argc, char **argv)
{
  int stray_lo = -1, stray_hi = -1;
  int workers = 2, fail_rank = -1, code = 3, hang_rank = -1, ignore_term = 0, orphan = 0, nometric = -1;
  long mb = 8;
  double seconds = 1.0, rate = 100.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
    if (!strcmp(a, "--workers"))
      workers = atoi(v), i++;
    else if (!strcmp(a, "--mb"))
      mb = atol(v), i++;
    else if (!strcmp(a, "--seconds"))
      seconds = atof(v), i++;
    else if (!strcmp(a, "--rate"))
      rate = atof(v), i++;
    else if (!strcmp(a, "--fail-rank"))
      fail_rank = atoi(v), i++;
    else if (!strcmp(a, "--exit"))
      code = atoi(v), i++;
    else if (!strcmp(a, "--hang-rank"))
      hang_rank = atoi(v), i++;
    else if (!strcmp(a, "--no-metric-rank"))
      nometric = atoi(v), i++;
    else if (!strcmp(a, "--stray-cpus") && sscanf(v, "%d-%d", &stray_lo, &stray_hi) == 2)
      i++;
    else if (!strcmp(a, "--ignore-term"))
      ignore_term = 1;
    else if (!strcmp(a, "--orphan"))
      orphan = 1;
    else {
      fprintf(stderr, "nb_launchtest: unknown argument %s\n", a);
      return 2;
    }
  }
  int rank = atoi(env("LOCAL_RANK"));
  printf("env LOCAL_RANK=%s RANK=%s WORLD_SIZE=%s LOCAL_WORLD_SIZE=%s MASTER_ADDR=%s MASTER_PORT=%s "
         "CUDA_DEVICE_ORDER=%s\n",
         env("LOCAL_RANK"), env("RANK"), env("WORLD_SIZE"), env("LOCAL_WORLD_SIZE"), env("MASTER_ADDR"),
         env("MASTER_PORT"), env("CUDA_DEVICE_ORDER"));
  if (ignore_term)
    signal(SIGTERM, SIG_IGN);
  pid_t kids[64];
  int n = workers < 64 ? workers : 64;
  for (int w = 0; w < n; w++) {
    kids[w] = fork();
    if (kids[w] == 0) {
      if (stray_lo >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c = stray_lo; c <= stray_hi && c < CPU_SETSIZE; c++)
          CPU_SET(c, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
          perror("nb_launchtest: --stray-cpus");
      }
      /* A worker outlives the test run when told to hang or be orphaned. */
      work(mb, rank == hang_rank || orphan ? 3600 : seconds + 5);
      _exit(0);
    }
  }
  printf("pids %d", (int)getpid());
  for (int w = 0; w < n; w++)
    printf(" %d", (int)kids[w]);
  printf("\n");
  fflush(stdout);
  work(mb, seconds);
  if (rank == hang_rank)
    for (;;)
      pause();
  if (rank != nometric)
    printf("step 1\naverage throughput: %.3f samples/s\n", rate * (1 + rank));
  fflush(stdout);
  if (rank == fail_rank) {
    fprintf(stderr, "rank %d failing on purpose with %d\n", rank, code);
    return code;
  }
  if (orphan)
    return 0;
  for (int w = 0; w < n; w++) {
    kill(kids[w], SIGKILL);
    waitpid(kids[w], NULL, 0);
  }
  return 0;
}
