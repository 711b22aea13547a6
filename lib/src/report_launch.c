/* numabench: launch results as a text table, as the result document (kind
 * launch, docs/results-schema.md), and as result files (JSON and CSV)
 * written as run's are. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <numabench/version.h>

#include "launch-internal.h"
#include "nb-internal.h"
#include "probe-internal.h"
#include "report.h"

static json_t *num(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

/* What the run's value is. */
static const char *value_name(nb_launch_t l)
{
  return l->have_metric ? "metric" : "runs_per_s";
}

/* ---- text ---- */

static void exit_text(const struct nb_launch_rank *rk, char *buf, size_t len)
{
  if (!rk->exited)
    snprintf(buf, len, "not reaped");
  else if (rk->signal)
    snprintf(buf, len, "killed by signal %d (%s)", rk->signal, strsignal(rk->signal));
  else
    snprintf(buf, len, "exit status %d", rk->exit_code);
}

/* A run that did not complete: which rank, how, its last lines. */
static void failed_run_text(nb_launch_t l, const struct nb_launch_run *run, FILE *out)
{
  char how[128];
  fprintf(out, "\n%s run %d of mode %s: %s", run->outcome == NB_LAUNCH_OK ? "incomplete" : "failed",
          run->repeat + 1, nb_mode_name(run->mode), nb_launch_outcome_name(run->outcome));
  if (run->outcome == NB_LAUNCH_TIMEOUT)
    fprintf(out, " after %d s", l->o->timeout);
  if (run->outcome == NB_LAUNCH_INTERRUPTED)
    fprintf(out, " (signal %d forwarded to every rank)", run->signo);
  fputc('\n', out);
  for (int r = 0; r < run->nranks; r++) {
    const struct nb_launch_rank *rk = &run->ranks[r];
    bool bad = r == run->failed_rank || (run->outcome == NB_LAUNCH_OK && l->have_metric && !rk->has_metric);
    if (!bad)
      continue;
    exit_text(rk, how, sizeof how);
    fprintf(out, "  rank %d: %s%s; last lines:\n", r, how,
            run->outcome == NB_LAUNCH_OK ? ", printed no line matching --metric" : "");
    for (int i = 0; i < rk->ntail; i++)
      fprintf(out, "    %s\n", rk->tail[i]);
  }
}

static void pct(char *buf, size_t len, double v)
{
  if (isnan(v))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.0f%%", 100 * v);
}

/* Every rank run not placed as planned, with what the audit saw; a bound
 * run whose workers ran off their node is flagged. */
static void proof_flags(nb_launch_t l, FILE *out)
{
  for (int i = 0; i < l->nruns; i++)
    for (int r = 0; r < l->runs[i].nranks; r++) {
      const struct nb_launch_run *run = &l->runs[i];
      const struct nb_launch_proof *p = &run->ranks[r].proof;
      if (!p->audited || p->as_planned || p->rank_node < 0)
        continue;
      char a[4][16];
      pct(a[0], 16, p->rank_cpu_share);
      pct(a[1], 16, p->rank_page_share);
      pct(a[2], 16, p->worker_cpu_share);
      pct(a[3], 16, p->worker_page_share);
      fprintf(out,
              "  %s%s run %d, rank %d: NOT as planned: rank on node %d (CPU %s, pages %s), %d worker%s on "
              "node %d "
              "(CPU %s, pages %s)\n",
              p->workers_off_node ? "FLAG: workers off node: " : "", nb_mode_name(run->mode), run->repeat + 1,
              r, p->rank_node, a[0], a[1], p->workers_seen, p->workers_seen == 1 ? "" : "s", p->worker_node,
              a[2], a[3]);
    }
}

