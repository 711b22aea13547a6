/* numabench: the fleet report written out: a text or markdown table sorted
 * by severity, CSV (findings, then every judged value: what a plot needs)
 * and JSON (docs/fleet-schema.md). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/version.h>

#include "fleet-internal.h"
#include "json.h"
#include "nb-internal.h"
#include "report.h"

/* The severity column: topology, or how far out in MADs. */
static void severity(const struct nb__fleet_find *d, char *buf, size_t len)
{
  if (d->metric < 0)
    snprintf(buf, len, "topology");
  else if (isinf(d->mads))
    snprintf(buf, len, "%s MADs", d->mads > 0 ? "+inf" : "-inf");
  else
    snprintf(buf, len, "%+.1f MADs", d->mads);
}

static void drift_text(const struct nb_fleet *f, const struct nb__fleet_find *d, char *buf, size_t len)
{
  if (d->metric < 0) {
    snprintf(buf, len, "%s", d->what);
    return;
  }
  const struct nb__fleet_judged *j = &f->judged[d->judged_at];
  snprintf(buf, len, "%s %.4g, band %.4g to %.4g (median %.4g, %d hosts)", f->metrics[d->metric], d->value,
           j->lo, j->hi, j->median, j->n);
}

static void headline(const struct nb_fleet *f, FILE *out, int md)
{
  fprintf(
      out,
      "%snumabench fleet: %d host%s in %d group%s, %ld files (%ld results, %ld probes); band: median +- t "
      "MADs (MAD x %.4f), t calibrated to the group size for k = %g, metrics judged on at least %d "
      "hosts%s\n\n",
      md ? "**" : "", f->nhosts, f->nhosts > 1 ? "s" : "", f->ngroups, f->ngroups > 1 ? "s" : "",
      f->results + f->probes, f->results, f->probes, NB_FLEET_MAD_SCALE, f->k, f->min_hosts, md ? "**" : "");
  fprintf(out, md ? "| group | hosts | reference | machine |\n|---|---:|---|---|\n"
                  : "group  hosts  reference                         machine\n");
  for (int i = 0; i < f->ngroups; i++) {
    const struct nb__fleet_group *g = &f->groups[i];
    char ref[96], key[1100];
    if (g->ref_fp)
      snprintf(ref, sizeof ref, "%s %.12s (%d host%s)", g->ref_from, g->ref_fp, g->ref_hosts,
               g->ref_hosts == 1 ? "" : "s");
    else
      snprintf(ref, sizeof ref, "not judged");
    nb__table_cell(key, sizeof key, g->key, md);
    if (md)
      fprintf(out, "| g%d | %d | %s | %s |\n", i + 1, g->nhosts, ref, key);
    else
      fprintf(out, "g%-5d %5d  %-33s %s\n", i + 1, g->nhosts, ref, key);
  }
  fputc('\n', out);
}

static void write_table(const struct nb_fleet *f, FILE *out, int md)
{
  headline(f, out, md);
  if (f->nfinds)
    fprintf(out, md ? "| severity | group | host | drift |\n|---|---|---|---|\n"
                    : "severity      group  host                      drift\n");
  for (int i = 0; i < f->nfinds; i++) {
    const struct nb__fleet_find *d = &f->finds[i];
    char sev[32], host[256], what[1200], shown[1400];
    severity(d, sev, sizeof sev);
    nb__table_cell(host, sizeof host, f->hosts[d->host].name, md);
    drift_text(f, d, what, sizeof what);
    nb__table_cell(shown, sizeof shown, what, md);
    if (md)
      fprintf(out, "| %s | g%d | %s | %s |\n", sev, d->gid + 1, host, shown);
    else
      fprintf(out, "%-13s g%-5d %-25s %s\n", sev, d->gid + 1, host, shown);
  }
  if (f->nfinds)
    fputc('\n', out);
  for (int i = 0; i < f->nnotes; i++) {
    char text[1400];
    fprintf(out, "%s%s\n", md ? "- " : "", nb__table_cell(text, sizeof text, f->notes[i], md));
  }
  int topo = 0;
  for (int i = 0; i < f->nfinds; i++)
    topo += f->finds[i].metric < 0;
  if (f->drift_hosts)
    fprintf(out, "%sdrift: %d of %d hosts (%d topology differences, %d values outside their band)\n",
            f->nnotes && md ? "\n" : "", f->drift_hosts, f->nhosts, topo, f->nfinds - topo);
  else
    fprintf(out, "%sconsistent: no drift on %d host%s\n", f->nnotes && md ? "\n" : "", f->nhosts,
            f->nhosts > 1 ? "s" : "");
}

