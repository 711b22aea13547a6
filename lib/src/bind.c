/* numabench: the only code that changes CPU affinity or memory policy (the
 * policy system calls themselves are in mempolicy.c, shared with the audit). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <numaif.h>

#include <numabench/bind.h>

#include "mempolicy.h"
#include "nb-internal.h"

static int refuse_foreign(nb_topo_t topo, nb_error_t *err)
{
  if (nb_topo_is_this_system(topo))
    return 0;
  return nb__err(err, NB_EINVAL, "topology %s is not this machine: its plans are never applied",
                 nb_topo_source(topo));
}

/* Set the calling thread's affinity to cpus and read it back. The masks
 * must be at least as large as the kernel's CPU count, or reading back fails
 * with EINVAL: start from the configured CPU count and double until it fits. */
static void bind_cpus(const int *cpus, int n, struct nb_bind_status *st)
{
  int max = 0;
  for (int i = 0; i < n; i++)
    max = cpus[i] > max ? cpus[i] : max;
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  int ncpu = CPU_SETSIZE;
  if (max + 1 > ncpu)
    ncpu = max + 1;
  if (conf > ncpu)
    ncpu = (int)conf;
  for (int attempt = 0; attempt < 6; attempt++, ncpu *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpu), *now = CPU_ALLOC(ncpu);
    size_t size = CPU_ALLOC_SIZE(ncpu);
    if (!set || !now) {
      st->cpu_errno = ENOMEM;
      CPU_FREE(set);
      CPU_FREE(now);
      return;
    }
    CPU_ZERO_S(size, set);
    for (int i = 0; i < n; i++)
      CPU_SET_S(cpus[i], size, set);
    st->cpu_errno = sched_setaffinity(0, size, set) < 0 ? errno : 0;
    CPU_ZERO_S(size, now);
    int got = sched_getaffinity(0, size, now);
    int e = errno;
    if (got == 0)
      st->cpu_bound = st->cpu_errno == 0 && CPU_EQUAL_S(size, set, now);
    CPU_FREE(set);
    CPU_FREE(now);
    if (got == 0 || e != EINVAL)
      return;
  }
}

int nb_bind_self(nb_topo_t topo, const struct nb_thread_plan *tp, const int *interleave, int ninterleave,
                 struct nb_bind_status *st, nb_error_t *err)
{
  int rc = refuse_foreign(topo, err);
  if (rc < 0)
    return rc;
  memset(st, 0, sizeof *st);
  st->cpu_asked = tp->ncpus > 0;
  st->mem_asked = tp->mem_policy;

  /* 1. CPUs first, so that what the thread touches next is local to them. */
  if (st->cpu_asked)
    bind_cpus(tp->cpus, tp->ncpus, st);

  /* 2. Memory policy, degrading when refused. A thread inherits its
   * creator's policy, so an unbound plan, or one the kernel refused
   * entirely, resets it to the default. */
  struct nb_buf_plan mem = {tp->mem_policy, tp->mem_node};
  enum nb_mem_seen reached;
  st->mem_errno = nb__mempol_set_thread(&mem, interleave, ninterleave, &reached);
  if (reached == NB_SEEN_DEFAULT)
    nb__mempol_reset();

  /* 3. Ask the kernel what it actually did. */
  nb__mempol_get(&st->mem_seen, st->mem_nodes_seen, 8, &st->nmem_nodes_seen);
  int mem_on_node = st->nmem_nodes_seen == 1 && st->mem_nodes_seen[0] == tp->mem_node;
  if (!st->cpu_asked && tp->mem_policy == NB_MEM_DEFAULT)
    st->level = "unbound";
  else if (tp->mem_policy == NB_MEM_INTERLEAVE)
    st->level = st->mem_seen == NB_SEEN_INTERLEAVE ? "interleave" : "none";
  else if (st->mem_seen == NB_SEEN_BIND && mem_on_node)
    st->level = st->cpu_bound || !st->cpu_asked ? "membind" : "mem-only";
  else if (st->mem_seen == NB_SEEN_PREFERRED && mem_on_node)
    st->level = st->cpu_bound || !st->cpu_asked ? "preferred" : "mem-only";
  else
    st->level = st->cpu_bound ? "cpu-only" : "none";
  return 0;
}

