/* numabench: run results as text tables, as one JSON document, and as
 * result files (JSON and CSV) written atomically. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <numabench/host.h>
#include <numabench/gen.h>
#include <numabench/run.h>
#include <numabench/version.h>

#include "audit-internal.h"
#include "copy.h"
#include "nb-internal.h"
#include "cgroup.h"
#include "probe-internal.h"
#include "report.h"

/* ---- summary ---- */

struct nb_mode_summary *nb_report_summary(const struct nb_report *r, int *n)
{
  struct nb_mode_summary *s = calloc((size_t)NB_NMODES, sizeof *s);
  double *rate = calloc((size_t)r->nentries + 1, sizeof *rate),
         *gb = calloc((size_t)r->nentries + 1, sizeof *gb);
  *n = 0;
  if (!s || !rate || !gb) {
    free(s);
    s = NULL;
    goto out;
  }
  for (int e = 0; e < r->nentries; e++) {
    int k = 0;
    while (k < *n && s[k].mode != r->entries[e].mode)
      k++;
    if (k < *n)
      continue;
    struct nb_mode_summary *m = &s[(*n)++];
    m->mode = r->entries[e].mode;
    m->placement_achieved = true;
    m->skipped = true;
    int cnt = 0;
    for (int j = e; j < r->nentries; j++) {
      if (r->entries[j].mode != m->mode || !r->entries[j].run)
        continue;
      nb_run_t run = r->entries[j].run;
      m->skipped = false;
      /* A run cut short (a signal, or stopped before its timed steps) has no
       * complete measurement: it is reported, never averaged. */
      int complete = !nb_run_interrupted(run);
      for (int d = 0; d < nb_run_ngpus(run); d++)
        complete &= nb_run_gpu(run, d)->timed_steps == r->run->steps;
      if (!complete)
        continue;
      rate[cnt] = nb_run_steps_per_s(run);
      double g = 1e300;
      for (int d = 0; d < nb_run_ngpus(run); d++)
        g = nb_run_gpu(run, d)->gbps < g ? nb_run_gpu(run, d)->gbps : g;
      gb[cnt++] = g;
      m->placement_achieved &= nb_run_placement_achieved(run);
    }
    m->runs = cnt;
    m->speedup = m->speedup_lo = m->speedup_hi = NAN;
    if (cnt) {
      nb_stats_compute(rate, cnt, &m->steps_per_s);
      nb_stats_compute(gb, cnt, &m->gbps);
    } else {
      /* Ran but never completed: nothing to summarise. */
      struct nb_stats none = {0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
      m->steps_per_s = m->gbps = none;
    }
  }
  /* Against none, when it ran. */
  for (int k = 0; k < *n; k++)
    if (s[k].mode == NB_MODE_NONE && !s[k].skipped)
      for (int j = 0; j < *n; j++)
        if (j != k && !s[j].skipped && s[j].runs && s[k].runs)
          nb_ratio_ci(&s[j].steps_per_s, &s[k].steps_per_s, &s[j].speedup, &s[j].speedup_lo,
                      &s[j].speedup_hi);
out:
  free(rate);
  free(gb);
  return s;
}

/* ---- text ---- */

/* A number with prec decimals, or "-" when it is unknown (NaN) or not
 * finite. */
static const char *text_num(char *buf, size_t len, int prec, double v)
{
  if (!isfinite(v))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.*f", prec, v);
  return buf;
}

static const char *hz(char *buf, size_t len, double v)
{
  snprintf(buf, len, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
  return buf;
}

static json_t *int_or_null(int v)
{
  return v >= 0 ? json_integer(v) : json_null();
}

/* " (pool 256 MiB per worker)" for replay, "" for randn. */
static const char *pool_text(const struct nb_run_config *c, char *buf, size_t len)
{
  char a[32];
  buf[0] = '\0';
  if (c->source == NB_SOURCE_REPLAY)
    snprintf(buf, len, " (pool %s per worker)",
             nb__mib_or_gib(a, sizeof a, (double)(nb_run_pool_samples(c) * nb_run_sample_bytes(c))));
  return buf;
}

static const char *cpu_text(const struct nb_run_config *c, char *buf, size_t len)
{
  buf[0] = '\0';
  if (c->cpu_work_us > 0)
    snprintf(buf, len, ", cpu work %d us per sample", c->cpu_work_us);
  return buf;
}

/* One device's row of a mode's table, and the line under it: set-up times
 * (not timed), CPU work, the copy engine's rate, verification. */
static void text_gpu_row(FILE *out, const struct nb_run_config *c, const struct nb__copy_ops *ops,
                         const struct nb_gpu_result *res)
{
  char a[32], b[32], d[32];
  fprintf(out, "  %-4d %4d %8s %10s %7s  %7.2fms %6.2fms %6.2fms %7.2fms %7.2fms %7.1f%%%s\n", res->gpu,
          res->node, hz(a, sizeof a, res->steps_per_s), hz(b, sizeof b, res->samples_per_s),
          hz(d, sizeof d, res->gbps), res->stage_ms[NB_STAGE_GENERATE], res->stage_ms[NB_STAGE_COLLATE],
          res->stage_ms[NB_STAGE_STAGING_COPY], res->stage_ms[NB_STAGE_DEVICE_COPY],
          res->stage_ms[NB_STAGE_DEVICE_WORK], res->starved_pct,
          res->short_intervals ? "  (steps under 20 clock ticks)" : "");
  fprintf(out, "       buffers allocated and first-touched in %.2f s", res->alloc_s);
  if (nb__copy_pin(ops, c->pin) != NB_PIN_NONE)
    fprintf(out, ", pinned in %.2f s", res->pin_s);
  if (res->pool_bytes)
    fprintf(out, ", replay pools generated in %.2f s", res->pool_s);
  fprintf(out, " (not timed)");
  if (c->cpu_work_us > 0)
    fprintf(out, "; cpu work %.1f us per sample (asked %d)",
            1e3 * res->stage_ms[NB_STAGE_CPU_WORK] / (c->batch > 0 ? c->batch : 1), c->cpu_work_us);
  if ((ops->flags & NB__COPY_GPUS) && res->copy_gbps > 0)
    fprintf(out, "; H2D copies ran at %.2f GB/s", res->copy_gbps);
  if (res->verified)
    fprintf(out, "; verified %ld batches, %ld wrong", res->verified, res->mismatches);
  fputc('\n', out);
}

int nb_report_write_text(const struct nb_report *r, FILE *out, nb_error_t *err)
{
  char pool[64], cpu[64];
  const struct nb_run_config *c = r->run;
  const struct nb__copy_ops *ops = nb__copy_ops_for(c->backend);
  double mib = (double)nb_run_sample_bytes(c) * c->batch / (1024.0 * 1024);
  int workers = 0, ndev = 0;
  for (int i = 0; i < r->nentries; i++)
    if (r->entries[i].run) {
      workers = nb_plan_workers(nb_run_plan(r->entries[i].run));
      ndev = nb_run_ngpus(r->entries[i].run);
    }
  if (r->sweep_option)
    fprintf(out, "sweep: %s = %s\n", r->sweep_option, r->sweep_value);
  fprintf(out,
          "numabench run: backend %s, %d device%s (%s), %d worker%s each, batch %d x %dx%dx%d (%.*f MiB%s), "
          "pipeline %s, source %s%s, %d warmup + %d timed steps, device work %d us%s%s%s\n",
          nb_backend_name(c->backend), ndev, ndev == 1 ? "" : "s", r->devices_text, workers,
          workers == 1 ? "" : "s", c->batch, c->channels, c->height, c->width, mib < 10 ? 2 : 0, mib,
          r->batch_auto ? ", chosen to fit free memory" : "", nb_pipeline_name(c->pipeline),
          nb_source_name(c->source), pool_text(c, pool, sizeof pool), c->warmup, c->steps, c->gpu_work_us,
          cpu_text(c, cpu, sizeof cpu), c->verify ? ", verified" : "",
          r->repeats > 1 ? ", modes repeated in turn" : "");
  struct nb_host_state t;
  nb_host_state_read(&t);
  if (nb_host_state_warning(&t))
    fprintf(out, "note: %s\n", nb_host_state_warning(&t));
  for (int i = 0; i < r->nentries; i++) {
    const struct nb_report_entry *e = &r->entries[i];
    nb_run_t run = e->run;
    char rep[32] = "";
    if (r->repeats > 1)
      snprintf(rep, sizeof rep, ", repeat %d/%d", e->repeat + 1, r->repeats);
    if (!run) {
      fprintf(out, "\nmode %s: skipped: %s\n", nb_mode_name(e->mode), e->skip_reason);
      continue;
    }
    const char *verdict = e->mode == NB_MODE_NONE ? "nothing bound; the audit records where things ran"
                          : nb_run_placement_achieved(run) ? "placement achieved"
                                                           : "PLACEMENT NOT ACHIEVED (see --json placement)";
    /* Threads that got no work have no CPU samples: say so, they are not
     * counted as misplaced. */
    int unobserved = 0;
    for (int g = 0; g < nb_run_ngpus(run); g++)
      for (int k = 0; k < nb_run_audit_nthreads(run, g); k++)
        unobserved +=
            !nb_run_thread_audit(run, g, k)->observed && nb_run_thread_audit(run, g, k)->tp->cpu_node >= 0;
    char unobs[96] = "";
    if (unobserved && e->mode != NB_MODE_NONE)
      snprintf(unobs, sizeof unobs, " (%d thread%s not observed: no work, no CPU samples)", unobserved,
               unobserved == 1 ? "" : "s");
    fprintf(out, "\nmode %s%s: %s%s%s\n", nb_mode_name(e->mode), rep, verdict, unobs,
            nb_run_interrupted(run) ? " [interrupted]" : "");
    fprintf(out, "  %-4s %4s %8s %10s %7s  %9s %8s %8s %9s %9s %8s\n", "GPU", "node", "steps/s", "samples/s",
            "GB/s", "generate", "collate", "staging", "dev copy", "dev work", "starved");
    for (int g = 0; g < nb_run_ngpus(run); g++)
      text_gpu_row(out, c, ops, nb_run_gpu(run, g));
    char a[32];
    fprintf(out, "  aggregate (the slowest GPU, as a synchronous job sees it): %s steps/s\n",
            hz(a, sizeof a, nb_run_steps_per_s(run)));
  }
  int n;
  struct nb_mode_summary *s = nb_report_summary(r, &n);
  if (!s)
    return nb__err(err, NB_ENOMEM, "run: out of memory");
  if (r->repeats > 1) {
    fprintf(out, "\nsteps/s over %d repeats (mean, 95%% interval, median, cv, min-max):\n", r->repeats);
    int shown = 0;
    for (int k = 0; k < n; k++) {
      const struct nb_stats *st = &s[k].steps_per_s;
      if (s[k].skipped || !s[k].runs)
        continue;
      /* One complete run (an interrupted experiment) has no interval and
       * no cv: "-", as the report command shows unknown numbers. */
      char lo[32], hi[32], cv[32];
      fprintf(out, "  %-11s %9.3f [%s, %s]  median %.3f  cv %s%%  %.3f-%.3f%s\n", nb_mode_name(s[k].mode),
              st->mean, text_num(lo, sizeof lo, 3, st->ci_lo), text_num(hi, sizeof hi, 3, st->ci_hi),
              st->median, text_num(cv, sizeof cv, 1, 100 * st->cv), st->min, st->max,
              s[k].mode == NB_MODE_NONE || s[k].placement_achieved ? "" : "  (placement not achieved)");
      shown++;
    }
    if (!shown)
      fprintf(out, "  (no mode completed a run)\n");
  }
  int header = 0;
  for (int k = 0; k < n; k++) {
    if (s[k].mode == NB_MODE_NONE || isnan(s[k].speedup))
      continue;
    if (!header++)
      fputc('\n', out);
    if (isnan(s[k].speedup_lo))
      fprintf(out, "%s vs none: %.2fx\n", nb_mode_name(s[k].mode), s[k].speedup);
    else
      fprintf(out, "%s vs none: %.2fx (95%% interval %.2f-%.2fx)\n", nb_mode_name(s[k].mode), s[k].speedup,
              s[k].speedup_lo, s[k].speedup_hi);
  }
  free(s);
  if (r->interrupted)
    fprintf(out, "\nINTERRUPTED: the results above cover the steps completed before the signal.\n");
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "run: writing the report");
  return 0;
}

/* ---- JSON ---- */

static json_t *num(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

static json_t *gpu_json(const struct nb_gpu_result *g)
{
  json_t *stages = json_object(), *steps = json_array();
  for (int s = 0; stages && s < NB_NSTAGES; s++)
    json_object_set_new(stages, nb_stage_name((enum nb_stage)s), json_real(g->stage_ms[s]));
  for (int k = 0; steps && k < g->timed_steps; k++)
    json_array_append_new(steps, json_real(g->step_ms[k]));
  char digest[24];
  snprintf(digest, sizeof digest, "%016llx", (unsigned long long)g->digest);
  json_t *stepstats = g->timed_steps
                          ? json_pack("{s:o, s:o, s:o, s:o}", "mean", num(g->step_stats.mean), "sd",
                                      num(g->timed_steps > 1 ? nb_welford_sd(&g->step_stats) : NAN), "min",
                                      num(g->step_stats.min), "max", num(g->step_stats.max))
                          : json_null();
  json_t *o =
      json_pack("{s:i, s:o, s:i, s:i, s:f, s:f, s:f, s:f, s:o, s:o, s:f, s:f, s:f, s:o, s:b, s:o, s:o, s:o}",
                "gpu", g->gpu, "node", g->node >= 0 ? json_integer(g->node) : json_null(), "steps_done",
                g->steps_done, "timed_steps", g->timed_steps, "seconds", g->seconds, "steps_per_s",
                g->steps_per_s, "samples_per_s", g->samples_per_s, "gbps", g->gbps, "copy_gbps",
                g->copy_gbps > 0 ? json_real(g->copy_gbps) : json_null(), "stages_ms", stages, "starved_pct",
                g->starved_pct, "alloc_s", g->alloc_s, "pin_s", g->pin_s, "spin_scale", num(g->spin_scale),
                "short_intervals", g->short_intervals, "step_ms", steps, "step_ms_stats", stepstats, "verify",
                g->verified ? json_pack("{s:I, s:I, s:s}", "batches", (json_int_t)g->verified, "mismatches",
                                        (json_int_t)g->mismatches, "data_digest", digest)
                            : json_null());
  if (o) {
    json_object_set_new(o, "pool_s", g->pool_bytes ? json_real(g->pool_s) : json_null());
    json_object_set_new(o, "pool_bytes",
                        g->pool_bytes ? json_integer((json_int_t)g->pool_bytes) : json_null());
    json_object_set_new(o, "cpu_work_rate", num(g->cpu_work_rate));
  }
  return o;
}

static json_t *placement_json(nb_run_t run)
{
  nb_topo_t topo = nb_plan_topo(nb_run_plan(run));
  json_t *gpus = json_array();
  for (int i = 0; gpus && i < nb_run_ngpus(run); i++) {
    json_t *threads = json_array(), *bufs = json_array();
    for (int k = 0; k < nb_run_audit_nthreads(run, i); k++)
      json_array_append_new(threads, nb__taudit_json(nb_run_thread_audit(run, i, k), topo));
    for (int k = 0; k < NB_RUN_NBUFKINDS; k++)
      if (nb_run_buf_audit(run, i, k))
        json_array_append_new(bufs, nb__baudit_json(nb_run_buf_audit(run, i, k), topo));
    json_array_append_new(gpus, json_pack("{s:i, s:o, s:o}", "gpu", nb_run_gpu(run, i)->gpu, "threads",
                                          threads, "buffers", bufs));
  }
  const struct nb_numastat *before, *after;
  nb_run_numastat(run, &before, &after);
  return json_pack("{s:b, s:f, s:o, s:o}", "achieved", nb_run_placement_achieved(run), "threshold",
                   NB_PLACEMENT_THRESHOLD, "gpus", gpus, "numastat", nb__numastat_json(before, after));
}

static json_t *stats_json(const struct nb_stats *s)
{
  return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:[o, o]}", "n", s->n, "mean", num(s->mean), "median",
                   num(s->median), "sd", num(s->sd), "cv", num(s->cv), "min", num(s->min), "max", num(s->max),
                   "ci95", num(s->ci_lo), num(s->ci_hi));
}

