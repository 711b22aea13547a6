/* numabench: the experiment: every sweep point x repeat x mode, interleaved,
 * with the plans, the batch and the memory check decided per point over all
 * its modes. The CLI reports each point as it finishes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/cgroup.h>
#include <numabench/experiment.h>
#include <numabench/topo.h>

#include "copy.h"
#include "input.h"
#include "nb-internal.h"
#include "parse.h"

/* One sweep point: its options and what they resolve to before the machine
 * is asked anything. */
struct point {
  struct nb_config options;           /* the experiment's, with the swept option set */
  char value[NB_SWEEP_VALUE_MAX + 1]; /* the swept value, as given */
  struct nb_run_config run;           /* resolved, except backend (per machine) and batch */
  enum nb_mode modes[NB_NMODES];
  int nmodes;
  bool batch_as_replay; /* an automatic batch is picked as for --source replay (source_points) */
};

/* What one point's runs need while it is reported; freed by the next point. */
struct point_state {
  nb_topo_t topo;
  nb_plan_t plans[NB_NMODES]; /* per mode of the point; NULL when skipped */
  char skip_text[NB_NMODES][640];
  struct nb_run_config run;
  char devices[320];
  struct nb_report_entry *entries;
  struct nb_report report;
};

struct nb_experiment {
  struct point *points;
  int npoints;
  char sweep_option[64]; /* empty without --sweep */
  void (*progress)(void *arg, const struct nb_progress *p);
  void *progress_arg;
  struct nb_progress prog; /* the run in progress, for the progress callback */
  int runs;                /* runs started in the whole experiment, every point */
  pthread_mutex_t mu;      /* guards stop and current */
  bool stop;
  nb_run_t current;
  struct point_state st;
};

static int check_points(nb_experiment_t x, nb_error_t *err);

/* The option table's choices are in the order of the enums they stand for. */
_Static_assert((int)NB_OPT_PIPE_DIRECT == (int)NB_PIPE_DIRECT, "pipeline choices follow enum nb_pipeline");
_Static_assert((int)NB_OPT_BACKEND_CUDA == (int)NB_BACKEND_CUDA, "backend choices follow enum nb_backend");
_Static_assert((int)NB_OPT_BACKEND_HOST == (int)NB_BACKEND_HOST, "backend choices follow enum nb_backend");
_Static_assert((int)NB_OPT_SOURCE_REPLAY == (int)NB_SOURCE_REPLAY, "source choices follow enum nb_source");

enum nb_backend nb_options_backend(const struct nb_config *cfg)
{
  return (enum nb_backend)cfg->backend_kind;
}

enum nb_pin nb_options_pin(const struct nb_config *cfg)
{
  return cfg->pin_kind == NB_OPT_PIN_HOSTALLOC ? NB_PIN_HOSTALLOC : NB_PIN_REGISTER;
}

/* The run's settings from the options, parsed when they were set. */
static void resolve_point(struct point *pt)
{
  const struct nb_config *cfg = &pt->options;
  pt->run = (struct nb_run_config){.channels = cfg->shape.c,
                                   .height = cfg->shape.h,
                                   .width = cfg->shape.w,
                                   .warmup = cfg->warmup,
                                   .steps = cfg->steps,
                                   .seed = (uint64_t)cfg->seed,
                                   .pipeline = (enum nb_pipeline)cfg->pipeline_kind,
                                   .backend = nb_options_backend(cfg),
                                   .pin = nb_options_pin(cfg),
                                   .gpu_work_us = cfg->gpu_work,
                                   .verify = cfg->verify,
                                   .fail_at = cfg->fault,
                                   .source = (enum nb_source)cfg->source_kind,
                                   .pool_bytes = cfg->pool_bytes,
                                   .cpu_work_us = cfg->cpu_work};
  pt->nmodes = cfg->modes.n;
  memcpy(pt->modes, cfg->modes.mode, sizeof pt->modes);
}

