/* numabench: the planner. A pure function: topology + options -> plan. No
 * system calls here; bind.c applies plans, audit.c checks them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/cgroup.h>
#include <numabench/plan.h>

#include "nb-internal.h"
#include "topo-internal.h"

struct nb_plan {
  nb_topo_t topo;
  enum nb_mode mode;
  int workers;
  bool workers_auto;
  bool workers_quota; /* the cgroup's CPU quota lowered the automatic count */
  bool simulated;
  int ngpus;
  struct nb_gpu_plan *gpus;
  struct nb_thread_plan **workers_of; /* per GPU, nworkers entries */
  struct nb__strv *notes;             /* per GPU */
  int ninterleave;
  int *interleave;
  struct nb__arena arena;        /* CPU arrays and names handed out through const pointers */
  const struct nb_mode_info *mi; /* the mode's row of the table */
};

/* ---- the modes ---- */

/* The one description of every mode: its name, where each role goes, what
 * it needs. Parsing, the feasibility checks, the planner and the numactl
 * lines read it instead of switching on the mode. */
static const struct nb_mode_info modes[NB_NMODES] = {
    [NB_MODE_NONE] = {.mode = NB_MODE_NONE,
                      .name = "none",
                      .help = "nothing bound: the scheduler decides (the audit records where)",
                      .feeder = NB_PLACE_UNBOUND,
                      .workers = NB_PLACE_UNBOUND,
                      .staging = NB_PLACE_UNBOUND,
                      .needs = 0,
                      .note = "unbound: the scheduler places threads and pages; the audit records where"},
    [NB_MODE_BIND] = {.mode = NB_MODE_BIND,
                      .name = "bind",
                      .help = "feeder, workers and buffers on the GPU's node",
                      .feeder = NB_PLACE_GPU_NODE,
                      .workers = NB_PLACE_GPU_NODE,
                      .staging = NB_PLACE_GPU_NODE,
                      .needs = NB_NEED_GPU_NODE | NB_NEED_GPU_NODE_CPUS},
    [NB_MODE_ADVERSARIAL] = {.mode = NB_MODE_ADVERSARIAL,
                             .name = "adversarial",
                             .help = "workers on the GPU's node; feeder and staging on the farthest node",
                             .feeder = NB_PLACE_FAR_NODE,
                             .workers = NB_PLACE_GPU_NODE,
                             .staging = NB_PLACE_FAR_NODE,
                             .needs = NB_NEED_GPU_NODE | NB_NEED_GPU_NODE_CPUS | NB_NEED_FAR_NODE},
    [NB_MODE_REMOTE] = {.mode = NB_MODE_REMOTE,
                        .name = "remote",
                        .help = "feeder, workers and buffers on the farthest node with CPUs",
                        .feeder = NB_PLACE_FAR_NODE,
                        .workers = NB_PLACE_FAR_NODE,
                        .staging = NB_PLACE_FAR_NODE,
                        .needs = NB_NEED_GPU_NODE | NB_NEED_FAR_NODE},
    [NB_MODE_INTERLEAVE] = {.mode = NB_MODE_INTERLEAVE,
                            .name = "interleave",
                            .help = "CPUs unbound, memory interleaved over all allowed nodes",
                            .feeder = NB_PLACE_INTERLEAVE,
                            .workers = NB_PLACE_INTERLEAVE,
                            .staging = NB_PLACE_INTERLEAVE,
                            .needs = 0,
                            .note = "CPUs unbound; memory interleaved over the allowed nodes"},
};

const struct nb_mode_info *nb_mode_info(enum nb_mode mode)
{
  return (unsigned)mode < NB_NMODES ? &modes[mode] : NULL;
}

int nb_mode_parse(const char *name)
{
  for (int i = 0; i < NB_NMODES; i++)
    if (!strcmp(name, modes[i].name))
      return i;
  return -1;
}

const char *nb_mode_name(enum nb_mode mode)
{
  return (unsigned)mode < NB_NMODES ? modes[mode].name : "?";
}

/* Whether any role of the mode goes to this place. */
static bool mode_uses(const struct nb_mode_info *mi, enum nb_place pl)
{
  return mi->feeder == pl || mi->workers == pl || mi->staging == pl;
}

static int oom(nb_error_t *err)
{
  return nb__err(err, NB_ENOMEM, "plan: out of memory");
}

static int *own(struct nb_plan *p, int *arr)
{
  return nb__arena_keep(&p->arena, arr);
}

static const char *own_str(struct nb_plan *p, const char *s)
{
  return nb__arena_keep(&p->arena, strdup(s ? s : ""));
}

/* ---- the devices to plan for ---- */

struct dev {
  int index;
  const char *bus_id;
  const char *name;
  int node;
  bool overridden;
};

/* The GPUs --gpus selects (nb_parse_gpus read the text) among the available
 * indexes: the first count, or the ranges in order, each GPU existing and
 * given once. */
