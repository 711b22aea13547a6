/* numabench: launch's view of each rank's process tree, and the adversarial
 * placement of its descendants: what one process cannot express with
 * inherited policy (the rank on the remote node, its dataloader workers on
 * the GPU's), the launcher does from outside, thread by thread. */
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <numaif.h>
#include <stdbool.h>
#include <stdint.h>
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

/* move_pages(2) of the pages asked: counted, and the call's errno kept. */
static void move_batch(int pid, int node, void **pages, int *nodes, int *status, int k, struct nb_launch_moves *m)
{
  for (int i = 0; i < k; i++)
    nodes[i] = node;
  if (move_pages(pid, (unsigned long)k, pages, nodes, status, MPOL_MF_MOVE) < 0) {
    m->pages_errno = errno;
    m->pages_left += k;
    return;
  }
  m->pages_calls++;
  for (int i = 0; i < k; i++)
    m->pages_left += status[i] != node;
}

#define PM_PRESENT (1ULL << 63)
#define PM_EXCLUSIVE (1ULL << 56)
#define MOVE_BATCH 1024

/* The transparent huge page size (the PMD's), 2 MiB where sysfs does not
 * say. */
static unsigned long huge_size(void)
{
  unsigned long v = 0;
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
  if (f) {
    if (fscanf(f, "%lu", &v) != 1)
      v = 0;
    fclose(f);
  }
  return v ? v : 2UL << 20;
}

/* Move pid's own pages to node: the present pages of its private writable
 * areas that only it maps (pagemap's exclusive bit), one move_pages(2) call
 * per 1024. Not migrate_pages(2): Linux 6.1 (and kernels that judge a
 * huge page by its head page's map count) moves a whole transparent huge
 * page that a forked worker maps a part of, when the head page is mapped by
 * the worker alone, although its rank still maps the rest, and the rank's
 * memory follows its workers (seen in a 2-node guest on 6.1: 1.2 to 2.2% of
 * a torch rank's private pages in a third of the runs, with one THP
 * migrated). move_pages(2) too moves the whole huge page of a page asked.
 * So in an area that may hold huge pages (smaps' THPeligible or
 * AnonHugePages), a page is asked only when the aligned huge-page-sized
 * block around it lies in the area and every page of it is present and the
 * worker's alone: a huge page there cannot be mapped by anyone else. The
 * worker's pages in other blocks are left alone and counted. */
static void move_pages_of(int pid, int node, unsigned long huge, struct nb_launch_moves *m)
{
  struct nb__area *a;
  int na = nb__proc_private_areas(pid, &a);
  if (na < 0) {
    if (na != -ENOENT && na != -ESRCH)
      m->pages_errno = -na;
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  long psz = sysconf(_SC_PAGESIZE);
  void **pages = malloc(MOVE_BATCH * sizeof *pages);
  int *nodes = malloc(MOVE_BATCH * sizeof *nodes), *status = malloc(MOVE_BATCH * sizeof *status);
  uint64_t *ent = malloc(MOVE_BATCH * sizeof *ent);
  if (fd < 0 || psz <= 0 || huge % (unsigned long)psz || huge / (unsigned long)psz > MOVE_BATCH || !pages ||
      !nodes || !status || !ent) {
    m->pages_errno = fd < 0 ? errno : psz <= 0 || huge % (unsigned long)psz ? EINVAL : ENOMEM;
    goto out;
  }
  int k = 0;
  for (int i = 0; i < na; i++) {
    /* Block by block, each at most one aligned huge page. */
    for (unsigned long p = a[i].start, next; p < a[i].end; p = next) {
      next = (p / huge + 1) * huge;
      next = next < a[i].end ? next : a[i].end;
      size_t want = (next - p) / (unsigned long)psz;
      ssize_t got = pread(fd, ent, want * sizeof *ent, (off_t)(p / (unsigned long)psz * sizeof *ent));
      if (got != (ssize_t)(want * sizeof *ent))
        break;
      bool whole = !a[i].thp || (p % huge == 0 && next - p == huge);
      for (size_t j = 0; whole && a[i].thp && j < want; j++)
        whole = (ent[j] & PM_PRESENT) && (ent[j] & PM_EXCLUSIVE);
      for (size_t j = 0; j < want; j++) {
        if (!(ent[j] & PM_PRESENT) || !(ent[j] & PM_EXCLUSIVE))
          continue;
        if (!whole) {
          m->pages_skipped++;
          continue;
        }
        pages[k++] = (void *)(p + j * (unsigned long)psz);
        m->pages_asked++;
        if (k == MOVE_BATCH) {
          move_batch(pid, node, pages, nodes, status, k, m);
          k = 0;
        }
      }
    }
  }
  if (k)
    move_batch(pid, node, pages, nodes, status, k, m);
out:
  if (fd >= 0)
    close(fd);
  free(pages);
  free(nodes);
  free(status);
  free(ent);
  free(a);
}

/* move_pages moves the pages a worker shares with its rank (the
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
    /* A child that still shares its rank's memory (vfork, before its exec)
     * has the rank's pages: they are not the child's to move. */
    if (syscall(SYS_kcmp, job.pid, job.rank, KCMP_VM, 0, 0) != 0)
      move_pages_of(job.pid, job.node, g->huge, &got);
    pthread_mutex_lock(&g->mu);
    job.m->pages_calls += got.pages_calls;
    job.m->pages_asked += got.pages_asked;
    job.m->pages_left += got.pages_left;
    job.m->pages_skipped += got.pages_skipped;
    if (got.pages_errno)
      job.m->pages_errno = got.pages_errno;
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

int nb__migrator_start(struct nb__migrator *g)
{
  memset(g, 0, sizeof *g);
  g->huge = huge_size();
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
static void migrate_later(struct nb__migrator *g, int pid, int rank, int node, struct nb_launch_moves *m)
{
  pthread_mutex_lock(&g->mu);
  if (g->started && g->n - g->head < NB__MIGRATE_QUEUE) {
    g->q[g->n++ % NB__MIGRATE_QUEUE] = (struct nb__migration){pid, rank, node, m};
    pthread_cond_signal(&g->cv);
  } else {
    m->pages_errno = g->started ? EAGAIN : ENOSYS;
  }
  pthread_mutex_unlock(&g->mu);
}

void nb__launch_move(struct nb__migrator *g, int pid, int rank, const int *cpus, int n, int node, bool first,
                     struct nb_launch_moves *m)
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
    migrate_later(g, pid, rank, node, m);
}