/* What machine and software produced the results. */
static json_t *host_json(nb_topo_t topo)
{
  char host[256] = "", model[256] = "";
  struct utsname u;
  gethostname(host, sizeof host - 1);
  int have_uname = uname(&u) == 0;
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = '\0';
      break;
    }
  if (f)
    fclose(f);
  const int *allowed;
  int ncpu = topo ? nb_topo_allowed_cpus(topo, &allowed) : 0;
  struct nb_host_state t;
  nb_host_state_read(&t);
  return json_pack("{s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "hostname", nb__json_text(host), "kernel",
                   have_uname ? nb__json_text(u.release) : json_null(), "kernel_version",
                   have_uname ? nb__json_text(u.version) : json_null(), "cpu_model",
                   *model ? nb__json_text(model) : json_null(), "allowed_cpus", ncpu, "numa_balancing",
                   int_or_null(t.numa_balancing), "transparent_hugepages",
                   t.thp[0] ? json_string(t.thp) : json_null(), "smt_active",
                   t.smt_active >= 0 ? json_boolean(t.smt_active) : json_null(), "cgroup",
                   nb__cgroup_json(topo));
}

static json_t *cuda_json(nb_topo_t topo)
{
  json_t *names = json_array();
  for (int i = 0; topo && names && i < nb_topo_ngpus(topo); i++)
    json_array_append_new(names, nb__json_text(nb_topo_gpu(topo, i)->name));
  return json_pack("{s:b, s:o, s:o}", "built", nb_have_cuda(), "status",
                   topo ? nb__json_text(nb_topo_cuda_status(topo)) : json_null(), "gpus", names);
}