static void num(FILE *out, double v, const char *after)
{
  if (isfinite(v))
    fprintf(out, "%.6g", v);
  fputs(after, out);
}

static void csv_value(const struct nb_fleet *f, FILE *out, const struct nb__fleet_judged *j, int i,
                      double mads, int outlier)
{
  fprintf(out, "1,g%d,", j->gid + 1);
  nb__csv_field(out, f->hosts[j->hosts[i]].name, ",performance,");
  nb__csv_field(out, f->metrics[j->metric], ",");
  num(out, j->values[i], ",");
  num(out, j->judged ? j->median : NAN, ",");
  num(out, j->judged ? j->lo : NAN, ",");
  num(out, j->judged ? j->hi : NAN, ",");
  num(out, j->judged ? mads : NAN, ",");
  fprintf(out, "%d,\n", outlier);
}

static void write_csv(const struct nb_fleet *f, FILE *out)
{
  fprintf(out, "format,group,host,kind,metric,value,median,lo,hi,mads,outlier,difference\n");
  for (int i = 0; i < f->nfinds; i++) {
    const struct nb__fleet_find *d = &f->finds[i];
    if (d->metric >= 0)
      continue;
    fprintf(out, "1,g%d,", d->gid + 1);
    nb__csv_field(out, f->hosts[d->host].name, ",topology,,,,,,,1,");
    nb__csv_field(out, d->what, "\n");
  }
  for (int i = 0; i < f->nfinds; i++) {
    const struct nb__fleet_find *d = &f->finds[i];
    const struct nb__fleet_judged *j = d->metric >= 0 ? &f->judged[d->judged_at] : NULL;
    for (int k = 0; j && k < j->n; k++)
      if (j->hosts[k] == d->host)
        csv_value(f, out, j, k, d->mads, 1);
  }
  for (int m = 0; m < f->njudged; m++) {
    const struct nb__fleet_judged *j = &f->judged[m];
    for (int i = 0; i < j->n; i++) {
      double z = nb__fleet_z(j, i);
      if (!j->judged || fabs(z) <= j->t)
        csv_value(f, out, j, i, z, 0);
    }
  }
}

static json_t *judged_json(const struct nb_fleet *f, const struct nb__fleet_judged *j)
{
  json_t *hosts = json_array();
  for (int i = 0; hosts && i < j->n; i++) {
    double z = nb__fleet_z(j, i);
    json_array_append_new(
        hosts, json_pack("{s:o, s:o, s:o, s:b}", "host", nb__json_text(f->hosts[j->hosts[i]].name), "value",
                         nb__json_num(j->values[i]), "mads", j->judged ? nb__json_num(z) : json_null(),
                         "outlier", j->judged && fabs(z) > j->t));
  }
  return json_pack(
      "{s:o, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "metric", nb__json_text(f->metrics[j->metric]), "n",
      j->n, "judged", j->judged, "median", j->judged ? nb__json_num(j->median) : json_null(), "mad",
      j->judged ? nb__json_num(j->mad) : json_null(), "lo", j->judged ? nb__json_num(j->lo) : json_null(),
      "hi", j->judged ? nb__json_num(j->hi) : json_null(), "threshold",
      j->judged ? nb__json_num(j->t) : json_null(), "hosts", hosts ? hosts : json_null());
}

