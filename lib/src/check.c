/* numabench: `plan --check`. Applies a plan to real threads and small
 * buffers on this machine, then asks the kernel where everything is. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench/audit.h>

#include "audit-internal.h"
#include "nb-internal.h"
#include "report.h"

struct chk_thread {
  struct nb_check *chk;
  int gpu; /* index into the plan */
  pthread_t tid;
  bool started;
  int rc;
  nb_error_t err;
  struct nb__taudit audit;
  struct nb_buf bufs[2]; /* worker: its batch buffer; feeder: staging, device */
  struct nb__baudit baudit[2];
  int nbufs;
  volatile unsigned long sink; /* keeps the work loop from being optimised away */
};

struct nb_check {
  nb_plan_t plan;
  nb_topo_t topo;
  struct nb_check_config cfg;
  int nthreads;
  struct chk_thread *threads;
  struct nb__gate start;
  struct nb_numastat before, after;
  int moved; /* staging moved for the self-test */
  bool achieved;
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *check_thread(void *arg)
{
  struct chk_thread *t = arg;
  struct nb_check *c = t->chk;
  const struct nb_gpu_plan *g = nb_plan_gpu(c->plan, t->gpu);
  const struct nb_thread_plan *tp = t->audit.tp;
  const int *il;
  int nil = nb_plan_interleave_nodes(c->plan, &il);

  /* Affinity, then policy, then allocate and first-touch from here. */
  t->rc = nb_bind_self(c->topo, tp, il, nil, &t->audit.bind, &t->err);
  struct nb_buf_plan own = {tp->mem_policy, tp->mem_node};
  const struct nb_buf_plan *plans[2] = {tp->role == NB_ROLE_FEEDER ? &g->staging : &own, &g->device_buf};
  int want = tp->role == NB_ROLE_FEEDER ? 2 : 1;
  for (int b = 0; t->rc == 0 && b < want; b++) {
    t->rc = nb_buf_alloc(c->topo, &t->bufs[b], c->cfg.buf_bytes, plans[b], il, nil, &t->err);
    t->nbufs += t->rc == 0;
  }
  nb__gate_arrive(&c->start);
  if (t->rc < 0)
    return NULL;

  /* Work on the buffer while sampling where we run. */
  double end = now_s() + c->cfg.seconds;
  unsigned char *p = t->bufs[0].addr;
  size_t len = t->bufs[0].len, at = 0;
  unsigned long sum = 0;
  do {
    for (int k = 0; k < 4096; k++, at = (at + 4096 + 64) % len)
      sum += p[at]++;
    nb__taudit_sample(&t->audit, c->topo);
  } while (now_s() < end);
  t->sink = sum;
  return NULL;
}

int nb_check_run(nb_plan_t plan, const struct nb_check_config *cfg, nb_check_t *checkp, nb_error_t *err)
{
  int rc = 0;
  nb_topo_t topo = nb_plan_topo(plan);
  *checkp = NULL;
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "topology %s is not this machine: its plans are never applied",
                   nb_topo_source(topo));
  struct nb_check *c = calloc(1, sizeof *c);
  if (!c)
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  c->plan = plan;
  c->topo = topo;
  c->cfg = cfg ? *cfg : (struct nb_check_config){0, 0, -1};
  if (c->cfg.seconds <= 0)
    c->cfg.seconds = 0.2;
  for (int i = 0; i < nb_plan_ngpus(plan); i++)
    c->nthreads += 1 + nb_plan_gpu(plan, i)->nworkers;
  if (!c->cfg.buf_bytes) {
    /* 8 MiB each, but all of them within an eighth of the free memory. */
    double free_total = 0;
    for (int i = 0; i < nb_topo_nnodes(topo); i++)
      if (nb_topo_node(topo, i)->allowed && nb_topo_node(topo, i)->free_bytes > 0)
        free_total += (double)nb_topo_node(topo, i)->free_bytes;
    double each = free_total / 8 / (c->nthreads + nb_plan_ngpus(plan));
    c->cfg.buf_bytes = each >= (8u << 20) ? (8u << 20) : each <= (64u << 10) ? (64u << 10) : (size_t)each;
  }
  c->threads = calloc((size_t)c->nthreads, sizeof *c->threads);
  if (!c->threads) {
    free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }
  for (int i = 0, k = 0; i < nb_plan_ngpus(plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    for (int w = -1; w < g->nworkers; w++, k++) {
      struct chk_thread *t = &c->threads[k];
      t->chk = c;
      t->gpu = i;
      /* A worker has one buffer (its batch); the feeder two (staging, device). */
      int feeder = w < 0;
      if (nb__taudit_init(&t->audit, topo, feeder ? &g->feeder : &g->workers[w]) < 0 ||
          nb__baudit_init(&t->baudit[0], topo, feeder ? "staging" : "worker", w) < 0 ||
          nb__baudit_init(&t->baudit[1], topo, "device", w) < 0) {
        nb_check_free(c);
        return nb__err(err, NB_ENOMEM, "check: out of memory");
      }
    }
  }
  if (nb_numastat_read(topo, &c->before) < 0) {
    nb_check_free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }

  nb__gate_init(&c->start);
  int started = 0;
  for (int k = 0; k < c->nthreads; k++) {
    int e = pthread_create(&c->threads[k].tid, NULL, check_thread, &c->threads[k]);
    if (e) {
      rc = nb__err_sys(err, NB_EINTERNAL, e, "check: creating thread %d of %d", k + 1, c->nthreads);
      break;
    }
    c->threads[k].started = true;
    started++;
  }
  nb__gate_open(&c->start, started);
  for (int k = 0; k < c->nthreads; k++)
    if (c->threads[k].started)
      pthread_join(c->threads[k].tid, NULL);
  nb__gate_destroy(&c->start);
  for (int k = 0; rc == 0 && k < started; k++)
    if (c->threads[k].rc < 0) {
      rc = c->threads[k].rc;
      if (err)
        *err = c->threads[k].err;
    }
  if (rc < 0) {
    nb_check_free(c);
    return rc;
  }

  /* The audit's self-test: move GPU 0's staging pages away. */
  if (c->cfg.move_staging_to >= 0) {
    if ((rc = nb_buf_move(&c->threads[0].bufs[0], c->cfg.move_staging_to, err)) < 0) {
      nb_check_free(c);
      return rc;
    }
    c->moved = 1;
  }

  const int *il;
  int nil = nb_plan_interleave_nodes(plan, &il);
  c->achieved = true;
  for (int k = 0; k < c->nthreads; k++) {
    struct chk_thread *t = &c->threads[k];
    nb__taudit_judge(&t->audit, topo);
    c->achieved &= t->audit.ok;
    for (int b = 0; b < t->nbufs; b++) {
      if ((rc = nb__baudit_add(&t->baudit[b], topo, &t->bufs[b], err)) < 0) {
        nb_check_free(c);
        return rc;
      }
      nb__baudit_judge(&t->baudit[b], topo, il, nil);
      c->achieved &= t->baudit[b].ok;
      nb_buf_free(&t->bufs[b]);
    }
  }
  if (nb_numastat_read(topo, &c->after) < 0) {
    nb_check_free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }
  *checkp = c;
  return 0;
}

void nb_check_free(nb_check_t c)
{
  if (!c)
    return;
  for (int k = 0; k < c->nthreads; k++) {
    struct chk_thread *t = &c->threads[k];
    nb__taudit_free(&t->audit);
    for (int b = 0; b < 2; b++) {
      nb_buf_free(&t->bufs[b]);
      nb__baudit_free(&t->baudit[b]);
    }
  }
  nb_numastat_free(&c->before);
  nb_numastat_free(&c->after);
  free(c->threads);
  free(c);
}

bool nb_check_achieved(nb_check_t c)
{
  return c->achieved;
}

/* ---- text ---- */

static const char *planned_text(char *buf, size_t len, enum nb_mem_policy p, int node)
{
  if (p == NB_MEM_BIND)
    snprintf(buf, len, "node %d", node);
  else
    snprintf(buf, len, "%s", p == NB_MEM_INTERLEAVE ? "interleaved" : "unbound");
  return buf;
}

int nb_check_write_text(nb_check_t c, FILE *out, nb_error_t *err)
{
  char a[256], b[512], d[1024];
  nb_topo_t topo = c->topo;
  fprintf(out, "Check: mode %s applied on this machine; the kernel reports:\n",
          nb_mode_name(nb_plan_mode(c->plan)));
  for (int i = 0; i < nb_plan_ngpus(c->plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(c->plan, i);
    fprintf(out, "\nGPU %d%s%s (node %d)\n", g->gpu, *g->bus_id ? " " : "", g->bus_id, g->gpu_node);
    fprintf(out, "  %-10s %-16s %-8s %-11s %-28s %s\n", "thread", "planned CPUs", "on node", "bound",
            "ran on", "ok");
    for (int k = 0; k < c->nthreads; k++) {
      struct chk_thread *t = &c->threads[k];
      const struct nb_thread_plan *tp = t->audit.tp;
      if (t->gpu != i)
        continue;
      char name[32], node[16];
      if (tp->role == NB_ROLE_FEEDER)
        snprintf(name, sizeof name, "feeder");
      else
        snprintf(name, sizeof name, "worker %d", tp->worker);
      char *cpus = tp->ncpus ? nb__cpulist_dup(tp->cpus, tp->ncpus) : strdup("unbound");
      snprintf(node, sizeof node, tp->cpu_node >= 0 ? "%d" : "-", tp->cpu_node);
      nb_format_cpulist(a, sizeof a, t->audit.seen, t->audit.nseen);
      snprintf(d, sizeof d, "%s (CPUs %s)", nb__hist_text(b, sizeof b, &t->audit.cpus, topo), a);
      fprintf(out, "  %-10s %-16s %-8s %-11s %-28s %s%s%s\n", name, cpus ? cpus : "?", node,
              t->audit.bind.level, d, t->audit.ok ? (tp->cpu_node < 0 ? "-" : "yes") : "NO",
              t->audit.why ? ": " : "", t->audit.why ? t->audit.why : "");
      free(cpus);
    }
    fprintf(out, "  %-10s %-16s %-20s %-28s %s\n", "buffer", "planned", "policy", "pages", "ok");
    for (int k = 0; k < c->nthreads; k++) {
      struct chk_thread *t = &c->threads[k];
      if (t->gpu != i)
        continue;
      for (int bi = 0; bi < t->nbufs; bi++) {
        const struct nb__baudit *ba = &t->baudit[bi];
        char name[32];
        if (ba->worker >= 0)
          snprintf(name, sizeof name, "worker %d", ba->worker);
        else
          snprintf(name, sizeof name, "%s", ba->name);
        snprintf(d, sizeof d, "%s%s%s%s", nb_mem_seen_name(ba->policy), ba->mbind_errno ? " (refused: " : "",
                 ba->mbind_errno ? strerror(ba->mbind_errno) : "", ba->mbind_errno ? ")" : "");
        fprintf(out, "  %-10s %-16s %-20s %-28s %s%s%s\n", name,
                planned_text(a, sizeof a, ba->plan.policy, ba->plan.node), d,
                ba->unverifiable ? "unknown (query refused)" : nb__hist_text(b, sizeof b, &ba->pages, topo),
                ba->plan.policy == NB_MEM_DEFAULT ? "-"
                : ba->ok                          ? "yes"
                                                  : "NO",
                ba->why ? ": " : "", ba->why ? ba->why : "");
      }
    }
  }
  fprintf(out, "\nnumastat during the check (pages):");
  for (int i = 0; i < c->after.nnodes; i++)
    fprintf(out, "%s node %d: numa_hit +%llu, numa_miss +%llu, numa_foreign +%llu, other_node +%llu",
            i ? ";" : "", c->after.node[i],
            (unsigned long long)(c->after.numa_hit[i] - c->before.numa_hit[i]),
            (unsigned long long)(c->after.numa_miss[i] - c->before.numa_miss[i]),
            (unsigned long long)(c->after.numa_foreign[i] - c->before.numa_foreign[i]),
            (unsigned long long)(c->after.other_node[i] - c->before.other_node[i]));
  fprintf(out, "\n");
  if (c->moved)
    fprintf(out, "Self-test: GPU %d's staging pages were moved to node %d before the audit.\n",
            nb_plan_gpu(c->plan, 0)->gpu, c->cfg.move_staging_to);
  if (c->achieved)
    fprintf(
        out,
        "Placement achieved: every planned thread and buffer has >= %.0f%% of its CPU samples and pages on "
        "its planned node.\n",
        100 * NB_PLACEMENT_THRESHOLD);
  else
    fprintf(
        out,
        "PLACEMENT NOT ACHIEVED: the rows marked NO have under %.0f%% of their CPU samples or pages on the "
        "planned node.\n",
        100 * NB_PLACEMENT_THRESHOLD);
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "check: writing text");
  return 0;
}

/* ---- JSON ---- */

int nb_check_write_json(nb_check_t c, FILE *out, nb_error_t *err)
{
  json_t *doc = nb__plan_json(c->plan), *gpus = json_array();
  for (int i = 0; doc && gpus && i < nb_plan_ngpus(c->plan); i++) {
    json_t *threads = json_array(), *bufs = json_array();
    for (int k = 0; k < c->nthreads; k++) {
      struct chk_thread *t = &c->threads[k];
      if (t->gpu != i)
        continue;
      json_array_append_new(threads, nb__taudit_json(&t->audit, c->topo));
      for (int b = 0; b < t->nbufs; b++)
        json_array_append_new(bufs, nb__baudit_json(&t->baudit[b], c->topo));
    }
    json_array_append_new(gpus, json_pack("{s:i, s:o, s:o}", "gpu", nb_plan_gpu(c->plan, i)->gpu, "threads",
                                          threads, "buffers", bufs));
  }
  json_t *audit = json_pack("{s:b, s:f, s:f, s:o, s:o, s:o}", "achieved", c->achieved, "threshold",
                            NB_PLACEMENT_THRESHOLD, "seconds", c->cfg.seconds, "moved_staging_to",
                            c->moved ? json_integer(c->cfg.move_staging_to) : json_null(), "gpus", gpus,
                            "numastat", nb__numastat_json(&c->before, &c->after));
  if (doc && audit)
    json_object_set_new(doc, "audit", audit);
  else
    json_decref(audit);
  int rc = nb__json_write(doc, out, "check", err);
  json_decref(doc);
  return rc;
}
