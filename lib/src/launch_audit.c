/* numabench: launch's placement proof. While a run is in progress, the audit
 * (job_audit.h: CPU samples of every thread, resident pages per node from
 * numa_maps) samples every rank's process tree in a thread of its own; the
 * result is judged against what the mode planned, from exec's line: the
 * rank's process and its descendants apart, since adversarial plans them on
 * different nodes. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <numabench/job_audit.h>

#include "launch-internal.h"
#include "nb-internal.h"

struct target {
  int pid;
  int gpu_index;   /* the GPU exec resolved, -1 unknown */
  int gpu_node;    /* its node, -1 unknown */
  int rank_node;   /* planned: the rank's CPUs' node, -1 not bound */
  int worker_node; /* planned: its descendants', -1 not bound */
  bool adversarial;
};

struct nb__launch_audit {
  pthread_t thread;
  nb_topo_t topo;
  double duration;
  int n;
  struct target *t;
  json_t *doc; /* the audit's document, NULL when it failed */
  nb_error_t err;
  atomic_bool done; /* the thread has finished: joining it does not block */
};

/* The plan of rank r in this run's mode, from exec's line. */
static void plan_of(const struct nb_launch_run *run, int r, struct target *t)
{
  const struct nb_launch_rank *rk = &run->ranks[r];
  *t = (struct target){.pid = rk->pid, .gpu_index = -1, .gpu_node = -1, .rank_node = -1, .worker_node = -1};
  json_t *j = rk->exec_line ? json_loads(rk->exec_line, 0, NULL) : NULL;
  json_t *gpu = json_object_get(j, "gpu"), *cpu = json_object_get(j, "cpu_node");
  if (json_is_integer(json_object_get(gpu, "index")))
    t->gpu_index = (int)json_integer_value(json_object_get(gpu, "index"));
  if (json_is_integer(json_object_get(gpu, "numa_node")))
    t->gpu_node = (int)json_integer_value(json_object_get(gpu, "numa_node"));
  if (json_is_integer(cpu) && run->mode != NB_MODE_NONE) {
    t->rank_node = (int)json_integer_value(cpu);
    t->worker_node = run->mode == NB_MODE_ADVERSARIAL ? t->gpu_node : t->rank_node;
    t->adversarial = run->mode == NB_MODE_ADVERSARIAL;
  }
  json_decref(j);
}

static void *audit_thread(void *arg)
{
  struct nb__launch_audit *a = arg;
  struct nb_job_target *tg = calloc((size_t)a->n, sizeof *tg);
  int k = 0;
  for (int i = 0; tg && i < a->n; i++)
    if (a->t[i].pid > 0 && a->t[i].gpu_index >= 0) {
      tg[k].pid = a->t[i].pid;
      snprintf(tg[k].gpu, sizeof tg[k].gpu, "%d", a->t[i].gpu_index);
      k++;
    }
  struct nb_job_audit_config c = {.targets = tg, .ntargets = k, .children = true, .duration_s = a->duration};
  nb_job_audit_t au = NULL;
  char *text = NULL;
  size_t len = 0;
  FILE *mem = k ? open_memstream(&text, &len) : NULL;
  if (mem && nb_job_audit_run(a->topo, &c, &au, &a->err) == 0 &&
      nb_job_audit_write_json(au, mem, &a->err) == 0) {
    fclose(mem);
    mem = NULL;
    a->doc = json_loadb(text, len, 0, NULL);
  } else if (!k) {
    nb__err(&a->err, NB_EINVAL, "no rank had a GPU from exec's line to audit against");
  }
  if (mem)
    fclose(mem);
  free(text);
  nb_job_audit_free(au);
  free(tg);
  atomic_store(&a->done, true);
  return NULL;
}

bool nb__launch_audit_done(const struct nb__launch_audit *a)
{
  return a && atomic_load(&a->done);
}

struct nb__launch_audit *nb__launch_audit_start(nb_launch_t l, const struct nb_launch_run *run)
{
  struct nb__launch_audit *a = calloc(1, sizeof *a);
  if (!a || !l->topo || !(a->t = calloc((size_t)run->nranks, sizeof *a->t))) {
    free(a);
    return NULL;
  }
  a->topo = l->topo;
  a->duration = l->o->audit_for;
  a->n = run->nranks;
  for (int r = 0; r < run->nranks; r++)
    plan_of(run, r, &a->t[r]);
  if (pthread_create(&a->thread, NULL, audit_thread, a) != 0) {
    free(a->t);
    free(a);
    return NULL;
  }
  return a;
}

/* Samples and bytes of one audited process on node, added to *on and *all;
 * its shared-memory pages only with shm. */
