/* numabench: result files read back, for tables and the regression gate. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <numabench/results.h>

#include "input.h"
#include "nb-internal.h"
#include "report.h"

struct nb_results {
  char *path;
  json_t *doc;
};

/* One mode's summary as read back. */
struct msum {
  const char *mode;
  int runs;
  double mean, lo, hi, gbps, gbps_lo, gbps_hi, speedup, sp_lo, sp_hi;
  int placement;
};

/* A result of numabench launch (kind "launch"): its summary's statistic is
 * "value" (the command's --metric, or runs per second), it has no GB/s,
 * and other settings make two files comparable. */
static int is_launch(json_t *doc)
{
  json_t *k = json_object_get(doc, "kind");
  return json_is_string(k) && !strcmp(json_string_value(k), "launch");
}

static double num_or_nan(json_t *v)
{
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "a.b.c" lookup. */
static json_t *at(json_t *o, const char *dotted)
{
  char key[64];
  while (o && *dotted) {
    size_t n = strcspn(dotted, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, dotted);
    o = json_object_get(o, key);
    dotted += n + (dotted[n] == '.');
  }
  return o;
}

static int require(const char *path, json_t *doc, const char *field, int (*is)(const json_t *),
                   const char *type, nb_error_t *err)
{
  json_t *v = at(doc, field);
  if (!v || !is(v))
    return nb__err(err, NB_EFORMAT, "%s: not a numabench result file: %s %s (see docs/results-schema.md)",
                   path, field, v ? "has the wrong type" : "is missing");
  (void)type;
  return 0;
}

static int is_obj(const json_t *v)
{
  return json_is_object(v);
}
static int is_arr(const json_t *v)
{
  return json_is_array(v);
}
static int is_int(const json_t *v)
{
  return json_is_integer(v);
}
static int is_str(const json_t *v)
{
  return json_is_string(v);
}

/* Largest result file read: a file holds every step's time, a few MB for
 * long runs; this stops a device or a stray huge file early. */
#define NB_RESULTS_MAX ((size_t)256 << 20)

/* summary[] as the schema has it: a skipped mode has no statistics; a mode
 * that ran has runs, and its statistics are null when no run completed (an
 * interrupted run). */
static int check_summary(const char *path, json_t *doc, nb_error_t *err)
{
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(doc, "summary"), i, s)
  {
    json_t *runs = json_object_get(s, "runs");
    if (!json_is_string(json_object_get(s, "mode")))
      return nb__err(err, NB_EFORMAT, "%s: summary[%zu].mode is missing", path, i);
    if (json_is_true(json_object_get(s, "skipped")))
      continue;
    if (!json_is_integer(runs) || json_integer_value(runs) < 0)
      return nb__err(err, NB_EFORMAT, "%s: summary[%zu].runs is %s", path, i,
                     runs ? "not a count" : "missing");
    static const char *const stats[] = {"steps_per_s", "gbps"};
    const char *main_stat = is_launch(doc) ? "value" : "steps_per_s";
    for (int k = 0; k < 2; k++) {
      json_t *st = json_object_get(s, stats[k]);
      if (st && !json_is_null(st) && !json_is_object(st))
        return nb__err(err, NB_EFORMAT, "%s: summary[%zu].%s has the wrong type", path, i, stats[k]);
    }
    if (json_integer_value(runs) > 0 && !json_is_number(at(json_object_get(s, main_stat), "mean")))
      return nb__err(err, NB_EFORMAT, "%s: summary[%zu].%s.mean is missing", path, i, main_stat);
  }
  return 0;
}

