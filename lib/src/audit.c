/* numabench: asking the kernel where threads ran and where pages are. */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numaif.h>

#include <numabench/audit.h>

#include "audit-internal.h"
#include "mempolicy.h"
#include "nb-internal.h"

int nb_hist_init(struct nb_hist *h, nb_topo_t topo)
{
  memset(h, 0, sizeof *h);
  h->nnodes = nb_topo_nnodes(topo);
  h->count = calloc((size_t)h->nnodes, sizeof *h->count);
  return h->count ? 0 : NB_ENOMEM;
}

void nb_hist_free(struct nb_hist *h)
{
  free(h->count);
  memset(h, 0, sizeof *h);
}

void nb__hist_add(struct nb_hist *h, nb_topo_t topo, int os_node)
{
  int i = os_node >= 0 ? nb_topo_node_index(topo, os_node) : -1;
  if (i >= 0 && i < h->nnodes)
    h->count[i]++;
  else
    h->other++;
  h->efault += os_node == -EFAULT;
  h->total++;
}

double nb_hist_share(const struct nb_hist *h, nb_topo_t topo, int os_node)
{
  int i = nb_topo_node_index(topo, os_node);
  if (i < 0 || i >= h->nnodes || h->total == 0)
    return 0.0;
  return (double)h->count[i] / (double)h->total;
}

int nb_audit_pages(nb_topo_t topo, const void *addr, size_t len, int max_samples, struct nb_hist *h,
                   nb_error_t *err)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE), npages = (len + page - 1) / page;
  size_t n = max_samples > 0 && npages > (size_t)max_samples ? (size_t)max_samples : npages;
  void **pages = malloc((n ? n : 1) * sizeof *pages);
  int *status = malloc((n ? n : 1) * sizeof *status), rc = 0;
  if (!pages || !status) {
    rc = nb__err(err, NB_ENOMEM, "audit: out of memory");
    goto out;
  }
  /* Evenly spaced samples cover the whole buffer, first and last page too. */
  for (size_t i = 0; i < n; i++) {
    size_t p = n > 1 ? i * (npages - 1) / (n - 1) : 0;
    pages[i] = (char *)addr + p * page;
  }
  if (move_pages(0, n, pages, NULL, status, 0) < 0) {
    int e = errno;
    rc = nb__err_sys(err, e == EPERM || e == EACCES ? NB_EPERM : NB_EIO, e, "audit: move_pages query");
    goto out;
  }
  /* A negative status (-ENOENT: not present) counts as on no node. */
  for (size_t i = 0; i < n; i++)
    nb__hist_add(h, topo, status[i]);
out:
  free(pages);
  free(status);
  return rc;
}

void nb_audit_cpu_sample(nb_topo_t topo, struct nb_hist *h)
{
  int cpu = sched_getcpu();
  nb__hist_add(h, topo, cpu >= 0 ? nb_topo_cpu_node(topo, cpu) : -1);
}

void nb_audit_mempolicy(enum nb_mem_seen *seen, int *nodes, int max, int *n)
{
  nb__mempol_get(seen, nodes, max, n);
}

int nb_numastat_read(nb_topo_t topo, struct nb_numastat *s)
{
  int n = nb_topo_nnodes(topo);
  memset(s, 0, sizeof *s);
  s->node = calloc((size_t)n, sizeof *s->node);
  s->numa_hit = calloc((size_t)n, sizeof *s->numa_hit);
  s->numa_miss = calloc((size_t)n, sizeof *s->numa_miss);
  s->numa_foreign = calloc((size_t)n, sizeof *s->numa_foreign);
  s->other_node = calloc((size_t)n, sizeof *s->other_node);
  if (!s->node || !s->numa_hit || !s->numa_miss || !s->numa_foreign || !s->other_node) {
    nb_numastat_free(s);
    return NB_ENOMEM;
  }
  s->nnodes = n;
  for (int i = 0; i < n; i++) {
    char path[96], buf[1024];
    s->node[i] = nb_topo_node(topo, i)->os_index;
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/numastat", s->node[i]);
    if (!nb_topo_is_this_system(topo) || nb__read_sysfile(NULL, path, buf, sizeof buf) < 0)
      continue;
    static const char *const keys[] = {"numa_hit", "numa_miss", "numa_foreign", "other_node"};
    uint64_t *dst[] = {&s->numa_hit[i], &s->numa_miss[i], &s->numa_foreign[i], &s->other_node[i]};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      char key[32];
      snprintf(key, sizeof key, "%s ", keys[k]);
      const char *p = strstr(buf, key);
      if (p && (p == buf || p[-1] == '\n'))
        sscanf(p + strlen(key), "%" SCNu64, dst[k]);
    }
  }
  return 0;
}

void nb_numastat_free(struct nb_numastat *s)
{
  free(s->node);
  free(s->numa_hit);
  free(s->numa_miss);
  free(s->numa_foreign);
  free(s->other_node);
  memset(s, 0, sizeof *s);
}

/* ---- audit records ---- */

int nb__taudit_init(struct nb__taudit *a, nb_topo_t topo, const struct nb_thread_plan *tp)
{
  memset(a, 0, sizeof *a);
  a->tp = tp;
  return nb_hist_init(&a->cpus, topo);
}

void nb__taudit_sample(struct nb__taudit *a, nb_topo_t topo)
{
  int cpu = sched_getcpu();
  nb__hist_add(&a->cpus, topo, cpu >= 0 ? nb_topo_cpu_node(topo, cpu) : -1);
  for (int k = 0; k < a->nseen; k++)
    if (a->seen[k] == cpu)
      return;
  if (a->nseen < NB__MAX_SEEN_CPUS)
    a->seen[a->nseen++] = cpu;
}

