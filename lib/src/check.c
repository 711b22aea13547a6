/* numabench: `plan --check`. Applies a plan to real threads and small
 * buffers on this machine, then asks the kernel where everything is. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench/audit.h>

#include "nb-internal.h"
#include "report.h"

#define CHECK_PAGE_SAMPLES 4096
#define MAX_SEEN_CPUS 64

struct chk_buf {
  const char *name; /* "staging", "device", "worker" */
  struct nb_buf buf;
  struct nb_hist pages;
  double share; /* of sampled pages on the planned node */
  bool ok;
};

struct chk_thread {
  struct nb_check *chk;
  int gpu; /* index into the plan */
  const struct nb_thread_plan *tp;
  pthread_t tid;
  bool started;
  int rc;
  nb_error_t err;
  struct nb_bind_status bind;
  struct chk_buf bufs[2];
  int nbufs;
  struct nb_hist cpus; /* CPU samples by node */
  int seen[MAX_SEEN_CPUS];
  int nseen;
  double share; /* of CPU samples on the planned node */
  bool ok;
  volatile unsigned long sink; /* keeps the work loop from being optimised away */
};

struct nb_check {
  nb_plan_t plan;
  nb_topo_t topo;
  struct nb_check_config cfg;
  int nthreads;
  struct chk_thread *threads;
  pthread_barrier_t start;
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

static void note_cpu(struct chk_thread *t)
{
  int cpu = sched_getcpu();
  for (int i = 0; i < t->nseen; i++)
    if (t->seen[i] == cpu)
      return;
  if (t->nseen < MAX_SEEN_CPUS)
    t->seen[t->nseen++] = cpu;
}

static void *check_thread(void *arg)
{
  struct chk_thread *t = arg;
  struct nb_check *c = t->chk;
  const struct nb_gpu_plan *g = nb_plan_gpu(c->plan, t->gpu);
  const int *il;
  int nil = nb_plan_interleave_nodes(c->plan, &il);

  /* Affinity, then policy, then allocate and first-touch from here. */
  t->rc = nb_bind_self(c->topo, t->tp, il, nil, &t->bind, &t->err);
  if (t->rc == 0) {
    if (t->tp->role == NB_ROLE_FEEDER) {
      t->bufs[0].name = "staging";
      t->rc = nb_buf_alloc(c->topo, &t->bufs[0].buf, c->cfg.buf_bytes, &g->staging, il, nil, &t->err);
      t->nbufs = t->rc == 0;
      if (t->rc == 0) {
        t->bufs[1].name = "device";
        t->rc = nb_buf_alloc(c->topo, &t->bufs[1].buf, c->cfg.buf_bytes, &g->device_buf, il, nil, &t->err);
        t->nbufs += t->rc == 0;
      }
    } else {
      struct nb_buf_plan bp = {t->tp->mem_policy, t->tp->mem_node};
      t->bufs[0].name = "worker";
      t->rc = nb_buf_alloc(c->topo, &t->bufs[0].buf, c->cfg.buf_bytes, &bp, il, nil, &t->err);
      t->nbufs = t->rc == 0;
    }
  }
  pthread_barrier_wait(&c->start);
  if (t->rc < 0)
    return NULL;

  /* Work on the buffer while sampling where we run. */
  double end = now_s() + c->cfg.seconds;
  unsigned char *p = t->bufs[0].buf.addr;
  size_t len = t->bufs[0].buf.len, at = 0;
  unsigned long sum = 0;
  do {
    for (int k = 0; k < 4096; k++, at = (at + 4096 + 64) % len)
      sum += p[at]++;
    nb_audit_cpu_sample(c->topo, &t->cpus);
    note_cpu(t);
  } while (now_s() < end);
  t->sink = sum;
  return NULL;
}

static int cmp_int(const void *a, const void *b) { return nb__cmp_int(a, b); }

/* Judge a buffer from its page histogram. */
static void judge_buf(struct nb_check *c, struct chk_buf *b)
{
  const struct nb_buf_plan *pl = &b->buf.plan;
  b->ok = true;
  if (pl->policy == NB_MEM_BIND) {
    b->share = nb_hist_share(&b->pages, c->topo, pl->node);
    b->ok = b->share >= NB_PLACEMENT_THRESHOLD;
  } else if (pl->policy == NB_MEM_INTERLEAVE) {
    const int *il;
    int nil = nb_plan_interleave_nodes(c->plan, &il);
    double on = 0;
    for (int i = 0; i < nil; i++) {
      double s = nb_hist_share(&b->pages, c->topo, il[i]);
      on += s;
      /* Every interleave node holds pages, when there are enough pages. */
      if (s == 0 && b->pages.total >= 4 * nil)
        b->ok = false;
    }
    b->share = on;
    b->ok = b->ok && on >= NB_PLACEMENT_THRESHOLD;
  }
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
  if (!c->cfg.buf_bytes)
    c->cfg.buf_bytes = 8u << 20;
  for (int i = 0; i < nb_plan_ngpus(plan); i++)
    c->nthreads += 1 + nb_plan_gpu(plan, i)->nworkers;
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
      t->tp = w < 0 ? &g->feeder : &g->workers[w];
      if (nb_hist_init(&t->cpus, topo) < 0 || nb_hist_init(&t->bufs[0].pages, topo) < 0 ||
          nb_hist_init(&t->bufs[1].pages, topo) < 0) {
        nb_check_free(c);
        return nb__err(err, NB_ENOMEM, "check: out of memory");
      }
    }
  }
  if (nb_numastat_read(topo, &c->before) < 0) {
    nb_check_free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }

  pthread_barrier_init(&c->start, NULL, (unsigned)c->nthreads + 1);
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
  if (rc < 0) {
    /* Threads already started wait at the barrier for all: release them by
     * completing it with stand-ins. */
    for (int k = started; k < c->nthreads; k++) {
      c->threads[k].rc = NB_EINTERNAL;
      pthread_barrier_wait(&c->start);
    }
  }
  pthread_barrier_wait(&c->start);
  for (int k = 0; k < c->nthreads; k++)
    if (c->threads[k].started)
      pthread_join(c->threads[k].tid, NULL);
  pthread_barrier_destroy(&c->start);
  if (rc < 0) {
    nb_check_free(c);
    return rc;
  }
  for (int k = 0; k < c->nthreads; k++)
    if (c->threads[k].rc < 0) {
      rc = c->threads[k].rc;
      if (err)
        *err = c->threads[k].err;
      nb_check_free(c);
      return rc;
    }

  /* The audit's self-test: move GPU 0's staging pages away. */
  if (c->cfg.move_staging_to >= 0) {
    if ((rc = nb_buf_move(&c->threads[0].bufs[0].buf, c->cfg.move_staging_to, err)) < 0) {
      nb_check_free(c);
      return rc;
    }
    c->moved = 1;
  }

  c->achieved = true;
  for (int k = 0; k < c->nthreads; k++) {
    struct chk_thread *t = &c->threads[k];
    qsort(t->seen, (size_t)t->nseen, sizeof *t->seen, cmp_int);
    t->ok = true;
    if (t->tp->cpu_node >= 0) {
      t->share = nb_hist_share(&t->cpus, topo, t->tp->cpu_node);
      t->ok = t->share >= NB_PLACEMENT_THRESHOLD;
    }
    c->achieved &= t->ok;
    for (int b = 0; b < t->nbufs; b++) {
      struct chk_buf *cb = &t->bufs[b];
      if ((rc = nb_audit_pages(topo, cb->buf.addr, cb->buf.len, CHECK_PAGE_SAMPLES, &cb->pages, err)) < 0) {
        nb_check_free(c);
        return rc;
      }
      judge_buf(c, cb);
      c->achieved &= cb->ok;
    }
  }
  if (nb_numastat_read(topo, &c->after) < 0) {
    nb_check_free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }
  for (int k = 0; k < c->nthreads; k++)
    for (int b = 0; b < c->threads[k].nbufs; b++)
      nb_buf_free(&c->threads[k].bufs[b].buf);
  *checkp = c;
  return 0;
}