int nb_results_load(nb_results_t *resp, const char *path, nb_error_t *err)
{
  *resp = NULL;
  json_error_t je;
  char *text;
  size_t len;
  int rc = nb__input_read(NULL, path, 0, NB_RESULTS_MAX, &text, &len, err);
  if (rc < 0)
    return rc;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!doc)
    return nb__err(err, NB_EFORMAT, "%s: not JSON (line %d: %s)", path, je.line, je.text);
  static const struct {
    const char *field;
    int (*is)(const json_t *);
  } need[] = {{"schema_version", is_int},
              {"tool", is_str},
              {"command", is_str},
              {"timestamp", is_str},
              {"host", is_obj},
              {"resolved", is_obj},
              {"runs", is_arr},
              {"summary", is_arr},
              {"host.hostname", is_str},
              {"resolved.batch", is_int},
              {"resolved.pipeline", is_str}};
  /* A launch result has no batch or pipeline: its command and ranks. */
  static const char *const run_only[] = {"resolved.batch", "resolved.pipeline"};
  for (size_t i = 0; rc == 0 && i < sizeof need / sizeof need[0]; i++)
    if (!is_launch(doc) || (strcmp(need[i].field, run_only[0]) && strcmp(need[i].field, run_only[1])))
      rc = require(path, doc, need[i].field, need[i].is, "", err);
  if (rc == 0 && is_launch(doc))
    rc = require(path, doc, "resolved.nproc", is_int, "", err);
  if (rc == 0 && is_launch(doc))
    rc = require(path, doc, "resolved.value", is_str, "", err);
  if (rc == 0 && (json_integer_value(json_object_get(doc, "schema_version")) != 1 ||
                  strcmp(json_string_value(json_object_get(doc, "tool")), "numabench")))
    rc = nb__err(err, NB_EFORMAT, "%s: schema_version %lld of tool %s; this numabench reads version 1", path,
                 (long long)json_integer_value(json_object_get(doc, "schema_version")),
                 json_string_value(json_object_get(doc, "tool")));
  if (rc == 0)
    rc = check_summary(path, doc, err);
  if (rc < 0) {
    json_decref(doc);
    return rc;
  }
  struct nb_results *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    json_decref(doc);
    return nb__err(err, NB_ENOMEM, "%s: out of memory", path);
  }
  r->doc = doc;
  *resp = r;
  return 0;
}

void nb_results_free(nb_results_t r)
{
  if (!r)
    return;
  json_decref(r->doc);
  free(r->path);
  free(r);
}

/* The modes that ran (skipped ones left out), in the file's order; as many
 * as the file has. NULL with *n 0 when there are none or memory ran out
 * (*n -1). */
static struct msum *summaries(nb_results_t r, int *n)
{
  json_t *arr = json_object_get(r->doc, "summary");
  struct msum *out = calloc(json_array_size(arr) + 1, sizeof *out);
  *n = out ? 0 : -1;
  size_t i;
  json_t *s;
  json_array_foreach(arr, i, s)
  {
    if (!out || json_is_true(json_object_get(s, "skipped")))
      continue;
    struct msum *m = &out[(*n)++];
    m->mode = json_string_value(json_object_get(s, "mode"));
    m->runs = (int)json_integer_value(json_object_get(s, "runs"));
    json_t *rate = json_object_get(s, is_launch(r->doc) ? "value" : "steps_per_s");
    m->mean = num_or_nan(at(rate, "mean"));
    m->lo = num_or_nan(json_array_get(at(rate, "ci95"), 0));
    m->hi = num_or_nan(json_array_get(at(rate, "ci95"), 1));
    m->gbps = num_or_nan(at(s, "gbps.mean"));
    m->gbps_lo = num_or_nan(json_array_get(at(s, "gbps.ci95"), 0));
    m->gbps_hi = num_or_nan(json_array_get(at(s, "gbps.ci95"), 1));
    m->speedup = num_or_nan(at(s, "speedup_vs_none.ratio"));
    m->sp_lo = num_or_nan(json_array_get(at(s, "speedup_vs_none.ci95"), 0));
    m->sp_hi = num_or_nan(json_array_get(at(s, "speedup_vs_none.ci95"), 1));
    m->placement = json_is_true(json_object_get(s, "placement_achieved"));
  }
  return out;
}