/* A thread's placement is achieved when the kernel confirms the binding
 * asked for (its affinity; its policy, or the preferred fallback, on the
 * planned node) and its CPU samples are on the planned node. Where the
 * samples happen to be right but binding was refused, placement is not
 * achieved: on another run, or another machine, they would not be. */
void nb__taudit_judge(struct nb__taudit *a, nb_topo_t topo)
{
  const struct nb_thread_plan *tp = a->tp;
  const struct nb_bind_status *b = &a->bind;
  qsort(a->seen, (size_t)a->nseen, sizeof *a->seen, nb__cmp_int);
  a->ok = true;
  a->why = NULL;
  int on_node = b->nmem_nodes_seen == 1 && b->mem_nodes_seen[0] == tp->mem_node;
  if (b->cpu_asked && !b->cpu_bound)
    a->why = "CPU affinity refused";
  else if (tp->mem_policy == NB_MEM_BIND &&
           !((b->mem_seen == NB_SEEN_BIND || b->mem_seen == NB_SEEN_PREFERRED) && on_node))
    a->why = "memory policy refused";
  else if (tp->mem_policy == NB_MEM_INTERLEAVE && b->mem_seen != NB_SEEN_INTERLEAVE)
    a->why = "interleave policy refused";
  /* No samples says nothing about where the thread would have run: judge
   * only its binding, and mark it unobserved. */
  a->observed = a->cpus.total > 0;
  if (tp->cpu_node >= 0 && a->observed) {
    a->share = nb_hist_share(&a->cpus, topo, tp->cpu_node);
    if (!a->why && a->share < NB_PLACEMENT_THRESHOLD)
      a->why = "ran off its node";
  }
  a->ok = a->why == NULL;
}

void nb__taudit_free(struct nb__taudit *a)
{
  nb_hist_free(&a->cpus);
}

int nb__baudit_init(struct nb__baudit *a, nb_topo_t topo, const char *name, int worker)
{
  memset(a, 0, sizeof *a);
  a->name = name;
  a->worker = worker;
  a->plan.node = -1;
  return nb_hist_init(&a->pages, topo);
}

int nb__baudit_add(struct nb__baudit *a, nb_topo_t topo, const struct nb_buf *b, nb_error_t *err)
{
  if (!b->addr)
    return 0;
  if (a->pages.total == 0) {
    a->plan = b->plan;
    a->policy = b->policy;
  }
  if (b->mbind_errno && !a->mbind_errno)
    a->mbind_errno = b->mbind_errno;
  a->alloc_s += b->alloc_s;
  if (a->unverifiable)
    return 0;
  nb_error_t e = {0};
  long total0 = a->pages.total, efault0 = a->pages.efault;
  int rc = nb_audit_pages(topo, b->addr, b->len, NB__PAGE_SAMPLES, &a->pages, &e);
  /* Pages the kernel cannot query at all (cudaHostAlloc's, when the driver
   * maps them as a special mapping): placement unverifiable, not wrong. */
  if (rc == 0 && a->pages.total > total0 && a->pages.efault - efault0 == a->pages.total - total0) {
    a->unverifiable = EFAULT;
    return 0;
  }
  /* Containers may forbid the page query (seccomp): then placement cannot
   * be verified, which is a finding, not a failure of the run. */
  if (rc == NB_EPERM ||
      (rc < 0 && (e.sys_errno == ENOSYS || e.sys_errno == EPERM || e.sys_errno == EACCES))) {
    a->unverifiable = e.sys_errno ? e.sys_errno : EPERM;
    return 0;
  }
  if (rc < 0 && err)
    *err = e;
  return rc;
}

/* A buffer's placement is achieved when mbind took the planned policy (or
 * the preferred fallback of a bind) and its sampled pages are where the
 * policy puts them: >= threshold on the bound node, or only on the
 * interleave nodes with each holding at least half its fair share. */
void nb__baudit_judge(struct nb__baudit *a, nb_topo_t topo, const int *il, int nil)
{
  a->why = NULL;
  if (a->plan.policy == NB_MEM_BIND) {
    a->share = nb_hist_share(&a->pages, topo, a->plan.node);
    if (a->policy != NB_SEEN_BIND && a->policy != NB_SEEN_PREFERRED)
      a->why = "mbind refused";
    else if (a->unverifiable)
      a->why = "page query refused: placement unverifiable";
    else if (a->share < NB_PLACEMENT_THRESHOLD)
      a->why = "pages off the planned node";
  } else if (a->plan.policy == NB_MEM_INTERLEAVE) {
    double on = 0;
    int uneven = 0;
    for (int i = 0; i < nil; i++) {
      double s = nb_hist_share(&a->pages, topo, il[i]);
      on += s;
      if (a->pages.total >= 4 * nil && s < 0.5 / nil)
        uneven = 1;
    }
    a->share = on;
    if (a->policy != NB_SEEN_INTERLEAVE)
      a->why = "mbind refused";
    else if (a->unverifiable)
      a->why = "page query refused: placement unverifiable";
    else if (on < NB_PLACEMENT_THRESHOLD)
      a->why = "pages off the interleave nodes";
    else if (uneven)
      a->why = "pages not spread over the interleave nodes";
  }
  a->ok = a->why == NULL;
}

void nb__baudit_free(struct nb__baudit *a)
{
  nb_hist_free(&a->pages);
}