void nb_check_free(nb_check_t c)
{
  if (!c)
    return;
  for (int k = 0; k < c->nthreads; k++) {
    struct chk_thread *t = &c->threads[k];
    nb_hist_free(&t->cpus);
    for (int b = 0; b < 2; b++) {
      nb_buf_free(&t->bufs[b].buf);
      nb_hist_free(&t->bufs[b].pages);
    }
  }
  nb_numastat_free(&c->before);
  nb_numastat_free(&c->after);
  free(c->threads);
  free(c);
}

bool nb_check_achieved(nb_check_t c) { return c->achieved; }

/* ---- text ---- */

static const char *hist_text(char *buf, size_t len, const struct nb_hist *h, nb_topo_t topo)
{
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < h->nnodes && used < len; i++) {
    if (!h->count[i])
      continue;
    used += (size_t)snprintf(buf + used, len - used, "%snode %d %.0f%%", used ? ", " : "",
                             nb_topo_node(topo, i)->os_index, 100.0 * (double)h->count[i] / (double)h->total);
  }
  if (h->other && used < len)
    used += (size_t)snprintf(buf + used, len - used, "%sno node %.0f%%", used ? ", " : "",
                             100.0 * (double)h->other / (double)h->total);
  if (!h->total)
    snprintf(buf, len, "no samples");
  return buf;
}

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
    fprintf(out, "  %-10s %-16s %-8s %-11s %-28s %s\n", "thread", "planned CPUs", "on node", "bound", "ran on",
            "ok");
    for (int k = 0; k < c->nthreads; k++) {
      struct chk_thread *t = &c->threads[k];
      if (t->gpu != i)
        continue;
      char name[32], node[16];
      if (t->tp->role == NB_ROLE_FEEDER)
        snprintf(name, sizeof name, "feeder");
      else
        snprintf(name, sizeof name, "worker %d", t->tp->worker);
      char *cpus = t->tp->ncpus ? nb__cpulist_dup(t->tp->cpus, t->tp->ncpus) : strdup("unbound");
      snprintf(node, sizeof node, t->tp->cpu_node >= 0 ? "%d" : "-", t->tp->cpu_node);
      nb_format_cpulist(a, sizeof a, t->seen, t->nseen);
      snprintf(d, sizeof d, "%s (CPUs %s)", hist_text(b, sizeof b, &t->cpus, topo), a);
      fprintf(out, "  %-10s %-16s %-8s %-11s %-28s %s\n", name, cpus ? cpus : "?", node, t->bind.level, d,
              t->tp->cpu_node < 0 ? "-" : t->ok ? "yes" : "NO");
      free(cpus);
    }
    fprintf(out, "  %-10s %-16s %-20s %-28s %s\n", "buffer", "planned", "policy", "pages", "ok");
    for (int k = 0; k < c->nthreads; k++) {
      struct chk_thread *t = &c->threads[k];
      if (t->gpu != i)
        continue;
      for (int bi = 0; bi < t->nbufs; bi++) {
        struct chk_buf *cb = &t->bufs[bi];
        char name[32];
        if (t->tp->role == NB_ROLE_FEEDER)
          snprintf(name, sizeof name, "%s", cb->name);
        else
          snprintf(name, sizeof name, "worker %d", t->tp->worker);
        snprintf(d, sizeof d, "%s%s%s", nb_mem_seen_name(cb->buf.policy), cb->buf.mbind_errno ? " (refused: " : "",
                 cb->buf.mbind_errno ? strerror(cb->buf.mbind_errno) : "");
        if (cb->buf.mbind_errno)
          strncat(d, ")", sizeof d - strlen(d) - 1);
        fprintf(out, "  %-10s %-16s %-20s %-28s %s\n", name,
                planned_text(a, sizeof a, cb->buf.plan.policy, cb->buf.plan.node), d,
                hist_text(b, sizeof b, &cb->pages, topo), cb->buf.plan.policy == NB_MEM_DEFAULT ? "-" : cb->ok ? "yes" : "NO");
      }
    }
  }
  fprintf(out, "\nnumastat during the check (pages):");
  for (int i = 0; i < c->after.nnodes; i++)
    fprintf(out, "%s node %d: numa_hit +%llu, numa_miss +%llu, numa_foreign +%llu, other_node +%llu", i ? ";" : "",
            c->after.node[i], (unsigned long long)(c->after.numa_hit[i] - c->before.numa_hit[i]),
            (unsigned long long)(c->after.numa_miss[i] - c->before.numa_miss[i]),
            (unsigned long long)(c->after.numa_foreign[i] - c->before.numa_foreign[i]),
            (unsigned long long)(c->after.other_node[i] - c->before.other_node[i]));
  fprintf(out, "\n");
  if (c->moved)
    fprintf(out, "Self-test: GPU %d's staging pages were moved to node %d before the audit.\n",
            nb_plan_gpu(c->plan, 0)->gpu, c->cfg.move_staging_to);
  if (c->achieved)
    fprintf(out, "Placement achieved: every planned thread and buffer has >= %.0f%% of its CPU samples and pages on "
                 "its planned node.\n", 100 * NB_PLACEMENT_THRESHOLD);
  else
    fprintf(out, "PLACEMENT NOT ACHIEVED: the rows marked NO have under %.0f%% of their CPU samples or pages on the "
                 "planned node.\n", 100 * NB_PLACEMENT_THRESHOLD);
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "check: writing text");
  return 0;
}

