/* numabench: the placement of one rank of a real job (see numabench/exec.h).
 * nb_exec_place is pure: the planner decides the nodes (the GPU's, the
 * farthest, the nearest with memory), this file picks the rank's CPUs on
 * them. nb_exec_bind applies it through the bind module and asks the kernel. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numabench/exec.h>

#include "mempolicy.h"
#include "nb-internal.h"
#include "topo-internal.h"

const char *nb_exec_policy_name(enum nb_exec_policy p)
{
  static const char *const names[] = {"node", "socket", "exclusive", "core-complex"};
  return (unsigned)p < 4 ? names[p] : "?";
}

const char *nb_exec_mem_name(enum nb_exec_mem m)
{
  static const char *const names[] = {"bind", "preferred", "interleave", "none", "local"};
  return (unsigned)m < 5 ? names[m] : "?";
}

static void note(struct nb_exec_place *p, const char *fmt, ...) NB__PRINTF(2, 3);
static void note(struct nb_exec_place *p, const char *fmt, ...)
{
  if (p->nnotes >= NB_EXEC_MAX_NOTES)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->notes[p->nnotes++], sizeof p->notes[0], fmt, ap);
  va_end(ap);
}

/* The nodes a mode gives a rank whose GPU is g, from the planner: CPUs where
 * the mode puts the workers (a rank's dataloader workers inherit its
 * affinity), memory where it puts the staging buffers (the rank allocates its
 * pinned buffers; the workers inherit the policy). For adversarial that is
 * the most one process can express: workers local, buffers remote. */
struct nodes {
  int cpu_node, mem_node;
  enum nb_mem_policy mem_policy;
  int nil;
  int il[NB_RANK_MAX_GPUS];
};

static int nodes_of(nb_topo_t topo, const struct nb_rank_gpu *g, enum nb_mode mode, struct nodes *out,
                    struct nb_exec_place *notes, nb_error_t *err)
{
  if (g->index < 0)
    return nb__err(err, NB_EINVAL,
                   "GPU %s is not among this machine's GPUs (numabench topo lists them); treat it as one "
                   "with --devices %s",
                   g->bus_id[0] ? g->bus_id : g->uuid, g->bus_id[0] ? g->bus_id : "BUSID");
  struct nb_gpu_select sel = {.count = 0, .n = 1};
  sel.range[0].lo = sel.range[0].hi = g->index;
  snprintf(sel.text, sizeof sel.text, "%d", g->index);
  struct nb_gpu_nodes gn = {.n = g->node_overridden ? 1 : 0};
  gn.item[0].gpu = g->index;
  gn.item[0].node = g->numa_node;
  snprintf(gn.text, sizeof gn.text, "%d=%d", g->index, g->numa_node);
  struct nb_plan_config pc = {.mode = mode, .gpus = &sel, .workers = 1, .gpu_node = &gn};
  nb_plan_t plan;
  int rc = nb_plan_make(&plan, topo, &pc, err);
  if (rc < 0)
    return rc;
  const struct nb_gpu_plan *gp = nb_plan_gpu(plan, 0);
  const struct nb_mode_info *mi = nb_mode_info(mode);
  out->cpu_node = gp->workers[0].mem_policy == NB_MEM_BIND ? gp->workers[0].cpu_node : -1;
  out->mem_policy = gp->staging.policy;
  out->mem_node = gp->staging.policy == NB_MEM_BIND ? gp->staging.node : -1;
  const int *il;
  out->nil = nb_plan_interleave_nodes(plan, &il);
  if (out->nil > NB_RANK_MAX_GPUS)
    out->nil = NB_RANK_MAX_GPUS;
  if (out->nil > 0) /* il is NULL when the mode interleaves nothing */
    memcpy(out->il, il, (size_t)out->nil * sizeof *il);
  /* The planner's notes about this GPU (memory elsewhere, ties), not the
   * mode's own description or the planner's thread count. */
  for (int i = 0; notes && i < gp->nnotes; i++)
    if ((!mi->note || strcmp(gp->notes[i], mi->note)) && strncmp(gp->notes[i], "oversubscribed", 14) &&
        strncmp(gp->notes[i], "GPU node", 8))
      note(notes, "%s", gp->notes[i]);
  nb_plan_free(plan);
  return 0;
}

static int *dup_cpus(const int *cpus, int n)
{
  int *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  if (v && n > 0)
    memcpy(v, cpus, (size_t)n * sizeof *v);
  return v;
}

/* Every allowed CPU of the node's package (its node alone when the node's
 * package is unknown or spans several). */