static int select_devices(const struct nb_gpu_select *sel, const struct dev *all, int nall, struct dev *out,
                          int *nout, nb_error_t *err)
{
  *nout = 0;
  if (!sel) {
    memcpy(out, all, (size_t)nall * sizeof *out);
    *nout = nall;
    return 0;
  }
  if (sel->count > 0) {
    if (sel->count > nall)
      return nb__err(err, NB_EINVAL, "--gpus %ld: this topology has %d GPU%s", sel->count, nall,
                     nall == 1 ? "" : "s");
    memcpy(out, all, (size_t)sel->count * sizeof *out);
    *nout = (int)sel->count;
    return 0;
  }
  for (int r = 0; r < sel->n; r++)
    for (long g = sel->range[r].lo; g <= sel->range[r].hi; g++) {
      int found = -1;
      for (int i = 0; i < nall; i++)
        if (all[i].index == g)
          found = i;
      if (found < 0)
        return nb__err(err, NB_EINVAL, "--gpus '%s': there is no GPU %ld (this topology has %d)", sel->text,
                       g, nall);
      for (int i = 0; i < *nout; i++)
        if (out[i].index == g)
          return nb__err(err, NB_EINVAL, "--gpus '%s': GPU %ld is listed twice", sel->text, g);
      out[(*nout)++] = all[found];
    }
  return 0;
}

/* The GPU=NODE overrides (nb_parse_gpu_nodes read the text), in order. */
static int apply_overrides(const struct nb_gpu_nodes *o, nb_topo_t topo, struct dev *devs, int n,
                           nb_error_t *err)
{
  for (int k = 0; o && k < o->n; k++) {
    long g = o->item[k].gpu, node = o->item[k].node;
    if (node < 0 || node > INT_MAX || nb_topo_node_index(topo, (int)node) < 0)
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': this topology has no node %ld", o->text, node);
    int found = 0;
    for (int i = 0; i < n; i++)
      if (devs[i].index == g) {
        if (devs[i].overridden)
          return nb__err(err, NB_EINVAL, "--gpu-node '%s': GPU %ld is given twice", o->text, g);
        devs[i].node = (int)node;
        devs[i].overridden = true;
        found = 1;
      }
    if (!found)
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': GPU %ld is not among the GPUs planned", o->text, g);
  }
  return 0;
}

/* ---- splitting CPUs ---- */

/* A unit is a core (its allowed SMT siblings) or a single CPU. */
struct unit {
  int n;
  const int *cpus;
};

/* Split n units into k contiguous runs sized in proportion to weights, each
 * run at least one unit. Requires n >= k. */
static void split(int n, int k, const int *w, int *first, int *count)
{
  long total = 0;
  for (int j = 0; j < k; j++)
    total += w[j];
  int rest = n - k, given = 0;
  long rem[64], *r = k <= 64 ? rem : malloc((size_t)k * sizeof *r);
  for (int j = 0; j < k; j++) {
    long share = total ? (long)rest * w[j] : 0;
    count[j] = 1 + (int)(total ? share / total : 0);
    if (r)
      r[j] = total ? share % total : 0;
    given += count[j];
  }
  /* Largest remainders first; ties go to the lower index. */
  while (given < n) {
    int best = 0;
    for (int j = 1; j < k; j++)
      if (r && r[j] > r[best])
        best = j;
    count[best]++;
    if (r)
      r[best] = -1;
    given++;
  }
  if (r != rem)
    free(r);
  for (int j = 0, at = 0; j < k; j++) {
    first[j] = at;
    at += count[j];
  }
}

/* Flatten units into single-CPU units (SMT siblings stay adjacent). */
static struct unit *flatten(const struct unit *u, int n, int *nout)
{
  int total = 0;
  for (int i = 0; i < n; i++)
    total += u[i].n;
  struct unit *f = calloc((size_t)(total ? total : 1), sizeof *f);
  if (!f)
    return NULL;
  int k = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < u[i].n; c++)
      f[k++] = (struct unit){1, &u[i].cpus[c]};
  *nout = total;
  return f;
}

static int cmp_int(const void *a, const void *b)
{
  return nb__cmp_int(a, b);
}

/* The CPUs of units [first, first + count), sorted, owned by the plan. */
static int gather(struct nb_plan *p, const struct unit *u, int first, int count, const int **out, int *nout)
{
  int total = 0;
  for (int i = first; i < first + count; i++)
    total += u[i].n;
  int *v = malloc((size_t)(total ? total : 1) * sizeof *v);
  if (!v || !own(p, v))
    return NB_ENOMEM;
  int k = 0;
  for (int i = first; i < first + count; i++)
    for (int c = 0; c < u[i].n; c++)
      v[k++] = u[i].cpus[c];
  qsort(v, (size_t)k, sizeof *v, cmp_int);
  *out = v;
  *nout = k;
  return 0;
}

/* Give each of t threads its CPUs from a group's units: whole cores when
 * there are enough, else single CPUs, else shared CPUs (oversubscribed). */