/* ---- JSON ---- */

static json_t *hist_json(const struct nb_hist *h, nb_topo_t topo)
{
  json_t *a = json_array();
  for (int i = 0; a && i < h->nnodes; i++)
    if (h->count[i])
      json_array_append_new(a, json_pack("{s:i, s:I}", "node", nb_topo_node(topo, i)->os_index, "count",
                                         (json_int_t)h->count[i]));
  return json_pack("{s:o, s:I, s:I}", "nodes", a, "other", (json_int_t)h->other, "total", (json_int_t)h->total);
}

static json_t *errno_json(int e) { return e ? json_string(strerror(e)) : json_null(); }

static json_t *numastat_json(const struct nb_numastat *b, const struct nb_numastat *a)
{
  json_t *arr = json_array();
  for (int i = 0; arr && i < a->nnodes; i++)
    json_array_append_new(arr, json_pack("{s:i, s:I, s:I, s:I, s:I}", "node", a->node[i], "numa_hit",
                                         (json_int_t)(a->numa_hit[i] - b->numa_hit[i]), "numa_miss",
                                         (json_int_t)(a->numa_miss[i] - b->numa_miss[i]), "numa_foreign",
                                         (json_int_t)(a->numa_foreign[i] - b->numa_foreign[i]), "other_node",
                                         (json_int_t)(a->other_node[i] - b->other_node[i])));
  return arr;
}

