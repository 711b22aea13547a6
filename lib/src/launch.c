/* numabench: launch's experiment: every repeat of every mode, interleaved
 * as `run` does, each a supervised run of the user's command (launch_run.c),
 * and the summary per mode with run's statistics. */
#include <math.h>
#include <poll.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "launch-internal.h"
#include "nb-internal.h"

int nb_launch_check(const struct nb_config *o, int argc, nb_error_t *err)
{
  if (argc < 1)
    return nb__err(err, NB_EINVAL,
                   "launch: give the command to run after --, e.g. numabench launch --nproc 2 -- python "
                   "train.py");
  if (o->node_rank >= o->nnodes)
    return nb__err(err, NB_EINVAL, "launch: --node-rank %d is not below --nnodes %d; give 0 .. %d",
                   o->node_rank, o->nnodes, o->nnodes - 1);
  if (o->metric) {
    regex_t re;
    int rc = regcomp(&re, o->metric, REG_EXTENDED);
    if (rc != 0) {
      char why[128];
      regerror(rc, &re, why, sizeof why);
      return nb__err(err, NB_EINVAL,
                     "launch: --metric '%.80s' is not a POSIX extended regex (%s); e.g. 'throughput: "
                     "([0-9.]+)'",
                     o->metric, why);
    }
    regfree(&re);
  }
  return 0;
}

/* Nodes with CPUs this process may use: a remote rank needs a second. */
static int cpu_nodes(nb_topo_t topo)
{
  int n = 0;
  for (int i = 0; topo && i < nb_topo_nnodes(topo); i++)
    n += nb_topo_node(topo, i)->ncpus > 0;
  return n;
}

int nb_launch_new(nb_launch_t *lp, const struct nb_launch_config *cfg, nb_error_t *err)
{
  *lp = NULL;
  const struct nb_config *o = cfg->options;
  int rc = nb_launch_check(o, cfg->argc, err);
  if (rc < 0)
    return rc;
  /* An unusable --output is found before anything runs, not after. */
  if (!o->no_save && (rc = nb__output_dir("--output", o->output, err)) < 0)
    return rc;
  int ngpus = cfg->topo ? nb_topo_ngpus(cfg->topo) : 0;
  if (o->nproc == 0 && ngpus == 0)
    return nb__err(err, NB_EINVAL,
                   "launch: no GPU found for one rank per GPU; give --nproc N, or the GPUs with --devices");
  struct nb_launch *l = calloc(1, sizeof *l);
  if (!l)
    return nb__err(err, NB_ENOMEM, "launch: out of memory");
  l->o = o;
  l->exec_argv = cfg->exec_argv;
  while (cfg->exec_argv[l->nexec])
    l->nexec++;
  l->argc = cfg->argc;
  l->argv = cfg->argv;
  l->topo = cfg->topo;
  l->stop_fd = cfg->stop_fd;
  l->out = cfg->out ? cfg->out : stdout;
  l->err = cfg->err ? cfg->err : stderr;
  l->echo_exec = cfg->echo_exec;
  l->progress = cfg->progress;
  l->progress_arg = cfg->progress_arg;
  l->nproc = o->nproc ? o->nproc : ngpus;
  if (o->metric) {
    if (regcomp(&l->metric, o->metric, REG_EXTENDED) != 0) {
      free(l);
      return nb__err(err, NB_EINVAL, "launch: --metric is not a POSIX extended regex");
    }
    l->have_metric = true;
  }
  /* The modes this machine cannot have are skipped, with the reason, as
   * run's are; exec would refuse them in every rank. */
  for (int i = 0; i < o->modes.n; i++) {
    enum nb_mode m = o->modes.mode[i];
    if ((m == NB_MODE_REMOTE || m == NB_MODE_ADVERSARIAL) && cpu_nodes(cfg->topo) < 2)
      snprintf(l->skip[i], sizeof l->skip[i],
               "mode %s needs a second NUMA node with CPUs this process may use (this machine has %d)",
               nb_mode_name(m), cpu_nodes(cfg->topo));
  }
  *lp = l;
  return 0;
}

void nb_launch_free(nb_launch_t l)
{
  if (!l)
    return;
  for (int i = 0; i < l->nruns; i++)
    nb__launch_run_free(&l->runs[i]);
  free(l->runs);
  if (l->have_metric)
    regfree(&l->metric);
  free(l);
}

static struct nb_launch_run *next_run(nb_launch_t l)
{
  if (l->nruns == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    struct nb_launch_run *more = realloc(l->runs, (size_t)cap * sizeof *more);
    if (!more)
      return NULL;
    l->runs = more;
    l->cap = cap;
  }
  return &l->runs[l->nruns];
}