static int socket_cpus(nb_topo_t topo, int node, struct nb_exec_place *p)
{
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, node));
  int total = 0;
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    total += nb_topo_node(topo, i)->ncpus;
  if (!(p->cpus = malloc((size_t)(total ? total : 1) * sizeof *p->cpus)))
    return NB_ENOMEM;
  if (nd->package < 0)
    note(p, "node %d: its package is not known (or it spans several), so socket means the node", node);
  for (int i = 0; i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *o = nb_topo_node(topo, i);
    if (o->ncpus > 0 && (o == nd || (nd->package >= 0 && o->package == nd->package))) {
      memcpy(p->cpus + p->ncpus, o->cpus, (size_t)o->ncpus * sizeof *o->cpus);
      p->ncpus += o->ncpus;
    }
  }
  qsort(p->cpus, (size_t)p->ncpus, sizeof *p->cpus, nb__cmp_int);
  return 0;
}

/* The CPU node of every local rank, so that each computes the same split.
 * *k: ranks on node; *j: this rank's position among them. */
static int ranks_on_node(nb_topo_t topo, const struct nb_rank *r, enum nb_mode mode, int node, int *k, int *j,
                         nb_error_t *err)
{
  const char *pol = "exclusive and core-complex";
  if (r->local_rank < 0 || r->local_world_size <= 0)
    return nb__err(err, NB_EINVAL,
                   "--policy %s: needs %s (the share is computed from every rank's GPU); set it, or "
                   "use --policy node",
                   pol, r->local_rank < 0 ? "the local rank (LOCAL_RANK)" : "LOCAL_WORLD_SIZE");
  if (r->local_rank >= r->local_world_size)
    return nb__err(err, NB_EINVAL, "%s=%d is not below %s=%d", r->rank_from, r->local_rank, r->size_from,
                   r->local_world_size);
  if (r->local_world_size > r->nvisible)
    return nb__err(err, NB_EINVAL,
                   "%s=%d, but the ranks see %d GPU%s: one GPU per rank is needed to split "
                   "the cores",
                   r->size_from, r->local_world_size, r->nvisible, r->nvisible == 1 ? "" : "s");
  *k = *j = 0;
  for (int q = 0; q < r->local_world_size; q++) {
    const struct nb_rank_gpu *g = q == r->local_rank ? &r->gpu : &r->visible[q];
    struct nodes nq;
    nb_error_t e = {0};
    if (nodes_of(topo, g, mode, &nq, NULL, &e) < 0)
      return nb__err(err, e.code, "--policy exclusive: rank %d's GPU: %s", q, e.msg);
    if (nq.cpu_node == node) {
      if (q == r->local_rank)
        *j = *k;
      (*k)++;
    }
  }
  return 0;
}

/* Rank j of k gets a contiguous run of whole cores: ncores / k each, the
 * first ncores % k ranks one more (the planner's split with equal weights). */
static int exclusive_cpus(nb_topo_t topo, int node, int k, int j, struct nb_exec_place *p, nb_error_t *err)
{
  int ncores = 0;
  for (int i = 0; i < nb_topo_ncores(topo); i++)
    ncores += nb_topo_core(topo, i)->node == node;
  if (ncores < k)
    return nb__err(err, NB_EINVAL,
                   "--policy exclusive: node %d has %d core%s this process may use for %d ranks: fewer cores "
                   "than ranks; use --policy node or fewer ranks",
                   node, ncores, ncores == 1 ? "" : "s", k);
  int first = 0, count = ncores / k;
  for (int q = 0; q < j; q++)
    first += ncores / k + (q < ncores % k);
  count += j < ncores % k;
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, node));
  if (!(p->cpus = malloc((size_t)(nd->ncpus ? nd->ncpus : 1) * sizeof *p->cpus)))
    return NB_ENOMEM;
  for (int i = 0, c = 0; i < nb_topo_ncores(topo); i++) {
    const struct nb_core *core = nb_topo_core(topo, i);
    if (core->node != node)
      continue;
    if (c >= first && c < first + count) {
      memcpy(p->cpus + p->ncpus, core->cpus, (size_t)core->ncpus * sizeof *core->cpus);
      p->ncpus += core->ncpus;
    }
    c++;
  }
  qsort(p->cpus, (size_t)p->ncpus, sizeof *p->cpus, nb__cmp_int);
  return 0;
}

/* One L3 domain per rank: the j-th distinct L3 among the node's cores in
 * core order; the exclusive share when the node has fewer L3s than ranks. */
