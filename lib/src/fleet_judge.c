/* numabench: the fleet report's judgement. Hosts are grouped by machine
 * type; in each group the reference topology is the majority fingerprint
 * (or the --baseline record) and every host that differs is compared with
 * it key by key; every metric that enough hosts have gets a robust band,
 * median +- k scaled MADs, and the hosts outside it are flagged. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-internal.h"
#include "fleet-threshold.h"
#include "nb-internal.h"

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double nb__fleet_median(double *v, int n)
{
  if (n <= 0)
    return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Keys a host's state can change (a GPU off the bus, a node without
 * memory, a BIOS setting), unlike its CPU and GPU models. */
static int is_count_key(const char *key)
{
  return !strcmp(key, "gpus") || !strcmp(key, "nodes") || !strcmp(key, "nps");
}

/* "cpu_model=..., gpus=8": the values of the grouping keys, from the
 * probe's group object or, for the other keys, its facts. */
static char *group_key(const struct nb_fleet *f, json_t *group, json_t *facts, int models_only)
{
  char buf[1024] = "";
  size_t used = 0;
  if (!f->nkeys)
    return strdup("all hosts");
  for (int i = 0; i < f->nkeys; i++) {
    if (models_only && is_count_key(f->keys[i]))
      continue;
    json_t *v = json_object_get(group, f->keys[i]);
    if (!v)
      v = json_object_get(facts, f->keys[i]);
    char *s = v && !json_is_string(v) ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *text = json_is_string(v) ? json_string_value(v) : s ? s : "absent";
    int w = snprintf(buf + used, sizeof buf - used, "%s%s=%s", used ? ", " : "", f->keys[i], text);
    free(s);
    if (w > 0)
      used += (size_t)w;
    if (used >= sizeof buf)
      break;
  }
  return strdup(buf);
}

/* The sorts' context (glibc's qsort_r). */
struct sort_ctx {
  const struct nb_fleet *f;
  char **keys;
};

static int cmp_host(const void *a, const void *b, void *arg)
{
  const struct sort_ctx *c = arg;
  int x = *(const int *)a, y = *(const int *)b;
  int d = strcmp(c->keys[x], c->keys[y]);
  return d ? d : strcmp(c->f->hosts[x].name, c->f->hosts[y].name);
}

static int cmp_fp(const void *a, const void *b, void *arg)
{
  const struct nb_fleet *f = arg;
  int x = *(const int *)a, y = *(const int *)b;
  int c = strcmp(f->hosts[x].fingerprint, f->hosts[y].fingerprint);
  return c ? c : x - y;
}

