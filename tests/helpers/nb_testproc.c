/* nb_testproc: a stand-in for a training rank, for the tests of
 * `numabench audit`. It binds itself (CPU affinity and memory policy) to a
 * node, forks worker processes that inherit the binding, touches memory in
 * every process, and then spins or sleeps; or it moves another process's
 * pages to another node with migrate_pages(2), so that guests without
 * numactl's migratepages can make a rank whose pages are split.
 *
 *   nb_testproc [--bind NODE] [--workers N] [--touch MIB] [--spin]
 *               [--duty PCT] [--seconds S] [--ready FILE] [--open PATH]
 *   nb_testproc --migrate PID FROM TO
 *
 * --ready FILE is written (the parent's pid) once every process has touched
 * its memory, so a test audits a tree that is complete. --duty PCT runs
 * busy PCT% of every 50 ms and sleeps the rest: every process is still seen
 * running by an audit's 10 reads a second, at a fraction of --spin's load
 * (a slow emulated guest with a dozen ranks and workers). --open PATH keeps a
 * file (e.g. a character device made with mknod) open in every process.
 * Only libc and raw system calls: the QEMU guests have no libnuma tools.
 * Exit status: 0, 2 bad arguments, 1 a refused system call (named on
 * stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MPOL_BIND_ 2
#define MASK_WORDS 16 /* 1024 nodes */

struct args {
  int bind;       /* node, -1 none */
  int workers;    /* forked worker processes */
  long touch_mib; /* per process */
  int spin;       /* busy instead of sleeping */
  int duty;       /* percent of every 50 ms spent busy, 0 none */
  double seconds; /* lifetime */
  const char *ready;
  const char *open_path;
};

/* The workers, so that a SIGTERM to the rank ends them too (a test's
 * cleanup kills the pid it knows). */
static pid_t workers[64];
static int nworkers;

static void on_term(int sig)
{
  for (int i = 0; i < nworkers; i++)
    kill(workers[i], sig);
  _exit(0);
}

static int die(const char *what)
{
  fprintf(stderr, "nb_testproc: %s: %s\n", what, strerror(errno));
  return 1;
}

static long number(const char *s, long lo, long hi)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "nb_testproc: '%s' is not a number in %ld..%ld\n", s, lo, hi);
    exit(2);
  }
  return v;
}

/* The node's CPUs from sysfs into set; 0 or -1. */
static int node_cpus(int node, cpu_set_t *set)
{
  char path[96], text[4096];
  snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", node);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  CPU_ZERO(set);
  for (char *p = text; *p && *p != '\n';) {
    long a = strtol(p, &p, 10), b = a;
    if (*p == '-')
      b = strtol(p + 1, &p, 10);
    for (long c = a; c <= b && c < CPU_SETSIZE; c++)
      CPU_SET((int)c, set);
    if (*p == ',')
      p++;
    else
      break;
  }
  return 0;
}

static int bind_node(int node)
{
  cpu_set_t set;
  unsigned long mask[MASK_WORDS] = {0};
  /* A memoryless or memory-only node may have no CPUs: bind memory only. */
  if (node_cpus(node, &set) == 0 && CPU_COUNT(&set) > 0 && sched_setaffinity(0, sizeof set, &set) != 0)
    return die("sched_setaffinity");
  mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
  if (syscall(SYS_set_mempolicy, MPOL_BIND_, mask, (unsigned long)MASK_WORDS * 8 * sizeof(unsigned long)) !=
      0)
    return die("set_mempolicy");
  return 0;
}

static int migrate(int pid, int from, int to)
{
  unsigned long old[MASK_WORDS] = {0}, new[MASK_WORDS] = {0};
  const unsigned long bits = 8 * sizeof(unsigned long);
  old[from / bits] |= 1UL << (from % bits);
  new[to / bits] |= 1UL << (to % bits);
  long r = syscall(SYS_migrate_pages, pid, (unsigned long)MASK_WORDS * bits, old, new);
  if (r < 0)
    return die("migrate_pages");
  printf("%ld pages could not be moved\n", r);
  return 0;
}

/* Where the touched memory is kept, so that the stores are not optimised
 * away and the pages stay resident for the audit. */