static int l3_cpus(nb_topo_t topo, int node, int k, int j, struct nb_exec_place *p, nb_error_t *err)
{
  int ids[256], n = 0;
  for (int i = 0; i < nb_topo_ncores(topo); i++) {
    const struct nb_core *core = nb_topo_core(topo, i);
    int l3 = core->node == node ? nb__topo_cpu_l3(topo, core->cpus[0]) : -2;
    bool seen = l3 == -2;
    for (int q = 0; q < n && !seen; q++)
      seen = ids[q] == l3;
    if (!seen && n < 256)
      ids[n++] = l3;
  }
  if (n < k || (n > 0 && ids[0] < 0)) {
    note(p, "node %d has %d L3 domain%s known for %d rank%s: exclusive share of its cores instead", node,
         ids[0] < 0 ? 0 : n, n == 1 && ids[0] >= 0 ? "" : "s", k, k == 1 ? "" : "s");
    return exclusive_cpus(topo, node, k, j, p, err);
  }
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, node));
  if (!(p->cpus = malloc((size_t)(nd->ncpus ? nd->ncpus : 1) * sizeof *p->cpus)))
    return NB_ENOMEM;
  for (int c = 0; c < nd->ncpus; c++)
    if (nb__topo_cpu_l3(topo, nd->cpus[c]) == ids[j])
      p->cpus[p->ncpus++] = nd->cpus[c];
  return 0;
}

static int place_cpus(nb_topo_t topo, const struct nb_rank *r, const struct nb_exec_config *cfg,
                      struct nb_exec_place *p, nb_error_t *err)
{
  int node = p->cpu_node, k = 0, j = 0, rc;
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, node));
  switch (cfg->policy) {
  case NB_EXEC_NODE:
    p->ncpus = nd->ncpus;
    return (p->cpus = dup_cpus(nd->cpus, nd->ncpus)) ? 0 : NB_ENOMEM;
  case NB_EXEC_SOCKET:
    return socket_cpus(topo, node, p);
  case NB_EXEC_EXCLUSIVE:
  case NB_EXEC_CORE_COMPLEX:
    if ((rc = ranks_on_node(topo, r, cfg->mode, node, &k, &j, err)) < 0)
      return rc;
    return cfg->policy == NB_EXEC_EXCLUSIVE ? exclusive_cpus(topo, node, k, j, p, err)
                                            : l3_cpus(topo, node, k, j, p, err);
  }
  return nb__err(err, NB_EINVAL, "--policy: unknown policy %d", (int)cfg->policy);
}

int nb_exec_place(nb_topo_t topo, const struct nb_rank *r, const struct nb_exec_config *cfg,
                  struct nb_exec_place *p, nb_error_t *err)
{
  memset(p, 0, sizeof *p);
  p->mode = cfg->mode;
  p->policy = cfg->policy;
  p->mem = cfg->mem;
  p->cpu_node = p->mem_node = -1;
  if (!nb_mode_info(cfg->mode))
    return nb__err(err, NB_EINVAL, "--mode: unknown mode %d", (int)cfg->mode);
  if (cfg->mode == NB_MODE_NONE) {
    p->mem = NB_EXEC_MEM_NONE;
    return 0;
  }
  struct nodes nd;
  int rc = nodes_of(topo, &r->gpu, cfg->mode, &nd, p, err);
  if (rc < 0)
    return rc;
  p->cpu_node = nd.cpu_node;
  if (nd.mem_policy == NB_MEM_INTERLEAVE)
    p->mem = NB_EXEC_MEM_INTERLEAVE;
  if (p->mem == NB_EXEC_MEM_BIND || p->mem == NB_EXEC_MEM_PREFERRED)
    p->mem_node = nd.mem_node;
  if (p->mem == NB_EXEC_MEM_INTERLEAVE) {
    /* The planner's interleave set (every allowed node with host memory),
     * whatever the mode: asked of it for mode interleave. */
    struct nodes il;
    if (nd.mem_policy != NB_MEM_INTERLEAVE &&
        (rc = nodes_of(topo, &r->gpu, NB_MODE_INTERLEAVE, &il, NULL, err)) < 0)
      return rc;
    const struct nodes *from = nd.mem_policy == NB_MEM_INTERLEAVE ? &nd : &il;
    p->nmem_nodes = from->nil;
    memcpy(p->mem_nodes, from->il, (size_t)from->nil * sizeof *from->il);
  }
  if (p->cpu_node < 0)
    return 0;
  if ((rc = place_cpus(topo, r, cfg, p, err)) == NB_ENOMEM)
    return nb__err(err, NB_ENOMEM, "exec: out of memory");
  return rc;
}

void nb_exec_place_free(struct nb_exec_place *p)
{
  free(p->cpus);
  p->cpus = NULL;
  p->ncpus = 0;
}