static int place_threads(struct nb_plan *p, const struct unit *u, int n, struct nb_thread_plan **threads,
                         int t, bool *oversub)
{
  int rc = 0, nf = 0;
  struct unit *flat = NULL;
  const struct unit *use = u;
  int nuse = n;
  if (n <= 0 || t <= 0) /* nothing to divide among: never reached from a loaded topology */
    return NB_EINTERNAL;
  if (n < t) {
    if (!(flat = flatten(u, n, &nf)))
      return NB_ENOMEM;
    use = flat;
    nuse = nf;
  }
  if (nuse >= t) {
    int *ones = malloc((size_t)t * sizeof *ones), *first = malloc((size_t)t * sizeof *first),
        *count = malloc((size_t)t * sizeof *count);
    if (!ones || !first || !count) {
      rc = NB_ENOMEM;
    } else {
      for (int i = 0; i < t; i++)
        ones[i] = 1;
      split(nuse, t, ones, first, count);
      for (int i = 0; i < t && rc == 0; i++)
        rc = gather(p, use, first[i], count[i], &threads[i]->cpus, &threads[i]->ncpus);
    }
    free(ones);
    free(first);
    free(count);
  } else {
    *oversub = true;
    for (int i = 0; i < t && rc == 0; i++)
      rc = gather(p, use, i % nuse, 1, &threads[i]->cpus, &threads[i]->ncpus);
  }
  free(flat);
  return rc;
}

/* A group: the threads of one GPU that live on one node. */
struct group {
  int gpu; /* index into p->gpus */
  int t;
  struct nb_thread_plan **threads;
};

/* Split a node's allowed cores between the groups on it in proportion to
 * their thread counts (disjoint, contiguous, whole cores first), then each
 * group's share between its threads. */
static int place_node(struct nb_plan *p, int node, struct group *g, int k)
{
  nb_topo_t topo = p->topo;
  int ncores = 0, rc = 0;
  for (int i = 0; i < nb_topo_ncores(topo); i++)
    ncores += nb_topo_core(topo, i)->node == node;
  struct unit *cores = calloc((size_t)(ncores ? ncores : 1), sizeof *cores);
  int *w = malloc((size_t)k * sizeof *w), *first = malloc((size_t)k * sizeof *first),
      *count = malloc((size_t)k * sizeof *count);
  struct unit *flat = NULL;
  if (!cores || !w || !first || !count) {
    rc = NB_ENOMEM;
    goto out;
  }
  for (int i = 0, c = 0; i < nb_topo_ncores(topo); i++) {
    const struct nb_core *core = nb_topo_core(topo, i);
    if (core->node == node)
      cores[c++] = (struct unit){core->ncpus, core->cpus};
  }
  for (int j = 0; j < k; j++)
    w[j] = g[j].t;
  const struct unit *use = cores;
  int nuse = ncores;
  if (ncores < k) {
    if (!(flat = flatten(cores, ncores, &nuse))) {
      rc = NB_ENOMEM;
      goto out;
    }
    use = flat;
  }
  if (nuse <= 0) {
    /* The load rejects nodes with CPUs and no core; stay defensive rather
     * than divide by zero below. */
    rc = NB_EINTERNAL;
    goto out;
  }
  if (nuse >= k) {
    split(nuse, k, w, first, count);
  } else {
    /* Fewer CPUs than groups: groups share CPUs round-robin. */
    for (int j = 0; j < k; j++) {
      first[j] = j % nuse;
      count[j] = 1;
      p->gpus[g[j].gpu].oversubscribed = true;
    }
  }
  for (int j = 0; j < k && rc == 0; j++) {
    bool over = false;
    rc = place_threads(p, use + first[j], count[j], g[j].threads, g[j].t, &over);
    for (int i = 0; i < g[j].t; i++)
      g[j].threads[i]->cpu_node = node;
    if (over)
      p->gpus[g[j].gpu].oversubscribed = true;
  }
out:
  free(cores);
  free(flat);
  free(w);
  free(first);
  free(count);
  return rc;
}

/* ---- the plan ---- */

/* Why node os's memory is not usable (nb__topo_mem_usable false), for the notes. */
static const char *no_memory_why(nb_topo_t topo, int os)
{
  const struct nb_node *n = nb_topo_node(topo, nb_topo_node_index(topo, os));
  if (n && n->gpu_memory)
    return "is GPU memory, never used for host memory";
  return n && n->memory_bytes ? "has memory this process may not use" : "has no memory (memoryless)";
}

/* A node with CPUs this process may use (memory aside). */
static int cpus_usable(nb_topo_t topo, int os)
{
  const struct nb_node *n = nb_topo_node(topo, nb_topo_node_index(topo, os));
  return n && n->ncpus > 0;
}

/* A node threads can be placed on: CPUs this process may use, and memory
 * for them there or, for a memoryless node, on the nearest node. */
static int usable_node(nb_topo_t topo, int os)
{
  return cpus_usable(topo, os) && nb__topo_mem_node(topo, os) >= 0;
}

/* Whether any node's memory may be used (an XML without local_memory has
 * none). */
static int any_mem_usable(nb_topo_t topo)
{
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    if (nb__topo_mem_usable(topo, nb_topo_node(topo, i)->os_index))
      return 1;
  return 0;
}

/* The usable node farthest from `from`; ties to the lowest OS index, *ties
 * says how many others are as far. -1 when there is none. */