static json_t *groups_json(const struct nb_fleet *f)
{
  json_t *a = json_array();
  for (int g = 0; a && g < f->ngroups; g++) {
    const struct nb__fleet_group *gr = &f->groups[g];
    json_t *hosts = json_array(), *metrics = json_array();
    for (int i = 0; hosts && i < gr->nhosts; i++)
      json_array_append_new(hosts, nb__json_text(f->hosts[gr->hosts[i]].name));
    for (int m = 0; metrics && m < f->njudged; m++)
      if (f->judged[m].gid == g)
        json_array_append_new(metrics, judged_json(f, &f->judged[m]));
    json_t *ref = gr->ref_fp ? json_pack("{s:s, s:s, s:i}", "fingerprint", gr->ref_fp, "from", gr->ref_from,
                                         "hosts", gr->ref_hosts)
                             : json_null();
    json_array_append_new(a, json_pack("{s:s, s:o, s:O, s:o, s:o, s:o}", "id", "", "key",
                                       nb__json_text(gr->key), "group", gr->example, "hosts", hosts,
                                       "reference", ref, "metrics", metrics));
    char id[16];
    snprintf(id, sizeof id, "g%d", g + 1);
    json_object_set_new(json_array_get(a, (size_t)g), "id", json_string(id));
  }
  return a;
}

static json_t *finds_json(const struct nb_fleet *f)
{
  json_t *a = json_array();
  for (int i = 0; a && i < f->nfinds; i++) {
    const struct nb__fleet_find *d = &f->finds[i];
    char id[16];
    snprintf(id, sizeof id, "g%d", d->gid + 1);
    const struct nb__fleet_host *h = &f->hosts[d->host];
    json_t *o;
    if (d->metric < 0)
      o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "kind", "topology", "group", id, "host",
                    nb__json_text(h->name), "difference", nb__json_text(d->what), "fingerprint",
                    nb__json_text(h->fingerprint), "file", nb__json_text(h->file));
    else {
      const struct nb__fleet_judged *j = &f->judged[d->judged_at];
      o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "kind", "performance", "group", id,
                    "host", nb__json_text(h->name), "metric", nb__json_text(f->metrics[d->metric]), "value",
                    nb__json_num(d->value), "median", nb__json_num(j->median), "lo", nb__json_num(j->lo),
                    "hi", nb__json_num(j->hi), "mads", nb__json_num(d->mads));
    }
    /* A finding that cannot be written fails the report (out of memory),
     * never drops out of it. */
    if (!o || json_array_append_new(a, o) < 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static json_t *lines_json(char *const *l, int n)
{
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    json_array_append_new(a, nb__json_text(l[i]));
  return a;
}

static int write_json(const struct nb_fleet *f, FILE *out, nb_error_t *err)
{
  json_t *keys = json_array();
  for (int i = 0; keys && i < f->nkeys; i++)
    json_array_append_new(keys, json_string(f->keys[i]));
  json_t *doc = json_pack(
      "{s:i, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:o, s:f, s:f, s:i, s:o}, s:i, s:i, "
      "s:o, "
      "s:o, "
      "s:o, s:o}",
      "schema_version", 1, "tool", "numabench", "kind", "fleet", "version", nb_version(), "files", "read",
      (json_int_t)(f->results + f->probes + f->skipped_old + f->duplicates), "results",
      (json_int_t)f->results, "probes", (json_int_t)f->probes, "skipped_no_probe", (json_int_t)f->skipped_old,
      "duplicates", (json_int_t)f->duplicates, "ignored", (json_int_t)f->ignored, "rejected",
      (json_int_t)f->rejected, "settings", "group", keys ? keys : json_null(), "k", f->k, "mad_scale",
      NB_FLEET_MAD_SCALE, "min_hosts", f->min_hosts, "baseline",
      f->baseline_path ? nb__json_text(f->baseline_path) : json_null(), "hosts", f->nhosts, "drift_hosts",
      f->drift_hosts, "groups", groups_json(f), "findings", finds_json(f), "notes",
      lines_json(f->notes, f->nnotes), "warnings", lines_json(f->warnings, f->nwarnings));
  if (!doc)
    return nb__err(err, NB_ENOMEM, "fleet: building the JSON report failed (out of memory)");
  return nb__json_write_new(doc, out, "fleet", err);
}

int nb_fleet_write(nb_fleet_t f, enum nb_fleet_format fmt, FILE *out, nb_error_t *err)
{
  if (fmt == NB_FLEET_JSON)
    return write_json(f, out, err);
  if (fmt == NB_FLEET_CSV)
    write_csv(f, out);
  else
    write_table(f, out, fmt == NB_FLEET_MD);
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "fleet: writing the report");
  return 0;
}