static int interrupted(const struct nb_results *r)
{
  return json_is_true(json_object_get(r->doc, "interrupted"));
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
 * break, quotes doubled; a hostname or a path may hold any of them. */
void nb__csv_field(FILE *out, const char *s, const char *after)
{
  s = s ? s : "";
  if (strpbrk(s, ",\"\r\n")) {
    fputc('"', out);
    for (; *s; s++) {
      if (*s == '"')
        fputc('"', out);
      fputc(*s, out);
    }
    fputc('"', out);
  } else {
    fputs(s, out);
  }
  fputs(after, out);
}

/* Text from a file for a text or markdown cell: control characters (a line
 * break would split the row) become '?', and in markdown '|' is escaped. */
const char *nb__table_cell(char *buf, size_t len, const char *s, int md)
{
  size_t o = 0;
  for (s = s ? s : ""; *s && o + 3 < len; s++) {
    if (md && *s == '|')
      buf[o++] = '\\';
    buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
  }
  buf[o] = '\0';
  return buf;
}

/* A rate for tables: no exponents, about 4 significant digits. */
static const char *fmtnum(char *buf, size_t len, double v)
{
  if (isnan(v))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len,
             fabs(v) >= 1000  ? "%.0f"
             : fabs(v) >= 100 ? "%.1f"
             : fabs(v) >= 10  ? "%.2f"
                              : "%.3f",
             v);
  return buf;
}

/* A number for CSV: empty when unknown. */
static const char *csvnum(char *buf, size_t len, double v)
{
  if (isnan(v))
    buf[0] = '\0';
  else
    snprintf(buf, len, "%.6g", v);
  return buf;
}

/* "lo-hi", as ratios ("1.02x-1.10x") or plain numbers; "-" when unknown. */
static void range(char *buf, size_t len, double lo, double hi, int ratio)
{
  if (isnan(lo) || isnan(hi))
    snprintf(buf, len, "-");
  else if (ratio)
    snprintf(buf, len, "%.2fx-%.2fx", lo, hi);
  else {
    char a[32], b[32];
    snprintf(buf, len, "%s-%s", fmtnum(a, sizeof a, lo), fmtnum(b, sizeof b, hi));
  }
}

static const char *const cols[] = {"host",           "time", "mode",    "runs",           "steps/s",
                                   "steps/s 95% CI", "GB/s", "speedup", "speedup 95% CI", "placement"};
enum { NCOLS = sizeof cols / sizeof cols[0] };

static void table_header(enum nb_table_format fmt, FILE *out)
{
  if (fmt == NB_TABLE_CSV) {
    fprintf(
        out,
        "file,host,timestamp,mode,runs,steps_per_s,steps_per_s_ci_lo,steps_per_s_ci_hi,gbps,speedup_vs_none,"
        "speedup_ci_lo,speedup_ci_hi,placement_achieved,interrupted\n");
  } else if (fmt == NB_TABLE_MD) {
    for (int c = 0; c < NCOLS; c++)
      fprintf(out, "| %s ", cols[c]);
    fprintf(out, "|\n");
    for (int c = 0; c < NCOLS; c++)
      fprintf(out, "|---");
    fprintf(out, "|\n");
  } else {
    fprintf(out, "%-12s %-20s %-11s %4s %10s %21s %7s %8s %13s %s\n", cols[0], cols[1], cols[2], cols[3],
            cols[4], cols[5], cols[6], cols[7], cols[8], cols[9]);
  }
}

/* One mode's row. A mode with no complete run (an interrupted run) has
 * nothing measured: its numbers and its placement are "-". */
