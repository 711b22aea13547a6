/* numabench: `plan --check` as text and JSON. Reads the check's result
 * (check-internal.h) and never changes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/audit.h>

#include "audit-internal.h"
#include "check-internal.h"
#include "json.h"
#include "nb-internal.h"
#include "report.h"

/* ---- text ---- */

/* GPU i's threads: planned CPUs, the binding reached, where they ran. */
static void write_threads(nb_check_t c, FILE *out, int i)
{
  char a[256], b[512], d[1024];
  fprintf(out, "  %-10s %-16s %-8s %-11s %-28s %s\n", "thread", "planned CPUs", "on node", "bound", "ran on",
          "ok");
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
    snprintf(d, sizeof d, "%s (CPUs %s)", nb__hist_text(b, sizeof b, &t->audit.cpus, c->topo), a);
    fprintf(out, "  %-10s %-16s %-8s %-11s %-28s %s%s%s\n", name, cpus ? cpus : "?", node,
            t->audit.bind.level, d,
            t->audit.ok ? (tp->cpu_node < 0    ? "-"
                           : t->audit.observed ? "yes"
                                               : "not observed")
                        : "NO",
            t->audit.why ? ": " : "", t->audit.why ? t->audit.why : "");
    free(cpus);
  }
}

/* GPU i's buffers: planned node, the policy the kernel took, where the pages are. */
static void write_buffers(nb_check_t c, FILE *out, int i)
{
  char a[256], b[512], d[1024];
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
              nb__mem_plan_text(a, sizeof a, ba->plan.policy, ba->plan.node), d,
              ba->unverifiable ? "unknown (query refused)" : nb__hist_text(b, sizeof b, &ba->pages, c->topo),
              ba->plan.policy == NB_MEM_DEFAULT ? "-"
              : ba->ok                          ? "yes"
                                                : "NO",
              ba->why ? ": " : "", ba->why ? ba->why : "");
    }
  }
}

/* What numastat counted while the check ran, per node. */
static void write_numastat(nb_check_t c, FILE *out)
{
  fprintf(out, "\nnumastat during the check (pages):");
  for (int i = 0; i < c->after.nnodes; i++)
    fprintf(out, "%s node %d: numa_hit +%llu, numa_miss +%llu, numa_foreign +%llu, other_node +%llu",
            i ? ";" : "", c->after.node[i],
            (unsigned long long)(c->after.numa_hit[i] - c->before.numa_hit[i]),
            (unsigned long long)(c->after.numa_miss[i] - c->before.numa_miss[i]),
            (unsigned long long)(c->after.numa_foreign[i] - c->before.numa_foreign[i]),
            (unsigned long long)(c->after.other_node[i] - c->before.other_node[i]));
  fprintf(out, "\n");
}

int nb_check_write_text(nb_check_t c, FILE *out, nb_error_t *err)
{
  fprintf(out, "Check: mode %s applied on this machine; the kernel reports:\n",
          nb_mode_name(nb_plan_mode(c->plan)));
  for (int i = 0; i < nb_plan_ngpus(c->plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(c->plan, i);
    fprintf(out, "\nGPU %d%s%s (node %d)\n", g->gpu, *g->bus_id ? " " : "", g->bus_id, g->gpu_node);
    write_threads(c, out, i);
    write_buffers(c, out, i);
  }
  write_numastat(c, out);
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
  return nb__json_write_new(doc, out, "check", err);
}