/* First touch in parallel: a large buffer is split among helper threads
 * created by the caller. Linux threads inherit their creator's CPU affinity
 * and memory policy, so the helpers are bound as the caller is; the pages'
 * node follows the mapping's policy or, without one, the toucher's. */
struct touch_part {
  char *p;
  size_t len;
};

static void *touch_main(void *arg)
{
  struct touch_part *t = arg;
  memset(t->p, 0, t->len);
  return NULL;
}

#define TOUCH_MAX_THREADS 8
#define TOUCH_MIN_PART ((size_t)64 << 20)

static void touch(void *addr, size_t len)
{
  cpu_set_t set;
  int ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  int n = (int)(len / TOUCH_MIN_PART);
  if (n > ncpu)
    n = ncpu;
  if (n > TOUCH_MAX_THREADS)
    n = TOUCH_MAX_THREADS;
  if (n < 2) {
    memset(addr, 0, len);
    return;
  }
  struct touch_part parts[TOUCH_MAX_THREADS];
  pthread_t tids[TOUCH_MAX_THREADS];
  size_t part = (len / (size_t)n + page - 1) / page * page, off = 0;
  int started[TOUCH_MAX_THREADS] = {0};
  for (int i = 0; i < n; i++) {
    parts[i].p = (char *)addr + off;
    parts[i].len = off >= len ? 0 : len - off < part ? len - off : part;
    off += parts[i].len;
    /* Part 0 is the caller's; a helper that cannot start is done here. */
    if (i > 0 && parts[i].len)
      started[i] = pthread_create(&tids[i], NULL, touch_main, &parts[i]) == 0;
  }
  for (int i = 0; i < n; i++)
    if (i == 0 || !started[i])
      memset(parts[i].p, 0, parts[i].len);
  for (int i = 1; i < n; i++)
    if (started[i])
      pthread_join(tids[i], NULL);
}

/* Every allocation's start: a zeroed record, this machine only, a size
 * rounded up to whole pages. */
static int buf_begin(nb_topo_t topo, struct nb_buf *b, size_t *len, nb_error_t *err)
{
  int rc = refuse_foreign(topo, err);
  memset(b, 0, sizeof *b);
  if (rc < 0)
    return rc;
  if (!*len)
    return nb__err(err, NB_EINVAL, "buffer: size 0");
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  *len = (*len + page - 1) / page * page;
  return 0;
}

int nb_buf_alloc(nb_topo_t topo, struct nb_buf *b, size_t len, const struct nb_buf_plan *plan,
                 const int *interleave, int ninterleave, nb_error_t *err)
{
  int rc = buf_begin(topo, b, &len, err);
  if (rc < 0)
    return rc;
  double t0 = nb__now();
  /* A guard page after the buffer keeps it a mapping of its own: two
   * adjacent buffers with the same policy would otherwise merge into one,
   * a transparent huge page could then straddle both, and moving or
   * collapsing one buffer's pages would carry the other's along. */
  size_t guard = (size_t)sysconf(_SC_PAGESIZE);
  void *addr = mmap(NULL, len + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED)
    return nb__err_sys(err, NB_ENOMEM, errno, "buffer: mmap of %zu bytes", len);
  if (mprotect((char *)addr + len, guard, PROT_NONE) < 0) {
    int e = errno;
    munmap(addr, len + guard);
    return nb__err_sys(err, NB_ENOMEM, e, "buffer: guard page after %zu bytes", len);
  }
  b->addr = addr;
  b->len = len;
  b->plan = *plan;
  /* Small pages only. With transparent huge pages "always", Debian's 6.1
   * kernel left some pages of MPOL_BIND buffers on another node in 5 of 26
   * three-mode runs in the 2-node guests (the mapping's policy read back
   * bind:N in numa_maps, NUMA balancing on or off); with this, 0 of 16, as
   * with THP off. The memory numabench stands in for is small pages too:
   * pinned staging (cudaHostAlloc) and the page cache. Best effort: a
   * kernel without THP refuses it, and nothing changes. */
  (void)madvise(addr, len, MADV_NOHUGEPAGE);

  /* The policy goes on the mapping before any page exists. */
  b->mbind_errno = nb__mempol_set_range(addr, len, plan, interleave, ninterleave, &b->policy);
  /* First touch from this (bound) thread and its helpers places the pages. */
  touch(addr, len);
  b->alloc_s = nb__now() - t0;
  return 0;
}