/* A new point with the experiment's options and, with a sweep, one value. */
static int add_point(nb_experiment_t x, const struct nb_config *options, const struct nb_option *opt,
                     const char *value, nb_error_t *err)
{
  struct point *pt = &x->points[x->npoints];
  memset(pt, 0, sizeof *pt);
  if (nb_config_copy(&pt->options, options) < 0)
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  x->npoints++;
  if (opt) {
    snprintf(pt->value, sizeof pt->value, "%s", value);
    int rc = nb_config_set(&pt->options, opt, value, err);
    if (rc < 0)
      return rc;
  }
  nb_config_finish(&pt->options, NB_CMD_RUN);
  resolve_point(pt);
  return 0;
}

struct sweep_arg {
  nb_experiment_t x;
  const struct nb_config *options;
};

static int sweep_point(void *arg, const struct nb_option *opt, const char *value, nb_error_t *err)
{
  struct sweep_arg *a = arg;
  snprintf(a->x->sweep_option, sizeof a->x->sweep_option, "%s", opt->name);
  return add_point(a->x, a->options, opt, value, err);
}

/* --sweep OPTION=V1,V2,...: one point per value (opts.c split and checked
 * them when the option was set). */
static int add_sweep(nb_experiment_t x, const struct nb_config *options, nb_error_t *err)
{
  int n = 1;
  for (const char *v = options->sweep; *v; v++)
    n += *v == ',';
  if (!(x->points = calloc((size_t)n, sizeof *x->points)))
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  struct sweep_arg a = {x, options};
  return nb_sweep_each(options->sweep, sweep_point, &a, err);
}

/* --pool-size where no point replays is refused rather than ignored. When
 * the points differ in source (--sweep source=randn,replay), an automatic
 * batch is picked for every point as for replay, whose pools take memory
 * too, so that the points are measured at one batch size and compare. */
static int source_points(nb_experiment_t x, nb_error_t *err)
{
  int replay = 0;
  for (int i = 0; i < x->npoints; i++)
    replay += x->points[i].run.source == NB_SOURCE_REPLAY;
  const struct nb_option *opt = nb_option_find("pool-size");
  if (!replay && x->npoints > 0 && opt && nb_config_is_set(&x->points[0].options, opt))
    return nb__err(err, NB_EINVAL,
                   "--pool-size is for --source replay, and every run here generates (randn); add --source "
                   "replay or drop --pool-size");
  for (int i = 0; i < x->npoints; i++)
    x->points[i].batch_as_replay = replay > 0 && replay < x->npoints;
  return 0;
}

int nb_experiment_new(nb_experiment_t *xp, const struct nb_experiment_config *cfg, nb_error_t *err)
{
  *xp = NULL;
  struct nb_experiment *x = calloc(1, sizeof *x);
  if (!x)
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  pthread_mutex_init(&x->mu, NULL);
  x->progress = cfg->progress;
  x->progress_arg = cfg->progress_arg;
  int rc;
  if (cfg->options->sweep) {
    rc = add_sweep(x, cfg->options, err);
  } else if (!(x->points = calloc(1, sizeof *x->points))) {
    rc = nb__err(err, NB_ENOMEM, "run: out of memory");
  } else {
    rc = add_point(x, cfg->options, NULL, NULL, err);
  }
  /* Where the results go is known now: an unusable --output is found before
   * anything is measured, not after the whole run. */
  if (rc == 0 && !cfg->options->no_save)
    rc = nb__output_dir("--output", cfg->options->output, err);
  if (rc == 0)
    rc = source_points(x, err);
  if (rc == 0 && x->npoints > 1)
    rc = check_points(x, err);
  if (rc < 0) {
    nb_experiment_free(x);
    return rc;
  }
  *xp = x;
  return 0;
}

int nb_experiment_npoints(nb_experiment_t x)
{
  return x->npoints;
}