/* A signal that arrived between runs: no run starts after it. */
static void signal_between_runs(nb_launch_t l)
{
  struct pollfd p = {.fd = l->stop_fd, .events = POLLIN};
  unsigned char b;
  if (l->stop_fd >= 0 && !l->signo && poll(&p, 1, 0) == 1 && read(l->stop_fd, &b, 1) == 1 && b)
    l->signo = b;
}

int nb_launch_run(nb_launch_t l, nb_error_t *err)
{
  const struct nb_config *o = l->o;
  /* Repeat after repeat, every mode in turn, so that drift over time
   * favours no mode (run's order). A skipped mode is recorded once. */
  for (int rep = 0; rep < o->repeat; rep++)
    for (int i = 0; i < o->modes.n; i++) {
      signal_between_runs(l);
      if (l->signo || (l->failed && !o->keep_going))
        return 0;
      struct nb_launch_run *run = next_run(l);
      if (!run)
        return nb__err(err, NB_ENOMEM, "launch: out of memory");
      if (l->skip[i][0]) {
        if (rep == 0)
          l->runs[l->nruns++] = (struct nb_launch_run){.mode = o->modes.mode[i],
                                                       .outcome = NB_LAUNCH_SKIPPED,
                                                       .skip_reason = l->skip[i],
                                                       .failed_rank = -1,
                                                       .slowest_rank = -1,
                                                       .value = NAN};
        continue;
      }
      int rc = nb__launch_run_one(l, o->modes.mode[i], rep, run, err);
      l->nruns++;
      if (rc < 0)
        return rc;
      if (run->outcome == NB_LAUNCH_FAILED || run->outcome == NB_LAUNCH_TIMEOUT)
        l->failed = true;
    }
  return 0;
}

int nb_launch_nproc(nb_launch_t l)
{
  return l->nproc;
}

int nb_launch_nruns(nb_launch_t l)
{
  return l->nruns;
}

const struct nb_launch_run *nb_launch_get_run(nb_launch_t l, int i)
{
  return i >= 0 && i < l->nruns ? &l->runs[i] : NULL;
}

bool nb_launch_failed(nb_launch_t l)
{
  return l->failed;
}

int nb_launch_interrupted(nb_launch_t l)
{
  return l->signo;
}

const char *nb_launch_outcome_name(enum nb_launch_outcome o)
{
  static const char *const names[] = {"ok", "failed", "timeout", "interrupted", "skipped"};
  return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* One mode's statistics over its complete runs. */
static int summarize_mode(nb_launch_t l, struct nb_launch_summary *m, double *v, double *w)
{
  int cnt = 0;
  for (int e = 0; e < l->nruns; e++) {
    const struct nb_launch_run *run = &l->runs[e];
    if (run->mode != m->mode)
      continue;
    for (int r = 0; r < run->nranks; r++) {
      const struct nb_launch_proof *pf = &run->ranks[r].proof;
      m->audited += pf->audited;
      m->as_planned += pf->audited && pf->as_planned;
      m->workers_off_node += pf->audited && pf->workers_off_node;
    }
    if (run->outcome == NB_LAUNCH_SKIPPED)
      m->skipped = true;
    else if (run->outcome != NB_LAUNCH_OK)
      m->failed++;
    else if (isfinite(run->value)) {
      v[cnt] = run->value;
      w[cnt++] = run->wall_s;
    }
  }
  m->runs = cnt;
  m->speedup = m->lo = m->hi = NAN;
  struct nb_stats none = {0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
  m->value = m->wall = none;
  if (cnt) {
    nb_stats_compute(v, cnt, &m->value);
    nb_stats_compute(w, cnt, &m->wall);
  }
  return cnt;
}

struct nb_launch_summary *nb_launch_summarize(nb_launch_t l, int *n)
{
  *n = 0;
  struct nb_launch_summary *s = calloc((size_t)NB_NMODES, sizeof *s);
  double *v = calloc((size_t)l->nruns + 1, sizeof *v), *w = calloc((size_t)l->nruns + 1, sizeof *w);
  if (!s || !v || !w) {
    free(s);
    free(v);
    free(w);
    return NULL;
  }
  for (int i = 0; i < l->o->modes.n; i++) {
    s[*n].mode = l->o->modes.mode[i];
    summarize_mode(l, &s[(*n)++], v, w);
  }
  /* Against none, when it ran: run's ratio of means with its interval. */
  for (int k = 0; k < *n; k++)
    if (s[k].mode == NB_MODE_NONE && s[k].runs)
      for (int j = 0; j < *n; j++)
        if (j != k && s[j].runs)
          nb_ratio_ci(&s[j].value, &s[k].value, &s[j].speedup, &s[j].lo, &s[j].hi);
  free(v);
  free(w);
  return s;
}
