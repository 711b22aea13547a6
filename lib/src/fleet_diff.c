/* numabench: the fleet report's topology drift, said exactly. A host's probe
 * facts are compared with the reference's key by key: nodes by node number,
 * GPUs by bus id (then index), the distance matrix cell by cell, everything else as a
 * value; each difference is one line naming the host's value and its
 * peers'. */
#include <stdlib.h>
#include <string.h>

#include "fleet-internal.h"

/* Cells of the distance matrix named before the rest are counted. */
#define DIFF_CELLS_MAX 4

struct lines {
  char ***l;
  int *n, *cap;
};

#define LINE(o, ...) nb__fleet_line((o)->l, (o)->n, (o)->cap, __VA_ARGS__)

/* A value as a line shows it: text as is, null as "unknown", the rest as
 * compact JSON (cut: a line names a difference, it does not dump it). */
static void shown(json_t *v, char *buf, size_t len)
{
  if (!v || json_is_null(v)) {
    snprintf(buf, len, "%s", v ? "unknown" : "absent");
    return;
  }
  if (json_is_string(v)) {
    snprintf(buf, len, "%s", json_string_value(v));
    /* Cut at a character, not inside one: the line goes into JSON, which
     * takes valid UTF-8 only. */
    const unsigned char *full = (const unsigned char *)json_string_value(v);
    size_t n = strlen(buf);
    while (n > 0 && (full[n] & 0xC0) == 0x80)
      n--;
    buf[n] = '\0';
    return;
  }
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
  snprintf(buf, len, "%s", s ? s : "?");
  if (s && strlen(s) >= len && len > 4)
    memcpy(buf + len - 4, "...", 4);
  free(s);
}

/* The element of array a whose member key equals id. */
static json_t *by_id(json_t *a, const char *key, json_t *id)
{
  size_t i;
  json_t *e;
  json_array_foreach(a, i, e) if (json_equal(json_object_get(e, key), id)) return e;
  return NULL;
}

/* Field names as the lines say them. */
static const char *label(const char *key)
{
  static const char *const map[][2] = {{"nps", "NPS"},
                                       {"memory_gib", "memory"},
                                       {"smt", "SMT"},
                                       {"cuda", "CUDA"},
                                       {"transparent_hugepages", "THP"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(key, map[i][0]))
      return map[i][1];
  return key;
}

static int diff_node(struct lines *o, json_t *hn, json_t *rn, long long node)
{
  const char *key;
  json_t *rv;
  json_object_foreach(rn, key, rv)
  {
    json_t *hv = json_object_get(hn, key);
    if (!strcmp(key, "node") || json_equal(hv, rv))
      continue;
    char a[96], b[96];
    shown(hv, a, sizeof a);
    shown(rv, b, sizeof b);
    const char *unit = !strcmp(key, "memory_gib") ? " GiB" : "";
    if (LINE(o, "node %lld %s %s%s, peers %s%s", node, label(key), a, hv ? unit : "", b, unit) < 0)
      return NB_ENOMEM;
  }
  return 0;
}

static int diff_nodes(struct lines *o, json_t *h, json_t *r)
{
  size_t i;
  json_t *rn, *hn;
  json_array_foreach(r, i, rn)
  {
    json_t *id = json_object_get(rn, "node");
    hn = by_id(h, "node", id);
    char mem[64];
    shown(json_object_get(rn, "memory_gib"), mem, sizeof mem);
    int rc = hn ? diff_node(o, hn, rn, json_integer_value(id))
                : LINE(o, "node %lld missing, peers have it (%lld CPUs, %s GiB)", json_integer_value(id),
                       (long long)json_integer_value(json_object_get(rn, "cpus")), mem);
    if (rc < 0)
      return rc;
  }
  json_array_foreach(h, i, hn)
  {
    json_t *id = json_object_get(hn, "node");
    if (!by_id(r, "node", id) &&
        LINE(o, "node %lld extra, peers have no such node", json_integer_value(id)) < 0)
      return NB_ENOMEM;
  }
  return 0;
}

/* A GPU's node as sysfs says it: -1 when unknown. */
static void gpu_node(json_t *v, char *buf, size_t len)
{
  if (json_is_integer(v))
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_null(v))
    snprintf(buf, len, "-1");
  else
    shown(v, buf, len);
}

