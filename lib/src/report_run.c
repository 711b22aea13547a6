/* numabench: run results as text tables and as one JSON document. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/gen.h>
#include <numabench/run.h>
#include <numabench/version.h>

#include "audit-internal.h"
#include "nb-internal.h"
#include "pipeline.h"
#include "report.h"

static const char *hz(char *buf, size_t len, double v)
{
  snprintf(buf, len, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
  return buf;
}

static bool placement_planned(enum nb_mode m) { return m != NB_MODE_NONE; }

/* steps/s of a mode's run, -1 when it did not run. */
static double mode_rate(const struct nb_report *r, enum nb_mode m)
{
  for (int i = 0; i < r->nmodes; i++)
    if (r->modes[i] == m && r->runs[i])
      return nb_run_steps_per_s(r->runs[i]);
  return -1;
}

int nb_report_write_text(const struct nb_report *r, FILE *out, nb_error_t *err)
{
  const struct nb_run_config *c = r->run;
  double mib = (double)c->channels * c->height * c->width * 4.0 * c->batch / (1024.0 * 1024);
  int workers = 0, ndev = 0;
  for (int i = 0; i < r->nmodes; i++)
    if (r->runs[i]) {
      workers = nb_plan_workers(nb_run_plan(r->runs[i]));
      ndev = nb_run_ngpus(r->runs[i]);
    }
  fprintf(out, "numabench run: backend %s, %d device%s (%s), %d worker%s each, batch %d x %dx%dx%d (%.*f MiB%s), "
               "pipeline %s, %d warmup + %d timed steps, device work %d us%s\n",
          nb_backend_name(c->backend), ndev, ndev == 1 ? "" : "s", r->devices_text, workers, workers == 1 ? "" : "s",
          c->batch, c->channels, c->height, c->width, mib < 10 ? 2 : 0, mib, r->batch_auto ? ", chosen to fit free memory" : "",
          nb_pipeline_name(c->pipeline), c->warmup, c->steps, c->gpu_work_us, c->verify ? ", verified" : "");
  for (int i = 0; i < r->nmodes; i++) {
    nb_run_t run = r->runs[i];
    if (!run) {
      fprintf(out, "\nmode %s: skipped: %s\n", nb_mode_name(r->modes[i]), r->skip_reasons[i]);
      continue;
    }
    const char *verdict = !placement_planned(r->modes[i]) ? "nothing bound; the audit records where things ran"
                          : nb_run_placement_achieved(run) ? "placement achieved"
                                                            : "PLACEMENT NOT ACHIEVED (see --json placement)";
    fprintf(out, "\nmode %s: %s%s\n", nb_mode_name(r->modes[i]), verdict,
            nb_run_interrupted(run) ? " [interrupted]" : "");
    fprintf(out, "  %-4s %4s %8s %10s %7s  %9s %8s %8s %9s %9s %8s\n", "GPU", "node", "steps/s", "samples/s", "GB/s",
            "generate", "collate", "staging", "dev copy", "dev work", "starved");
    for (int g = 0; g < nb_run_ngpus(run); g++) {
      const struct nb_gpu_result *res = nb_run_gpu(run, g);
      char a[32], b[32], d[32];
      fprintf(out, "  %-4d %4d %8s %10s %7s  %7.2fms %6.2fms %6.2fms %7.2fms %7.2fms %7.1f%%%s\n", res->gpu,
              res->node, hz(a, sizeof a, res->steps_per_s), hz(b, sizeof b, res->samples_per_s),
              hz(d, sizeof d, res->gbps), res->stage_ms[NB_STAGE_GENERATE], res->stage_ms[NB_STAGE_COLLATE],
              res->stage_ms[NB_STAGE_STAGING_COPY], res->stage_ms[NB_STAGE_DEVICE_COPY],
              res->stage_ms[NB_STAGE_DEVICE_WORK], res->starved_pct,
              res->short_intervals ? "  (steps under 20 clock ticks)" : "");
      fprintf(out, "       buffers allocated and first-touched in %.2f s (not timed)", res->alloc_s);
      if (res->verified)
        fprintf(out, "; verified %ld batches, %ld wrong", res->verified, res->mismatches);
      fputc('\n', out);
    }
    char a[32];
    fprintf(out, "  aggregate (the slowest GPU, as a synchronous job sees it): %s steps/s\n",
            hz(a, sizeof a, nb_run_steps_per_s(run)));
  }
  double base = mode_rate(r, NB_MODE_NONE);
  int header = 0;
  for (int i = 0; i < r->nmodes; i++) {
    double v = r->runs[i] && r->modes[i] != NB_MODE_NONE ? nb_run_steps_per_s(r->runs[i]) : -1;
    if (base > 0 && v > 0) {
      if (!header++)
        fputc('\n', out);
      fprintf(out, "%s vs none: %.2fx\n", nb_mode_name(r->modes[i]), v / base);
    }
  }
  if (r->interrupted)
    fprintf(out, "\nINTERRUPTED: the results above cover the steps completed before the signal.\n");
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "run: writing the report");
  return 0;
}

/* ---- JSON ---- */