static void count(json_t *p, int node, bool shm, long *s_on, long *s_all, double *b_on, double *b_all)
{
  size_t i, j;
  json_t *th, *nd;
  json_array_foreach(json_object_get(p, "threads"), i, th)
  {
    json_t *cs = json_object_get(th, "cpu_samples");
    json_array_foreach(json_object_get(cs, "nodes"), j, nd)
    {
      long c = (long)json_integer_value(json_object_get(nd, "count"));
      *s_all += c;
      if (json_integer_value(json_object_get(nd, "node")) == node)
        *s_on += c;
    }
    *s_all += (long)json_integer_value(json_object_get(cs, "other"));
  }
  static const char *const kinds[] = {"anon", "shm", "device"};
  json_t *res = json_object_get(p, "resident");
  for (int k = 0; k < 3; k++)
    if (k != 1 || shm)
      json_array_foreach(json_object_get(json_object_get(res, kinds[k]), "nodes"), j, nd)
      {
        double b = json_number_value(json_object_get(nd, "bytes"));
        *b_all += b;
        if (json_integer_value(json_object_get(nd, "node")) == node)
          *b_on += b;
      }
}

static double share(double on, double all)
{
  return all > 0 ? on / all : NAN;
}

/* The proof of one rank from the audit's document. */
static void judge(json_t *doc, const struct target *t, struct nb_launch_proof *pf)
{
  double thr = json_number_value(json_object_get(doc, "threshold"));
  int rn = t->rank_node >= 0 ? t->rank_node : t->gpu_node,
      wn = t->worker_node >= 0 ? t->worker_node : t->gpu_node;
  long rs_on = 0, rs_all = 0, ws_on = 0, ws_all = 0;
  double rb_on = 0, rb_all = 0, wb_on = 0, wb_all = 0;
  size_t i;
  json_t *p;
  bool seen = false;
  json_array_foreach(json_object_get(doc, "processes"), i, p)
  {
    json_t *rp = json_object_get(p, "rank_pid");
    int pid = (int)json_integer_value(json_object_get(p, "pid"));
    if (pid == t->pid) {
      seen = true;
      /* An adversarial rank's shared memory is mostly the batches its
       * workers made on their node and hand over through /dev/shm: remote
       * by the plan, so its pages are judged by its private memory. */
      count(p, rn, !t->adversarial, &rs_on, &rs_all, &rb_on, &rb_all);
    } else if (json_is_integer(rp) && json_integer_value(rp) == t->pid) {
      pf->workers_seen++;
      count(p, wn, true, &ws_on, &ws_all, &wb_on, &wb_all);
    }
  }
  json_array_foreach(json_object_get(doc, "ranks"), i,
                     p) if (json_integer_value(json_object_get(p, "pid")) == t->pid)
      snprintf(pf->verdict, sizeof pf->verdict, "%s", json_string_value(json_object_get(p, "verdict")));
  pf->audited = seen;
  if (!seen)
    snprintf(pf->why_not, sizeof pf->why_not, "the audit did not find the rank's process (it had exited)");
  pf->rank_cpu_share = share((double)rs_on, (double)rs_all);
  pf->rank_page_share = share(rb_on, rb_all);
  pf->worker_cpu_share = share((double)ws_on, (double)ws_all);
  pf->worker_page_share = share(wb_on, wb_all);
  double s[4] = {pf->rank_cpu_share, pf->rank_page_share, pf->worker_cpu_share, pf->worker_page_share};
  /* Adversarial workers are placed from outside after they started: the
   * pages they touched before are moved where the kernel allows, and pages
   * they share with the rank (copy-on-write) stay; their CPUs are the plan,
   * their pages are reported. */
  pf->as_planned = seen;
  for (int k = 0; k < (t->adversarial ? 3 : 4) && t->rank_node >= 0; k++)
    if (!isnan(s[k]) && s[k] < thr)
      pf->as_planned = false;
  pf->workers_off_node = t->worker_node >= 0 && !isnan(pf->worker_cpu_share) && pf->worker_cpu_share < thr;
}

void nb__launch_audit_end(struct nb__launch_audit *a, struct nb_launch_run *run)
{
  if (!a)
    return;
  pthread_join(a->thread, NULL);
  for (int r = 0; r < run->nranks && r < a->n; r++) {
    struct nb_launch_proof next, *pf = &next;
    *pf = (struct nb_launch_proof){.rank_node = a->t[r].rank_node,
                                   .worker_node = a->t[r].worker_node,
                                   .rank_cpu_share = NAN,
                                   .rank_page_share = NAN,
                                   .worker_cpu_share = NAN,
                                   .worker_page_share = NAN};
    if (a->doc)
      judge(a->doc, &a->t[r], pf);
    else
      snprintf(pf->why_not, sizeof pf->why_not, "the audit failed: %.90s", a->err.msg);
    /* A second audit (taken once the workers ran) that no longer found the
     * rank, because it exited meanwhile, leaves the first one's proof. */
    if (next.audited || !run->ranks[r].proof.audited)
      run->ranks[r].proof = next;
  }
  json_decref(a->doc);
  free(a->t);
  free(a);
}