/* UTC now: ISO 8601 ("2026-11-28T02:10:00Z"), or compact for file names. */
static void iso_time(char *buf, size_t len, int compact)
{
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  if (compact)
    strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm);
  else
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The run's document without the probe record (nb__report_json adds it). */
static json_t *report_doc(const struct nb_report *r)
{
  const struct nb_run_config *c = r->run;
  json_t *runs = json_array(), *cmp = json_array(), *summary = json_array();
  for (int i = 0; runs && i < r->nentries; i++) {
    const struct nb_report_entry *e = &r->entries[i];
    nb_run_t run = e->run;
    if (!run) {
      json_array_append_new(runs,
                            json_pack("{s:s, s:i, s:b, s:o}", "mode", nb_mode_name(e->mode), "repeat",
                                      e->repeat, "skipped", 1, "reason", nb__json_text(e->skip_reason)));
      continue;
    }
    json_t *gpus = json_array();
    double rate = nb_run_steps_per_s(run);
    for (int g = 0; gpus && g < nb_run_ngpus(run); g++)
      json_array_append_new(gpus, gpu_json(nb_run_gpu(run, g)));
    double gbps = rate * (double)c->batch * (double)nb_run_sample_bytes(c) / 1e9;
    int complete = !nb_run_interrupted(run);
    for (int g = 0; g < nb_run_ngpus(run); g++)
      complete &= nb_run_gpu(run, g)->timed_steps == c->steps;
    json_array_append_new(runs,
                          json_pack("{s:s, s:i, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "mode",
                                    nb_mode_name(e->mode), "repeat", e->repeat, "skipped", 0, "interrupted",
                                    nb_run_interrupted(run), "complete", complete, "steps_per_s",
                                    rate > 0 ? json_real(rate) : json_null(), "samples_per_s",
                                    rate > 0 ? json_real(rate * c->batch) : json_null(), "gbps",
                                    rate > 0 ? json_real(gbps) : json_null(), "gpus", gpus, "plan",
                                    nb__plan_json(nb_run_plan(run)), "placement", placement_json(run)));
  }
  int n = 0;
  struct nb_mode_summary *s = nb_report_summary(r, &n);
  for (int k = 0; s && k < n; k++) {
    json_t *sp = isnan(s[k].speedup) || s[k].mode == NB_MODE_NONE
                     ? json_null()
                     : json_pack("{s:o, s:[o, o]}", "ratio", num(s[k].speedup), "ci95", num(s[k].speedup_lo),
                                 num(s[k].speedup_hi));
    json_array_append_new(
        summary, s[k].skipped
                     ? json_pack("{s:s, s:b}", "mode", nb_mode_name(s[k].mode), "skipped", 1)
                     : json_pack("{s:s, s:b, s:i, s:o, s:o, s:o, s:b}", "mode", nb_mode_name(s[k].mode),
                                 "skipped", 0, "runs", s[k].runs, "steps_per_s",
                                 s[k].runs ? stats_json(&s[k].steps_per_s) : json_null(), "gbps",
                                 s[k].runs ? stats_json(&s[k].gbps) : json_null(), "speedup_vs_none", sp,
                                 "placement_achieved", s[k].placement_achieved));
    if (!s[k].skipped && s[k].mode != NB_MODE_NONE && !isnan(s[k].speedup))
      json_array_append_new(cmp, json_pack("{s:s, s:s, s:f}", "mode", nb_mode_name(s[k].mode), "baseline",
                                           "none", "speedup", s[k].speedup));
  }
  free(s);
  int workers = 0;
  for (int i = 0; i < r->nentries; i++)
    if (r->entries[i].run)
      workers = nb_plan_workers(nb_run_plan(r->entries[i].run));
  json_t *resolved = json_pack(
      "{s:[i, i, i], s:I, s:I, s:i, s:b, s:i, s:i, s:i, s:I, s:s, s:s, s:i, s:b, s:o, s:o, s:s, s:i, s:o}",
      "sample", c->channels, c->height, c->width, "sample_bytes", (json_int_t)nb_run_sample_bytes(c),
      "batch_bytes", (json_int_t)(nb_run_sample_bytes(c) * (size_t)c->batch), "batch", c->batch, "batch_auto",
      r->batch_auto, "workers_per_gpu", workers, "warmup", c->warmup, "steps", c->steps, "seed",
      (json_int_t)c->seed, "pipeline", nb_pipeline_name(c->pipeline), "backend", nb_backend_name(c->backend),
      "gpu_work_us", c->gpu_work_us, "verify", c->verify, "pin",
      nb__copy_pin(nb__copy_ops_for(c->backend), c->pin) != NB_PIN_NONE ? json_string(nb_pin_name(c->pin))
                                                                        : json_null(),
      "devices", nb__json_text(r->devices_text), "generator", nb_gen_isa(), "repeat", r->repeats, "sweep",
      r->sweep_option
          ? json_pack("{s:s, s:o}", "option", r->sweep_option, "value", nb__json_text(r->sweep_value))
          : json_null());
  if (resolved) {
    json_object_set_new(resolved, "source", json_string(nb_source_name(c->source)));
    json_object_set_new(resolved, "pool_bytes",
                        c->source == NB_SOURCE_REPLAY
                            ? json_integer((json_int_t)(nb_run_pool_samples(c) * nb_run_sample_bytes(c)))
                            : json_null());
    json_object_set_new(resolved, "cpu_work_us", json_integer(c->cpu_work_us));
  }
  char ts[32];
  iso_time(ts, sizeof ts, 0);
  return json_pack("{s:i, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}",
                   "schema_version", 1, "tool", "numabench", "version", nb_version(), "command", "run",
                   "timestamp", ts, "host", host_json(r->topo), "cuda", cuda_json(r->topo), "topology",
                   r->topo ? nb__topo_json(r->topo) : json_null(), "config",
                   r->options ? nb__config_json(r->options) : json_null(), "user_set",
                   r->options ? nb__config_set_json(r->options) : json_array(), "resolved", resolved,
                   "interrupted", r->interrupted, "runs", runs, "summary", summary, "comparison", cmp);
}