const char *nb_pin_name(enum nb_pin p)
{
  return p == NB_PIN_REGISTER ? "register" : p == NB_PIN_HOSTALLOC ? "hostalloc" : "none";
}

/* The calling thread's CPU affinity, saved to be restored after a temporary
 * change (as large a mask as the kernel needs). */
struct saved_cpus {
  cpu_set_t *set; /* NULL: not read, nothing to restore */
  size_t size;
};

static void save_cpus(struct saved_cpus *s)
{
  s->set = NULL;
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  int ncpu = conf > CPU_SETSIZE ? (int)conf : CPU_SETSIZE;
  for (int attempt = 0; attempt < 6; attempt++, ncpu *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpu);
    if (!set)
      return;
    size_t size = CPU_ALLOC_SIZE(ncpu);
    if (sched_getaffinity(0, size, set) == 0) {
      s->set = set;
      s->size = size;
      return;
    }
    int e = errno;
    CPU_FREE(set);
    if (e != EINVAL)
      return;
  }
}

static void restore_cpus(struct saved_cpus *s)
{
  if (!s->set)
    return;
  sched_setaffinity(0, s->size, s->set);
  CPU_FREE(s->set);
  s->set = NULL;
}

/* --pin hostalloc: recent NVIDIA drivers keep per-node pools of freed
 * pinned pages and serve cudaHostAlloc from the pool of the calling CPU's
 * node before the thread's memory policy applies, so a buffer bound to node
 * N could get pages left on another node by an earlier run. The allocating
 * thread therefore runs on N's CPUs for the call (its affinity saved in
 * *saved, restored by the caller). A node without CPUs, an unbound plan, or
 * a refusal (a cpuset without N's CPUs) leaves the affinity as it is: the
 * policy alone places the pages then, and the audit says where they are. */
static void hostalloc_cpus(nb_topo_t topo, const struct nb_buf_plan *plan, struct saved_cpus *saved)
{
  saved->set = NULL;
  if (plan->policy != NB_MEM_BIND)
    return;
  int i = nb_topo_node_index(topo, plan->node);
  const struct nb_node *nd = i >= 0 ? nb_topo_node(topo, i) : NULL;
  if (!nd || nd->ncpus == 0)
    return;
  save_cpus(saved);
  if (!saved->set)
    return; /* it could not be restored */
  struct nb_bind_status st = {0};
  bind_cpus(nd->cpus, nd->ncpus, &st);
}

