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

#include "nb-internal.h"
#include "nodemask.h"

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

static void hist_add(struct nb_hist *h, nb_topo_t topo, int os_node)
{
  int i = os_node >= 0 ? nb_topo_node_index(topo, os_node) : -1;
  if (i >= 0 && i < h->nnodes)
    h->count[i]++;
  else
    h->other++;
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
    hist_add(h, topo, status[i]);
out:
  free(pages);
  free(status);
  return rc;
}

void nb_audit_cpu_sample(nb_topo_t topo, struct nb_hist *h)
{
  int cpu = sched_getcpu();
  hist_add(h, topo, cpu >= 0 ? nb_topo_cpu_node(topo, cpu) : -1);
}

void nb_audit_mempolicy(enum nb_mem_seen *seen, int *nodes, int max, int *n)
{
  struct nb__nodemask m;
  int mode = -1;
  nb__mask_zero(&m);
  *n = 0;
  *seen = NB_SEEN_OTHER;
  if (get_mempolicy(&mode, m.w, NB_MASK_MAXNODE, NULL, 0) < 0)
    return;
  switch (mode & 0xff) { /* drop MPOL_F_* mode flags */
  case MPOL_DEFAULT:
    *seen = NB_SEEN_DEFAULT;
    break;
  case MPOL_BIND:
    *seen = NB_SEEN_BIND;
    break;
  case MPOL_PREFERRED:
    *seen = NB_SEEN_PREFERRED;
    break;
  case MPOL_INTERLEAVE:
    *seen = NB_SEEN_INTERLEAVE;
    break;
  case MPOL_LOCAL:
    *seen = NB_SEEN_LOCAL;
    break;
  default:
    *seen = NB_SEEN_OTHER;
  }
  for (int node = 0; node < NB_MASK_BITS && *n < max; node++)
    if (nb__mask_isset(&m, node))
      nodes[(*n)++] = node;
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
