/* numabench: a run's memory needs, and its results once the threads end. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench/cgroup.h>
#include <numabench/gen.h>
#include <numabench/run.h>

#include "cgroup.h"
#include "nb-internal.h"
#include "pipeline.h"

const char *nb_stage_name(enum nb_stage s)
{
  static const char *const names[NB_NSTAGES] = {"generate",    "collate",     "staging_copy",
                                                "device_copy", "device_work", "cpu_work"};
  return (unsigned)s < NB_NSTAGES ? names[s] : "?";
}

const char *nb_pipeline_name(enum nb_pipeline p)
{
  return p == NB_PIPE_DIRECT ? "direct" : "torch";
}

const char *nb_backend_name(enum nb_backend b)
{
  return b == NB_BACKEND_CUDA ? "cuda" : b == NB_BACKEND_HOST ? "host" : "auto";
}

const char *nb_source_name(enum nb_source s)
{
  return s == NB_SOURCE_REPLAY ? "replay" : "randn";
}

/* ---- memory ---- */

static void charge(nb_topo_t topo, nb_plan_t plan, enum nb_mem_policy pol, int node, uint64_t bytes,
                   uint64_t *need, uint64_t *floating)
{
  int i = pol == NB_MEM_BIND ? nb_topo_node_index(topo, node) : -1;
  if (i >= 0) {
    need[i] += bytes;
    return;
  }
  const int *il;
  int nil = pol == NB_MEM_INTERLEAVE ? nb_plan_interleave_nodes(plan, &il) : 0;
  if (nil == 0) {
    *floating += bytes;
    return;
  }
  for (int k = 0; k < nil; k++) {
    int j = nb_topo_node_index(topo, il[k]);
    if (j >= 0)
      need[j] += bytes / (uint64_t)nil + 1;
  }
}