static int farthest(nb_topo_t topo, int from, int *ties)
{
  int fi = nb_topo_node_index(topo, from), best = -1, bestd = -1;
  *ties = 0;
  for (int i = 0; i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    if (i == fi || !usable_node(topo, n->os_index))
      continue;
    int d = fi >= 0 ? nb_topo_distance(topo, fi, i) : 0;
    if (d > bestd) {
      bestd = d;
      best = n->os_index;
      *ties = 0;
    } else if (d == bestd) {
      (*ties)++;
    }
  }
  return best;
}

static int node_cpus_text(nb_topo_t topo, char *buf, size_t len)
{
  const int *a;
  int n = nb_topo_allowed_cpus(topo, &a);
  return nb_format_cpulist(buf, len, a, n);
}

/* Workers per GPU when not given: one thread per core of the GPU's share,
 * the feeder included; the same for every mode so modes compare alike. */
static int auto_workers(nb_topo_t topo, const struct dev *d, int n, bool *by_quota)
{
  int best = INT_MAX;
  for (int i = 0; i < n; i++) {
    if (d[i].node < 0 || !usable_node(topo, d[i].node))
      continue;
    int sharing = 0, cores = 0;
    for (int j = 0; j < n; j++)
      sharing += d[j].node == d[i].node;
    for (int c = 0; c < nb_topo_ncores(topo); c++)
      cores += nb_topo_core(topo, c)->node == d[i].node;
    int per = cores / sharing;
    best = per < best ? per : best;
  }
  if (best == INT_MAX) {
    best = nb_topo_ncores(topo) / (n ? n : 1);
  }
  /* A CPU quota (cgroup cpu.max) allows fewer CPUs than the cores it may
   * run on: the selected GPUs share those, as they share cores. */
  const struct nb_cgroup *cg = nb_topo_cgroup(topo);
  int cores_best = best - 1 >= 1 ? best - 1 : 1;
  if (cg && cg->cpu_limit > 0 && cg->cpu_limit / (n ? n : 1) < best)
    best = cg->cpu_limit / (n ? n : 1);
  int w = best - 1 >= 1 ? best - 1 : 1;
  *by_quota = w < cores_best;
  return w;
}

static int make_devices(nb_plan_t p, struct dev **alldevs, int *nall, nb_error_t *err)
{
  nb_topo_t topo = p->topo;
  int n = nb_topo_ngpus(topo);
  p->simulated = n == 0;
  if (p->simulated)
    for (int i = 0; i < nb_topo_nnodes(topo); i++)
      n += cpus_usable(topo, nb_topo_node(topo, i)->os_index);
  struct dev *d = calloc((size_t)(n ? n : 1), sizeof *d);
  if (!d)
    return oom(err);
  if (!p->simulated) {
    for (int i = 0; i < n; i++) {
      const struct nb_gpu *g = nb_topo_gpu(topo, i);
      d[i] = (struct dev){g->index, g->bus_id, g->name, g->numa_node, false};
    }
  } else {
    for (int i = 0, k = 0; i < nb_topo_nnodes(topo); i++) {
      const struct nb_node *nd = nb_topo_node(topo, i);
      if (!cpus_usable(topo, nd->os_index))
        continue;
      char name[64];
      snprintf(name, sizeof name, "simulated device on node %d", nd->os_index);
      d[k] = (struct dev){k, "", own_str(p, name), nd->os_index, false};
      if (!d[k].name) {
        free(d);
        return oom(err);
      }
      k++;
    }
  }
  *alldevs = d;
  *nall = n;
  return 0;
}

/* Step 1, the devices: every GPU (or one simulated device per usable node),
 * those --gpus selects, with the nodes --gpu-node gives. */
static int choose_devices(struct nb_plan *p, const struct nb_plan_config *cfg, struct dev **selp, int *nselp,
                          nb_error_t *err)
{
  struct dev *all = NULL, *sel = NULL;
  int nall = 0, nsel = 0, rc;
  if ((rc = make_devices(p, &all, &nall, err)) < 0)
    return rc;
  if (nall == 0) {
    rc = nb__err(err, NB_EINVAL, "plan: no GPU and no node with CPUs this process may use");
    goto out;
  }
  if (!(sel = calloc((size_t)nall, sizeof *sel))) {
    rc = oom(err);
    goto out;
  }
  if ((rc = select_devices(cfg->gpus, all, nall, sel, &nsel, err)) < 0 ||
      (rc = apply_overrides(cfg->gpu_node, p->topo, sel, nsel, err)) < 0)
    goto out;
  if (nsel <= 0)
    rc = nb__err(err, NB_EINVAL, "--gpus '%s': no GPU selected", cfg->gpus ? cfg->gpus->text : "");
out:
  free(all);
  if (rc < 0) {
    free(sel);
    return rc;
  }
  *selp = sel;
  *nselp = nsel;
  return 0;
}

/* Step 2, the worker count: as given, or one thread per core of the
 * smallest GPU share. */
