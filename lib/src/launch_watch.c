/* numabench: launch's view of each rank's process tree, and the adversarial
 * placement of its descendants: what one process cannot express with
 * inherited policy (the rank on the remote node, its dataloader workers on
 * the GPU's), the launcher does from outside, thread by thread. */
#include <pthread.h>
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch-internal.h"
#include "nb-internal.h"
#include "procfs.h"

int nb__launch_descendants(int root, int *out, int max)
{
  /* One read of every process's parent (the audit's /proc readers). */
  int *pids, n = nb__proc_ids(0, &pids);
  int *ppid = n > 0 ? malloc((size_t)n * sizeof *ppid) : NULL;
  for (int i = 0; ppid && i < n; i++) {
    struct nb__tstat t;
    ppid[i] = nb__tstat_read(pids[i], 0, &t) == 0 ? t.ppid : -1;
  }
  /* Breadth first from root: out[] is both the result and the queue. */
  int k = 0;
  for (int head = -1; ppid && head < k; head++) {
    int parent = head < 0 ? root : out[head];
    for (int i = 0; i < n && k < max; i++)
      if (ppid[i] == parent)
        out[k++] = pids[i];
  }
  free(ppid);
  if (n > 0)
    free(pids);
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

/* migrate_pages moves the pages a worker shares with its rank (the
 * copy-on-write pages of the fork: the rank's own heap) too when the caller
 * has CAP_SYS_NICE, as root does: the rank's memory would follow its
 * workers to the GPU's node, which is not the adversarial plan (seen in a
 * 2-node guest: a torch rank's pages 96% on its workers' node). Capabilities
 * are per thread: the migrator thread gives up its effective CAP_SYS_NICE,
 * so that only the pages each worker holds alone move, as for a user
 * without it. */
static void drop_sys_nice(void)
{
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &h, d) != 0)
    return;
  d[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
  if (syscall(SYS_capset, &h, d) != 0)
    return;
}

/* Page moves take their time (a process that keeps touching its pages
 * makes migrate_pages retry): they run in a thread of their own, so that the
 * supervisor keeps reading output, reaping and timing while they do. */
static void *migrator(void *arg)
{
  struct nb__migrator *g = arg;
  drop_sys_nice();
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
  int *tids, nt = nb__proc_ids(pid, &tids);
  if (nt >= 0 && first)
    m->procs++;
  /* Every thread, each tick: threads started since the last one are new. */
  for (int i = 0; i < nt; i++) {
    int tid = tids[i];
    if (has_cpus(tid, want, size))
      continue;
    if (sched_setaffinity(tid, size, want) == 0) {
      m->threads++;
    } else if (errno != ESRCH) {
      m->thread_errors++;
      m->thread_errno = errno;
    }
  }
  if (nt > 0)
    free(tids);
  CPU_FREE(want);
  if (nt >= 0 && first)
    migrate_later(g, pid, node, max_node, m);
}