void nb_run_memory(nb_plan_t plan, const struct nb_run_config *cfg, uint64_t *need, uint64_t *floating)
{
  nb_topo_t topo = nb_plan_topo(plan);
  struct nb__layout l;
  nb__layout(&l, cfg, nb__copy_ops_for(cfg->backend));
  memset(need, 0, (size_t)nb_topo_nnodes(topo) * sizeof *need);
  *floating = 0;
  for (int i = 0; i < nb_plan_ngpus(plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    /* Each worker's own buffers, where the worker's memory goes. */
    uint64_t own = (uint64_t)l.per_worker[NB__BUF_WORKER] * l.batch_bytes +
                   (uint64_t)l.per_worker[NB__BUF_SCRATCH] * l.sample_bytes +
                   (uint64_t)l.per_worker[NB__BUF_POOL] * l.pool_bytes;
    for (int w = 0; own && w < g->nworkers; w++)
      charge(topo, plan, g->workers[w].mem_policy, g->workers[w].mem_node, own, need, floating);
    uint64_t stage = (uint64_t)nb__layout_count(&l, NB__BUF_STAGING, g->nworkers) * l.batch_bytes;
    uint64_t dev = (uint64_t)nb__layout_count(&l, NB__BUF_DEVICE, g->nworkers) * nb__layout_bytes(&l, NB__BUF_DEVICE);
    charge(topo, plan, g->staging.policy, g->staging.node, stage, need, floating);
    if (dev)
      charge(topo, plan, g->device_buf.policy, g->device_buf.node, dev, need, floating);
  }
}

/* 0 when it fits in fraction of free memory; else the first node (index + 1)
 * that does not, nnodes + 1 for floating memory, or nnodes + 2 when all of it
 * exceeds the fraction of what the cgroup's memory limit leaves. */
static int fits(nb_plan_t plan, const struct nb_run_config *cfg, double fraction, uint64_t *need,
                uint64_t *floating)
{
  nb_topo_t topo = nb_plan_topo(plan);
  int n = nb_topo_nnodes(topo);
  nb_run_memory(plan, cfg, need, floating);
  double spare = 0;
  for (int i = 0; i < n; i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    double avail = nd->free_bytes >= 0 ? (double)nd->free_bytes * fraction : 0;
    if ((double)need[i] > avail)
      return i + 1;
    /* A GPU's own memory is not room for host memory: it is the GPU's
     * working memory, and the planner never counts it either (nb__topo_mem_usable),
     * so unbound memory that would fit only there is refused up front. */
    if (nd->mem_allowed && !nd->gpu_memory)
      spare += avail - (double)need[i];
  }
  if ((double)*floating > spare)
    return n + 1;
  double total = (double)*floating, room = nb__cgroup_room(topo);
  for (int i = 0; i < n; i++)
    total += (double)need[i];
  return room >= 0 && total > room * fraction ? n + 2 : 0;
}

int nb_run_pick_batch(nb_plan_t *plans, int nplans, const struct nb_run_config *cfg, int max, double fraction)
{
  struct nb_run_config c = *cfg;
  int n = nb_topo_nnodes(nb_plan_topo(plans[0]));
  uint64_t *need = calloc((size_t)n, sizeof *need), floating;
  if (!need)
    return 0;
  int best = 0;
  for (int b = max; b >= 1 && !best; b--) {
    c.batch = b;
    int ok = 1;
    for (int p = 0; p < nplans && ok; p++)
      ok = fits(plans[p], &c, fraction, need, &floating) == 0;
    if (ok)
      best = b;
  }
  free(need);
  return best;
}

static const char *gib(char *buf, size_t len, double bytes)
{
  snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  return buf;
}

/* What to lower, for the memory guard's line: replay's pools are often the
 * largest part. */
static const char *pool_hint(const struct nb_run_config *cfg, char *buf, size_t len)
{
  char a[32];
  if (cfg->source != NB_SOURCE_REPLAY)
    return "";
  snprintf(buf, len, ", or a smaller --pool-size (each worker's pool now %s)",
           nb__mib_or_gib(a, sizeof a, (double)(nb_run_pool_samples(cfg) * nb_run_sample_bytes(cfg))));
  return buf;
}

static int cgroup_refusal(nb_plan_t plan, const struct nb_run_config *cfg, const uint64_t *need,
                          uint64_t floating, nb_error_t *err)
{
  const struct nb_cgroup *cg = nb_topo_cgroup(nb_plan_topo(plan));
  double total = (double)floating;
  for (int i = 0; i < nb_topo_nnodes(nb_plan_topo(plan)); i++)
    total += (double)need[i];
  char a[32], limit[NB_CGROUP_PATH_LEN + 160], hint[128];
  return nb__err(err, NB_EINVAL,
                 "mode %s: needs %s but %s; lower --batch (now %d) or --workers (now %d), or use a smaller "
                 "--sample%s",
                 nb_mode_name(nb_plan_mode(plan)), nb__mib_or_gib(a, sizeof a, total),
                 nb__cgroup_room_text(cg, limit, sizeof limit), cfg->batch, nb_plan_workers(plan),
                 pool_hint(cfg, hint, sizeof hint));
}

int nb_run_check_memory(nb_plan_t plan, const struct nb_run_config *cfg, nb_error_t *err)
{
  nb_topo_t topo = nb_plan_topo(plan);
  int n = nb_topo_nnodes(topo);
  uint64_t *need = calloc((size_t)n, sizeof *need), floating = 0;
  if (!need)
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  /* Leave a tenth of each node's free memory to everything else. */
  int bad = fits(plan, cfg, 0.9, need, &floating), rc = 0;
  if (bad) {
    char a[32], b[32], hint[128];
    pool_hint(cfg, hint, sizeof hint);
    if (cfg->source != NB_SOURCE_REPLAY)
      hint[0] = '\0';
    if (bad <= n) {
      const struct nb_node *nd = nb_topo_node(topo, bad - 1);
      rc = nb__err(err, NB_EINVAL,
                   "mode %s: needs %s on node %d but it has %s free (90%% usable); lower --batch (now %d) or "
                   "--workers (now %d), or use a smaller --sample%s",
                   nb_mode_name(nb_plan_mode(plan)), gib(a, sizeof a, (double)need[bad - 1]), nd->os_index,
                   gib(b, sizeof b, nd->free_bytes > 0 ? (double)nd->free_bytes : 0), cfg->batch,
                   nb_plan_workers(plan), hint);
    } else if (bad == n + 2) {
      rc = cgroup_refusal(plan, cfg, need, floating, err);
    } else {
      rc = nb__err(
          err, NB_EINVAL,
          "mode %s: needs %s more than the allowed nodes have free; lower --batch (now %d) or --workers "
          "(now %d), or use a smaller --sample%s",
          nb_mode_name(nb_plan_mode(plan)), gib(a, sizeof a, (double)floating), cfg->batch,
          nb_plan_workers(plan), hint);
    }
  }
  free(need);
  return rc;
}

/* ---- results ---- */

/* The clock's real granularity, as STREAM's checktick measures it: the
 * smallest step between distinct readings (clock_getres only says 1 ns). */
static double clock_tick(void)
{
  double best = 1.0;
  for (int i = 0; i < 20; i++) {
    double a = nb__now(), b;
    while ((b = nb__now()) == a)
      ;
    if (b - a < best)
      best = b - a;
  }
  return best;
}

static int gather(struct nb_run *r, int i, nb_error_t *err)
{
  struct gpu_pipe *gp = &r->g[i];
  struct nb_gpu_result *res = &r->res[i];
  const struct nb_run_config *c = &r->cfg;
  res->gpu = gp->gp->gpu;
  res->node = gp->gp->gpu_node;
  res->steps_done = (int)gp->steps_done;
  res->timed_steps = res->steps_done > c->warmup ? res->steps_done - c->warmup : 0;
  if (res->timed_steps > 0) {
    double start = c->warmup > 0 ? gp->done_t[c->warmup - 1] : 0; /* seconds since the device's start */
    double end = gp->done_t[res->steps_done - 1];
    res->seconds = end - start;
    if (!(res->step_ms = malloc((size_t)res->timed_steps * sizeof *res->step_ms)))
      return nb__err(err, NB_ENOMEM, "run: out of memory");
    double prev = start, tick = clock_tick();
    nb_welford_init(&res->step_stats);
    for (int k = 0; k < res->timed_steps; k++) {
      double t = gp->done_t[c->warmup + k];
      res->step_ms[k] = (t - prev) * 1e3;
      nb_welford_add(&res->step_stats, res->step_ms[k]);
      if (t - prev < 20 * tick)
        res->short_intervals = true;
      prev = t;
    }
    if (res->seconds > 0) {
      res->steps_per_s = res->timed_steps / res->seconds;
      res->samples_per_s = res->steps_per_s * c->batch;
      res->gbps = res->steps_per_s * (double)r->batch_bytes / 1e9;
      res->starved_pct = 100.0 * gp->idle_s / res->seconds;
    }
  }
  /* Per batch over the timed batches only; warm-up was not accumulated. */
  double fed = res->timed_steps > 0 ? (double)res->timed_steps : 1,
         built = gp->gen_batches > 0 ? (double)gp->gen_batches : 1;
  res->stage_ms[NB_STAGE_GENERATE] = 1e3 * gp->stage_s[NB_STAGE_GENERATE] / built;
  res->stage_ms[NB_STAGE_COLLATE] = 1e3 * gp->stage_s[NB_STAGE_COLLATE] / built;
  res->stage_ms[NB_STAGE_CPU_WORK] = 1e3 * gp->stage_s[NB_STAGE_CPU_WORK] / built;
  res->stage_ms[NB_STAGE_STAGING_COPY] = 1e3 * gp->stage_s[NB_STAGE_STAGING_COPY] / fed;
  res->stage_ms[NB_STAGE_DEVICE_COPY] = 1e3 * gp->stage_s[NB_STAGE_DEVICE_COPY] / fed;
  res->stage_ms[NB_STAGE_DEVICE_WORK] = r->ops->flags & NB__COPY_MODELLED_WORK
                                            ? c->gpu_work_us / 1e3
                                            : 1e3 * gp->stage_s[NB_STAGE_DEVICE_WORK] / fed;
  if (res->stage_ms[NB_STAGE_DEVICE_COPY] > 0)
    res->copy_gbps = (double)r->batch_bytes / (res->stage_ms[NB_STAGE_DEVICE_COPY] * 1e-3) / 1e9;
  res->pin_s = gp->pin_s;
  res->spin_scale = gp->spin_scale;
  res->pool_s = gp->pool_s;
  res->pool_bytes = r->layout.pool_bytes;
  res->cpu_work_rate = c->cpu_work_us > 0 && gp->gp->nworkers > 0 ? gp->cpu_rate_sum / gp->gp->nworkers : NAN;
  res->verified = gp->verified;
  res->mismatches = gp->mismatches;
  res->digest = c->verify ? nb_checksum(gp->expected, (size_t)gp->steps_done * sizeof *gp->expected, 0) : 0;
  return 0;
}

int nb_run_wait(nb_run_t r, nb_error_t *err)
{
  for (int k = 0; k < r->nstarted; k++)
    pthread_join(r->tids[k], NULL);
  r->interrupted = atomic_load(&r->stop) && !r->err.code;
  int rc = 0;
  /* Audit: every thread's samples, every buffer's pages, while they exist. */
  const int *il;
  int nil = nb_plan_interleave_nodes(r->plan, &il);
  r->achieved = true;
  r->steps_per_s = -1;
  for (int i = 0; i < r->ngpus && rc == 0; i++) {
    struct gpu_pipe *gp = &r->g[i];
    int W = gp->gp->nworkers;
    for (int k = 0; k < W + 2; k++) {
      nb__taudit_judge(&gp->taudit[k], r->topo);
      r->achieved &= gp->taudit[k].ok;
    }
    for (int k = 0; k < NB__NBUFKINDS && rc == 0; k++) {
      for (int j = 0; j < gp->nbufs[k] && rc == 0; j++)
        rc = nb__baudit_add(&gp->baudit[k], r->topo, &gp->bufs[k][j], err);
      nb__baudit_judge(&gp->baudit[k], r->topo, il, nil);
      r->achieved &= gp->baudit[k].ok;
    }
    if (rc == 0)
      rc = gather(r, i, err);
    for (int k = 0; k < NB__NBUFKINDS; k++)
      r->res[i].alloc_s += gp->baudit[k].alloc_s;
    double s = r->res[i].steps_per_s;
    if (r->steps_per_s < 0 || s < r->steps_per_s)
      r->steps_per_s = s;
  }
  if (rc == 0 && nb_numastat_read(r->topo, &r->after) < 0)
    rc = nb__err(err, NB_ENOMEM, "run: out of memory");
  /* Free the big buffers now; the records stay. */
  nb__run_free_buffers(r);
  if (rc == 0 && r->err.code) {
    if (err)
      *err = r->err;
    rc = r->err.code;
  }
  return rc;
}

bool nb_run_interrupted(nb_run_t r)
{
  return r->interrupted;
}
int nb_run_ngpus(nb_run_t r)
{
  return r->ngpus;
}
const struct nb_gpu_result *nb_run_gpu(nb_run_t r, int i)
{
  return i >= 0 && i < r->ngpus ? &r->res[i] : NULL;
}
double nb_run_steps_per_s(nb_run_t r)
{
  return r->steps_per_s > 0 ? r->steps_per_s : 0;
}
nb_plan_t nb_run_plan(nb_run_t r)
{
  return r->plan;
}
bool nb_run_placement_achieved(nb_run_t r)
{
  return r->achieved;
}