static void table_row(nb_results_t file, const struct msum *m, enum nb_table_format fmt, FILE *out)
{
  json_t *doc = file->doc;
  const char *host = json_string_value(at(doc, "host.hostname"));
  const char *ts = json_string_value(json_object_get(doc, "timestamp"));
  int measured = m->runs > 0, none = !strcmp(m->mode, "none");
  char ci[64], sci[64], sp[32], v[7][32], h[256], t[256], md[256];
  range(ci, sizeof ci, m->lo, m->hi, 0);
  range(sci, sizeof sci, m->sp_lo, m->sp_hi, 1);
  if (isnan(m->speedup))
    snprintf(sp, sizeof sp, "-");
  else
    snprintf(sp, sizeof sp, "%.2fx", m->speedup);
  const char *place = none || !measured ? "-" : m->placement ? "achieved" : "NOT";
  switch (fmt) {
  case NB_TABLE_CSV:
    nb__csv_field(out, file->path, ",");
    nb__csv_field(out, host, ",");
    nb__csv_field(out, ts, ",");
    nb__csv_field(out, m->mode, ",");
    fprintf(out, "%d,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", m->runs, csvnum(v[0], 32, m->mean),
            csvnum(v[1], 32, m->lo), csvnum(v[2], 32, m->hi), csvnum(v[3], 32, m->gbps),
            csvnum(v[4], 32, m->speedup), csvnum(v[5], 32, m->sp_lo), csvnum(v[6], 32, m->sp_hi),
            none || !measured ? ""
            : m->placement    ? "true"
                              : "false",
            interrupted(file) ? "true" : "false");
    break;
  case NB_TABLE_MD:
    fprintf(out, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n",
            nb__table_cell(h, sizeof h, host, 1), nb__table_cell(t, sizeof t, ts, 1),
            nb__table_cell(md, sizeof md, m->mode, 1), m->runs, fmtnum(v[0], 32, m->mean), ci,
            fmtnum(v[1], 32, m->gbps), sp, sci, place);
    break;
  case NB_TABLE_TEXT:
    fprintf(out, "%-12s %-20s %-11s %4d %10s %21s %7s %8s %13s %s\n", nb__table_cell(h, sizeof h, host, 0),
            nb__table_cell(t, sizeof t, ts, 0), nb__table_cell(md, sizeof md, m->mode, 0), m->runs,
            fmtnum(v[0], 32, m->mean), ci, fmtnum(v[1], 32, m->gbps), sp, sci, place);
    break;
  }
}

int nb_results_write_table(const nb_results_t *files, int n, enum nb_table_format fmt, FILE *out,
                           nb_error_t *err)
{
  table_header(fmt, out);
  int stopped = 0;
  for (int f = 0; f < n; f++) {
    json_t *doc = files[f]->doc;
    int k;
    struct msum *m = summaries(files[f], &k);
    if (k < 0)
      return nb__err(err, NB_ENOMEM, "report: out of memory");
    if (fmt == NB_TABLE_TEXT && is_launch(doc)) {
      char p[512];
      fprintf(out, "%s%s: launch, %lld ranks, steps/s column: %s\n", f ? "\n" : "",
              nb__table_cell(p, sizeof p, files[f]->path, 0),
              (long long)json_integer_value(at(doc, "resolved.nproc")),
              json_string_value(at(doc, "resolved.value")));
    } else if (fmt == NB_TABLE_TEXT && n > 1) {
      char p[512];
      fprintf(out, "%s%s: batch %lld, %s, %lld workers/GPU\n", f ? "\n" : "",
              nb__table_cell(p, sizeof p, files[f]->path, 0),
              (long long)json_integer_value(at(doc, "resolved.batch")),
              json_string_value(at(doc, "resolved.pipeline")),
              (long long)json_integer_value(at(doc, "resolved.workers_per_gpu")));
    }
    for (int i = 0; i < k; i++)
      table_row(files[f], &m[i], fmt, out);
    free(m);
    stopped |= interrupted(files[f]);
  }
  /* Interrupted files are read and shown as far as they go, and marked
   * (CSV has its column): their rows cover the complete runs only. */
  for (int f = 0, first = 1; stopped && fmt != NB_TABLE_CSV && f < n; f++) {
    char p[512];
    if (!interrupted(files[f]))
      continue;
    fprintf(out, "%s%s: interrupted run (SIGINT/SIGTERM): its rows cover the complete runs only\n",
            first || fmt == NB_TABLE_MD ? "\n" : "",
            nb__table_cell(p, sizeof p, files[f]->path, fmt == NB_TABLE_MD));
    first = 0;
  }
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "report: writing");
  return 0;
}

