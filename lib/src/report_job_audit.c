/* numabench: a job audit as text tables and JSON (docs/audit-schema.md).
 * Reads the records job_audit.c filled; measures nothing. */
#include <stdio.h>
#include <string.h>

#include <numabench/job_audit.h>
#include <numabench/version.h>

#include "job_audit-internal.h"
#include "json.h"

static const char *share_text(char *buf, size_t len, double share)
{
  if (share < 0)
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.1f%%", 100.0 * share);
  return buf;
}

static const char *bytes_text(char *buf, size_t len, uint64_t b)
{
  if (b >= (1ULL << 30))
    snprintf(buf, len, "%.1fG", (double)b / (double)(1ULL << 30));
  else if (b >= (1ULL << 20))
    snprintf(buf, len, "%.1fM", (double)b / (double)(1ULL << 20));
  else
    snprintf(buf, len, "%lluK", (unsigned long long)(b >> 10));
  return buf;
}

/* "1:64.0M 0:120K" for the nodes holding pages of one kind; "-" for none. */
static const char *mem_text(char *buf, size_t len, const struct nb__jmem *m, nb_topo_t topo)
{
  size_t used = 0;
  char b[32];
  buf[0] = '\0';
  for (int i = 0; m->bytes && i < nb_topo_nnodes(topo) && used < len; i++)
    if (m->bytes[i])
      used += (size_t)snprintf(buf + used, len - used, "%s%d:%s", used ? " " : "",
                               nb_topo_node(topo, i)->os_index, bytes_text(b, sizeof b, m->bytes[i]));
  if (m->other && used < len)
    snprintf(buf + used, len - used, "%s?:%s", used ? " " : "", bytes_text(b, sizeof b, m->other));
  if (!buf[0])
    snprintf(buf, len, "-");
  return buf;
}

static const char *list_text(char *buf, size_t len, const int *v, int n)
{
  if (n < 0)
    snprintf(buf, len, "?");
  else if (nb_format_cpulist(buf, len, v, n) < 0 || !buf[0])
    snprintf(buf, len, "%s", n == 0 ? "none" : "?");
  return buf;
}

static void host_text(FILE *out, const struct nb_host_state *h)
{
  static const char *const nb[] = {"off", "on", "on (memory tiering)"};
  fprintf(out, "Host: numa_balancing %s, transparent hugepages %s, SMT %s\n",
          h->numa_balancing >= 0 && h->numa_balancing <= 2 ? nb[h->numa_balancing] : "unknown",
          h->thp[0] ? h->thp : "unknown",
          h->smt_active < 0 ? "unknown"
          : h->smt_active   ? "on"
                            : "off");
  const char *w = nb_host_state_warning(h);
  if (w)
    fprintf(out, "warning: %s\n", w);
}

static void ranks_text(nb_job_audit_t a, FILE *out)
{
  char s1[16], s2[16], b[32];
  fprintf(out, "\nRanks: %d (a process holding a GPU, and its descendants)\n", a->nranks);
  if (!a->nranks)
    return;
  fprintf(out, "  %-8s %-13s %-5s %-6s %-22s %-24s %s\n", "pid", "GPU", "node", "procs",
          "CPU samples on node", "data pages on node", "verdict");
  for (int k = 0; k < a->nranks; k++) {
    const struct nb__jrank *r = &a->ranks[k];
    char cpu[48], pages[64], node[16];
    snprintf(cpu, sizeof cpu, "%s of %ld", share_text(s1, sizeof s1, r->cpu_share), r->samples);
    snprintf(pages, sizeof pages, "%s of %s", share_text(s2, sizeof s2, r->page_share),
             bytes_text(b, sizeof b, r->bytes));
    snprintf(node, sizeof node, "%d", r->node);
    fprintf(out, "  %-8d %-13s %-5s %-6d %-22s %-24s %s\n", a->procs[r->proc].pid,
            r->gpu >= 0 ? a->gpus[r->gpu].bus_id : "several", r->node >= 0 ? node : "?", r->nprocs, cpu,
            pages, nb_job_verdict_name(r->verdict));
  }
  for (int k = 0; k < a->nranks; k++) {
    const struct nb__jrank *r = &a->ranks[k];
    if (r->gpu >= 0 && r->gpu_from && !strcmp(r->gpu_from, "environ"))
      fprintf(out, "  %d: holds %d GPUs; its environment (local rank, CUDA_VISIBLE_DEVICES) names %s\n",
              a->procs[r->proc].pid, a->procs[r->proc].ngpus, a->gpus[r->gpu].bus_id);
    if (r->verdict != NB_JOB_LOCAL)
      fprintf(out, "  %d: %s: %s\n", a->procs[r->proc].pid, nb_job_verdict_name(r->verdict), r->why);
    if (r->fix)
      fprintf(out, "    fix: %s\n", r->fix);
  }
}