static int choose_workers(struct nb_plan *p, int workers, const struct dev *sel, int nsel, nb_error_t *err)
{
  if (workers < 0)
    return nb__err(err, NB_EINVAL, "--workers %d: give a count of 1 or more (0 chooses one per core)",
                   workers);
  p->workers_auto = workers == 0;
  p->workers_quota = false;
  p->workers = p->workers_auto ? auto_workers(p->topo, sel, nsel, &p->workers_quota) : workers;
  return 0;
}

/* The node a GPU's local CPUs belong to (hwloc's locality of the PCI
 * device), -1 when unknown. */
static int gpu_cpu_node(nb_topo_t topo, int gpu)
{
  for (int g = 0; g < nb_topo_ngpus(topo); g++) {
    const struct nb_gpu *x = nb_topo_gpu(topo, g);
    if (x->index != gpu || x->ncpus < 1)
      continue;
    for (int c = 0; c < nb_topo_ncores(topo); c++) {
      const struct nb_core *core = nb_topo_core(topo, c);
      for (int k = 0; k < core->ncpus; k++)
        if (core->cpus[k] == x->cpus[0])
          return core->node;
    }
  }
  return -1;
}

/* A GPU's node without any CPU (a GPU's own memory, a memory-only CXL
 * node): running elsewhere cannot help; the node holding its CPUs can. */
static int cpuless_gpu_node(nb_topo_t topo, const struct dev *d, const struct nb_mode_info *mi,
                            const struct nb_node *nd, nb_error_t *err)
{
  char fix[96];
  int near = gpu_cpu_node(topo, d->index);
  if (near >= 0)
    snprintf(fix, sizeof fix, "give --gpu-node %d=%d (the node holding its CPUs)", d->index, near);
  else
    snprintf(fix, sizeof fix, "give --gpu-node %d=NODE with the node holding its CPUs", d->index);
  return nb__err(err, NB_EINVAL,
                 "GPU %d (%s): its node %d has no CPUs at all (%s), so mode %s cannot put "
                 "threads there; %s",
                 d->index, d->bus_id, nd->os_index,
                 nd->gpu_memory ? "a GPU's own memory" : "a memory-only node", mi->name, fix);
}

/* Step 3: can this mode exist here? Its needs (the mode table) against the
 * topology and the GPUs' nodes. */
static int check_needs(const struct nb_plan *p, const struct dev *sel, int nsel, nb_error_t *err)
{
  nb_topo_t topo = p->topo;
  const struct nb_mode_info *mi = p->mi;
  char cpus[256];
  /* Said first: without memory every node would look unusable, and the
   * messages below would blame the CPUs. */
  if ((mode_uses(mi, NB_PLACE_GPU_NODE) || mode_uses(mi, NB_PLACE_FAR_NODE) ||
       mode_uses(mi, NB_PLACE_INTERLEAVE)) &&
      !any_mem_usable(topo))
    return nb__err(
        err, NB_EINVAL, "mode %s places memory, but %s has no node with memory this process may use%s",
        mi->name, nb_topo_is_this_system(topo) ? "this machine" : "this topology",
        nb_topo_kind(topo) == NB_TOPO_XML ? " (its NUMA nodes lack local_memory: record it again with "
                                            "lstopo --of xml)"
                                          : "");
  if (mi->needs & NB_NEED_FAR_NODE) {
    int usable = 0;
    for (int i = 0; i < nb_topo_nnodes(topo); i++)
      usable += usable_node(topo, nb_topo_node(topo, i)->os_index);
    if (usable < 2) {
      int cpuless = 0;
      for (int i = 0; i < nb_topo_nnodes(topo); i++)
        cpuless += !nb_topo_node(topo, i)->has_cpus;
      node_cpus_text(topo, cpus, sizeof cpus);
      return nb__err(err, NB_ENOTSUP,
                     "mode %s needs two NUMA nodes with CPUs this process may use; %s has %d (CPUs %s)%s",
                     mi->name, nb_topo_is_this_system(topo) ? "this machine" : "this topology", usable, cpus,
                     cpuless ? "; GPU-memory and memory-only nodes have no CPUs and do not count" : "");
    }
  }
  for (int i = 0; i < nsel; i++) {
    if ((mi->needs & NB_NEED_GPU_NODE) && sel[i].node < 0)
      return nb__err(err, NB_EINVAL,
                     "GPU %d (%s): NUMA node unknown, mode %s needs it; give it with --gpu-node %d=NODE",
                     sel[i].index, sel[i].bus_id, mi->name, sel[i].index);
    if ((mi->needs & NB_NEED_GPU_NODE_CPUS) && !usable_node(topo, sel[i].node)) {
      const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, sel[i].node));
      if (nd && !nd->has_cpus)
        return cpuless_gpu_node(topo, &sel[i], mi, nd, err);
      node_cpus_text(topo, cpus, sizeof cpus);
      return nb__err(
          err, NB_EINVAL,
          "GPU %d (%s): its node %d has no CPUs this process may use (allowed CPUs %s), so mode %s "
          "cannot put threads there; run where node %d is allowed",
          sel[i].index, sel[i].bus_id, sel[i].node, cpus, mi->name, sel[i].node);
    }
  }
  return 0;
}