json_t *nb__report_json(const struct nb_report *r)
{
  /* The machine's probe record, the same object `numabench probe` writes,
   * added last, so that fleet can compare hosts from any result file. */
  json_t *doc = report_doc(r);
  if (doc && json_object_set_new(doc, "probe", nb__probe_json(r->topo)) < 0) {
    json_decref(doc);
    return NULL;
  }
  return doc;
}

int nb_report_write_json(const struct nb_report *r, FILE *out, nb_error_t *err)
{
  json_t *doc = nb__report_json(r);
  int rc = nb__json_write(doc, out, "run", err);
  json_decref(doc);
  return rc;
}

/* ---- result files ---- */

/* A CSV number: %.*g, or an empty field where JSON has null (not measured,
 * unknown, not finite): never "nan" or "inf". */
static const char *csv_num(char *buf, size_t len, int prec, double v)
{
  if (!isfinite(v))
    buf[0] = '\0';
  else
    snprintf(buf, len, "%.*g", prec, v);
  return buf;
}

static int write_csv(const struct nb_report *r, FILE *f)
{
  fprintf(
      f, "format,mode,repeat,gpu,node,steps_per_s,samples_per_s,gbps,generate_ms,collate_ms,staging_copy_ms,"
         "device_copy_ms,device_work_ms,starved_pct,alloc_s,timed_steps,placement_achieved,interrupted,pin_s,"
         "copy_gbps,spin_scale,cpu_work_ms,pool_s\n");
  for (int i = 0; i < r->nentries; i++) {
    nb_run_t run = r->entries[i].run;
    for (int g = 0; run && g < nb_run_ngpus(run); g++) {
      const struct nb_gpu_result *x = nb_run_gpu(run, g);
      /* Empty where the JSON has null: an unknown node, no copy rate. */
      char node[16] = "", v[15][32];
      if (x->node >= 0)
        snprintf(node, sizeof node, "%d", x->node);
      fprintf(f, "1,%s,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d,%s,%s,%s,%s,%s,%s,%s\n",
              nb_mode_name(r->entries[i].mode), r->entries[i].repeat, x->gpu, node,
              csv_num(v[0], 32, 6, x->steps_per_s), csv_num(v[1], 32, 6, x->samples_per_s),
              csv_num(v[2], 32, 6, x->gbps), csv_num(v[3], 32, 6, x->stage_ms[NB_STAGE_GENERATE]),
              csv_num(v[4], 32, 6, x->stage_ms[NB_STAGE_COLLATE]),
              csv_num(v[5], 32, 6, x->stage_ms[NB_STAGE_STAGING_COPY]),
              csv_num(v[6], 32, 6, x->stage_ms[NB_STAGE_DEVICE_COPY]),
              csv_num(v[7], 32, 6, x->stage_ms[NB_STAGE_DEVICE_WORK]), csv_num(v[8], 32, 4, x->starved_pct),
              csv_num(v[9], 32, 4, x->alloc_s), x->timed_steps,
              nb_run_placement_achieved(run) ? "true" : "false", nb_run_interrupted(run) ? "true" : "false",
              csv_num(v[10], 32, 4, x->pin_s), csv_num(v[11], 32, 6, x->copy_gbps > 0 ? x->copy_gbps : NAN),
              csv_num(v[12], 32, 6, x->spin_scale), csv_num(v[13], 32, 6, x->stage_ms[NB_STAGE_CPU_WORK]),
              csv_num(v[14], 32, 4, x->pool_bytes ? x->pool_s : NAN));
    }
  }
  return ferror(f) ? -1 : 0;
}