int nb_launch_write_text(nb_launch_t l, FILE *out, nb_error_t *err)
{
  int n;
  struct nb_launch_summary *s = nb_launch_summarize(l, &n);
  if (!s)
    return nb__err(err, NB_ENOMEM, "launch: out of memory");
  fprintf(out, "launch: %d rank%s x %d repeat%s of:", l->nproc, l->nproc == 1 ? "" : "s", l->o->repeat,
          l->o->repeat == 1 ? "" : "s");
  for (int i = 0; i < l->argc; i++)
    fprintf(out, " %s", l->argv[i]);
  fprintf(out, "\nvalue: %s\n\n",
          l->have_metric ? "--metric, the slowest rank's value per run (higher is better)"
                         : "runs per second of wall time (no --metric)");
  fprintf(out, "%-11s %4s %6s %12s %23s %9s %9s %16s\n", "mode", "runs", "failed", "mean", "95% CI", "median",
          "wall s", "speedup vs none");
  for (int k = 0; k < n; k++) {
    if (s[k].skipped) {
      const char *why = "";
      for (int i = 0; i < l->nruns; i++)
        if (l->runs[i].mode == s[k].mode && l->runs[i].outcome == NB_LAUNCH_SKIPPED)
          why = l->runs[i].skip_reason;
      fprintf(out, "%-11s skipped: %s\n", nb_mode_name(s[k].mode), why);
      continue;
    }
    if (!s[k].runs && !s[k].failed) {
      fprintf(out, "%-11s not run: the experiment stopped before it\n", nb_mode_name(s[k].mode));
      continue;
    }
    char ci[64] = "-", sp[64] = "-", mean[32] = "-", med[32] = "-", wall[32] = "-";
    if (isfinite(s[k].value.ci_lo))
      snprintf(ci, sizeof ci, "%.4g-%.4g", s[k].value.ci_lo, s[k].value.ci_hi);
    if (isfinite(s[k].speedup) && isfinite(s[k].lo))
      snprintf(sp, sizeof sp, "%.2fx (%.2f-%.2f)", s[k].speedup, s[k].lo, s[k].hi);
    else if (isfinite(s[k].speedup))
      snprintf(sp, sizeof sp, "%.2fx", s[k].speedup);
    if (s[k].runs) {
      snprintf(mean, sizeof mean, "%.4g", s[k].value.mean);
      snprintf(med, sizeof med, "%.4g", s[k].value.median);
      snprintf(wall, sizeof wall, "%.3f", s[k].wall.mean);
    }
    fprintf(out, "%-11s %4d %6d %12s %23s %9s %9s %16s\n", nb_mode_name(s[k].mode), s[k].runs, s[k].failed,
            mean, ci, med, wall, sp);
  }
  fprintf(out, "\nplacement proof (the audit, while each run was in progress):\n");
  for (int k = 0; k < n; k++)
    if (!s[k].skipped && (s[k].runs || s[k].failed))
      fprintf(out, "  %-11s %d of %d audited rank runs as planned%s\n", nb_mode_name(s[k].mode),
              s[k].as_planned, s[k].audited,
              s[k].mode == NB_MODE_NONE ? " (nothing planned: seen only)" : "");
  free(s);
  proof_flags(l, out);
  for (int i = 0; i < l->nruns; i++) {
    const struct nb_launch_run *run = &l->runs[i];
    if (run->outcome == NB_LAUNCH_SKIPPED || (run->outcome == NB_LAUNCH_OK && isfinite(run->value)))
      continue;
    failed_run_text(l, run, out);
  }
  for (int i = 0; i < l->nruns; i++)
    for (int r = 0; r < l->runs[i].nranks; r++) {
      const struct nb_launch_moves *m = &l->runs[i].ranks[r].moves;
      if (m->thread_errors || m->pages_errno)
        fprintf(out,
                "\nadversarial run %d, rank %d: %d thread%s refused their CPUs (%s)%s%s; see the result "
                "file\n",
                l->runs[i].repeat + 1, r, m->thread_errors, m->thread_errors == 1 ? "" : "s",
                m->thread_errno ? strerror(m->thread_errno) : "none",
                m->pages_errno ? ", moving pages: " : "", m->pages_errno ? strerror(m->pages_errno) : "");
    }
  if (l->signo)
    fprintf(out, "\ninterrupted by signal %d: the runs after it were not started\n", l->signo);
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "launch: writing the report");
  return 0;
}

/* ---- JSON ---- */

static json_t *moves_json(const struct nb_launch_moves *m)
{
  if (m->worker_node < 0)
    return json_null();
  return json_pack("{s:i, s:i, s:i, s:i, s:o, s:i, s:I, s:I, s:I, s:o}", "worker_node", m->worker_node,
                   "processes", m->procs, "threads", m->threads, "thread_errors", m->thread_errors,
                   "thread_error", m->thread_errno ? json_string(strerror(m->thread_errno)) : json_null(),
                   "move_pages_calls", m->pages_calls, "pages_asked", (json_int_t)m->pages_asked,
                   "pages_not_moved", (json_int_t)m->pages_left, "pages_skipped", (json_int_t)m->pages_skipped,
                   "move_pages_error", m->pages_errno ? json_string(strerror(m->pages_errno)) : json_null());
}

static json_t *node_or_null(int n)
{
  return n >= 0 ? json_integer(n) : json_null();
}

