/* numabench: the fleet report, reading. Every file is parsed, its probe and
 * a few metric values kept, and the document freed at once: memory grows
 * with the hosts and metrics, never with the raw samples in the files. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fleet-internal.h"
#include "input.h"
#include "nb-internal.h"

/* Largest file read: as for report (a run file holds every step's time). */
#define FLEET_FILE_MAX ((size_t)256 << 20)
/* Deepest directory walked: result trees are a few levels deep; this stops
 * a bind-mount loop. */
#define FLEET_DEPTH_MAX 16

static const char *const group_keys[] = {
    "cpu_model", "gpu_model", "gpus",   "nodes",          "nps",
    "smt",       "kernel",    "driver", "numa_balancing", "transparent_hugepages",
    NULL};

static uint64_t hash(const char *s)
{
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int nb__strmap_get(const struct nb__strmap *m, const char *key)
{
  if (!m->cap)
    return -1;
  for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->keys[i])
      return -1;
    if (!strcmp(m->keys[i], key))
      return m->vals[i];
  }
}

static int strmap_grow(struct nb__strmap *m)
{
  size_t cap = m->cap ? m->cap * 2 : 64;
  char **keys = calloc(cap, sizeof *keys);
  int *vals = calloc(cap, sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return NB_ENOMEM;
  }
  for (size_t j = 0; j < m->cap; j++) {
    if (!m->keys[j])
      continue;
    size_t i = hash(m->keys[j]) & (cap - 1);
    while (keys[i])
      i = (i + 1) & (cap - 1);
    keys[i] = m->keys[j];
    vals[i] = m->vals[j];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

int nb__strmap_put(struct nb__strmap *m, const char *key, int val)
{
  if ((m->n + 1) * 2 > m->cap && strmap_grow(m) < 0)
    return NB_ENOMEM;
  size_t i = hash(key) & (m->cap - 1);
  while (m->keys[i] && strcmp(m->keys[i], key))
    i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) {
    if (!(m->keys[i] = strdup(key)))
      return NB_ENOMEM;
    m->n++;
  }
  m->vals[i] = val;
  return 0;
}

void nb__strmap_free(struct nb__strmap *m)
{
  for (size_t i = 0; i < m->cap; i++)
    free(m->keys[i]);
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

int nb__fleet_line(char ***list, int *n, int *cap, const char *fmt, ...)
{
  if (*n == *cap) {
    int c = *cap ? *cap * 2 : 16;
    char **l = realloc(*list, (size_t)c * sizeof *l);
    if (!l)
      return NB_ENOMEM;
    *list = l;
    *cap = c;
  }
  va_list ap;
  va_start(ap, fmt);
  int rc = vasprintf(&(*list)[*n], fmt, ap);
  va_end(ap);
  if (rc < 0)
    return NB_ENOMEM;
  (*n)++;
  return 0;
}

#define WARN(f, ...)                                                                                         \
  (nb__fleet_line(&(f)->warnings, &(f)->nwarnings, &(f)->capwarnings, __VA_ARGS__) < 0 ? NB_ENOMEM : 0)

/* A probe object as docs/probe-schema.md has it: what fleet relies on. */
static int check_probe(const char *path, json_t *p, nb_error_t *err)
{
  static const struct {
    const char *key;
    int type; /* 0 string, 1 integer, 2 object, 3 string or null */
  } need[] = {{"hostname", 0}, {"fingerprint", 0}, {"facts", 2}, {"group", 2}};
  if (!json_is_object(p))
    return nb__err(err, NB_EFORMAT, "%s: probe is not an object (see docs/probe-schema.md)", path);
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    json_t *v = json_object_get(p, need[i].key);
    int ok = need[i].type == 0 ? json_is_string(v) : json_is_object(v);
    if (!ok)
      return nb__err(err, NB_EFORMAT,
                     "%s: probe.%s %s (see docs/probe-schema.md; re-run numabench probe there)", path,
                     need[i].key, v ? "has the wrong type" : "is missing");
  }
  json_t *g = json_object_get(p, "group");
  if (!json_is_string(json_object_get(g, "cpu_model")) || !json_is_integer(json_object_get(g, "gpus")) ||
      !json_is_integer(json_object_get(g, "nodes")))
    return nb__err(err, NB_EFORMAT,
                   "%s: probe.group needs cpu_model (string), gpus and nodes (integers) (see "
                   "docs/probe-schema.md)",
                   path);
  if (!*json_string_value(json_object_get(p, "hostname")))
    return nb__err(err, NB_EFORMAT, "%s: probe.hostname is empty (see docs/probe-schema.md)", path);
  return 0;
}

int nb_fleet_new(nb_fleet_t *fleetp, const struct nb_fleet_opts *o, nb_error_t *err)
{
  *fleetp = NULL;
  if (!(o->k > 0) || !isfinite(o->k) || o->k > 1000)
    return nb__err(err, NB_EINVAL, "--k %g: expected a number of MADs above 0 and at most 1000 (default 4)",
                   o->k);
  if (o->min_hosts < 3)
    return nb__err(err, NB_EINVAL, "--min-hosts %d: a band needs at least 3 hosts", o->min_hosts);
  struct nb_fleet *f = calloc(1, sizeof *f);
  if (!f)
    return nb__err(err, NB_ENOMEM, "fleet: out of memory");
  f->k = o->k;
  f->min_hosts = o->min_hosts;
  f->explicit_group = o->group != NULL;
  const char *keys = o->group ? o->group : "cpu_model,gpu_model,gpus,nodes";
  int rc = 0;
  if (strcmp(keys, "none")) {
    for (const char *p = keys; rc == 0;) {
      size_t n = strcspn(p, ",");
      int known = 0;
      for (int i = 0; group_keys[i]; i++)
        known |= strlen(group_keys[i]) == n && !strncmp(group_keys[i], p, n);
      if (!known || f->nkeys == NB_FLEET_MAX_KEYS)
        rc = nb__err(err, NB_EINVAL,
                     "--group %s: '%.*s' is not a grouping key (cpu_model, gpu_model, gpus, nodes, nps, smt, "
                     "kernel, driver, numa_balancing, transparent_hugepages, each once; or none)",
                     keys, (int)n, p);
      for (int i = 0; rc == 0 && i < f->nkeys; i++)
        if (strlen(f->keys[i]) == n && !strncmp(f->keys[i], p, n))
          rc = nb__err(err, NB_EINVAL, "--group %s: '%.*s' is named twice", keys, (int)n, p);
      if (rc == 0 && !(f->keys[f->nkeys++] = strndup(p, n)))
        rc = nb__err(err, NB_ENOMEM, "fleet: out of memory");
      if (!p[n])
        break;
      p += n + 1;
    }
  }
  if (rc == 0 && o->baseline) {
    char *text;
    size_t len;
    json_error_t je;
    if ((rc = nb__input_read("--baseline", o->baseline, 0, FLEET_FILE_MAX, &text, &len, err)) == 0) {
      json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
      free(text);
      json_t *kind = json_object_get(doc, "kind");
      if (!doc)
        rc = nb__err(err, NB_EFORMAT, "--baseline %s: not JSON (line %d: %s)", o->baseline, je.line, je.text);
      else if (!json_is_string(kind) || strcmp(json_string_value(kind), "probe") ||
               json_integer_value(json_object_get(doc, "schema_version")) != 1)
        rc = nb__err(err, NB_EINVAL,
                     "--baseline %s: not a probe record (kind \"probe\", schema_version 1): write one with "
                     "numabench probe on a good host",
                     o->baseline);
      else if ((rc = check_probe(o->baseline, json_object_get(doc, "probe"), err)) == 0) {
        f->baseline = json_incref(json_object_get(doc, "probe"));
        if (!(f->baseline_path = strdup(o->baseline)))
          rc = nb__err(err, NB_ENOMEM, "fleet: out of memory");
      }
      json_decref(doc);
    }
  }
  if (rc < 0) {
    nb_fleet_free(f);
    return rc;
  }
  *fleetp = f;
  return 0;
}

void nb_fleet_free(nb_fleet_t f)
{
  if (!f)
    return;
  for (int i = 0; i < f->nkeys; i++)
    free(f->keys[i]);
  free(f->baseline_path);
  json_decref(f->baseline);
  for (int i = 0; i < f->nhosts; i++) {
    struct nb__fleet_host *h = &f->hosts[i];
    free(h->name);
    free(h->fingerprint);
    free(h->stamp);
    free(h->file);
    json_decref(h->facts);
    json_decref(h->group);
    for (int j = 0; j < h->nvals; j++)
      free(h->vals[j].v);
    free(h->vals);
  }
  free(f->hosts);
  nb__strmap_free(&f->host_index);
  nb__strmap_free(&f->metric_index);
  nb__strmap_free(&f->seen);
  for (int i = 0; i < f->nmetrics; i++)
    free(f->metrics[i]);
  free(f->metrics);
  for (int i = 0; i < f->nwarnings; i++)
    free(f->warnings[i]);
  free(f->warnings);
  free(f->ignored_example);
  for (int i = 0; i < f->ngroups; i++) {
    free(f->groups[i].key);
    free(f->groups[i].hosts);
    free(f->groups[i].ref_fp);
    json_decref(f->groups[i].example);
  }
  free(f->groups);
  for (int i = 0; i < f->njudged; i++) {
    free(f->judged[i].hosts);
    free(f->judged[i].values);
  }
  free(f->judged);
  for (int i = 0; i < f->nfinds; i++)
    free(f->finds[i].what);
  free(f->finds);
  for (int i = 0; i < f->nnotes; i++)
    free(f->notes[i]);
  free(f->notes);
  free(f);
}

const char *nb_fleet_warning(nb_fleet_t f, int i)
{
  return i >= 0 && i < f->nwarnings ? f->warnings[i] : NULL;
}

static int metric_id(struct nb_fleet *f, const char *name)
{
  int id = nb__strmap_get(&f->metric_index, name);
  if (id >= 0)
    return id;
  if (f->nmetrics == f->capmetrics) {
    int c = f->capmetrics ? f->capmetrics * 2 : 64;
    char **m = realloc(f->metrics, (size_t)c * sizeof *m);
    if (!m)
      return NB_ENOMEM;
    f->metrics = m;
    f->capmetrics = c;
  }
  if (!(f->metrics[f->nmetrics] = strdup(name)) || nb__strmap_put(&f->metric_index, name, f->nmetrics) < 0)
    return NB_ENOMEM;
  return f->nmetrics++;
}

/* One value of a metric for host h. Values that are not finite numbers
 * (null in the file) are not values. */
static int add_value(struct nb_fleet *f, struct nb__fleet_host *h, const char *name, json_t *v)
{
  if (!json_is_number(v) || !isfinite(json_number_value(v)))
    return 0;
  int id = metric_id(f, name);
  if (id < 0)
    return id;
  struct nb__fleet_vals *mv = NULL;
  for (int i = 0; i < h->nvals && !mv; i++)
    if (h->vals[i].metric == id)
      mv = &h->vals[i];
  if (!mv) {
    if (h->nvals == h->capvals) {
      int c = h->capvals ? h->capvals * 2 : 8;
      struct nb__fleet_vals *a = realloc(h->vals, (size_t)c * sizeof *a);
      if (!a)
        return NB_ENOMEM;
      h->vals = a;
      h->capvals = c;
    }
    mv = &h->vals[h->nvals++];
    *mv = (struct nb__fleet_vals){.metric = id};
  }
  if (mv->n == mv->cap) {
    int c = mv->cap ? mv->cap * 2 : 4;
    double *a = realloc(mv->v, (size_t)c * sizeof *a);
    if (!a)
      return NB_ENOMEM;
    mv->v = a;
    mv->cap = c;
  }
  mv->v[mv->n++] = json_number_value(v);
  return 0;
}

static const char *str_or(const char *s, const char *otherwise)
{
  return s ? s : otherwise;
}

/* A statistic object's central value: the median of the file's repeats,
 * else their mean. */
static json_t *central(json_t *stat)
{
  json_t *m = json_object_get(stat, "median");
  return json_is_number(m) ? m : json_object_get(stat, "mean");
}

/* What makes one file's numbers comparable with another's: results of
 * other settings are other metrics. */
static void run_setting(json_t *doc, char *buf, size_t len)
{
  json_t *r = json_object_get(doc, "resolved");
  json_t *s = json_object_get(r, "sample");
  snprintf(buf, len, "run %s %s %lldx%lldx%lld b%lld w%lld gw%lld",
           str_or(json_string_value(json_object_get(r, "backend")), "?"),
           str_or(json_string_value(json_object_get(r, "pipeline")), "?"),
           (long long)json_integer_value(json_array_get(s, 0)),
           (long long)json_integer_value(json_array_get(s, 1)),
           (long long)json_integer_value(json_array_get(s, 2)),
           (long long)json_integer_value(json_object_get(r, "batch")),
           (long long)json_integer_value(json_object_get(r, "workers_per_gpu")),
           (long long)json_integer_value(json_object_get(r, "gpu_work_us")));
}

static void launch_setting(json_t *doc, char *buf, size_t len)
{
  json_t *r = json_object_get(doc, "resolved");
  json_t *cmd = json_array_get(json_object_get(r, "command"), 0);
  const char *c = json_string_value(cmd) ? json_string_value(cmd) : "?";
  const char *slash = strrchr(c, '/');
  snprintf(buf, len, "launch %s n%lld %s", slash ? slash + 1 : c,
           (long long)json_integer_value(json_object_get(r, "nproc")),
           str_or(json_string_value(json_object_get(r, "value")), "?"));
}

/* Steps/s (or launch's value) and the speedup against none, per mode. */
static int summary_metrics(struct nb_fleet *f, struct nb__fleet_host *h, json_t *doc, int launch)
{
  char setting[160], name[256];
  (launch ? launch_setting : run_setting)(doc, setting, sizeof setting);
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(doc, "summary"), i, s)
  {
    const char *mode = json_string_value(json_object_get(s, "mode"));
    if (!mode || json_is_true(json_object_get(s, "skipped")) ||
        json_integer_value(json_object_get(s, "runs")) < 1)
      continue;
    snprintf(name, sizeof name, "%s %s [%s]", mode, launch ? "value" : "steps/s", setting);
    int rc = add_value(f, h, name, central(json_object_get(s, launch ? "value" : "steps_per_s")));
    snprintf(name, sizeof name, "%s/none speedup [%s]", mode, setting);
    if (rc == 0)
      rc = add_value(f, h, name, json_object_get(json_object_get(s, "speedup_vs_none"), "ratio"));
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* bw: every cell measured alone, node x GPU (CUDA, H2D and D2H) or node x
 * node (host). */
static int bw_metrics(struct nb_fleet *f, struct nb__fleet_host *h, json_t *doc)
{
  const char *backend = json_string_value(json_object_get(doc, "backend"));
  int cuda = backend && !strcmp(backend, "cuda");
  char setting[96], name[256];
  snprintf(setting, sizeof setting, "bw %s%s%s %lldB", backend ? backend : "?", cuda ? " " : "",
           cuda ? (str_or(json_string_value(json_object_get(doc, "pin")), "?")) : "",
           (long long)json_integer_value(json_object_get(doc, "bytes")));
  json_t *rows = json_object_get(doc, "rows_cpu_nodes");
  json_t *cols = json_object_get(doc, cuda ? "cols_gpus" : "cols_memory_nodes");
  static const char *const dirs[] = {"h2d", "d2h"};
  for (int d = 0; d < (cuda ? 2 : 1); d++) {
    json_t *m =
        cuda ? json_object_get(json_object_get(doc, dirs[d]), "alone") : json_object_get(doc, "alone");
    for (size_t i = 0; i < json_array_size(m); i++)
      for (size_t j = 0; j < json_array_size(json_array_get(m, i)); j++) {
        long long r = json_integer_value(json_array_get(rows, i)),
                  c = json_integer_value(json_array_get(cols, j));
        if (cuda)
          snprintf(name, sizeof name, "%s GB/s node %lld GPU %lld [%s]", d ? "D2H" : "H2D", r, c, setting);
        else
          snprintf(name, sizeof name, "copy GB/s node %lld <- node %lld [%s]", r, c, setting);
        int rc = add_value(f, h, name, central(json_array_get(json_array_get(m, i), j)));
        if (rc < 0)
          return rc;
      }
  }
  return 0;
}

static struct nb__fleet_host *host_of(struct nb_fleet *f, const char *name)
{
  int i = nb__strmap_get(&f->host_index, name);
  if (i >= 0)
    return &f->hosts[i];
  if (f->nhosts == f->caphosts) {
    int c = f->caphosts ? f->caphosts * 2 : 64;
    struct nb__fleet_host *a = realloc(f->hosts, (size_t)c * sizeof *a);
    if (!a)
      return NULL;
    f->hosts = a;
    f->caphosts = c;
  }
  struct nb__fleet_host *h = &f->hosts[f->nhosts];
  *h = (struct nb__fleet_host){.gid = -1};
  if (!(h->name = strdup(name)) || nb__strmap_put(&f->host_index, name, f->nhosts) < 0) {
    free(h->name);
    return NULL;
  }
  f->nhosts++;
  return h;
}

/* The host's facts are its newest file's, and its metrics are those of
 * the files with that file's fingerprint only: a host fixed and re-run is
 * judged as it is now, not by the results of its old configuration.
 * Returns 1 when this file's metrics are to be left out (an older file of
 * another configuration), 0 to take them, or NB_ENOMEM. */
static int take_probe(struct nb_fleet *f, struct nb__fleet_host *h, json_t *p, const char *stamp,
                      const char *path)
{
  const char *fp = json_string_value(json_object_get(p, "fingerprint"));
  int other = h->fingerprint && strcmp(h->fingerprint, fp);
  if (h->stamp && strcmp(stamp, h->stamp) < 0) {
    if (other) {
      f->dropped_old++;
      if (WARN(f, "host %s: %s has another fingerprint than the newer %s: its metrics are not judged",
               h->name, path, h->file) < 0)
        return NB_ENOMEM;
    }
    return other;
  }
  if (other) {
    /* The values so far came from the older configuration. */
    int files = 0;
    for (int v = 0; v < h->nvals; v++) {
      files = h->vals[v].n > files ? h->vals[v].n : files;
      h->vals[v].n = 0;
    }
    f->dropped_old += files;
    if (WARN(f,
             "host %s: %s has another fingerprint than %s; the newer file's facts are judged, and only the "
             "metrics of files with its fingerprint",
             h->name, path, h->file) < 0)
      return NB_ENOMEM;
  }
  char *s = strdup(stamp), *fpc = strdup(fp), *file = strdup(path);
  if (!s || !fpc || !file) {
    free(s);
    free(fpc);
    free(file);
    return NB_ENOMEM;
  }
  free(h->stamp);
  free(h->fingerprint);
  free(h->file);
  json_decref(h->facts);
  json_decref(h->group);
  h->stamp = s;
  h->fingerprint = fpc;
  h->file = file;
  h->facts = json_incref(json_object_get(p, "facts"));
  h->group = json_incref(json_object_get(p, "group"));
  return 0;
}

enum doc_kind { DOC_OTHER, DOC_PROBE, DOC_RUN, DOC_BW, DOC_LAUNCH };

static enum doc_kind kind_of(json_t *doc)
{
  const char *tool = json_string_value(json_object_get(doc, "tool"));
  const char *kind = json_string_value(json_object_get(doc, "kind"));
  const char *cmd = json_string_value(json_object_get(doc, "command"));
  if (!json_is_object(doc) || (tool && strcmp(tool, "numabench")))
    return DOC_OTHER;
  if (kind && !strcmp(kind, "probe"))
    return DOC_PROBE;
  if (kind && !strcmp(kind, "launch"))
    return DOC_LAUNCH;
  /* bw documents had no tool key before the probe came. */
  if (cmd && !strcmp(cmd, "bw") && json_is_integer(json_object_get(doc, "schema_version")))
    return DOC_BW;
  if (tool && cmd && !strcmp(cmd, "run") && (!kind || !strcmp(kind, "run")))
    return DOC_RUN;
  return DOC_OTHER;
}

static int ignore(struct nb_fleet *f, const char *path)
{
  f->ignored++;
  if (!f->ignored_example && !(f->ignored_example = strdup(path)))
    return NB_ENOMEM;
  return 0;
}

static const char *const kind_names[] = {"other", "probe", "run", "bw", "launch"};

/* One parsed document: its probe and metrics into the host. */
static int take_doc(struct nb_fleet *f, const char *path, json_t *doc, enum doc_kind kind, nb_error_t *err)
{
  json_t *sv = json_object_get(doc, "schema_version");
  if (json_integer_value(sv) != 1)
    return nb__err(
        err, NB_EFORMAT,
        "%s: schema_version %s; this numabench reads version 1 (read it with the numabench that wrote "
        "it, or re-run this numabench on that host)",
        path, json_is_integer(sv) ? (json_integer_value(sv) == 2 ? "2" : "other than 1") : "missing");
  json_t *p = json_object_get(doc, "probe");
  if (!p) {
    f->skipped_old++;
    return WARN(f,
                "%s: written before results carried a probe: skipped (re-run it with this numabench, or add "
                "a numabench probe record of that host)",
                path);
  }
  int rc = check_probe(path, p, err);
  if (rc < 0)
    return rc;
  const char *name = json_string_value(json_object_get(p, "hostname"));
  const char *stamp = str_or(json_string_value(json_object_get(doc, "timestamp")), "");
  /* The same host, kind and time twice is one file copied twice (two
   * result directories merged); it is counted once. */
  if (*stamp) {
    char key[640];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", name, kind_names[kind], stamp);
    int prev = nb__strmap_get(&f->seen, key);
    if (prev >= 0) {
      f->duplicates++;
      return WARN(f, "%s: a duplicate of an earlier %s file of host %s at %s: counted once", path,
                  kind_names[kind], name, stamp);
    }
    if (nb__strmap_put(&f->seen, key, 1) < 0)
      return nb__err(err, NB_ENOMEM, "fleet: out of memory");
  }
  struct nb__fleet_host *h = host_of(f, name);
  int older = h ? take_probe(f, h, p, stamp, path) : NB_ENOMEM;
  if (older < 0)
    return nb__err(err, NB_ENOMEM, "fleet: out of memory");
  h->files++;
  if (kind == DOC_PROBE) {
    f->probes++;
    return 0;
  }
  f->results++;
  /* An interrupted run's numbers cover part of it: its facts count, its
   * metrics do not. */
  if (older)
    return 0;
  if (json_is_true(json_object_get(doc, "interrupted")))
    return WARN(f, "%s: an interrupted run: its metrics are not judged", path);
  rc = kind == DOC_BW ? bw_metrics(f, h, doc) : summary_metrics(f, h, doc, kind == DOC_LAUNCH);
  return rc < 0 ? nb__err(err, NB_ENOMEM, "fleet: out of memory") : 0;
}

/* named: the user named this file (it must be one of ours); else it was
 * found in a directory (a foreign JSON file there is ignored). */
static int add_file(struct nb_fleet *f, const char *path, int named, nb_error_t *err)
{
  char *text;
  size_t len;
  json_error_t je;
  int rc = nb__input_read(NULL, path, 0, FLEET_FILE_MAX, &text, &len, err);
  if (rc < 0)
    return rc;
  f->files++;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!doc)
    return nb__err(
        err, NB_EFORMAT,
        "%s: not JSON (line %d: %s): a truncated or damaged file; remove it or re-run numabench on "
        "that host",
        path, je.line, je.text);
  enum doc_kind kind = kind_of(doc);
  if (kind == DOC_OTHER)
    rc = named ? nb__err(err, NB_EINVAL,
                         "%s: not a numabench result (run, bw, launch) or probe record (see "
                         "docs/fleet-schema.md)",
                         path)
               : ignore(f, path);
  else
    rc = take_doc(f, path, doc, kind, err);
  json_decref(doc);
  if (rc == NB_ENOMEM && err && !err->code)
    nb__err(err, NB_ENOMEM, "fleet: out of memory");
  return rc;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* name is X.csv and X.json is among the n sorted names. */
static int csv_of_json(char *const *names, size_t n, const char *name)
{
  size_t len = strlen(name);
  if (!ends_with(name, ".csv") || len > 4000)
    return 0;
  char json[4096];
  snprintf(json, sizeof json, "%.*s.json", (int)(len - 4), name);
  const char *key = json;
  return bsearch(&key, names, n, sizeof *names, cmp_str) != NULL;
}

/* A file found in a directory: one that cannot be read or parsed is named
 * in one warning and skipped, so that one stray or damaged file does not
 * blind the report on hundreds of hosts; the count makes the exit status
 * say that the input was incomplete. Out of memory still stops. */
static int add_found(struct nb_fleet *f, const char *path,
                     int (*add)(struct nb_fleet *, const char *, nb_error_t *), nb_error_t *err)
{
  nb_error_t e = {0};
  int rc = add(f, path, &e);
  if (rc == 0)
    return 0;
  if (rc == NB_ENOMEM) {
    if (err)
      *err = e;
    return rc;
  }
  f->rejected++;
  if (WARN(f, "%s (skipped: the report covers the other files)", e.msg) < 0)
    return nb__err(err, NB_ENOMEM, "fleet: out of memory");
  return 0;
}

static int add_found_file(struct nb_fleet *f, const char *path, nb_error_t *err)
{
  return add_file(f, path, 0, err);
}

static int add_dir(struct nb_fleet *f, const char *dir, int depth, nb_error_t *err);

static int add_subdir(struct nb_fleet *f, const char *path, nb_error_t *err);

/* A directory's entries in name order, so that warnings and ties come out
 * the same on every file system. */
static int add_dir(struct nb_fleet *f, const char *dir, int depth, nb_error_t *err)
{
  if (depth > FLEET_DEPTH_MAX)
    return nb__err(err, NB_EINVAL, "%s: more than %d directories deep; name a directory nearer the files",
                   dir, FLEET_DEPTH_MAX);
  DIR *d = opendir(dir);
  if (!d)
    return nb__err_sys(err, errno == EACCES ? NB_EINVAL : NB_EIO, errno, "%s: cannot read the directory",
                       dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(d));) {
    if (e->d_name[0] == '.') /* ., .. and the temporary names result files are written to */
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **a = realloc(names, cap * sizeof *a);
      if (!a) {
        rc = NB_ENOMEM;
        break;
      }
      names = a;
    }
    if (!(names[n] = strdup(e->d_name)))
      rc = NB_ENOMEM;
    else
      n++;
  }
  closedir(d);
  if (rc == 0 && n)
    qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
      rc = nb__err(err, NB_EINVAL, "%s/%s: path too long", dir, names[i]);
    else if (lstat(path, &st) < 0) {
      nb_error_t e = {0};
      nb__err_sys(&e, NB_EIO, errno, "%s: cannot stat", path);
      f->rejected++;
      rc = WARN(f, "%s (skipped: the report covers the other files)", e.msg);
    } else if (S_ISDIR(st.st_mode)) {
      f->depth = depth + 1;
      rc = add_found(f, path, add_subdir, err);
    } else if (S_ISREG(st.st_mode) && ends_with(names[i], ".json"))
      rc = add_found(f, path, add_found_file, err);
    /* A link to a result file (a results tree assembled with ln -s) is
     * read; a link to a directory is not followed, so the walk cannot loop.
     * A dangling *.json link is a file that cannot be read. */
    else if (S_ISLNK(st.st_mode) && ends_with(names[i], ".json") &&
             (stat(path, &st) < 0 || S_ISREG(st.st_mode)))
      rc = add_found(f, path, add_found_file, err);
    else if (S_ISREG(st.st_mode) && csv_of_json(names, n, names[i]))
      continue; /* the CSV numabench writes beside each result: no news */
    else
      rc = ignore(f, path);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  if (rc == NB_ENOMEM && err && !err->code)
    nb__err(err, NB_ENOMEM, "fleet: out of memory");
  return rc;
}

/* A subdirectory at the depth add_dir left in f->depth (add_found's
 * signature has no room for it). */
static int add_subdir(struct nb_fleet *f, const char *path, nb_error_t *err)
{
  int depth = f->depth, rc = add_dir(f, path, depth, err);
  f->depth = depth - 1;
  return rc;
}

long nb_fleet_rejected(nb_fleet_t f)
{
  return f->rejected;
}

int nb_fleet_add(nb_fleet_t f, const char *path, nb_error_t *err)
{
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    long before = f->ignored;
    int rc = add_dir(f, path, 0, err);
    if (rc == 0 && f->ignored > before) {
      rc = WARN(f, "%s: %ld other files ignored (not a numabench result or probe .json), e.g. %s", path,
                f->ignored - before, f->ignored_example);
      free(f->ignored_example);
      f->ignored_example = NULL;
      if (rc < 0)
        return nb__err(err, NB_ENOMEM, "fleet: out of memory");
    }
    return rc;
  }
  return add_file(f, path, 1, err);
}

int nb_fleet_drift(nb_fleet_t f)
{
  return f->drift_hosts;
}

int nb_fleet_judge(nb_fleet_t f, nb_error_t *err)
{
  return nb__fleet_judge(f, err);
}