/* The settings that make two results comparable. */
static const char *const same_fields[] = {
    "resolved.sample",  "resolved.batch",       "resolved.workers_per_gpu", "resolved.pipeline",
    "resolved.backend", "resolved.gpu_work_us", "resolved.steps",           "resolved.warmup",
    "resolved.devices", "resolved.source",      "resolved.cpu_work_us",     "resolved.pool_bytes"};

/* A setting that result files older than it lack, read as its default then
 * (--source randn, --cpu-work 0, no pool), so that old baselines stay
 * comparable. The pool's size is compared because a pool that fits in the
 * cache replays at cache speed. */
static json_t *same_field(json_t *doc, const char *field, json_t **made)
{
  json_t *v = at(doc, field);
  *made = NULL;
  if (v || strncmp(field, "resolved.", 9) || !at(doc, "resolved"))
    return v;
  if (!strcmp(field, "resolved.source"))
    *made = json_string("randn");
  else if (!strcmp(field, "resolved.cpu_work_us"))
    *made = json_integer(0);
  else if (!strcmp(field, "resolved.pool_bytes"))
    *made = json_null();
  return *made;
}

/* Why mode m of the baseline cannot be compared with the new file's
 * modes, or NULL: both must have measured it completely, with every
 * metric; a metric missing or null in either is "not comparable", never
 * "ok". */
static const char *not_comparable(const struct msum *m, const struct msum *b, int nb, int launch,
                                  const char **file)
{
  *file = NULL;
  if (!isfinite(m->mean) || m->mean <= 0)
    return "has no complete measurement of mode";
  if (!launch && (!isfinite(m->gbps) || m->gbps <= 0))
    return "has no GB/s for mode";
  *file = "new";
  for (int j = 0; j < nb; j++)
    if (!strcmp(m->mode, b[j].mode)) {
      if (!isfinite(b[j].mean) || b[j].mean <= 0)
        return NULL; /* reported as incomplete below */
      if (!launch && (!isfinite(b[j].gbps) || b[j].gbps <= 0))
        return "has no GB/s for mode";
    }
  return NULL;
}

/* The table of compare, once both files are known comparable. */
static int compare_modes(nb_results_t base, const struct msum *a, int na, nb_results_t cand,
                         const struct msum *b, int nb, double threshold_pct, FILE *out, int *regressed,
                         nb_error_t *err)
{
  int compared = 0;
  /* Every mode of the baseline must be measured in the new file: a mode that
   * vanished or no longer completes is not "no regression". */
  for (int i = 0; i < na; i++) {
    int found = 0;
    for (int j = 0; j < nb; j++)
      found |= !strcmp(a[i].mode, b[j].mode) && isfinite(b[j].mean) && b[j].mean > 0;
    const char *which, *why = not_comparable(&a[i], b, nb, is_launch(base->doc), &which);
    if (why && !which)
      return nb__err(err, NB_EINVAL, "compare: %s %s %s", base->path, why, a[i].mode);
    if (!found)
      return nb__err(err, NB_EINVAL, "compare: mode %s of %s is missing, skipped or incomplete in %s",
                     a[i].mode, base->path, cand->path);
    if (why)
      return nb__err(err, NB_EINVAL, "compare: %s %s %s (missing or null): not comparable", cand->path, why,
                     a[i].mode);
  }
  fprintf(out, "%-11s %-8s %12s %12s %8s  %s\n", "mode", "metric", "baseline", "new", "change", "verdict");
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nb; j++) {
      if (strcmp(a[i].mode, b[j].mode))
        continue;
      compared++;
      struct {
        const char *name;
        double x, xlo, xhi, y, ylo, yhi;
      } metrics[2] = {{"steps/s", a[i].mean, a[i].lo, a[i].hi, b[j].mean, b[j].lo, b[j].hi},
                      {"GB/s", a[i].gbps, a[i].gbps_lo, a[i].gbps_hi, b[j].gbps, b[j].gbps_lo, b[j].gbps_hi}};
      metrics[0].name = is_launch(base->doc) ? "value" : metrics[0].name;
      for (int k = 0; k < (is_launch(base->doc) ? 1 : 2); k++) {
        double change = 100.0 * (metrics[k].y - metrics[k].x) / metrics[k].x;
        int noise_known = !isnan(metrics[k].xlo) && !isnan(metrics[k].yhi);
        int beyond_noise = noise_known ? metrics[k].yhi < metrics[k].xlo : 1;
        const char *verdict = "ok";
        if (change < -threshold_pct && beyond_noise) {
          verdict = noise_known ? "REGRESSION" : "REGRESSION (single runs: threshold only)";
          *regressed = 1;
        } else if (change < -threshold_pct) {
          verdict = "slower, within the noise";
        } else if (change > threshold_pct && (!noise_known || metrics[k].ylo > metrics[k].xhi)) {
          verdict = "faster";
        }
        char vx[32], vy[32];
        fprintf(out, "%-11s %-8s %12s %12s %+7.1f%%  %s\n", a[i].mode, metrics[k].name,
                fmtnum(vx, sizeof vx, metrics[k].x), fmtnum(vy, sizeof vy, metrics[k].y), change, verdict);
      }
    }
  if (!compared)
    return nb__err(err, NB_EINVAL, "compare: %s and %s have no mode in common", base->path, cand->path);
  fprintf(out, "%s (threshold %.1f%%)\n", *regressed ? "REGRESSION" : "no regression", threshold_pct);
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "compare: writing");
  return 0;
}