void nb_experiment_stop(nb_experiment_t x)
{
  pthread_mutex_lock(&x->mu);
  x->stop = true;
  if (x->current)
    nb_run_stop(x->current);
  pthread_mutex_unlock(&x->mu);
}

static void state_free(struct point_state *st)
{
  for (int i = 0; i < st->report.nentries; i++)
    nb_run_free(st->entries[i].run);
  for (int i = 0; i < NB_NMODES; i++)
    nb_plan_free(st->plans[i]);
  free(st->entries);
  nb_topo_free(st->topo);
  memset(st, 0, sizeof *st);
}

void nb_experiment_free(nb_experiment_t x)
{
  if (!x)
    return;
  state_free(&x->st);
  for (int i = 0; i < x->npoints; i++)
    nb_config_free(&x->points[i].options);
  free(x->points);
  pthread_mutex_destroy(&x->mu);
  free(x);
}

/* Plans first, for every mode: memory and batch size are decided over all.
 * Inside a list, a mode this machine cannot have is a recorded skip. */
static int plan_modes(const struct point *pt, struct point_state *st, nb_plan_t *ran, int *nran,
                      nb_error_t *err)
{
  *nran = 0;
  for (int i = 0; i < pt->nmodes; i++) {
    st->skip_text[i][0] = '\0';
    struct nb_plan_config pc = {.mode = pt->modes[i],
                                .gpus = pt->options.gpus ? &pt->options.gpu_select : NULL,
                                .workers = pt->options.workers,
                                .gpu_node = pt->options.gpu_node ? &pt->options.gpu_nodes : NULL};
    int rc = nb_plan_make(&st->plans[i], st->topo, &pc, err);
    if (rc < 0) {
      if (rc == NB_ENOTSUP && pt->nmodes > 1) {
        snprintf(st->skip_text[i], sizeof st->skip_text[i], "%s", err->msg);
        continue;
      }
      return rc;
    }
    ran[(*nran)++] = st->plans[i];
  }
  if (*nran == 0)
    return nb__err(err, NB_ENOTSUP, "no mode can run on this machine");
  return 0;
}