static json_t *proof_json(const struct nb_launch_proof *p)
{
  if (!p->audited)
    return json_pack("{s:b, s:o, s:o, s:o}", "audited", 0, "why_not", nb__json_text(p->why_not),
                     "planned_rank_node", node_or_null(p->rank_node), "planned_worker_node",
                     node_or_null(p->worker_node));
  return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:b, s:b, s:s}", "audited", 1,
                   "planned_rank_node", node_or_null(p->rank_node), "planned_worker_node",
                   node_or_null(p->worker_node), "rank_cpu_share", num(p->rank_cpu_share), "rank_page_share",
                   num(p->rank_page_share), "worker_cpu_share", num(p->worker_cpu_share), "worker_page_share",
                   num(p->worker_page_share), "workers_seen", p->workers_seen, "as_planned", p->as_planned,
                   "workers_off_node", p->workers_off_node, "audit_verdict", p->verdict);
}

static json_t *rank_json(const struct nb_launch_rank *rk)
{
  json_t *tail = json_array();
  for (int i = 0; tail && i < rk->ntail; i++)
    json_array_append_new(tail, nb__json_text(rk->tail[i]));
  json_t *exec = rk->exec_line ? json_loads(rk->exec_line, 0, NULL) : NULL;
  return json_pack("{s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o}", "rank", rk->rank, "pid",
                   rk->pid, "exit_code",
                   rk->exited && !rk->signal ? json_integer(rk->exit_code) : json_null(), "signal",
                   rk->signal ? json_integer(rk->signal) : json_null(), "exit_s",
                   rk->exited ? json_real(rk->exit_s) : json_null(), "metric",
                   rk->has_metric ? json_real(rk->metric) : json_null(), "exec", exec ? exec : json_null(),
                   "descendants_seen", rk->descendants_seen, "adversarial_moves", moves_json(&rk->moves),
                   "last_lines", tail, "proof", proof_json(&rk->proof));
}

static json_t *run_json(const struct nb_launch_run *run)
{
  if (run->outcome == NB_LAUNCH_SKIPPED)
    return json_pack("{s:s, s:i, s:b, s:o}", "mode", nb_mode_name(run->mode), "repeat", run->repeat,
                     "skipped", 1, "reason", nb__json_text(run->skip_reason));
  json_t *ranks = json_array();
  for (int r = 0; ranks && r < run->nranks; r++)
    json_array_append_new(ranks, rank_json(&run->ranks[r]));
  return json_pack(
      "{s:s, s:i, s:b, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:i, s:o}", "mode", nb_mode_name(run->mode),
      "repeat", run->repeat, "skipped", 0, "outcome", nb_launch_outcome_name(run->outcome), "interrupted",
      run->outcome == NB_LAUNCH_INTERRUPTED, "complete", run->outcome == NB_LAUNCH_OK && isfinite(run->value),
      "wall_s", run->wall_s > 0 ? json_real(run->wall_s) : json_null(), "value", num(run->value),
      "slowest_rank", run->slowest_rank >= 0 ? json_integer(run->slowest_rank) : json_null(), "failed_rank",
      run->failed_rank >= 0 ? json_integer(run->failed_rank) : json_null(), "signal",
      run->signo ? json_integer(run->signo) : json_null(), "master_port", run->master_port, "ranks", ranks);
}

static json_t *summary_json(const struct nb_launch_summary *s)
{
  if (s->skipped)
    return json_pack("{s:s, s:b}", "mode", nb_mode_name(s->mode), "skipped", 1);
  json_t *sp = isnan(s->speedup) || s->mode == NB_MODE_NONE
                   ? json_null()
                   : json_pack("{s:o, s:[o, o]}", "ratio", num(s->speedup), "ci95", num(s->lo), num(s->hi));
  return json_pack("{s:s, s:b, s:i, s:i, s:o, s:o, s:o, s:i, s:i, s:i, s:b}", "mode", nb_mode_name(s->mode),
                   "skipped", 0, "runs", s->runs, "failed", s->failed, "value",
                   s->runs ? nb__stats_json(&s->value) : json_null(), "wall_s",
                   s->runs ? nb__stats_json(&s->wall) : json_null(), "speedup_vs_none", sp,
                   "audited_rank_runs", s->audited, "as_planned", s->as_planned, "workers_off_node",
                   s->workers_off_node, "placement_achieved", s->audited > 0 && s->as_planned == s->audited);
}

static json_t *resolved_json(nb_launch_t l)
{
  const struct nb_config *o = l->o;
  json_t *cmd = json_array();
  for (int i = 0; cmd && i < l->argc; i++)
    json_array_append_new(cmd, nb__json_text(l->argv[i]));
  return json_pack("{s:o, s:i, s:i, s:i, s:i, s:o, s:s, s:o, s:i, s:i, s:b}", "command", cmd, "nproc",
                   l->nproc, "nnodes", o->nnodes, "node_rank", o->node_rank, "repeat", o->repeat, "metric",
                   o->metric ? nb__json_text(o->metric) : json_null(), "value", value_name(l), "devices",
                   o->devices ? nb__json_text(o->devices) : json_null(), "timeout_s", o->timeout, "grace_s",
                   o->grace, "keep_going", o->keep_going);
}