static void procs_text(nb_job_audit_t a, FILE *out)
{
  fprintf(out, "\nProcesses: %d\n  %-8s %-8s %-8s %-15s %-12s %-6s %-16s %-18s %-18s %-14s %s\n", a->nprocs,
          "pid", "ppid", "rank", "name", "CPUs allowed", "nodes", "policy", "anon (node:size)", "shm+device",
          "file", "GPUs");
  for (int i = 0; i < a->nprocs; i++) {
    const struct nb__jproc *p = &a->procs[i];
    char cpus[64], mems[32], anon[64], shm[64], dev[64], file[64], rank[16], gpus[96] = "";
    size_t used = 0;
    for (int g = 0; g < p->ngpus && used < sizeof gpus; g++)
      used +=
          (size_t)snprintf(gpus + used, sizeof gpus - used, "%s%s", g ? "," : "", a->gpus[p->gpus[g]].bus_id);
    snprintf(rank, sizeof rank, "%d", p->rank >= 0 ? a->procs[a->ranks[p->rank].proc].pid : 0);
    mem_text(shm, sizeof shm, &p->mem[NB__MEM_SHM], a->topo);
    mem_text(dev, sizeof dev, &p->mem[NB__MEM_DEVICE], a->topo);
    if (strcmp(dev, "-") != 0) {
      size_t l = strlen(shm);
      snprintf(shm + l, sizeof shm - l, "%s", strcmp(shm, "-") ? " +dev" : "");
      if (!strcmp(shm, "-"))
        snprintf(shm, sizeof shm, "%s", dev);
    }
    fprintf(out, "  %-8d %-8d %-8s %-15s %-12s %-6s %-16s %-18s %-18s %-14s %s%s%s\n", p->pid, p->ppid,
            p->rank >= 0 ? rank : "-", p->name[0] ? p->name : "?",
            list_text(cpus, sizeof cpus, p->cpus, p->ncpus), list_text(mems, sizeof mems, p->mems, p->nmems),
            p->policy_from ? p->policy : "?",
            p->pages_read ? mem_text(anon, sizeof anon, &p->mem[NB__MEM_ANON], a->topo) : "?",
            p->pages_read ? shm : "?",
            p->pages_read ? mem_text(file, sizeof file, &p->mem[NB__MEM_FILE], a->topo) : "?",
            gpus[0] ? gpus : "-", p->gone ? "  (gone: exited during the audit)" : "",
            p->gpu_how && !strcmp(p->gpu_how, "given") ? " (given)" : "");
    for (int k = 0; k < p->problems.n; k++)
      fprintf(out, "    %d: %s\n", p->pid, p->problems.v[k]);
  }
}

static void threads_text(nb_job_audit_t a, FILE *out)
{
  fprintf(out,
          "\nThreads (CPU samples: reads that found the thread running or having run since the last)\n"
          "  %-8s %-8s %-15s %-16s %-8s %-16s %s\n",
          "pid", "tid", "name", "policy", "samples", "CPUs seen", "nodes");
  for (int i = 0; i < a->nprocs; i++)
    for (int t = 0; t < a->procs[i].nthreads; t++) {
      const struct nb__jthread *th = &a->procs[i].threads[t];
      char seen[64], where[128];
      if (th->cpus.total == 0)
        snprintf(where, sizeof where, "not observed (asleep while sampled)");
      else
        nb__hist_text(where, sizeof where, &th->cpus, a->topo);
      fprintf(out, "  %-8d %-8d %-15s %-16s %-8ld %-16s %s%s\n", a->procs[i].pid, th->tid,
              th->name[0] ? th->name : "?", th->policy[0] ? th->policy : "?", th->cpus.total,
              th->nseen ? list_text(seen, sizeof seen, th->seen, th->nseen) : "-", where,
              th->gone ? " (gone)" : "");
    }
}