static json_t *gpu_json(const struct nb_gpu_result *g)
{
  json_t *stages = json_object(), *steps = json_array();
  for (int s = 0; stages && s < NB_NSTAGES; s++)
    json_object_set_new(stages, nb_stage_name((enum nb_stage)s), json_real(g->stage_ms[s]));
  for (int k = 0; steps && k < g->timed_steps; k++)
    json_array_append_new(steps, json_real(g->step_ms[k]));
  char digest[24];
  snprintf(digest, sizeof digest, "%016llx", (unsigned long long)g->digest);
  return json_pack("{s:i, s:o, s:i, s:i, s:f, s:f, s:f, s:f, s:o, s:f, s:f, s:b, s:o, s:o}", "gpu", g->gpu, "node",
                   g->node >= 0 ? json_integer(g->node) : json_null(), "steps_done", g->steps_done, "timed_steps",
                   g->timed_steps, "seconds", g->seconds, "steps_per_s", g->steps_per_s, "samples_per_s",
                   g->samples_per_s, "gbps", g->gbps, "stages_ms", stages, "starved_pct", g->starved_pct, "alloc_s",
                   g->alloc_s, "short_intervals", g->short_intervals, "step_ms", steps, "verify",
                   g->verified ? json_pack("{s:I, s:I, s:s}", "batches", (json_int_t)g->verified, "mismatches",
                                           (json_int_t)g->mismatches, "data_digest", digest)
                               : json_null());
}

static json_t *placement_json(nb_run_t run)
{
  struct nb_run *r = run;
  json_t *gpus = json_array();
  for (int i = 0; gpus && i < r->ngpus; i++) {
    struct gpu_pipe *gp = &r->g[i];
    json_t *threads = json_array(), *bufs = json_array();
    for (int k = 0; k < gp->gp->nworkers + 2; k++)
      json_array_append_new(threads, nb__taudit_json(&gp->taudit[k], r->topo));
    for (int k = 0; k < NB__NBUFKINDS; k++)
      if (gp->baudit[k].pages.total)
        json_array_append_new(bufs, nb__baudit_json(&gp->baudit[k], r->topo));
    json_array_append_new(gpus, json_pack("{s:i, s:o, s:o}", "gpu", gp->gp->gpu, "threads", threads, "buffers", bufs));
  }
  return json_pack("{s:b, s:f, s:o, s:o}", "achieved", r->achieved, "threshold", NB_PLACEMENT_THRESHOLD, "gpus", gpus,
                   "numastat", nb__numastat_json(&r->before, &r->after));
}

int nb_report_write_json(const struct nb_report *r, FILE *out, nb_error_t *err)
{
  const struct nb_run_config *c = r->run;
  json_t *runs = json_array(), *cmp = json_array();
  for (int i = 0; runs && i < r->nmodes; i++) {
    nb_run_t run = r->runs[i];
    if (!run) {
      json_array_append_new(runs, json_pack("{s:s, s:b, s:o}", "mode", nb_mode_name(r->modes[i]), "skipped", 1,
                                            "reason", nb__json_text(r->skip_reasons[i])));
      continue;
    }
    json_t *gpus = json_array();
    double samples = 0, gbps = 0, rate = nb_run_steps_per_s(run);
    for (int g = 0; gpus && g < nb_run_ngpus(run); g++)
      json_array_append_new(gpus, gpu_json(nb_run_gpu(run, g)));
    samples = rate * c->batch;
    gbps = rate * (double)c->batch * c->channels * c->height * c->width * 4.0 / 1e9;
    json_array_append_new(runs, json_pack("{s:s, s:b, s:b, s:f, s:f, s:f, s:o, s:o, s:o}", "mode",
                                          nb_mode_name(r->modes[i]), "skipped", 0, "interrupted",
                                          nb_run_interrupted(run), "steps_per_s", rate, "samples_per_s", samples,
                                          "gbps", gbps, "gpus", gpus, "plan", nb__plan_json(nb_run_plan(run)),
                                          "placement", placement_json(run)));
  }
  double base = mode_rate(r, NB_MODE_NONE);
  for (int i = 0; cmp && i < r->nmodes; i++) {
    double v = r->runs[i] && r->modes[i] != NB_MODE_NONE ? nb_run_steps_per_s(r->runs[i]) : -1;
    if (base > 0 && v > 0)
      json_array_append_new(cmp, json_pack("{s:s, s:s, s:f}", "mode", nb_mode_name(r->modes[i]), "baseline", "none",
                                           "speedup", v / base));
  }
  json_t *sample = json_pack("[i, i, i]", c->channels, c->height, c->width);
  json_t *resolved = json_pack(
    "{s:o, s:I, s:I, s:i, s:b, s:i, s:i, s:i, s:I, s:s, s:s, s:i, s:b, s:o, s:s}", "sample", sample, "sample_bytes",
    (json_int_t)((uint64_t)c->channels * c->height * c->width * 4), "batch_bytes",
    (json_int_t)((uint64_t)c->channels * c->height * c->width * 4 * c->batch), "batch", c->batch, "batch_auto",
    r->batch_auto, "workers_per_gpu",
    r->nmodes && r->runs[0] ? nb_plan_workers(nb_run_plan(r->runs[0])) : 0, "warmup", c->warmup, "steps", c->steps,
    "seed", (json_int_t)c->seed, "pipeline", nb_pipeline_name(c->pipeline), "backend", nb_backend_name(c->backend),
    "gpu_work_us", c->gpu_work_us, "verify", c->verify, "devices", nb__json_text(r->devices_text), "generator",
    nb_gen_isa());
  json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:o}", "schema_version", 1, "tool",
                          "numabench", "version", nb_version(), "command", "run", "config",
                          r->options ? nb__config_json(r->options) : json_null(), "user_set",
                          r->options ? nb__config_set_json(r->options) : json_array(), "resolved", resolved,
                          "interrupted", r->interrupted, "runs", runs, "comparison", cmp);
  int rc = nb__json_write(doc, out, "run", err);
  json_decref(doc);
  return rc;
}