/* The process's CPU mask as the kernel reports it, growing the mask until
 * it is as large as the kernel's. */
static int affinity_now(int **out, int *n)
{
  *out = NULL;
  *n = 0;
  for (int ncpu = CPU_SETSIZE; ncpu <= (1 << 20); ncpu *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpu);
    size_t size = CPU_ALLOC_SIZE(ncpu);
    if (!set)
      return ENOMEM;
    if (sched_getaffinity(0, size, set) < 0) {
      int e = errno;
      CPU_FREE(set);
      if (e == EINVAL)
        continue;
      return e;
    }
    int *v = malloc((size_t)(CPU_COUNT_S(size, set) + 1) * sizeof *v);
    if (!v) {
      CPU_FREE(set);
      return ENOMEM;
    }
    for (int c = 0; c < ncpu; c++)
      if (CPU_ISSET_S(c, size, set))
        v[(*n)++] = c;
    CPU_FREE(set);
    *out = v;
    return 0;
  }
  return EINVAL;
}

int nb_exec_bind(nb_topo_t topo, const struct nb_exec_place *p, struct nb_exec_bound *b, nb_error_t *err)
{
  memset(b, 0, sizeof *b);
  struct nb_thread_plan tp = {NB_ROLE_FEEDER, -1, p->ncpus, p->cpus, p->cpu_node, NB_MEM_DEFAULT, -1};
  if (p->mem == NB_EXEC_MEM_BIND) {
    tp.mem_policy = NB_MEM_BIND;
    tp.mem_node = p->mem_node;
  } else if (p->mem == NB_EXEC_MEM_INTERLEAVE) {
    tp.mem_policy = NB_MEM_INTERLEAVE;
  }
  int rc = nb_bind_self(topo, &tp, p->mem_nodes, p->nmem_nodes, &b->st, err);
  if (rc < 0)
    return rc;
  if (p->mem == NB_EXEC_MEM_PREFERRED) {
    /* The bind module knows bind and interleave; a preference is set the
     * same way, after the CPUs, and read back the same way. */
    b->st.mem_errno = nb__mempol_set_preferred(p->mem_node);
    b->st.mem_asked = NB_MEM_BIND;
    nb__mempol_get(&b->st.mem_seen, b->st.mem_nodes_seen, 8, &b->st.nmem_nodes_seen);
    bool ok = b->st.mem_seen == NB_SEEN_PREFERRED && b->st.nmem_nodes_seen == 1 &&
              b->st.mem_nodes_seen[0] == p->mem_node;
    b->st.level = ok ? (b->st.cpu_bound || !b->st.cpu_asked ? "preferred" : "mem-only")
                     : (b->st.cpu_bound ? "cpu-only" : "none");
  } else if (p->mem == NB_EXEC_MEM_LOCAL) {
    b->st.mem_errno = nb__mempol_set_local();
    nb__mempol_get(&b->st.mem_seen, b->st.mem_nodes_seen, 8, &b->st.nmem_nodes_seen);
    b->st.level = b->st.cpu_bound ? "cpu-only" : "none";
  }
  int e = affinity_now(&b->cpus_seen, &b->ncpus_seen);
  if (e)
    return nb__err_sys(err, e == ENOMEM ? NB_ENOMEM : NB_EIO, e, "exec: sched_getaffinity");
  bool cpus_ok = p->ncpus == 0 || b->st.cpu_bound;
  bool one = b->st.nmem_nodes_seen == 1 && b->st.mem_nodes_seen[0] == p->mem_node;
  bool mem_ok = false;
  switch (p->mem) {
  case NB_EXEC_MEM_BIND:
    mem_ok = b->st.mem_seen == NB_SEEN_BIND && one;
    break;
  case NB_EXEC_MEM_PREFERRED:
    mem_ok = b->st.mem_seen == NB_SEEN_PREFERRED && one;
    break;
  case NB_EXEC_MEM_INTERLEAVE:
    mem_ok = b->st.mem_seen == NB_SEEN_INTERLEAVE;
    break;
  case NB_EXEC_MEM_NONE:
    mem_ok = b->st.mem_seen == NB_SEEN_DEFAULT;
    break;
  case NB_EXEC_MEM_LOCAL:
    mem_ok = b->st.mem_seen == NB_SEEN_LOCAL; /* as reported before 5.14 too (nb__mempol_get) */
    break;
  }
  b->achieved = cpus_ok && mem_ok;
  return 0;
}

void nb_exec_bound_free(struct nb_exec_bound *b)
{
  free(b->cpus_seen);
  b->cpus_seen = NULL;
}