int nb_job_audit_write_text(nb_job_audit_t a, FILE *out, nb_error_t *err)
{
  fprintf(out, "Audit: %d processes, %d ranks; %d samples of every thread over %.1f s\n", a->nprocs,
          a->nranks, a->nsamples, a->duration_s);
  host_text(out, &a->host);
  for (int i = 0; i < a->warnings.n; i++)
    fprintf(out, "warning: %s\n", a->warnings.v[i]);
  ranks_text(a, out);
  procs_text(a, out);
  threads_text(a, out);
  if (fflush(out) == EOF || ferror(out))
    return nb__err(err, NB_EIO, "audit: writing the report failed");
  return 0;
}

/* ---- JSON ---- */

static json_t *strv_json(const struct nb__strv *sv)
{
  json_t *v = json_array();
  for (int i = 0; v && i < sv->n; i++)
    json_array_append_new(v, nb__json_text(sv->v[i]));
  return v;
}

static json_t *mem_json(const struct nb__jmem *m, nb_topo_t topo)
{
  json_t *nodes = json_array();
  for (int i = 0; nodes && m->bytes && i < nb_topo_nnodes(topo); i++)
    if (m->bytes[i])
      json_array_append_new(nodes, json_pack("{s:i, s:I}", "node", nb_topo_node(topo, i)->os_index, "bytes",
                                             (json_int_t)m->bytes[i]));
  return json_pack("{s:o, s:I, s:I}", "nodes", nodes, "other_bytes", (json_int_t)m->other, "total_bytes",
                   (json_int_t)m->total);
}

static json_t *thread_json(const struct nb__jthread *t, nb_topo_t topo)
{
  return json_pack("{s:i, s:o, s:o, s:o, s:b, s:b, s:o}", "tid", t->tid, "name", nb__json_text(t->name),
                   "cpu_samples", nb__hist_json(&t->cpus, topo), "cpus_seen",
                   nb__json_ints(t->seen, t->nseen), "observed", t->cpus.total > 0, "gone", t->gone, "policy",
                   t->policy[0] ? nb__json_text(t->policy) : json_null());
}

static json_t *proc_json(nb_job_audit_t a, const struct nb__jproc *p)
{
  json_t *threads = json_array(), *pols = json_array(), *mem = json_object(), *gpus = json_array();
  for (int t = 0; threads && t < p->nthreads; t++)
    json_array_append_new(threads, thread_json(&p->threads[t], a->topo));
  for (int k = 0; pols && k < p->npols; k++)
    json_array_append_new(pols,
                          json_pack("{s:o, s:i, s:I}", "policy", nb__json_text(p->pols[k].text), "mappings",
                                    p->pols[k].vmas, "resident_bytes", (json_int_t)p->pols[k].bytes));
  for (int k = 0; mem && k < NB__MEM_NKINDS; k++)
    json_object_set_new(mem, nb__mem_kind_name((enum nb__mem_kind)k),
                        p->pages_read ? mem_json(&p->mem[k], a->topo) : json_null());
  for (int g = 0; gpus && g < p->ngpus; g++)
    json_array_append_new(gpus, json_string(a->gpus[p->gpus[g]].bus_id));
  return json_pack(
      "{s:i, s:o, s:o, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "pid",
      p->pid, "ppid", nb__json_int_or_null(p->ppid), "uid", p->uid >= 0 ? json_integer(p->uid) : json_null(),
      "name", nb__json_text(p->name), "cmdline", p->cmdline ? nb__json_text(p->cmdline) : json_null(),
      "requested", p->requested, "gone", p->gone, "rank_pid",
      p->rank >= 0 ? json_integer(a->procs[a->ranks[p->rank].proc].pid) : json_null(), "gpus", gpus,
      "gpus_from", p->gpu_how ? json_string(p->gpu_how) : json_null(), "cpus_allowed",
      p->ncpus >= 0 ? nb__json_ints(p->cpus, p->ncpus) : json_null(), "mems_allowed",
      p->nmems >= 0 ? nb__json_ints(p->mems, p->nmems) : json_null(), "policy",
      p->policy_from ? nb__json_text(p->policy) : json_null(), "policy_from",
      p->policy_from ? json_string(p->policy_from) : json_null(), "policies",
      p->pages_read ? pols : (json_decref(pols), json_null()), "resident",
      p->pages_read ? mem : (json_decref(mem), json_null()), "threads", threads, "problems",
      strv_json(&p->problems));
}