/* A place of the mode table, for one GPU: the memory policy and node. */
static struct nb_buf_plan resolve(enum nb_place pl, int gpu_node, int far)
{
  switch (pl) {
  case NB_PLACE_GPU_NODE:
    return (struct nb_buf_plan){NB_MEM_BIND, gpu_node};
  case NB_PLACE_FAR_NODE:
    return (struct nb_buf_plan){NB_MEM_BIND, far};
  case NB_PLACE_INTERLEAVE:
    return (struct nb_buf_plan){NB_MEM_INTERLEAVE, -1};
  case NB_PLACE_UNBOUND:
    break;
  }
  return (struct nb_buf_plan){NB_MEM_DEFAULT, -1};
}

/* The memory node of a bound place: the place itself, or the nearest node
 * with memory when it has none this process may use. */
static int memory_of(const struct nb_plan *p, struct nb_buf_plan b)
{
  return b.policy == NB_MEM_BIND ? nb__topo_mem_node(p->topo, b.node) : b.node;
}

/* Step 4a: the nodes of the feeder, the workers and the staging slots, as
 * the mode table says. A bound thread's CPUs are on its place's node
 * (chosen in share_cores), its memory there too or, for a place without
 * usable memory, on the nearest node with it (a note says so); a far node
 * with ties gets a note. */
static void place_roles(struct nb_plan *p, int i)
{
  struct nb_gpu_plan *g = &p->gpus[i];
  const struct nb_mode_info *mi = p->mi;
  int ties = 0, far = -1;
  if (g->gpu_node >= 0 && mode_uses(mi, NB_PLACE_FAR_NODE))
    far = farthest(p->topo, g->gpu_node, &ties);
  struct nb_buf_plan feed = resolve(mi->feeder, g->gpu_node, far),
                     work = resolve(mi->workers, g->gpu_node, far);
  /* A bound thread runs on its place's CPUs (cpu_node, which share_cores
   * reads) and allocates on that node's memory node. */
  g->feeder =
      (struct nb_thread_plan){NB_ROLE_FEEDER, -1, 0, NULL, feed.node, feed.policy, memory_of(p, feed)};
  for (int w = 0; w < p->workers; w++)
    p->workers_of[i][w] =
        (struct nb_thread_plan){NB_ROLE_WORKER, w, 0, NULL, work.node, work.policy, memory_of(p, work)};
  g->staging = resolve(mi->staging, g->gpu_node, far);
  g->staging.node = memory_of(p, g->staging);
  /* Say where memory goes when a place has none of its own. */
  int places[2] = {mode_uses(mi, NB_PLACE_GPU_NODE) ? g->gpu_node : -1, far};
  for (int k = 0; k < 2; k++)
    if (places[k] >= 0 && (k == 0 || places[1] != places[0]) &&
        nb__topo_mem_node(p->topo, places[k]) != places[k])
      nb__strv_addf(&p->notes[i],
                    "node %d %s: memory of threads on its CPUs goes to node %d, the nearest with memory",
                    places[k], no_memory_why(p->topo, places[k]), nb__topo_mem_node(p->topo, places[k]));
  if (ties)
    nb__strv_addf(&p->notes[i],
                  "%d other node%s as far as node %d; the lowest index was taken, so remote threads "
                  "of several GPUs may share it",
                  ties, ties == 1 ? " is" : "s are", far);
}

/* Step 4b: the device side sits on the GPU's node whatever the mode: the
 * device thread (host backend) gets all that node's CPUs, and the device's
 * memory stays on the GPU's side of the link, which is what makes remote
 * placement cost a crossing. */
static void place_device(struct nb_plan *p, struct nb_gpu_plan *g, struct nb__strv *note)
{
  g->device = (struct nb_thread_plan){NB_ROLE_DEVICE, -1, 0, NULL, -1, NB_MEM_DEFAULT, -1};
  int mem = g->gpu_node >= 0 ? nb__topo_mem_node(p->topo, g->gpu_node) : -1;
  if (g->gpu_node >= 0 && usable_node(p->topo, g->gpu_node)) {
    const struct nb_node *nd = nb_topo_node(p->topo, nb_topo_node_index(p->topo, g->gpu_node));
    g->device =
        (struct nb_thread_plan){NB_ROLE_DEVICE, -1, nd->ncpus, nd->cpus, g->gpu_node, NB_MEM_BIND, mem};
  }
  /* A GPU's node without usable memory: its nearest node with memory; with
   * no such node at all, as before (the needs check refuses the modes that
   * bind). */
  g->device_buf = g->gpu_node >= 0 ? (struct nb_buf_plan){NB_MEM_BIND, mem >= 0 ? mem : g->gpu_node}
                                   : (struct nb_buf_plan){NB_MEM_DEFAULT, -1};
  /* Modes placing on the GPU's node said so already (place_roles). */
  if (mem >= 0 && mem != g->gpu_node && !mode_uses(p->mi, NB_PLACE_GPU_NODE))
    nb__strv_addf(note, "the device buffer (host backend) goes to node %d: node %d %s", mem, g->gpu_node,
                  no_memory_why(p->topo, g->gpu_node));
}