int nb_check_write_json(nb_check_t c, FILE *out, nb_error_t *err)
{
  json_t *doc = nb__plan_json(c->plan), *gpus = json_array();
  for (int i = 0; doc && gpus && i < nb_plan_ngpus(c->plan); i++) {
    json_t *threads = json_array(), *bufs = json_array();
    for (int k = 0; k < c->nthreads; k++) {
      struct chk_thread *t = &c->threads[k];
      if (t->gpu != i)
        continue;
      json_t *nodes = json_array();
      for (int n = 0; n < t->bind.nmem_nodes_seen; n++)
        json_array_append_new(nodes, json_integer(t->bind.mem_nodes_seen[n]));
      json_t *seen = json_array();
      for (int n = 0; n < t->nseen; n++)
        json_array_append_new(seen, json_integer(t->seen[n]));
      json_array_append_new(
        threads, json_pack("{s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:b}", "role",
                           t->tp->role == NB_ROLE_FEEDER ? "feeder" : "worker", "worker",
                           t->tp->worker >= 0 ? json_integer(t->tp->worker) : json_null(), "planned_cpu_node",
                           t->tp->cpu_node >= 0 ? json_integer(t->tp->cpu_node) : json_null(), "bind_level",
                           t->bind.level, "cpu_error", errno_json(t->bind.cpu_errno), "mem_error",
                           errno_json(t->bind.mem_errno), "cpu_samples", hist_json(&t->cpus, c->topo), "cpus_seen",
                           seen, "mem_policy_seen", nb_mem_seen_name(t->bind.mem_seen), "mem_nodes_seen", nodes,
                           "share_on_planned_node", t->tp->cpu_node >= 0 ? json_real(t->share) : json_null(), "ok",
                           t->ok));
      for (int b = 0; b < t->nbufs; b++) {
        struct chk_buf *cb = &t->bufs[b];
        json_array_append_new(
          bufs, json_pack("{s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:o, s:f, s:b}", "name", cb->name, "worker",
                          t->tp->worker >= 0 ? json_integer(t->tp->worker) : json_null(), "planned_policy",
                          nb_mem_policy_name(cb->buf.plan.policy), "planned_node",
                          cb->buf.plan.node >= 0 ? json_integer(cb->buf.plan.node) : json_null(), "policy",
                          nb_mem_seen_name(cb->buf.policy), "policy_error", errno_json(cb->buf.mbind_errno), "pages",
                          hist_json(&cb->pages, c->topo), "share_on_planned_node",
                          cb->buf.plan.policy != NB_MEM_DEFAULT ? json_real(cb->share) : json_null(), "alloc_s",
                          cb->buf.alloc_s, "ok", cb->ok));
      }
    }
    json_array_append_new(gpus, json_pack("{s:i, s:o, s:o}", "gpu", nb_plan_gpu(c->plan, i)->gpu, "threads", threads,
                                          "buffers", bufs));
  }
  json_t *audit = json_pack("{s:b, s:f, s:f, s:o, s:o, s:o}", "achieved", c->achieved, "threshold",
                            NB_PLACEMENT_THRESHOLD, "seconds", c->cfg.seconds, "moved_staging_to",
                            c->moved ? json_integer(c->cfg.move_staging_to) : json_null(), "gpus", gpus, "numastat",
                            numastat_json(&c->before, &c->after));
  if (doc && audit)
    json_object_set_new(doc, "audit", audit);
  else
    json_decref(audit);
  int rc = nb__json_write(doc, out, "check", err);
  json_decref(doc);
  return rc;
}