/* Write one file's content to a temporary file in dir (fsynced). */
static int stage_file(const char *dir, const char *base, const char *ext, const void *r,
                      int (*fill)(const void *, FILE *), char *tmp, size_t len, nb_error_t *err)
{
  snprintf(tmp, len, "%s/.%s.%s.XXXXXX", dir, base, ext);
  int fd = mkstemp(tmp);
  if (fd < 0)
    return nb__err_sys(err, NB_EIO, errno, "results: cannot create a file in %s", dir);
  /* mkstemp makes it private; results are for sharing, as the umask allows. */
  mode_t mask = umask(022);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  FILE *f = fdopen(fd, "w");
  int rc = f ? fill(r, f) : -1;
  if (f && (fflush(f) == EOF || fsync(fileno(f)) < 0))
    rc = -1;
  int e = errno;
  if (f)
    fclose(f);
  else
    close(fd);
  if (rc < 0) {
    unlink(tmp);
    return nb__err_sys(err, NB_EIO, e, "results: writing in %s", dir);
  }
  return 0;
}

/* Link both temporary files to the first suffix free for both (base.json and
 * base.csv, else base-2.*, ...): complete or absent, never overwriting, and
 * always a pair. */
static int publish(const char *dir, const char *base, const char *tj, const char *tc, char *path, size_t len,
                   nb_error_t *err)
{
  char csv[4096];
  for (int k = 1; k < 1000; k++) {
    char suffix[16] = "";
    if (k > 1)
      snprintf(suffix, sizeof suffix, "-%d", k);
    snprintf(path, len, "%s/%s%s.json", dir, base, suffix);
    snprintf(csv, sizeof csv, "%s/%s%s.csv", dir, base, suffix);
    if (link(tj, path) < 0) {
      if (errno == EEXIST)
        continue;
      return nb__err_sys(err, NB_EIO, errno, "results: %s", path);
    }
    if (link(tc, csv) == 0)
      return 0;
    int e = errno;
    unlink(path);
    if (e != EEXIST)
      return nb__err_sys(err, NB_EIO, e, "results: %s", csv);
  }
  return nb__err(err, NB_EIO, "results: too many files named %s in %s", base, dir);
}