/* Say which GPU-memory nodes the plan left out (nb__topo_mem_usable), for the modes
 * that choose memory nodes at all: none binds nothing. */
static void note_gpu_memory(struct nb_plan *p, int i)
{
  if (p->mode == NB_MODE_NONE)
    return;
  for (int k = 0; k < nb_topo_nnodes(p->topo); k++) {
    const struct nb_node *n = nb_topo_node(p->topo, k);
    if (n->gpu_memory)
      nb__strv_addf(&p->notes[i], "node %d is GPU memory%s: left out of %s", n->os_index,
                    n->gpu == p->gpus[i].gpu && n->gpu >= 0 ? " (this GPU's)" : "",
                    p->mode == NB_MODE_INTERLEAVE ? "the interleaved nodes"
                                                  : "the nodes chosen for host memory");
  }
}

/* Step 4: one plan per selected device, its roles placed by the mode table
 * (CPUs come in share_cores), with the notes known so far. */
static int place_gpus(struct nb_plan *p, const struct dev *sel, int nsel, nb_error_t *err)
{
  p->ngpus = nsel;
  p->gpus = calloc((size_t)nsel, sizeof *p->gpus);
  p->workers_of = calloc((size_t)nsel, sizeof *p->workers_of);
  p->notes = calloc((size_t)nsel, sizeof *p->notes);
  if (!p->gpus || !p->workers_of || !p->notes)
    return oom(err);
  for (int i = 0; i < nsel; i++) {
    struct nb_gpu_plan *g = &p->gpus[i];
    g->gpu = sel[i].index;
    g->bus_id = sel[i].bus_id;
    g->name = sel[i].name;
    g->gpu_node = sel[i].node;
    g->gpu_node_overridden = sel[i].overridden;
    if (!(p->workers_of[i] = calloc((size_t)p->workers, sizeof **p->workers_of)))
      return oom(err);
    g->workers = p->workers_of[i];
    g->nworkers = p->workers;
    if (p->mi->note)
      nb__strv_addf(&p->notes[i], "%s", p->mi->note);
    if (g->gpu_node_overridden)
      nb__strv_addf(&p->notes[i], "GPU node %d given with --gpu-node", g->gpu_node);
    place_roles(p, i);
    place_device(p, g, &p->notes[i]);
    note_gpu_memory(p, i);
  }
  return 0;
}

/* The threads of GPU i bound to node (its feeder, its workers, or both) as
 * one group; grp->t is 0 when none of them is. */
static int group_on(struct nb_plan *p, int i, int node, struct group *grp)
{
  struct nb_gpu_plan *g = &p->gpus[i];
  bool feeder_here = g->feeder.mem_policy == NB_MEM_BIND && g->feeder.cpu_node == node;
  bool workers_here = p->workers_of[i][0].mem_policy == NB_MEM_BIND && p->workers_of[i][0].cpu_node == node;
  *grp = (struct group){i, 0, NULL};
  if (!feeder_here && !workers_here)
    return 0;
  if (!(grp->threads = calloc((size_t)p->workers + 1, sizeof *grp->threads)))
    return NB_ENOMEM;
  if (feeder_here)
    grp->threads[grp->t++] = &g->feeder;
  if (workers_here)
    for (int w = 0; w < p->workers; w++)
      grp->threads[grp->t++] = &p->workers_of[i][w];
  return 0;
}

/* Step 5, CPUs node by node: every group of threads placed on a node shares
 * that node's cores, disjointly. */
static int share_cores(struct nb_plan *p, nb_error_t *err)
{
  int rc = 0;
  struct group *groups = calloc((size_t)p->ngpus, sizeof *groups);
  if (!groups)
    return oom(err);
  for (int ni = 0; rc == 0 && ni < nb_topo_nnodes(p->topo); ni++) {
    int node = nb_topo_node(p->topo, ni)->os_index, k = 0;
    for (int i = 0; rc == 0 && i < p->ngpus; i++)
      if ((rc = group_on(p, i, node, &groups[k])) == 0 && groups[k].t)
        k++;
    if (rc == 0 && k && (rc = place_node(p, node, groups, k)) == NB_EINTERNAL)
      nb__err(err, rc, "plan: node %d has no core to place threads on (inconsistent topology %s)", node,
              nb_topo_source(p->topo));
    for (int j = 0; j < k; j++)
      free(groups[j].threads);
  }
  free(groups);
  if (rc == NB_EINTERNAL)
    return rc;
  return rc < 0 ? oom(err) : 0;
}

/* Step 6: each GPU's share (the union of its threads' CPUs), and whether
 * its threads share CPUs. */