static int note(struct nb_fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note(struct nb_fleet *f, const char *fmt, ...)
{
  char text[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  return nb__fleet_line(&f->notes, &f->nnotes, &f->capnotes, "%s", text);
}

static int add_find(struct nb_fleet *f, struct nb__fleet_find fd)
{
  struct nb__fleet_find *a = realloc(f->finds, (size_t)(f->nfinds + 1) * sizeof *a);
  if (!a) {
    free(fd.what);
    return NB_ENOMEM;
  }
  f->finds = a;
  fd.seq = f->nfinds;
  f->finds[f->nfinds++] = fd;
  return 0;
}

/* Hosts into groups, in key order, each group's hosts by name. */
static int make_groups(struct nb_fleet *f)
{
  char **keys = calloc((size_t)f->nhosts, sizeof *keys);
  int *order = malloc((size_t)f->nhosts * sizeof *order);
  f->groups = calloc((size_t)f->nhosts, sizeof *f->groups);
  int rc = keys && order && f->groups ? 0 : NB_ENOMEM;
  for (int i = 0; rc == 0 && i < f->nhosts; i++) {
    order[i] = i;
    if (!(keys[i] = group_key(f, f->hosts[i].group, f->hosts[i].facts, 0)))
      rc = NB_ENOMEM;
  }
  if (rc == 0) {
    struct sort_ctx c = {f, keys};
    qsort_r(order, (size_t)f->nhosts, sizeof *order, cmp_host, &c);
  }
  for (int i = 0; rc == 0 && i < f->nhosts; i++) {
    int h = order[i];
    if (i == 0 || strcmp(keys[h], f->groups[f->ngroups - 1].key)) {
      struct nb__fleet_group *g = &f->groups[f->ngroups++];
      g->key = keys[h];
      keys[h] = NULL;
      g->example = json_incref(f->hosts[h].group);
      if (!(g->hosts = malloc((size_t)f->nhosts * sizeof *g->hosts)))
        rc = NB_ENOMEM;
    }
    if (rc == 0) {
      struct nb__fleet_group *g = &f->groups[f->ngroups - 1];
      g->hosts[g->nhosts++] = h;
      f->hosts[h].gid = f->ngroups - 1;
    }
  }
  for (int i = 0; keys && i < f->nhosts; i++)
    free(keys[i]);
  free(keys);
  free(order);
  return rc;
}

/* The majority fingerprint among hosts[0..n) (a tie: the first in order,
 * said); returns that host, or NB_ENOMEM. */
static int majority(struct nb_fleet *f, const int *hosts, int n, const char *label, char **fp,
                    const char **from, int *nref)
{
  int *by = malloc((size_t)n * sizeof *by);
  if (!by)
    return NB_ENOMEM;
  memcpy(by, hosts, (size_t)n * sizeof *by);
  qsort_r(by, (size_t)n, sizeof *by, cmp_fp, f);
  int best = 0, best_n = 0, ties = 0;
  for (int i = 0, j; i < n; i = j) {
    for (j = i; j < n && !strcmp(f->hosts[by[j]].fingerprint, f->hosts[by[i]].fingerprint); j++)
      ;
    if (j - i > best_n) {
      best = by[i];
      best_n = j - i;
      ties = 0;
    } else if (j - i == best_n)
      ties++;
  }
  free(by);
  *nref = best_n;
  *from = ties ? "tie" : "majority";
  if (!(*fp = strdup(f->hosts[best].fingerprint)))
    return NB_ENOMEM;
  if (ties && note(f,
                   "%s: no majority fingerprint (%d fingerprints on %d hosts each): the reference is the "
                   "first by fingerprint; give --baseline",
                   label, ties + 1, best_n) < 0)
    return NB_ENOMEM;
  return best;
}

/* Every host of hosts[0..n) whose fingerprint is not fp, with each fact
 * that differs from ref. */
static int diff_hosts(struct nb_fleet *f, const int *hosts, int n, json_t *ref, const char *fp)
{
  for (int i = 0; i < n; i++) {
    struct nb__fleet_host *h = &f->hosts[hosts[i]];
    if (!strcmp(h->fingerprint, fp))
      continue;
    char **lines = NULL;
    int nl = 0, cap = 0, rc = nb__fleet_diff(h->facts, ref, &lines, &nl, &cap);
    if (rc == 0 && nl == 0)
      rc = nb__fleet_line(&lines, &nl, &cap, "fingerprint %s, peers %s (the facts are equal)", h->fingerprint,
                          fp);
    for (int j = 0; j < nl; j++) {
      if (rc == 0)
        rc = add_find(f,
                      (struct nb__fleet_find){
                          .host = hosts[i], .gid = h->gid, .metric = -1, .what = lines[j], .judged_at = -1});
      else
        free(lines[j]);
    }
    free(lines);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Topology drift of one topology set: the groups gids[0..ng) whose CPU and
 * GPU models are equal (or, with --group, whose keys are all equal). The
 * counts (GPUs, nodes, NPS) are what a drift changes: a rack whose BIOS
 * update changed NPS, or 5 hosts that each lost a GPU, count other nodes or
 * GPUs and would be a machine type of their own, judged against nobody, if
 * the set were the group. So the set's majority fingerprint (or --baseline)
 * is the reference of all its groups, and a minority configuration of any
 * size is listed host by host. Performance stays judged per group. */
static int judge_topology(struct nb_fleet *f, const char *tkey, const int *gids, int ng, int *baseline_used)
{
  int n = 0, rc = 0;
  for (int i = 0; i < ng; i++)
    n += f->groups[gids[i]].nhosts;
  int *hosts = malloc((size_t)n * sizeof *hosts);
  if (!hosts)
    return NB_ENOMEM;
  n = 0;
  for (int i = 0; i < ng; i++)
    for (int j = 0; j < f->groups[gids[i]].nhosts; j++)
      hosts[n++] = f->groups[gids[i]].hosts[j];
  /* "g1, g3": the groups that share the set, as far as the line allows. */
  char label[64] = "";
  for (int i = 0, used = 0; i < ng && used < (int)sizeof label - 16; i++) {
    int w = snprintf(label + used, sizeof label - (size_t)used, "%sg%d", i ? ", " : "", gids[i] + 1);
    used += w > 0 ? w : 0;
  }
  json_t *ref = NULL;
  char *fp = NULL;
  const char *from = NULL;
  int nref = 0;
  if (f->baseline) {
    char *bkey = group_key(f, json_object_get(f->baseline, "group"), json_object_get(f->baseline, "facts"),
                           !f->explicit_group);
    if (!bkey || (!strcmp(bkey, tkey) &&
                  !(fp = strdup(json_string_value(json_object_get(f->baseline, "fingerprint")))))) {
      free(bkey);
      free(hosts);
      return NB_ENOMEM;
    }
    if (fp) {
      ref = json_object_get(f->baseline, "facts");
      from = "baseline";
      *baseline_used = 1;
      for (int i = 0; i < n; i++)
        nref += !strcmp(f->hosts[hosts[i]].fingerprint, fp);
    }
    free(bkey);
  }
  if (!ref && n < 2) {
    rc = note(f, "g%d: 1 host (%s): topology not judged, too few hosts (give --baseline)", gids[0] + 1,
              f->hosts[hosts[0]].name);
    free(hosts);
    return rc;
  }
  if (!ref) {
    int best = majority(f, hosts, n, label, &fp, &from, &nref);
    if (best < 0) {
      free(fp);
      free(hosts);
      return best;
    }
    ref = f->hosts[best].facts;
  }
  for (int i = 0; rc == 0 && i < ng; i++) {
    struct nb__fleet_group *g = &f->groups[gids[i]];
    g->ref_from = from;
    g->ref_hosts = nref;
    g->set_hosts = n;
    if (!(g->ref_fp = strdup(fp)))
      rc = NB_ENOMEM;
  }
  if (rc == 0 && ng > 1)
    rc = note(f,
              "%s: topology compared across %d groups of %d hosts (the same %s; --group with gpus or nodes "
              "keeps deliberate configurations apart)",
              label, ng, n, f->explicit_group ? "grouping keys" : "CPU and GPU models");
  if (rc == 0)
    rc = diff_hosts(f, hosts, n, ref, fp);
  free(fp);
  free(hosts);
  return rc < 0 ? rc : 0;
}

/* Groups into topology sets (the same key without the counts, unless
 * --group named them), each set judged once. */
static int judge_topology_sets(struct nb_fleet *f, int *baseline_used)
{
  char **tkeys = calloc((size_t)f->ngroups, sizeof *tkeys);
  int *gids = malloc((size_t)f->ngroups * sizeof *gids);
  char *done = calloc((size_t)f->ngroups, 1);
  int rc = tkeys && gids && done ? 0 : NB_ENOMEM;
  for (int g = 0; rc == 0 && g < f->ngroups; g++)
    if (!(tkeys[g] =
              group_key(f, f->groups[g].example, f->hosts[f->groups[g].hosts[0]].facts, !f->explicit_group)))
      rc = NB_ENOMEM;
  for (int g = 0; rc == 0 && g < f->ngroups; g++) {
    if (done[g])
      continue;
    int ng = 0;
    for (int o = g; o < f->ngroups; o++)
      if (!done[o] && !strcmp(tkeys[o], tkeys[g])) {
        done[o] = 1;
        gids[ng++] = o;
      }
    rc = judge_topology(f, tkeys[g], gids, ng, baseline_used);
  }
  for (int g = 0; tkeys && g < f->ngroups; g++)
    free(tkeys[g]);
  free(tkeys);
  free(gids);
  free(done);
  return rc;
}

/* The band of one metric in one group, and the hosts outside it. */
static int judge_metric(struct nb_fleet *f, struct nb__fleet_judged *j)
{
  double *tmp = malloc((size_t)j->n * sizeof *tmp);
  if (!tmp)
    return NB_ENOMEM;
  memcpy(tmp, j->values, (size_t)j->n * sizeof *tmp);
  j->median = nb__fleet_median(tmp, j->n);
  for (int i = 0; i < j->n; i++)
    tmp[i] = fabs(j->values[i] - j->median);
  j->mad = nb__fleet_median(tmp, j->n) * NB_FLEET_MAD_SCALE;
  free(tmp);
  if (j->mad < NB_FLEET_MAD_FLOOR * fabs(j->median))
    j->mad = NB_FLEET_MAD_FLOOR * fabs(j->median);
  /* Not k MADs: the MAD of a few hosts is itself noisy, so the band is
   * widened to flag a clean group's values as rarely as a k-sigma band with
   * the true sigma would (fleet_threshold.c). */
  j->t = nb__fleet_threshold(f->k, j->n);
  j->lo = j->median - j->t * j->mad;
  j->hi = j->median + j->t * j->mad;
  for (int i = 0; i < j->n; i++) {
    double z = nb__fleet_z(j, i);
    if (fabs(z) > j->t && add_find(f, (struct nb__fleet_find){.host = j->hosts[i],
                                                              .gid = j->gid,
                                                              .metric = j->metric,
                                                              .value = j->values[i],
                                                              .mads = z,
                                                              .judged_at = (int)(j - f->judged)}) < 0)
      return NB_ENOMEM;
  }
  return 0;
}

/* Every metric of group gid: the hosts that have it and their medians. */
static int collect_metrics(struct nb_fleet *f, int gid, int *judged_any)
{
  struct nb__fleet_group *g = &f->groups[gid];
  int *count = calloc((size_t)f->nmetrics + 1, sizeof *count),
      *at = malloc(((size_t)f->nmetrics + 1) * sizeof *at);
  int rc = count && at ? 0 : NB_ENOMEM, few = 0, most_few = 0;
  for (int i = 0; rc == 0 && i < g->nhosts; i++)
    for (int v = 0; v < f->hosts[g->hosts[i]].nvals; v++)
      count[f->hosts[g->hosts[i]].vals[v].metric] += f->hosts[g->hosts[i]].vals[v].n > 0;
  for (int m = 0; rc == 0 && m < f->nmetrics; m++) {
    at[m] = -1;
    if (!count[m])
      continue;
    struct nb__fleet_judged *a = realloc(f->judged, (size_t)(f->njudged + 1) * sizeof *a);
    if (!a) {
      rc = NB_ENOMEM;
      break;
    }
    f->judged = a;
    at[m] = f->njudged;
    struct nb__fleet_judged *j = &f->judged[f->njudged++];
    *j = (struct nb__fleet_judged){.gid = gid, .metric = m, .judged = count[m] >= f->min_hosts};
    j->hosts = malloc((size_t)count[m] * sizeof *j->hosts);
    j->values = malloc((size_t)count[m] * sizeof *j->values);
    if (!j->hosts || !j->values)
      rc = NB_ENOMEM;
    if (!j->judged) {
      few++;
      most_few = count[m] > most_few ? count[m] : most_few;
    }
  }
  for (int i = 0; rc == 0 && i < g->nhosts; i++) {
    struct nb__fleet_host *h = &f->hosts[g->hosts[i]];
    for (int v = 0; v < h->nvals; v++) {
      if (!h->vals[v].n) /* dropped with an older configuration (fleet.c take_probe) */
        continue;
      struct nb__fleet_judged *j = &f->judged[at[h->vals[v].metric]];
      j->hosts[j->n] = g->hosts[i];
      j->values[j->n++] = nb__fleet_median(h->vals[v].v, h->vals[v].n);
    }
  }
  long values = 0;
  for (int m = 0; rc == 0 && m < f->nmetrics; m++)
    if (at[m] >= 0 && f->judged[at[m]].judged) {
      *judged_any = 1;
      values += f->judged[at[m]].n;
      rc = judge_metric(f, &f->judged[at[m]]);
    }
  /* Many values judged at once: some lie outside the band by chance alone.
   * The band is calibrated to the group size, so the chance is a k-sigma
   * normal tail's. Said, so that a lone value just past the band is read as
   * what it may be. */
  if (rc == 0 && values)
    rc =
        note(f,
             "g%d: %ld values judged; by chance alone about %.2g of them would lie outside the band (k = %g, "
             "calibrated to the group size) with normal noise",
             gid + 1, values, (double)values * erfc(f->k / sqrt(2.0)), f->k);
  free(count);
  free(at);
  if (rc == 0 && few)
    rc = note(f, "g%d: %d metric%s on fewer than --min-hosts %d hosts (at most %d): too few to judge",
              gid + 1, few, few > 1 ? "s" : "", f->min_hosts, most_few);
  return rc;
}

static int cmp_find(const void *a, const void *b, void *arg)
{
  const struct nb_fleet *f = arg;
  const struct nb__fleet_find *x = a, *y = b;
  int tx = x->metric < 0, ty = y->metric < 0;
  if (tx != ty)
    return ty - tx;
  if (!tx && fabs(x->mads) != fabs(y->mads))
    return fabs(x->mads) < fabs(y->mads) ? 1 : -1;
  if (x->gid != y->gid)
    return x->gid - y->gid;
  int c = strcmp(f->hosts[x->host].name, f->hosts[y->host].name);
  if (c)
    return c;
  return x->seq - y->seq;
}

int nb__fleet_judge(struct nb_fleet *f, nb_error_t *err)
{
  if (!f->nhosts)
    return nb__err(err, NB_EINVAL,
                   "no host to judge: %ld files read, %ld written before results carried a probe (re-run "
                   "numabench there, or add numabench probe records)",
                   f->files, f->skipped_old);
  int rc = make_groups(f), baseline_used = 0, judged_any = 0;
  if (rc == 0)
    rc = judge_topology_sets(f, &baseline_used);
  for (int g = 0; rc == 0 && g < f->ngroups; g++) {
    judged_any |= f->groups[g].ref_fp != NULL;
    rc = collect_metrics(f, g, &judged_any);
  }
  if (rc < 0)
    return nb__err(err, NB_ENOMEM, "fleet: out of memory");
  if (f->baseline && !baseline_used) {
    char *bkey =
        group_key(f, json_object_get(f->baseline, "group"), json_object_get(f->baseline, "facts"), 0);
    rc = nb__err(err, NB_EINVAL,
                 "--baseline %s: its group (%s) is no group of these hosts (first: %s); is it the right "
                 "machine type, or is --group different?",
                 f->baseline_path, bkey ? bkey : "?", f->groups[0].key);
    free(bkey);
    return rc;
  }
  if (!judged_any)
    return nb__err(
        err, NB_EINVAL,
        "nothing to judge: %d host%s in %d group%s; topology needs 2 hosts of a group (or --baseline), "
        "a metric --min-hosts %d",
        f->nhosts, f->nhosts > 1 ? "s" : "", f->ngroups, f->ngroups > 1 ? "s" : "", f->min_hosts);
  if (f->nfinds)
    qsort_r(f->finds, (size_t)f->nfinds, sizeof *f->finds, cmp_find, f);
  char *flagged = calloc((size_t)f->nhosts, 1);
  if (!flagged)
    return nb__err(err, NB_ENOMEM, "fleet: out of memory");
  for (int i = 0; i < f->nfinds; i++)
    if (!flagged[f->finds[i].host]++)
      f->drift_hosts++;
  free(flagged);
  return 0;
}