static int fill_json(const struct nb_report *r, FILE *f)
{
  json_t *doc = nb__report_json(r);
  int rc =
      doc && json_dumpf(doc, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', f) != EOF ? 0 : -1;
  json_decref(doc);
  return rc;
}

static int fill_json_any(const void *r, FILE *f)
{
  return fill_json(r, f);
}

static int write_csv_any(const void *r, FILE *f)
{
  return write_csv(r, f);
}

int nb_report_save(const struct nb_report *r, const char *dir, char *path, size_t len, nb_error_t *err)
{
  if (mkdir(dir, 0777) < 0 && errno != EEXIST)
    return nb__err_sys(err, NB_EIO, errno, "results: cannot create directory %s (give another with --output)",
                       dir);
  char host[64] = "host", ts[32], modes[64] = "", base[256];
  gethostname(host, sizeof host - 1);
  host[strcspn(host, ".")] = '\0'; /* the short name */
  for (char *p = host; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
      *p = '_';
  iso_time(ts, sizeof ts, 1);
  int seen[NB_NMODES] = {0};
  for (int i = 0; i < r->nentries; i++)
    if (!seen[r->entries[i].mode]++)
      snprintf(modes + strlen(modes), sizeof modes - strlen(modes), "%s%s", *modes ? "+" : "",
               nb_mode_name(r->entries[i].mode));
  const struct nb_run_config *c = r->run;
  char sweep[64] = "";
  if (r->sweep_option)
    snprintf(sweep, sizeof sweep, "-%s%s", r->sweep_option, r->sweep_value);
  /* randn's names stay as they were; replay says so. */
  snprintf(base, sizeof base, "%s-%s-%s-%s%s-b%d-%dx%dx%d%s", ts, host, modes, nb_pipeline_name(c->pipeline),
           c->source == NB_SOURCE_REPLAY ? "-replay" : "", c->batch, c->channels, c->height, c->width, sweep);
  for (char *p = base; *p; p++)
    if (*p == '/' || *p == ' ')
      *p = '_';
  return nb__results_save_pair(dir, base, fill_json_any, write_csv_any, r, path, len, err);
}

/* ---- shared with the other result kinds (launch) ---- */

int nb__results_save_pair(const char *dir, const char *base, int (*fill_doc)(const void *, FILE *),
                          int (*fill_csv)(const void *, FILE *), const void *arg, char *path, size_t len,
                          nb_error_t *err)
{
  char tj[4096], tc[4096];
  int rc = stage_file(dir, base, "json", arg, fill_doc, tj, sizeof tj, err);
  if (rc < 0)
    return rc;
  rc = stage_file(dir, base, "csv", arg, fill_csv, tc, sizeof tc, err);
  if (rc == 0) {
    rc = publish(dir, base, tj, tc, path, len, err);
    unlink(tc);
  }
  unlink(tj);
  return rc;
}

int nb__results_save_one(const char *dir, const char *base, int (*fill_doc)(const void *, FILE *),
                         const void *arg, char *path, size_t len, nb_error_t *err)
{
  char tj[4096];
  int rc = stage_file(dir, base, "json", arg, fill_doc, tj, sizeof tj, err);
  if (rc < 0)
    return rc;
  rc = 1; /* not yet linked */
  for (int k = 1; k < 1000 && rc == 1; k++) {
    char suffix[16] = "";
    if (k > 1)
      snprintf(suffix, sizeof suffix, "-%d", k);
    snprintf(path, len, "%s/%s%s.json", dir, base, suffix);
    if (link(tj, path) == 0)
      rc = 0;
    else if (errno != EEXIST)
      rc = nb__err_sys(err, NB_EIO, errno, "results: %s", path);
  }
  if (rc == 1)
    rc = nb__err(err, NB_EIO, "results: too many files named %s in %s", base, dir);
  unlink(tj);
  return rc;
}

json_t *nb__host_json(nb_topo_t topo)
{
  return host_json(topo);
}

json_t *nb__cuda_json(nb_topo_t topo)
{
  return cuda_json(topo);
}

json_t *nb__stats_json(const struct nb_stats *s)
{
  return stats_json(s);
}

void nb__iso_time(char *buf, size_t len, int compact)
{
  iso_time(buf, len, compact);
}