int nb_buf_alloc_pinned(nb_topo_t topo, struct nb_buf *b, size_t len, const struct nb_buf_plan *plan,
                        const int *interleave, int ninterleave, const struct nb_pinner *pinner,
                        enum nb_pin how, nb_error_t *err)
{
  if (how == NB_PIN_NONE)
    return nb_buf_alloc(topo, b, len, plan, interleave, ninterleave, err);
  if (!pinner)
    return nb__err(err, NB_EINVAL, "--pin %s: this backend does not page-lock memory", nb_pin_name(how));
  if (how == NB_PIN_REGISTER) {
    int rc = nb_buf_alloc(topo, b, len, plan, interleave, ninterleave, err);
    if (rc < 0)
      return rc;
    if ((rc = pinner->register_mem(b->addr, b->len, &b->pin_s, err)) < 0) {
      nb_buf_free(b);
      return rc;
    }
    b->pinned = NB_PIN_REGISTER;
    b->pinner = pinner;
    return 0;
  }
  int rc = buf_begin(topo, b, &len, err);
  if (rc < 0)
    return rc;
  /* The driver places hostalloc pages by the allocating CPU's node: an
   * interleaved buffer is not something it can give. */
  if (plan->policy == NB_MEM_INTERLEAVE)
    return nb__err(err, NB_EINVAL,
                   "--pin hostalloc cannot interleave memory (the driver serves cudaHostAlloc from the "
                   "calling CPU's node): use --pin register");
  /* The node's CPUs, then the plan's policy, on this thread for the
   * allocation only: both saved first; the policy is left alone when it
   * cannot be read back (it could not be restored). */
  struct saved_cpus cpus;
  hostalloc_cpus(topo, plan, &cpus);
  struct nb__mempol_saved old;
  enum nb_mem_seen reached;
  b->plan = *plan;
  if ((b->mbind_errno = nb__mempol_save(&old)) == 0)
    b->mbind_errno = nb__mempol_set_thread(plan, interleave, ninterleave, &reached);
  /* What the pages are allocated under, as the kernel says. */
  int nodes[8], nnodes = 0;
  nb__mempol_get(&b->policy, nodes, 8, &nnodes);
  void *addr = NULL;
  double t0 = nb__now();
  rc = pinner->host_alloc(&addr, len, &b->pin_s, err);
  if (rc == 0)
    touch(addr, len);
  double t = nb__now() - t0;
  nb__mempol_restore(&old);
  restore_cpus(&cpus);
  if (rc < 0)
    return rc;
  b->addr = addr;
  b->len = len;
  b->pinned = NB_PIN_HOSTALLOC;
  b->pinner = pinner;
  b->alloc_s = t - b->pin_s;
  return 0;
}

void nb_buf_free(struct nb_buf *b)
{
  if (b && b->addr) {
    if (b->pinned == NB_PIN_HOSTALLOC) {
      b->pinner->free_host(b->addr);
    } else {
      if (b->pinned == NB_PIN_REGISTER)
        b->pinner->unregister_mem(b->addr);
      munmap(b->addr, b->len + (size_t)sysconf(_SC_PAGESIZE)); /* and its guard page */
    }
  }
  if (b) {
    b->addr = NULL;
    b->len = 0;
    b->pinned = NB_PIN_NONE;
    b->pinner = NULL;
  }
}

int nb_buf_move(struct nb_buf *b, int node, nb_error_t *err)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE), n = b->len / page;
  void **pages = malloc(n * sizeof *pages);
  int *nodes = malloc(n * sizeof *nodes), *status = malloc(n * sizeof *status);
  int rc = 0;
  if (!pages || !nodes || !status) {
    rc = nb__err(err, NB_ENOMEM, "moving a buffer: out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    pages[i] = (char *)b->addr + i * page;
    nodes[i] = node;
  }
  /* Freshly faulted pages can be briefly unmovable (EBUSY while still in
   * per-CPU LRU caches): retry those a few times. */
  size_t left = n;
  for (int attempt = 0; attempt < 10 && left; attempt++) {
    if (attempt)
      usleep(10000);
    if (move_pages(0, left, pages, nodes, status, MPOL_MF_MOVE) < 0) {
      int e = errno;
      rc = nb__err_sys(err,
                       e == EPERM || e == EACCES    ? NB_EPERM
                       : e == ENODEV || e == EINVAL ? NB_EINVAL
                                                    : NB_EIO,
                       e, "moving a buffer to node %d (move_pages)", node);
      goto out;
    }
    /* Keep the pages still elsewhere; only transient refusals are retried. */
    size_t k = 0;
    int permanent = 0;
    for (size_t i = 0; i < left; i++)
      if (status[i] != node) {
        if (status[i] < 0 && status[i] != -EBUSY && status[i] != -EAGAIN)
          permanent = -status[i];
        pages[k] = pages[i];
        status[k++] = status[i];
      }
    left = k;
    if (permanent) {
      rc = nb__err_sys(err, NB_EIO, permanent,
                       "moving a buffer to node %d: %zu of %zu pages could not be moved", node, left, n);
      goto out;
    }
  }
  if (left)
    rc = nb__err_sys(err, NB_EIO, status[0] < 0 ? -status[0] : EBUSY,
                     "moving a buffer to node %d: %zu of %zu pages could not be moved", node, left, n);
out:
  free(pages);
  free(nodes);
  free(status);
  return rc;
}