static char *volatile kept;

static void touch(long mib)
{
  if (mib <= 0)
    return;
  size_t len = (size_t)mib << 20;
  volatile char *p = malloc(len);
  if (!p) {
    fprintf(stderr, "nb_testproc: out of memory touching %ld MiB\n", mib);
    exit(1);
  }
  for (size_t i = 0; i < len; i += 4096)
    p[i] = (char)i;
  kept = (char *)p;
}

static void live(const struct args *a)
{
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 >= a->seconds)
      return;
    if (a->duty > 0 && !a->spin) {
      /* Busy for duty% of the period, then asleep for the rest. */
      struct timespec b0, b;
      clock_gettime(CLOCK_MONOTONIC, &b0);
      long busy_ns = 50L * 1000 * 1000 * a->duty / 100;
      do
        clock_gettime(CLOCK_MONOTONIC, &b);
      while ((b.tv_sec - b0.tv_sec) * 1000000000L + (b.tv_nsec - b0.tv_nsec) < busy_ns);
      struct timespec nap = {0, 50L * 1000 * 1000 - busy_ns};
      nanosleep(&nap, NULL);
    } else if (!a->spin) {
      struct timespec nap = {0, 50 * 1000 * 1000};
      nanosleep(&nap, NULL);
    }
  }
}

static int parse(int argc, char **argv, struct args *a)
{
  *a = (struct args){.bind = -1, .seconds = 60};
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (i + 1 >= argc && strcmp(o, "--spin") != 0) {
      fprintf(stderr, "nb_testproc: %s needs a value\n", o);
      return 2;
    }
    if (!strcmp(o, "--bind"))
      a->bind = (int)number(argv[++i], 0, MASK_WORDS * 64 - 1);
    else if (!strcmp(o, "--workers"))
      a->workers = (int)number(argv[++i], 0, 64);
    else if (!strcmp(o, "--touch"))
      a->touch_mib = number(argv[++i], 0, 1 << 16);
    else if (!strcmp(o, "--seconds"))
      a->seconds = (double)number(argv[++i], 0, 86400);
    else if (!strcmp(o, "--duty"))
      a->duty = (int)number(argv[++i], 1, 99);
    else if (!strcmp(o, "--ready"))
      a->ready = argv[++i];
    else if (!strcmp(o, "--open"))
      a->open_path = argv[++i];
    else if (!strcmp(o, "--spin"))
      a->spin = 1;
    else {
      fprintf(stderr, "nb_testproc: unknown argument '%s'\n", o);
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 5 && !strcmp(argv[1], "--migrate"))
    return migrate((int)number(argv[2], 1, 1 << 30), (int)number(argv[3], 0, MASK_WORDS * 64 - 1),
                   (int)number(argv[4], 0, MASK_WORDS * 64 - 1));
  struct args a;
  int rc = parse(argc, argv, &a);
  if (rc)
    return rc;
  if (a.open_path && open(a.open_path, O_RDONLY | O_NONBLOCK) < 0)
    return die(a.open_path);
  if (a.bind >= 0 && (rc = bind_node(a.bind)) != 0)
    return rc;
  /* Workers report on a pipe once their memory is touched. */
  int fds[2];
  if (pipe(fds) != 0)
    return die("pipe");
  signal(SIGTERM, on_term);
  for (int w = 0; w < a.workers; w++) {
    pid_t p = fork();
    if (p < 0)
      return die("fork");
    if (p == 0) {
      signal(SIGTERM, SIG_DFL);
      close(fds[0]);
      touch(a.touch_mib);
      if (write(fds[1], "w", 1) != 1)
        _exit(1);
      close(fds[1]);
      live(&a);
      _exit(0);
    }
    workers[nworkers++] = p;
  }
  close(fds[1]);
  touch(a.touch_mib);
  char c;
  for (int w = 0; w < a.workers; w++)
    if (read(fds[0], &c, 1) != 1)
      return die("a worker died before touching its memory");
  if (a.ready) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", a.ready);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, a.ready) != 0)
      return die(a.ready);
  }
  live(&a);
  while (wait(NULL) > 0)
    ;
  return 0;
}
