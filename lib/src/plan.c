/* numabench: the planner. A pure function: topology + options -> plan. No
 * system calls here; bind.c applies plans, audit.c checks them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/plan.h>

#include "nb-internal.h"

struct nb_plan {
  nb_topo_t topo;
  enum nb_mode mode;
  int workers;
  bool workers_auto;
  bool simulated;
  int ngpus;
  struct nb_gpu_plan *gpus;
  struct nb_thread_plan **workers_of; /* per GPU, nworkers entries */
  struct nb__strv *notes;             /* per GPU */
  int ninterleave;
  int *interleave;
  struct nb__arena arena; /* CPU arrays and names handed out through const pointers */
};

static const char *const mode_names[NB_NMODES] = {"none", "bind", "adversarial", "remote", "interleave"};

int nb_mode_parse(const char *name)
{
  for (int i = 0; i < NB_NMODES; i++)
    if (!strcmp(name, mode_names[i]))
      return i;
  return -1;
}

const char *nb_mode_name(enum nb_mode mode)
{
  return (unsigned)mode < NB_NMODES ? mode_names[mode] : "?";
}

const char *nb_mem_policy_name(enum nb_mem_policy p)
{
  switch (p) {
  case NB_MEM_DEFAULT:
    return "default";
  case NB_MEM_BIND:
    return "bind";
  case NB_MEM_INTERLEAVE:
    return "interleave";
  }
  return "?";
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

/* Parse "N" (first N) or a list of indexes and ranges ("0,2,5", "4-7", "5-5")
 * against the available indexes. */
static int select_devices(const char *spec, const struct dev *all, int nall, struct dev *out, int *nout,
                          nb_error_t *err)
{
  *nout = 0;
  if (!spec || !*spec) {
    memcpy(out, all, (size_t)nall * sizeof *out);
    *nout = nall;
    return 0;
  }
  char *end;
  for (const char *c = spec; *c; c++)
    if (!((*c >= '0' && *c <= '9') || *c == ',' || *c == '-'))
      return nb__err(err, NB_EINVAL,
                     "--gpus '%s': give a count (e.g. 8) or a list of GPU indexes (e.g. 0,2,5 or 4-7)", spec);
  if (!strpbrk(spec, ",-")) {
    errno = 0;
    long n = strtol(spec, &end, 10);
    if (*end || end == spec || errno || n <= 0)
      return nb__err(err, NB_EINVAL,
                     "--gpus '%s': give a count (e.g. 8) or a list of GPU indexes (e.g. 0,2,5 or 4-7)", spec);
    if (n > nall)
      return nb__err(err, NB_EINVAL, "--gpus %ld: this topology has %d GPU%s", n, nall, nall == 1 ? "" : "s");
    memcpy(out, all, (size_t)n * sizeof *out);
    *nout = (int)n;
    return 0;
  }
  for (const char *p = spec;;) {
    errno = 0;
    long lo = strtol(p, &end, 10), hi = lo;
    if (end == p || errno || lo < 0)
      return nb__err(err, NB_EINVAL, "--gpus '%s': '%s' is not a GPU index or range", spec, p);
    p = end;
    if (*p == '-') {
      hi = strtol(p + 1, &end, 10);
      if (end == p + 1 || hi < lo)
        return nb__err(err, NB_EINVAL, "--gpus '%s': bad range before '%s'", spec, p);
      p = end;
    }
    if (*p && *p != ',')
      return nb__err(err, NB_EINVAL, "--gpus '%s': unexpected '%s'", spec, p);
    for (long g = lo; g <= hi; g++) {
      int found = -1;
      for (int i = 0; i < nall; i++)
        if (all[i].index == g)
          found = i;
      if (found < 0)
        return nb__err(err, NB_EINVAL, "--gpus '%s': there is no GPU %ld (this topology has %d)", spec, g,
                       nall);
      for (int i = 0; i < *nout; i++)
        if (out[i].index == g)
          return nb__err(err, NB_EINVAL, "--gpus '%s': GPU %ld is listed twice", spec, g);
      out[(*nout)++] = all[found];
    }
    if (!*p)
      break;
    p++;
  }
  return 0;
}

static int apply_overrides(const char *spec, nb_topo_t topo, struct dev *devs, int n, nb_error_t *err)
{
  if (!spec)
    return 0;
  for (const char *p = spec; *p;) {
    char *end;
    long g = strtol(p, &end, 10), node;
    if (end == p || *end != '=')
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': expected GPU=NODE[,GPU=NODE...], e.g. 3=1", spec);
    p = end + 1;
    node = strtol(p, &end, 10);
    if (end == p || (*end && *end != ','))
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': expected GPU=NODE[,GPU=NODE...], e.g. 3=1", spec);
    if (*end == ',' && !end[1])
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': expected GPU=NODE[,GPU=NODE...], e.g. 3=1", spec);
    p = *end ? end + 1 : end;
    if (node < 0 || node > INT_MAX || nb_topo_node_index(topo, (int)node) < 0)
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': this topology has no node %ld", spec, node);
    int found = 0;
    for (int i = 0; i < n; i++)
      if (devs[i].index == g) {
        if (devs[i].overridden)
          return nb__err(err, NB_EINVAL, "--gpu-node '%s': GPU %ld is given twice", spec, g);
        devs[i].node = (int)node;
        devs[i].overridden = true;
        found = 1;
      }
    if (!found)
      return nb__err(err, NB_EINVAL, "--gpu-node '%s': GPU %ld is not among the GPUs planned", spec, g);
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

/* The farthest allowed node with allowed CPUs from `from`; ties to the
 * lowest OS index. -1 when there is none. */
static int usable_node(nb_topo_t topo, int os);

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

/* A node threads and their memory can use: allowed, with allowed CPUs and
 * with memory (CPU-only nodes exist on some machines). */
static int usable_node(nb_topo_t topo, int os)
{
  const struct nb_node *n = nb_topo_node(topo, nb_topo_node_index(topo, os));
  return n && n->allowed && n->ncpus > 0 && n->memory_bytes > 0;
}

static int node_cpus_text(nb_topo_t topo, char *buf, size_t len)
{
  const int *a;
  int n = nb_topo_allowed_cpus(topo, &a);
  return nb_format_cpulist(buf, len, a, n);
}

/* Workers per GPU when not given: one thread per core of the GPU's share,
 * the feeder included; the same for every mode so modes compare alike. */
static int auto_workers(nb_topo_t topo, const struct dev *d, int n)
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
  return best - 1 >= 1 ? best - 1 : 1;
}

static int make_devices(nb_plan_t p, struct dev **alldevs, int *nall, nb_error_t *err)
{
  nb_topo_t topo = p->topo;
  int n = nb_topo_ngpus(topo);
  p->simulated = n == 0;
  if (p->simulated)
    for (int i = 0; i < nb_topo_nnodes(topo); i++)
      n += usable_node(topo, nb_topo_node(topo, i)->os_index);
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
      if (!usable_node(topo, nd->os_index))
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

int nb_plan_make(nb_plan_t *planp, nb_topo_t topo, const struct nb_plan_config *cfg, nb_error_t *err)
{
  int rc;
  struct dev *all = NULL, *sel = NULL;
  int nall = 0, nsel = 0;
  struct group *groups = NULL;
  *planp = NULL;
  struct nb_plan *p = calloc(1, sizeof *p);
  if (!p)
    return oom(err);
  p->topo = topo;
  p->mode = cfg->mode;
  if ((unsigned)cfg->mode >= NB_NMODES) {
    rc = nb__err(err, NB_EINVAL, "plan: unknown mode %d", (int)cfg->mode);
    goto fail;
  }
  if ((rc = make_devices(p, &all, &nall, err)) < 0)
    goto fail;
  if (nall == 0) {
    rc = nb__err(err, NB_EINVAL, "plan: no GPU and no node with CPUs this process may use");
    goto fail;
  }
  if (!(sel = calloc((size_t)nall, sizeof *sel))) {
    rc = oom(err);
    goto fail;
  }
  if ((rc = select_devices(cfg->gpus, all, nall, sel, &nsel, err)) < 0 ||
      (rc = apply_overrides(cfg->gpu_node, topo, sel, nsel, err)) < 0)
    goto fail;
  if (nsel <= 0) {
    rc = nb__err(err, NB_EINVAL, "--gpus '%s': no GPU selected", cfg->gpus ? cfg->gpus : "");
    goto fail;
  }

  if (cfg->workers < 0) {
    rc = nb__err(err, NB_EINVAL, "--workers %d: give a count of 1 or more (0 chooses one per core)",
                 cfg->workers);
    goto fail;
  }
  p->workers_auto = cfg->workers == 0;
  p->workers = p->workers_auto ? auto_workers(topo, sel, nsel) : cfg->workers;

  /* Can this mode exist here? */
  int usable = 0;
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    usable += usable_node(topo, nb_topo_node(topo, i)->os_index);
  if ((p->mode == NB_MODE_ADVERSARIAL || p->mode == NB_MODE_REMOTE) && usable < 2) {
    char cpus[256];
    node_cpus_text(topo, cpus, sizeof cpus);
    rc = nb__err(
        err, NB_ENOTSUP, "mode %s needs two NUMA nodes with CPUs this process may use; %s has %d (CPUs %s)",
        nb_mode_name(p->mode), nb_topo_is_this_system(topo) ? "this machine" : "this topology", usable, cpus);
    goto fail;
  }
  if (p->mode == NB_MODE_BIND || p->mode == NB_MODE_ADVERSARIAL || p->mode == NB_MODE_REMOTE) {
    for (int i = 0; i < nsel; i++) {
      if (sel[i].node < 0) {
        rc = nb__err(err, NB_EINVAL,
                     "GPU %d (%s): NUMA node unknown, mode %s needs it; give it with --gpu-node %d=NODE",
                     sel[i].index, sel[i].bus_id, nb_mode_name(p->mode), sel[i].index);
        goto fail;
      }
      if (p->mode != NB_MODE_REMOTE && !usable_node(topo, sel[i].node)) {
        char cpus[256];
        node_cpus_text(topo, cpus, sizeof cpus);
        rc =
            nb__err(err, NB_EINVAL,
                    "GPU %d (%s): its node %d has no CPUs this process may use (allowed CPUs %s), so mode %s "
                    "cannot put threads there; run where node %d is allowed",
                    sel[i].index, sel[i].bus_id, sel[i].node, cpus, nb_mode_name(p->mode), sel[i].node);
        goto fail;
      }
    }
  }

  p->ngpus = nsel;
  p->gpus = calloc((size_t)nsel, sizeof *p->gpus);
  p->workers_of = calloc((size_t)nsel, sizeof *p->workers_of);
  p->notes = calloc((size_t)nsel, sizeof *p->notes);
  if (!p->gpus || !p->workers_of || !p->notes) {
    rc = oom(err);
    goto fail;
  }
  for (int i = 0; i < nsel; i++) {
    struct nb_gpu_plan *g = &p->gpus[i];
    g->gpu = sel[i].index;
    g->bus_id = sel[i].bus_id;
    g->name = sel[i].name;
    g->gpu_node = sel[i].node;
    g->gpu_node_overridden = sel[i].overridden;
    if (!(p->workers_of[i] = calloc((size_t)p->workers, sizeof **p->workers_of))) {
      rc = oom(err);
      goto fail;
    }
    g->workers = p->workers_of[i];
    g->nworkers = p->workers;

    int ties = 0, far = g->gpu_node >= 0 ? farthest(topo, g->gpu_node, &ties) : -1;
    int feed_node = -1, work_node = -1, stage_node = -1;
    enum nb_mem_policy pol = NB_MEM_BIND;
    switch (p->mode) {
    case NB_MODE_NONE:
      pol = NB_MEM_DEFAULT;
      break;
    case NB_MODE_BIND:
      feed_node = work_node = stage_node = g->gpu_node;
      break;
    case NB_MODE_ADVERSARIAL:
      work_node = g->gpu_node;
      feed_node = stage_node = far;
      break;
    case NB_MODE_REMOTE:
      feed_node = work_node = stage_node = far;
      break;
    case NB_MODE_INTERLEAVE:
      pol = NB_MEM_INTERLEAVE;
      break;
    }
    g->feeder =
        (struct nb_thread_plan){NB_ROLE_FEEDER, -1, 0, NULL, -1, pol, pol == NB_MEM_BIND ? feed_node : -1};
    for (int w = 0; w < p->workers; w++)
      p->workers_of[i][w] =
          (struct nb_thread_plan){NB_ROLE_WORKER, w, 0, NULL, -1, pol, pol == NB_MEM_BIND ? work_node : -1};
    g->staging = (struct nb_buf_plan){pol, pol == NB_MEM_BIND ? stage_node : -1};
    /* The device side: the GPU's node's CPUs and memory, whatever the mode. */
    g->device = (struct nb_thread_plan){NB_ROLE_DEVICE, -1, 0, NULL, -1, NB_MEM_DEFAULT, -1};
    if (g->gpu_node >= 0 && usable_node(topo, g->gpu_node)) {
      const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, g->gpu_node));
      g->device = (struct nb_thread_plan){NB_ROLE_DEVICE, -1,          nd->ncpus,  nd->cpus,
                                          g->gpu_node,    NB_MEM_BIND, g->gpu_node};
    }
    /* The device's memory sits on the GPU's side of the link whatever the
     * mode: that is what makes remote placement cost a crossing. */
    g->device_buf = g->gpu_node >= 0 ? (struct nb_buf_plan){NB_MEM_BIND, g->gpu_node}
                                     : (struct nb_buf_plan){NB_MEM_DEFAULT, -1};
    if (p->mode == NB_MODE_NONE)
      nb__strv_addf(&p->notes[i], "unbound: the scheduler places threads and pages; the audit records where");
    if (p->mode == NB_MODE_INTERLEAVE)
      nb__strv_addf(&p->notes[i], "CPUs unbound; memory interleaved over the allowed nodes");
    if (g->gpu_node_overridden)
      nb__strv_addf(&p->notes[i], "GPU node %d given with --gpu-node", g->gpu_node);
    if (ties && (p->mode == NB_MODE_ADVERSARIAL || p->mode == NB_MODE_REMOTE))
      nb__strv_addf(&p->notes[i],
                    "%d other node%s as far as node %d; the lowest index was taken, so remote threads "
                    "of several GPUs may share it",
                    ties, ties == 1 ? " is" : "s are", far);
  }

  /* CPUs, node by node: every group of threads placed on a node shares that
   * node's cores, disjointly. */
  if (!(groups = calloc((size_t)nsel, sizeof *groups))) {
    rc = oom(err);
    goto fail;
  }
  for (int ni = 0; ni < nb_topo_nnodes(topo); ni++) {
    int node = nb_topo_node(topo, ni)->os_index, k = 0;
    for (int i = 0; i < nsel; i++) {
      struct nb_gpu_plan *g = &p->gpus[i];
      int feeder_here = g->feeder.mem_node == node && p->mode != NB_MODE_NONE;
      int workers_here = p->workers_of[i][0].mem_node == node;
      if (!feeder_here && !workers_here)
        continue;
      struct nb_thread_plan **t = calloc((size_t)p->workers + 1, sizeof *t);
      if (!t) {
        for (int j = 0; j < k; j++)
          free(groups[j].threads);
        rc = oom(err);
        goto fail;
      }
      int n = 0;
      if (feeder_here)
        t[n++] = &g->feeder;
      if (workers_here)
        for (int w = 0; w < p->workers; w++)
          t[n++] = &p->workers_of[i][w];
      groups[k++] = (struct group){i, n, t};
    }
    if (k)
      rc = place_node(p, node, groups, k);
    for (int j = 0; j < k; j++)
      free(groups[j].threads);
    if (rc < 0) {
      rc = oom(err);
      goto fail;
    }
  }

  /* Shares, oversubscription notes. */
  for (int i = 0; i < nsel; i++) {
    struct nb_gpu_plan *g = &p->gpus[i];
    int total = g->feeder.ncpus;
    for (int w = 0; w < g->nworkers; w++)
      total += g->workers[w].ncpus;
    int *share = malloc((size_t)(total ? total : 1) * sizeof *share), n = 0;
    if (!share || !own(p, share)) {
      rc = oom(err);
      goto fail;
    }
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

  if (p->mode == NB_MODE_INTERLEAVE) {
    p->interleave = malloc((size_t)nb_topo_nnodes(topo) * sizeof *p->interleave);
    if (!p->interleave) {
      rc = oom(err);
      goto fail;
    }
    for (int i = 0; i < nb_topo_nnodes(topo); i++)
      if (nb_topo_node(topo, i)->allowed && nb_topo_node(topo, i)->memory_bytes > 0)
        p->interleave[p->ninterleave++] = nb_topo_node(topo, i)->os_index;
  }
  for (int i = 0; i < nsel; i++) {
    p->gpus[i].nnotes = p->notes[i].n;
    p->gpus[i].notes = (const char *const *)p->notes[i].v;
  }
  free(all);
  free(sel);
  free(groups);
  *planp = p;
  return 0;

fail:
  free(all);
  free(sel);
  free(groups);
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