/* The batch (--batch, or the largest that fits), then the memory guard. */
static int choose_batch(const struct point *pt, struct point_state *st, nb_plan_t *ran, int nran,
                        nb_error_t *err)
{
  st->report.batch_auto = pt->options.batch == 0;
  st->run.batch = pt->options.batch;
  struct nb_run_config as = st->run;
  if (pt->batch_as_replay)
    as.source = NB_SOURCE_REPLAY;
  if (st->report.batch_auto && !(st->run.batch = nb_run_pick_batch(ran, nran, &as, 128, 0.5))) {
    /* The memory guard's message for a batch of 1 names the node or the
     * cgroup limit that is short, rather than guessing which. */
    st->run.batch = 1;
    for (int i = 0; i < nran; i++) {
      int rc = nb_run_check_memory(ran[i], &st->run, err);
      if (rc < 0)
        return rc;
    }
    const struct nb_cgroup *cg = nb_topo_cgroup(nb_plan_topo(ran[0]));
    return nb__err(err, NB_EINVAL,
                   "not even a batch of 1 fits in half the free memory%s; use a smaller --sample or fewer "
                   "--workers",
                   cg && cg->mem_avail >= 0 ? " (or of what the cgroup's memory limit leaves, numabench topo)"
                                            : "");
  }
  for (int i = 0; i < nran; i++) {
    int rc = nb_run_check_memory(ran[i], &st->run, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* What the devices are, for the report's header line. */
static void describe_devices(const struct point *pt, struct point_state *st, nb_plan_t first,
                             enum nb_backend asked, const char *why)
{
  const struct nb_run_config *rc = &st->run;
  if (pt->options.devices)
    snprintf(st->devices, sizeof st->devices, "the PCI devices given with --devices");
  else if (nb_plan_simulated(first))
    snprintf(st->devices, sizeof st->devices, "simulated: one per NUMA node with CPUs");
  else {
    /* The backend's own words, and why auto did not take CUDA. */
    char what[100];
    nb__copy_describe(rc->backend, rc->pin, what, sizeof what);
    int auto_why = asked == NB_BACKEND_AUTO && rc->backend != NB_BACKEND_CUDA && why[0];
    snprintf(st->devices, sizeof st->devices, "%s%s%.200s%s", what, auto_why ? " (auto: " : "",
             auto_why ? why : "", auto_why ? ")" : "");
  }
}

static void on_step(void *arg, int step, int total)
{
  nb_experiment_t x = arg;
  x->prog.step = step;
  x->prog.total = total;
  x->progress(x->progress_arg, &x->prog);
}

/* Whether a stop was asked; the run, when given, becomes the one a stop
 * reaches (NULL: none any more). */
static bool stopped(nb_experiment_t x, bool set_current, nb_run_t run)
{
  pthread_mutex_lock(&x->mu);
  if (set_current) {
    x->current = run;
    if (run && x->stop)
      nb_run_stop(run);
  }
  bool stop = x->stop;
  pthread_mutex_unlock(&x->mu);
  return stop;
}

/* One run of mode i in repeat rep, recorded as the next entry. */
static int run_one(nb_experiment_t x, const struct point *pt, int i, int rep, nb_error_t *err)
{
  struct point_state *st = &x->st;
  st->run.progress = x->progress ? on_step : NULL;
  st->run.progress_arg = x;
  x->prog = (struct nb_progress){.mode = pt->modes[i], .repeat = rep, .run = x->runs++};
  nb_run_t run;
  int rc = nb_run_start(&run, st->plans[i], &st->run, err);
  if (rc < 0 && !run)
    return rc;
  stopped(x, true, run);
  nb_error_t werr = {0};
  int wrc = nb_run_wait(run, &werr);
  st->report.interrupted = stopped(x, true, NULL);
  st->entries[st->report.nentries++] =
      (struct nb_report_entry){.mode = pt->modes[i], .repeat = rep, .run = run};
  if (wrc < 0) {
    if (x->progress) {
      x->prog.failed = true;
      x->progress(x->progress_arg, &x->prog);
    }
    *err = werr;
    return wrc;
  }
  if (pt->modes[i] != NB_MODE_NONE && !nb_run_placement_achieved(run))
    st->report.placement_achieved = false;
  return 0;
}

/* Modes interleaved, repeat after repeat, so that drift favours none. A
 * skipped mode is recorded once, in the first repeat. */
static int run_modes(nb_experiment_t x, const struct point *pt, nb_error_t *err)
{
  struct point_state *st = &x->st;
  int repeats = pt->options.repeat;
  if (!(st->entries = calloc((size_t)(pt->nmodes * repeats), sizeof *st->entries)))
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  for (int rep = 0; rep < repeats && !st->report.interrupted; rep++)
    for (int i = 0; i < pt->nmodes && !st->report.interrupted; i++) {
      if (!st->plans[i]) {
        if (rep == 0)
          st->entries[st->report.nentries++] =
              (struct nb_report_entry){.mode = pt->modes[i], .skip_reason = st->skip_text[i]};
        continue;
      }
      if ((st->report.interrupted = stopped(x, false, NULL)))
        break;
      int rc = run_one(x, pt, i, rep, err);
      if (rc < 0)
        return rc;
    }
  return 0;
}

/* What a point needs before it runs, from the topology to the batch: the
 * backend, the pinning check, the plans of every mode and the memory guard.
 * Nothing is measured; *asked and why say how the backend was chosen. */
static int prepare_point(const struct point *pt, struct point_state *st, nb_plan_t *ran, int *nran,
                         enum nb_backend *asked, char *why, size_t whylen, nb_error_t *err)
{
  state_free(st);
  st->run = pt->run;
  st->report.placement_achieved = true;
  struct nb_topo_config tc = {.devices = pt->options.devices, .no_cuda = pt->options.no_cuda};
  int rc = nb_topo_load(&st->topo, &tc, err);
  if (rc < 0)
    return rc;
  /* --backend cuda without a usable GPU is a refusal of what was asked,
   * whatever the CUDA error behind it. */
  *asked = st->run.backend;
  if (nb_backend_resolve(st->topo, *asked, &st->run.backend, why, whylen, err) < 0) {
    if (!nb_err_is_usage(err->code))
      err->code = NB_ENOTSUP;
    return err->code;
  }
  /* A mode the pinning cannot serve is refused before anything runs. */
  for (int m = 0; m < pt->nmodes; m++)
    if ((rc = nb__copy_pin_check(nb__copy_ops_for(st->run.backend), st->run.pin, pt->modes[m], err)) < 0)
      return rc;
  if ((rc = plan_modes(pt, st, ran, nran, err)) < 0)
    return rc;
  return choose_batch(pt, st, ran, *nran, err);
}

/* Every point is prepared once before anything runs (the planner is pure,
 * so this measures nothing): a sweep value that only this topology refuses
 * (a GPU it lacks, more workers than CPUs, a batch that does not fit) stops
 * the experiment before its first point is measured, and the message names
 * the point whatever its place in the list. Each point is prepared again by
 * its own run, against the machine as it is then. */
static int check_points(nb_experiment_t x, nb_error_t *err)
{
  struct point_state st = {0};
  nb_plan_t ran[NB_NMODES];
  int nran, rc = 0;
  enum nb_backend asked;
  char why[640];
  for (int i = 0; i < x->npoints && rc == 0; i++) {
    nb_error_t e = {0};
    if ((rc = prepare_point(&x->points[i], &st, ran, &nran, &asked, why, sizeof why, &e)) < 0) {
      char shown[NB__SHOWN_LEN];
      nb__err(err, rc, "--sweep %s=%s (point %d of %d, nothing was run): %s", x->sweep_option,
              nb__shown(x->points[i].value, shown, sizeof shown), i + 1, x->npoints, e.msg);
      if (err)
        err->sys_errno = e.sys_errno;
    }
  }
  state_free(&st);
  return rc;
}

/* Point i with err never NULL: skips keep the planner's message. */
static int run_point(nb_experiment_t x, int i, const struct nb_report **repp, nb_error_t *err)
{
  const struct point *pt = &x->points[i];
  struct point_state *st = &x->st;
  nb_plan_t ran[NB_NMODES];
  int nran;
  enum nb_backend asked;
  char why[640];
  int rc = prepare_point(pt, st, ran, &nran, &asked, why, sizeof why, err);
  if (rc < 0)
    return rc;
  describe_devices(pt, st, ran[0], asked, why);
  if ((rc = run_modes(x, pt, err)) < 0)
    return rc;
  st->report.options = &pt->options;
  st->report.run = &st->run;
  st->report.topo = st->topo;
  st->report.devices_text = st->devices;
  st->report.repeats = pt->options.repeat;
  st->report.sweep_option = x->sweep_option[0] ? x->sweep_option : NULL;
  st->report.sweep_value = x->sweep_option[0] ? pt->value : NULL;
  st->report.entries = st->entries;
  *repp = &st->report;
  return 0;
}

int nb_experiment_run_point(nb_experiment_t x, int i, const struct nb_report **repp, nb_error_t *err)
{
  *repp = NULL;
  if (i < 0 || i >= x->npoints)
    return nb__err(err, NB_EINVAL, "run: no sweep point %d (there are %d)", i, x->npoints);
  nb_error_t e = {0};
  int rc = run_point(x, i, repp, &e);
  if (rc < 0 && err)
    *err = e;
  return rc;
}