int nb_results_compare(nb_results_t base, nb_results_t cand, double threshold_pct, FILE *out, int *regressed,
                       nb_error_t *err)
{
  *regressed = 0;
  /* An interrupted file is named as such first: whatever else differs, its
   * numbers are incomplete. */
  const struct nb_results *both[2] = {base, cand};
  for (int f = 0; f < 2; f++)
    if (interrupted(both[f]))
      return nb__err(err, NB_EINVAL, "compare: %s is an interrupted run: its numbers are incomplete",
                     both[f]->path);
  char diff[512] = "";
  /* A launch result is comparable with a launch result of the same command,
   * ranks, metric and devices only. */
  static const char *const same_launch[] = {
      "kind", "resolved.command", "resolved.nproc", "resolved.metric", "resolved.value", "resolved.devices"};
  int launch = is_launch(base->doc) || is_launch(cand->doc);
  size_t nsame =
      launch ? sizeof same_launch / sizeof same_launch[0] : sizeof same_fields / sizeof same_fields[0];
  for (size_t i = 0; i < nsame; i++) {
    const char *field = launch ? same_launch[i] : same_fields[i];
    json_t *ma, *mb, *a = same_field(base->doc, field, &ma), *b = same_field(cand->doc, field, &mb);
    if (!json_equal(a, b)) {
      char *ta = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL,
           *tb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
      size_t used = strlen(diff);
      snprintf(diff + used, sizeof diff - used, "%s%s (%s vs %s)", used ? ", " : "",
               field + (strncmp(field, "resolved.", 9) ? 0 : 9), ta ? ta : "missing", tb ? tb : "missing");
      free(ta);
      free(tb);
    }
    json_decref(ma);
    json_decref(mb);
  }
  /* The GPU count: the first run's devices. */
  size_t ga = json_array_size(at(json_array_get(json_object_get(base->doc, "runs"), 0), "gpus")),
         gb = json_array_size(at(json_array_get(json_object_get(cand->doc, "runs"), 0), "gpus"));
  if (ga != gb) {
    size_t used = strlen(diff);
    snprintf(diff + used, sizeof diff - used, "%sdevices (%zu vs %zu)", used ? ", " : "", ga, gb);
  }
  if (*diff)
    return nb__err(err, NB_EINVAL, "compare: %s and %s were run with different settings: %s", base->path,
                   cand->path, diff);

  int na, nb;
  struct msum *a = summaries(base, &na), *b = summaries(cand, &nb);
  int rc = na < 0 || nb < 0 ? nb__err(err, NB_ENOMEM, "compare: out of memory") : 0;
  if (rc == 0)
    rc = compare_modes(base, a, na, cand, b, nb, threshold_pct, out, regressed, err);
  free(a);
  free(b);
  return rc;
}