static int diff_gpu(struct lines *o, json_t *hg, json_t *rg, long long idx)
{
  /* The host's bus id names the GPU: it is the one whose facts are shown. */
  const char *bus = json_string_value(json_object_get(hg, "bus_id"));
  const char *key;
  json_t *rv;
  json_object_foreach(rg, key, rv)
  {
    json_t *hv = json_object_get(hg, key);
    if (!strcmp(key, "index") || json_equal(hv, rv))
      continue;
    char a[96], b[96];
    if (!strcmp(key, "node")) {
      gpu_node(hv, a, sizeof a);
      gpu_node(rv, b, sizeof b);
    } else {
      shown(hv, a, sizeof a);
      shown(rv, b, sizeof b);
    }
    int rc = !strcmp(key, "bus_id")
                 ? LINE(o, "GPU %lld: bus_id %s, peers %s", idx, a, b)
                 : LINE(o, "GPU %lld %s: %s %s, peers %s", idx, bus ? bus : "?", key, a, b);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* The GPU of a whose bus id is bus, skipping those already taken. */
static long find_bus(json_t *a, const char *bus, const char *taken)
{
  size_t i;
  json_t *e;
  json_array_foreach(a, i, e)
  {
    const char *b = json_string_value(json_object_get(e, "bus_id"));
    if (!taken[i] && bus && b && !strcmp(b, bus))
      return (long)i;
  }
  return -1;
}

static long find_index(json_t *a, json_t *id, const char *taken)
{
  size_t i;
  json_t *e;
  json_array_foreach(a, i, e) if (!taken[i] && json_equal(json_object_get(e, "index"), id)) return (long)i;
  return -1;
}

/* GPUs are matched by bus id first, so that one GPU gone from the bus is
 * named alone, not as a shift of every later index; those left are paired
 * by index (a GPU whose bus id changed); the rest are missing or extra. */
static int diff_gpus(struct lines *o, json_t *h, json_t *r)
{
  size_t nr = json_array_size(r), nh = json_array_size(h);
  char *rt = calloc(nr + 1, 1), *ht = calloc(nh + 1, 1);
  long *pair = malloc((nr + 1) * sizeof *pair);
  int rc = rt && ht && pair ? 0 : NB_ENOMEM;
  for (size_t i = 0; rc == 0 && i < nr; i++) {
    pair[i] = find_bus(h, json_string_value(json_object_get(json_array_get(r, i), "bus_id")), ht);
    if (pair[i] >= 0)
      rt[i] = ht[pair[i]] = 1;
  }
  for (size_t i = 0; rc == 0 && i < nr; i++)
    if (!rt[i] && (pair[i] = find_index(h, json_object_get(json_array_get(r, i), "index"), ht)) >= 0)
      rt[i] = ht[pair[i]] = 1;
  for (size_t i = 0; rc == 0 && i < nr; i++) {
    json_t *rg = json_array_get(r, i), *id = json_object_get(rg, "index");
    const char *bus = json_string_value(json_object_get(rg, "bus_id"));
    if (pair[i] >= 0) {
      json_t *hg = json_array_get(h, (size_t)pair[i]);
      rc = diff_gpu(o, hg, rg, json_integer_value(json_object_get(hg, "index")));
    } else
      rc = LINE(o, "GPU %lld %s missing, peers have it", json_integer_value(id), bus ? bus : "?");
  }
  for (size_t i = 0; rc == 0 && i < nh; i++) {
    json_t *hg = json_array_get(h, i), *id = json_object_get(hg, "index");
    const char *bus = json_string_value(json_object_get(hg, "bus_id"));
    if (!ht[i])
      rc = LINE(o, "GPU %lld %s extra, peers have no such GPU", json_integer_value(id), bus ? bus : "?");
  }
  free(rt);
  free(ht);
  free(pair);
  return rc < 0 ? rc : 0;
}

/* Cell by cell when the shapes agree; a matrix of another size follows
 * from a missing or extra node, already said, so only its size is named. */
static int diff_distances(struct lines *o, json_t *h, json_t *r, json_t *nodes)
{
  size_t n = json_array_size(r), same = json_array_size(h) == n;
  for (size_t i = 0; same && i < n; i++)
    same = json_array_size(json_array_get(h, i)) == json_array_size(json_array_get(r, i));
  if (!same)
    return LINE(o, "distances %zux%zu, peers %zux%zu", json_array_size(h),
                json_array_size(json_array_get(h, 0)), n, json_array_size(json_array_get(r, 0)));
  int cells = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < json_array_size(json_array_get(r, i)); j++) {
      json_t *a = json_array_get(json_array_get(h, i), j), *b = json_array_get(json_array_get(r, i), j);
      if (json_equal(a, b) || ++cells > DIFF_CELLS_MAX)
        continue;
      char x[32], y[32];
      shown(a, x, sizeof x);
      shown(b, y, sizeof y);
      /* Rows and columns are in the nodes' order, not node numbers: a
       * machine with a memory-only or offline node numbers them sparsely. */
      json_t *ni = json_object_get(json_array_get(nodes, i), "node"),
             *nj = json_object_get(json_array_get(nodes, j), "node");
      long long a_id = json_is_integer(ni) ? json_integer_value(ni) : (long long)i,
                b_id = json_is_integer(nj) ? json_integer_value(nj) : (long long)j;
      if (LINE(o, "distance node %lld -> node %lld %s, peers %s", a_id, b_id, x, y) < 0)
        return NB_ENOMEM;
    }
  if (cells > DIFF_CELLS_MAX && LINE(o, "distances: %d more cells differ", cells - DIFF_CELLS_MAX) < 0)
    return NB_ENOMEM;
  return 0;
}

static int diff_value(struct lines *o, const char *key, json_t *hv, json_t *rv)
{
  char a[128], b[128];
  shown(hv, a, sizeof a);
  shown(rv, b, sizeof b);
  return LINE(o, "%s %s, peers %s", label(key), a, b);
}

int nb__fleet_diff(json_t *h, json_t *r, char ***l, int *n, int *cap)
{
  struct lines o = {l, n, cap};
  const char *key;
  json_t *rv, *hv;
  int rc = 0;
  json_object_foreach(r, key, rv)
  {
    hv = json_object_get(h, key);
    if (json_equal(hv, rv))
      continue;
    if (!strcmp(key, "nodes") && json_is_array(hv) && json_is_array(rv))
      rc = diff_nodes(&o, hv, rv);
    else if (!strcmp(key, "gpus") && json_is_array(hv) && json_is_array(rv))
      rc = diff_gpus(&o, hv, rv);
    else if (!strcmp(key, "distances") && json_is_array(hv) && json_is_array(rv))
      rc = diff_distances(&o, hv, rv, json_object_get(r, "nodes"));
    else
      rc = diff_value(&o, key, hv, rv);
    if (rc < 0)
      return rc;
  }
  /* Facts the reference does not have (a newer probe on this host). */
  json_object_foreach(h, key, hv)
  {
    if (!json_object_get(r, key) && (rc = diff_value(&o, key, hv, NULL)) < 0)
      return rc;
  }
  return 0;
}