static json_t *rank_json(nb_job_audit_t a, const struct nb__jrank *r)
{
  json_t *pids = json_array();
  for (int i = 0; pids && i < a->nprocs; i++)
    if (a->procs[i].rank == (int)(r - a->ranks))
      json_array_append_new(pids, json_integer(a->procs[i].pid));
  const struct nb__jgpu *g = r->gpu >= 0 ? &a->gpus[r->gpu] : NULL;
  return json_pack(
      "{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:o, s:s, s:s, s:o}", "pid",
      a->procs[r->proc].pid, "gpu", g ? json_string(g->bus_id) : json_null(), "gpu_from",
      g && r->gpu_from ? json_string(r->gpu_from) : json_null(), "gpu_index",
      g ? nb__json_int_or_null(g->index) : json_null(), "gpu_node", nb__json_int_or_null(r->node), "mem_node",
      nb__json_int_or_null(r->node >= 0 ? r->mem_node : -1), "processes", pids, "cpu_samples",
      (json_int_t)r->samples, "cpu_samples_on_node", (json_int_t)r->samples_on, "cpu_share",
      r->cpu_share < 0 ? json_null() : json_real(r->cpu_share), "data_bytes", (json_int_t)r->bytes,
      "data_bytes_on_node", (json_int_t)r->bytes_on, "page_share",
      r->page_share < 0 ? json_null() : json_real(r->page_share), "verdict", nb_job_verdict_name(r->verdict),
      "why", r->why, "fix", r->fix ? nb__json_text(r->fix) : json_null());
}

int nb_job_audit_write_json(nb_job_audit_t a, FILE *out, nb_error_t *err)
{
  json_t *procs = json_array(), *ranks = json_array(), *gpus = json_array();
  for (int i = 0; procs && i < a->nprocs; i++)
    json_array_append_new(procs, proc_json(a, &a->procs[i]));
  for (int k = 0; ranks && k < a->nranks; k++)
    json_array_append_new(ranks, rank_json(a, &a->ranks[k]));
  for (int g = 0; gpus && g < a->ngpus; g++)
    json_array_append_new(gpus, json_pack("{s:s, s:o, s:o, s:o}", "bus_id", a->gpus[g].bus_id, "minor",
                                          nb__json_int_or_null(a->gpus[g].minor), "index",
                                          nb__json_int_or_null(a->gpus[g].index), "node",
                                          nb__json_int_or_null(a->gpus[g].node)));
  const struct nb_host_state *h = &a->host;
  json_t *host =
      json_pack("{s:o, s:o, s:o, s:o}", "numa_balancing", nb__json_int_or_null(h->numa_balancing),
                "transparent_hugepages", h->thp[0] ? json_string(h->thp) : json_null(), "smt_active",
                h->smt_active < 0 ? json_null() : json_boolean(h->smt_active), "warning",
                nb_host_state_warning(h) ? json_string(nb_host_state_warning(h)) : json_null());
  json_t *doc = json_pack("{s:i, s:s, s:o, s:f, s:f, s:i, s:b, s:b, s:f, s:o, s:o, s:o, s:o, s:i, s:o}",
                          "schema_version", 1, "numabench_version", nb_version(), "host", host, "duration_s",
                          a->duration_s, "interval_s", a->interval_s, "samples", a->nsamples, "gpu_procs",
                          a->gpu_procs, "children", a->children, "threshold", NB_PLACEMENT_THRESHOLD, "gpus",
                          gpus, "ranks", ranks, "processes", procs, "warnings", strv_json(&a->warnings),
                          "unreadable", a->unreadable, "not_local", json_integer(nb_job_audit_nnot_local(a)));
  return nb__json_write_new(doc, out, "audit", err);
}
