/* numabench: launch's view of each rank's process tree, and the adversarial
 * placement of its descendants: what one process cannot express with
 * inherited policy (the rank on the remote node, its dataloader workers on
 * the GPU's), the launcher does from outside, thread by thread. */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch-internal.h"
#include "nb-internal.h"

/* The parent of pid from /proc/PID/stat (after the command name, which may
 * hold spaces and parentheses); -1 when it is gone. */
static int parent_of(int pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  int ppid;
  if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
    return -1;
  return ppid;
}

int nb__launch_descendants(int root, int *out, int max)
{
  DIR *d = opendir("/proc");
  if (!d)
    return 0;
  int cap = 4096, n = 0;
  int(*pp)[2] = malloc((size_t)cap * sizeof *pp);
  struct dirent *e;
  while (pp && (e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    int ppid = parent_of((int)pid);
    if (ppid <= 0)
      continue;
    if (n == cap) {
      int(*more)[2] = realloc(pp, (size_t)cap * 2 * sizeof *pp);
      if (!more)
        break;
      pp = more;
      cap *= 2;
    }
    pp[n][0] = (int)pid;
    pp[n][1] = ppid;
    n++;
  }
  closedir(d);
  /* Breadth first from root: out[] is both the result and the queue. */
  int k = 0;
  for (int head = -1; pp && head < k; head++) {
    int parent = head < 0 ? root : out[head];
    for (int i = 0; i < n && k < max; i++)
      if (pp[i][1] == parent)
        out[k++] = pp[i][0];
  }
  free(pp);
  return k;
}

/* Whether tid's affinity is exactly cpus[0..n). */
static bool has_cpus(int tid, const cpu_set_t *want, size_t size)
{
  cpu_set_t *now = CPU_ALLOC(NB_MAX_CPU_INDEX + 1);
  bool same = now && sched_getaffinity(tid, size, now) == 0 && CPU_EQUAL_S(size, now, want);
  CPU_FREE(now);
  return same;
}

/* Move pid's pages from every other node up to max_node to node (a node
 * beyond the kernel's node count in the mask is EINVAL). */
static void move_pages_of(int pid, int node, int max_node, struct nb_launch_moves *m)
{
  unsigned long from[(NB_MAX_NODE_INDEX + 1) / (8 * sizeof(unsigned long))] = {0};
  unsigned long to[sizeof from / sizeof from[0]] = {0};
  const unsigned long bits = 8 * sizeof(unsigned long);
  for (unsigned long i = 0; i <= (unsigned long)max_node && i < sizeof from * 8; i++)
    if ((int)i != node)
      from[i / bits] |= 1UL << (i % bits);
  to[(unsigned long)node / bits] |= 1UL << ((unsigned long)node % bits);
  long left = syscall(SYS_migrate_pages, pid, (unsigned long)max_node + 2, from, to);
  if (left < 0) {
    m->pages_errno = errno;
    return;
  }
  m->pages_calls++;
  m->pages_left += left;
}

/* Page moves take their time (a process that keeps touching its pages
 * makes migrate_pages retry): they run in a thread of their own, so that the
 * supervisor keeps reading output, reaping and timing while they do. */
static void *migrator(void *arg)
{
  struct nb__migrator *g = arg;
  pthread_mutex_lock(&g->mu);
  for (;;) {
    while (!g->stop && g->head == g->n)
      pthread_cond_wait(&g->cv, &g->mu);
    if (g->stop)
      break;
    struct nb__migration job = g->q[g->head++ % NB__MIGRATE_QUEUE];
    pthread_mutex_unlock(&g->mu);
    struct nb_launch_moves got = {0};
    move_pages_of(job.pid, job.node, job.max_node, &got);
    pthread_mutex_lock(&g->mu);
    job.m->pages_calls += got.pages_calls;
    job.m->pages_left += got.pages_left;
    if (got.pages_errno)
      job.m->pages_errno = got.pages_errno;
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

int nb__migrator_start(struct nb__migrator *g)
{
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->started = pthread_create(&g->thread, NULL, migrator, g) == 0;
  return g->started ? 0 : -1;
}

void nb__migrator_stop(struct nb__migrator *g)
{
  pthread_mutex_lock(&g->mu);
  g->stop = true;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
  if (g->started)
    pthread_join(g->thread, NULL);
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

/* Queue a page move; a full queue drops it (counted as not moved). */
static void migrate_later(struct nb__migrator *g, int pid, int node, int max_node, struct nb_launch_moves *m)
{
  pthread_mutex_lock(&g->mu);
  if (g->started && g->n - g->head < NB__MIGRATE_QUEUE) {
    g->q[g->n++ % NB__MIGRATE_QUEUE] = (struct nb__migration){pid, node, max_node, m};
    pthread_cond_signal(&g->cv);
  } else {
    m->pages_errno = g->started ? EAGAIN : ENOSYS;
  }
  pthread_mutex_unlock(&g->mu);
}

void nb__launch_move(struct nb__migrator *g, int pid, const int *cpus, int n, int node, int max_node,
                     bool first, struct nb_launch_moves *m)
{
  size_t size = CPU_ALLOC_SIZE(NB_MAX_CPU_INDEX + 1);
  cpu_set_t *want = CPU_ALLOC(NB_MAX_CPU_INDEX + 1);
  if (!want)
    return;
  CPU_ZERO_S(size, want);
  for (int i = 0; i < n; i++)
    CPU_SET_S((size_t)cpus[i], size, want);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *d = opendir(path);
  struct dirent *e;
  if (d && first)
    m->procs++;
  /* Every thread, each tick: threads started since the last one are new. */
  while (d && (e = readdir(d))) {
    char *end;
    long tid = strtol(e->d_name, &end, 10);
    if (*end || tid <= 0 || has_cpus((int)tid, want, size))
      continue;
    if (sched_setaffinity((int)tid, size, want) == 0) {
      m->threads++;
    } else if (errno != ESRCH) {
      m->thread_errors++;
      m->thread_errno = errno;
    }
  }
  if (d)
    closedir(d);
  CPU_FREE(want);
  if (d && first)
    migrate_later(g, pid, node, max_node, m);
}