static json_t *launch_json(nb_launch_t l)
{
  json_t *runs = json_array(), *summary = json_array();
  for (int i = 0; runs && i < l->nruns; i++)
    json_array_append_new(runs, run_json(&l->runs[i]));
  int n;
  struct nb_launch_summary *s = nb_launch_summarize(l, &n);
  for (int k = 0; s && k < n; k++)
    json_array_append_new(summary, summary_json(&s[k]));
  free(s);
  char ts[32];
  nb__iso_time(ts, sizeof ts, 0);
  return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}",
                   "schema_version", 1, "tool", "numabench", "version", nb_version(), "command", "launch",
                   "kind", "launch", "timestamp", ts, "host", nb__host_json(l->topo), "cuda",
                   nb__cuda_json(l->topo), "topology", l->topo ? nb__topo_json(l->topo) : json_null(),
                   "config", nb__config_json(l->o), "user_set", nb__config_set_json(l->o), "resolved",
                   resolved_json(l), "interrupted", l->signo != 0, "signal",
                   l->signo ? json_integer(l->signo) : json_null(), "runs", runs, "summary", summary);
}

/* The document with the machine's probe record, the same object `numabench
 * probe` writes, added last, as in run's result files. */
static json_t *launch_doc(nb_launch_t l)
{
  json_t *doc = launch_json(l);
  if (doc && json_object_set_new(doc, "probe", nb__probe_json(l->topo)) < 0) {
    json_decref(doc);
    return NULL;
  }
  return doc;
}

int nb_launch_write_json(nb_launch_t l, FILE *out, nb_error_t *err)
{
  json_t *doc = launch_doc(l);
  int rc = nb__json_write(doc, out, "launch", err);
  json_decref(doc);
  return rc;
}

/* ---- result files ---- */

static int fill_json(const void *arg, FILE *f)
{
  json_t *doc = launch_doc((nb_launch_t)arg);
  int rc =
      doc && json_dumpf(doc, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', f) != EOF ? 0 : -1;
  json_decref(doc);
  return rc;
}

/* One row per rank and run. */
static int fill_csv(const void *arg, FILE *f)
{
  nb_launch_t l = (nb_launch_t)arg;
  fprintf(f, "format,kind,mode,repeat,outcome,wall_s,value,rank,pid,exit_code,signal,exit_s,metric,"
             "moved_processes,moved_threads\n");
  for (int i = 0; i < l->nruns; i++) {
    const struct nb_launch_run *run = &l->runs[i];
    char v[32] = "";
    if (isfinite(run->value))
      snprintf(v, sizeof v, "%.6g", run->value);
    for (int r = 0; r < run->nranks; r++) {
      const struct nb_launch_rank *rk = &run->ranks[r];
      char ec[16] = "", sg[16] = "", m[32] = "";
      if (rk->exited && !rk->signal)
        snprintf(ec, sizeof ec, "%d", rk->exit_code);
      if (rk->signal)
        snprintf(sg, sizeof sg, "%d", rk->signal);
      if (rk->has_metric)
        snprintf(m, sizeof m, "%.6g", rk->metric);
      fprintf(f, "1,launch,%s,%d,%s,%.6g,%s,%d,%d,%s,%s,%.6g,%s,%d,%d\n", nb_mode_name(run->mode),
              run->repeat, nb_launch_outcome_name(run->outcome), run->wall_s, v, r, rk->pid, ec, sg,
              rk->exit_s, m, rk->moves.procs, rk->moves.threads);
    }
  }
  return ferror(f) ? -1 : 0;
}

int nb_launch_save(nb_launch_t l, const char *dir, char *path, size_t len, nb_error_t *err)
{
  if (mkdir(dir, 0777) < 0 && errno != EEXIST)
    return nb__err_sys(err, NB_EIO, errno, "results: cannot create directory %s (give another with --output)",
                       dir);
  char host[64] = "host", ts[32], modes[64] = "", base[256];
  gethostname(host, sizeof host - 1);
  host[strcspn(host, ".")] = '\0';
  for (char *p = host; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
      *p = '_';
  nb__iso_time(ts, sizeof ts, 1);
  for (int i = 0; i < l->o->modes.n; i++)
    snprintf(modes + strlen(modes), sizeof modes - strlen(modes), "%s%s", i ? "+" : "",
             nb_mode_name(l->o->modes.mode[i]));
  snprintf(base, sizeof base, "%s-%s-launch-%s-n%d", ts, host, modes, l->nproc);
  return nb__results_save_pair(dir, base, fill_json, fill_csv, l, path, len, err);
}