static int gather_shares(struct nb_plan *p, nb_error_t *err)
{
  for (int i = 0; i < p->ngpus; i++) {
    struct nb_gpu_plan *g = &p->gpus[i];
    int total = g->feeder.ncpus;
    for (int w = 0; w < g->nworkers; w++)
      total += g->workers[w].ncpus;
    int *share = malloc((size_t)(total ? total : 1) * sizeof *share), n = 0;
    if (!share || !own(p, share))
      return oom(err);
    for (int c = 0; c < g->feeder.ncpus; c++)
      share[n++] = g->feeder.cpus[c];
    for (int w = 0; w < g->nworkers; w++)
      for (int c = 0; c < g->workers[w].ncpus; c++)
        share[n++] = g->workers[w].cpus[c];
    qsort(share, (size_t)n, sizeof *share, cmp_int);
    int u = 0;
    for (int c = 0; c < n; c++)
      if (!u || share[u - 1] != share[c])
        share[u++] = share[c];
    g->share = share;
    g->nshare = u;
    if (g->oversubscribed)
      nb__strv_addf(&p->notes[i], "oversubscribed: %d threads on %d CPUs, threads share CPUs",
                    g->nworkers + 1, u);
  }
  return 0;
}

/* Step 7: the nodes interleaved memory spreads over, when the mode
 * interleaves: every allowed node with memory. */
static int interleave_nodes(struct nb_plan *p, nb_error_t *err)
{
  nb_topo_t topo = p->topo;
  if (!mode_uses(p->mi, NB_PLACE_INTERLEAVE))
    return 0;
  if (!(p->interleave = malloc((size_t)nb_topo_nnodes(topo) * sizeof *p->interleave)))
    return oom(err);
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    if (nb__topo_mem_usable(topo, nb_topo_node(topo, i)->os_index))
      p->interleave[p->ninterleave++] = nb_topo_node(topo, i)->os_index;
  /* One node (a Grace Hopper module: its other node is the GPU's memory):
   * the mode's note would claim a spread that does not happen. */
  for (int i = 0; p->ninterleave == 1 && i < p->ngpus; i++)
    for (int k = 0; k < p->notes[i].n; k++) {
      if (!p->mi->note || strcmp(p->notes[i].v[k], p->mi->note))
        continue;
      char *one = NULL;
      if (asprintf(&one,
                   "CPUs unbound; memory interleaved over node %d only, the one node with memory "
                   "this process may use (the same as binding it there)",
                   p->interleave[0]) < 0)
        return oom(err);
      free(p->notes[i].v[k]);
      p->notes[i].v[k] = one;
    }
  return 0;
}

int nb_plan_make(nb_plan_t *planp, nb_topo_t topo, const struct nb_plan_config *cfg, nb_error_t *err)
{
  int rc, nsel = 0;
  struct dev *sel = NULL;
  *planp = NULL;
  struct nb_plan *p = calloc(1, sizeof *p);
  if (!p)
    return oom(err);
  p->topo = topo;
  p->mode = cfg->mode;
  if (!(p->mi = nb_mode_info(cfg->mode))) {
    rc = nb__err(err, NB_EINVAL, "plan: unknown mode %d", (int)cfg->mode);
    goto fail;
  }
  if ((rc = choose_devices(p, cfg, &sel, &nsel, err)) < 0 ||
      (rc = choose_workers(p, cfg->workers, sel, nsel, err)) < 0 ||
      (rc = check_needs(p, sel, nsel, err)) < 0 || (rc = place_gpus(p, sel, nsel, err)) < 0 ||
      (rc = share_cores(p, err)) < 0 || (rc = gather_shares(p, err)) < 0 ||
      (rc = interleave_nodes(p, err)) < 0)
    goto fail;
  /* The notes are complete: hand them out. */
  for (int i = 0; i < p->ngpus; i++) {
    p->gpus[i].nnotes = p->notes[i].n;
    p->gpus[i].notes = (const char *const *)p->notes[i].v;
  }
  free(sel);
  *planp = p;
  return 0;

fail:
  free(sel);
  nb_plan_free(p);
  return rc;
}

void nb_plan_free(nb_plan_t p)
{
  if (!p)
    return;
  for (int i = 0; i < p->ngpus; i++) {
    if (p->workers_of)
      free(p->workers_of[i]);
    if (p->notes)
      nb__strv_free(&p->notes[i]);
  }
  nb__arena_free(&p->arena);
  free(p->workers_of);
  free(p->notes);
  free(p->gpus);
  free(p->interleave);
  free(p);
}

enum nb_mode nb_plan_mode(nb_plan_t p)
{
  return p->mode;
}
int nb_plan_ngpus(nb_plan_t p)
{
  return p->ngpus;
}
const struct nb_gpu_plan *nb_plan_gpu(nb_plan_t p, int i)
{
  return i >= 0 && i < p->ngpus ? &p->gpus[i] : NULL;
}
int nb_plan_workers(nb_plan_t p)
{
  return p->workers;
}
bool nb_plan_workers_auto(nb_plan_t p)
{
  return p->workers_auto;
}

bool nb_plan_workers_by_quota(nb_plan_t p)
{
  return p->workers_quota;
}
bool nb_plan_simulated(nb_plan_t p)
{
  return p->simulated;
}
nb_topo_t nb_plan_topo(nb_plan_t p)
{
  return p->topo;
}

int nb_plan_interleave_nodes(nb_plan_t p, const int **nodes)
{
  *nodes = p->interleave;
  return p->ninterleave;
}
