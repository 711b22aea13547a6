/* Unit tests: the fleet report's facts comparison (each line exactly), its
 * median and band against values worked by hand, ties, folding and the
 * baseline, on records written to a scratch directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include <numabench/fleet.h>

#include "fleet-internal.h"
#include "fleet-threshold.h"
#include "nbtest.h"

static json_t *facts(void)
{
  json_error_t je;
  json_t *f = json_loads(
      "{\"nodes\": [{\"node\": 0, \"cpus\": 8, \"cpuset\": \"0-7\", \"memory_gib\": 64.0, \"has_cpus\": "
      "true, "
      "\"has_memory\": true, \"gpu_memory\": false}, {\"node\": 1, \"cpus\": 8, \"cpuset\": \"8-15\", "
      "\"memory_gib\": 64.0, \"has_cpus\": true, \"has_memory\": true, \"gpu_memory\": false}], "
      "\"distances\": [[10, 21], [21, 10]], \"gpus\": [{\"index\": 0, \"bus_id\": \"0000:10:00.0\", "
      "\"node\": 0, "
      "\"model\": \"G\"}, {\"index\": 1, \"bus_id\": \"0000:a0:1d.0\", \"node\": 1, \"model\": \"G\"}], "
      "\"nps\": 1, \"smt\": true, \"numa_balancing\": 0, \"transparent_hugepages\": \"madvise\", \"kernel\": "
      "\"6.1\", \"driver\": \"550\", \"cuda\": \"12.4\"}",
      0, &je);
  assert_non_null(f);
  return f;
}

/* The lines of comparing h with r, joined by '|'. */
static char *diff(json_t *h, json_t *r)
{
  char **l = NULL;
  int n = 0, cap = 0;
  assert_int_equal(nb__fleet_diff(h, r, &l, &n, &cap), 0);
  static char buf[4096];
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    strncat(buf, l[i], sizeof buf - strlen(buf) - 2);
    if (i + 1 < n)
      strcat(buf, "|");
    free(l[i]);
  }
  free(l);
  return buf;
}

static void test_diff_lines(void **state)
{
  (void)state;
  json_t *r = facts(), *h = facts();
  assert_string_equal(diff(h, r), "");
  json_object_set_new(json_array_get(json_object_get(h, "gpus"), 1), "node", json_null());
  assert_string_equal(diff(h, r), "GPU 1 0000:a0:1d.0: node -1, peers 1");
  json_decref(h);
  h = facts();
  json_object_set_new(h, "numa_balancing", json_integer(1));
  json_object_set_new(h, "nps", json_integer(2));
  json_object_set_new(json_array_get(json_object_get(h, "nodes"), 1), "memory_gib", json_real(32.0));
  assert_string_equal(diff(h, r),
                      "node 1 memory 32.0 GiB, peers 64.0 GiB|NPS 2, peers 1|numa_balancing 1, peers 0");
  json_decref(h);
  /* A node gone: its line, and the matrix's size. */
  h = facts();
  json_array_remove(json_object_get(h, "nodes"), 1);
  json_object_set_new(h, "distances", json_pack("[[i]]", 10));
  assert_string_equal(diff(h, r),
                      "node 1 missing, peers have it (8 CPUs, 64.0 GiB)|distances 1x1, peers 2x2");
  /* The other way round: an extra node. */
  assert_string_equal(diff(r, h), "node 1 extra, peers have no such node|distances 2x2, peers 1x1");
  json_decref(h);
  h = facts();
  json_array_set_new(json_array_get(json_object_get(h, "distances"), 0), 1, json_integer(32));
  json_object_set_new(json_array_get(json_object_get(h, "gpus"), 0), "bus_id", json_string("0000:11:00.0"));
  json_object_del(h, "cuda");
  json_object_set_new(h, "new_fact", json_true());
  assert_string_equal(diff(h, r), "distance node 0 -> node 1 32, peers 21|GPU 0: bus_id 0000:11:00.0, peers "
                                  "0000:10:00.0|CUDA absent, peers 12.4|new_fact true, peers absent");
  json_decref(h);
  /* Distances name the nodes by number, not by matrix index: nodes 0 and
   * 2 (node 1 offline). */
  h = facts();
  json_t *r2 = facts();
  json_object_set_new(json_array_get(json_object_get(h, "nodes"), 1), "node", json_integer(2));
  json_object_set_new(json_array_get(json_object_get(r2, "nodes"), 1), "node", json_integer(2));
  json_array_set_new(json_array_get(json_object_get(h, "distances"), 0), 1, json_integer(32));
  assert_string_equal(diff(h, r2), "distance node 0 -> node 2 32, peers 21");
  json_decref(h);
  json_decref(r2);
  /* A value cut inside a UTF-8 character would make the line invalid
   * JSON text: it is cut before the character. */
  h = facts();
  char longk[301];
  for (int i = 0; i < 150; i++)
    memcpy(longk + 2 * i, "\xc3\xa9", 2);
  longk[300] = '\0';
  json_object_set_new(h, "kernel", json_string(longk));
  json_t *line = json_string(diff(h, r));
  assert_non_null(line);
  json_decref(line);
  json_decref(h);
  /* GPU 0 gone from the bus: GPU 1 is now GPU 0, matched by its bus id, so
   * only the lost GPU is named (not a bus id change of GPU 0 and a missing
   * GPU 1). */
  h = facts();
  json_array_remove(json_object_get(h, "gpus"), 0);
  json_object_set_new(json_array_get(json_object_get(h, "gpus"), 0), "index", json_integer(0));
  json_object_set_new(json_array_get(json_object_get(h, "gpus"), 0), "node", json_null());
  assert_string_equal(diff(h, r),
                      "GPU 0 0000:10:00.0 missing, peers have it|GPU 0 0000:a0:1d.0: node -1, peers 1");
  json_decref(h);
  json_decref(r);
}

static void test_median(void **state)
{
  (void)state;
  double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2};
  assert_true(nb__fleet_median(odd, 3) == 3);
  assert_true(nb__fleet_median(even, 4) == 2.5);
  assert_true(isnan(nb__fleet_median(odd, 0)));
}

static char dir[64];

/* A probe record of host with facts f (fingerprint given) in dir. */
static void write_probe(const char *host, json_t *f, const char *fp, int gpus, int nodes)
{
  char path[256];
  snprintf(path, sizeof path, "%s/%s-probe.json", dir, host);
  json_t *doc =
      json_pack("{s:i, s:s, s:s, s:s, s:s, s:{s:s, s:{s:s, s:s, s:i, s:i}, s:s, s:O, s:{}}}",
                "schema_version", 1, "tool", "numabench", "kind", "probe", "version", "t", "timestamp",
                "2026-12-01T00:00:00Z", "probe", "hostname", host, "group", "cpu_model", "C", "gpu_model",
                "G", "gpus", gpus, "nodes", nodes, "fingerprint", fp, "facts", f, "extra");
  assert_non_null(doc);
  assert_int_equal(json_dump_file(doc, path, 0), 0);
  json_decref(doc);
}

/* A host-backend bw file of host: one cell, value v. */
static void write_bw(const char *host, json_t *f, const char *fp, double v)
{
  char path[256];
  snprintf(path, sizeof path, "%s/%s-bw.json", dir, host);
  json_t *doc = json_pack("{s:i, s:s, s:s, s:I, s:[i], s:[i], s:[[{s:f}]], s:{s:s, s:{s:s, s:s, s:i, s:i}, "
                          "s:s, s:O}}",
                          "schema_version", 1, "command", "bw", "backend", "host", "bytes", (json_int_t)1024,
                          "rows_cpu_nodes", 0, "cols_memory_nodes", 0, "alone", "median", v, "probe",
                          "hostname", host, "group", "cpu_model", "C", "gpu_model", "G", "gpus", 2, "nodes",
                          2, "fingerprint", fp, "facts", f);
  assert_non_null(doc);
  assert_int_equal(json_dump_file(doc, path, 0), 0);
  json_decref(doc);
}

static json_t *judge(struct nb_fleet_opts *o, int *rc, nb_error_t *err)
{
  nb_fleet_t fl;
  assert_int_equal(nb_fleet_new(&fl, o, err), 0);
  assert_int_equal(nb_fleet_add(fl, dir, err), 0);
  *rc = nb_fleet_judge(fl, err);
  json_t *doc = NULL;
  if (*rc == 0) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_int_equal(nb_fleet_write(fl, NB_FLEET_JSON, m, err), 0);
    fclose(m);
    doc = json_loadb(text, len, 0, NULL);
    free(text);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "drift_hosts")), nb_fleet_drift(fl));
  }
  nb_fleet_free(fl);
  return doc;
}

static void clear(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -f %s/*.json", dir);
  assert_int_equal(system(cmd), 0);
}

/* Seven hosts, values 10, 10, 11, 9, 10, 10.5 and 20: median 10, absolute
 * deviations 0, 0, 1, 1, 0, 0.5, 10, MAD 0.5, scaled 0.7413; the host at 20
 * is 13.49 MADs out. At k = 2.5 the band calibrated to 7 hosts is 5.265
 * MADs (the table's row for n = 7), so 10 +- 3.903: the host is out. At
 * k = 4 it is 35.8 MADs: 7 hosts' MAD is too uncertain to call 13.5 MADs
 * a drift at a 4-sigma rate. */
static void test_band(void **state)
{
  (void)state;
  static const double v[] = {10, 10, 11, 9, 10, 10.5, 20};
  json_t *f = facts();
  for (int i = 0; i < 7; i++) {
    char host[16];
    snprintf(host, sizeof host, "h%d", i);
    write_bw(host, f, "aaaa", v[i]);
  }
  struct nb_fleet_opts o = {.k = 2.5, .min_hosts = 5};
  nb_error_t err = {0};
  int rc;
  json_t *doc = judge(&o, &rc, &err);
  assert_int_equal(rc, 0);
  json_t *m =
      json_array_get(json_object_get(json_array_get(json_object_get(doc, "groups"), 0), "metrics"), 0);
  assert_string_equal(json_string_value(json_object_get(m, "metric")),
                      "copy GB/s node 0 <- node 0 [bw host 1024B]");
  assert_true(fabs(json_real_value(json_object_get(m, "median")) - 10) < 1e-12);
  assert_true(fabs(json_real_value(json_object_get(m, "mad")) - 0.7413) < 1e-9);
  assert_true(fabs(json_real_value(json_object_get(m, "threshold")) - 5.265) < 1e-9);
  assert_true(fabs(json_real_value(json_object_get(m, "hi")) - (10 + 5.265 * 0.7413)) < 1e-9);
  json_t *finds = json_object_get(doc, "findings");
  assert_int_equal(json_array_size(finds), 1);
  json_t *d = json_array_get(finds, 0);
  assert_string_equal(json_string_value(json_object_get(d, "host")), "h6");
  assert_true(fabs(json_real_value(json_object_get(d, "mads")) - 10 / 0.7413) < 1e-9);
  json_decref(doc);
  /* --k 4 takes it in: consistent. */
  o.k = 4;
  doc = judge(&o, &rc, &err);
  assert_int_equal(json_array_size(json_object_get(doc, "findings")), 0);
  json_decref(doc);
  /* --min-hosts 8: nothing to judge (one group, topology all equal but
   * judged, so the report stands with the metric not judged). */
  o.min_hosts = 8;
  doc = judge(&o, &rc, &err);
  assert_int_equal(rc, 0);
  m = json_array_get(json_object_get(json_array_get(json_object_get(doc, "groups"), 0), "metrics"), 0);
  assert_true(json_is_false(json_object_get(m, "judged")));
  json_decref(doc);
  json_decref(f);
  clear();
}

/* Two hosts that differ: no majority, the first fingerprint in order is the
 * reference and the other host is named. A baseline of another group is
 * refused; one of this group decides. */
static void test_tie_and_baseline(void **state)
{
  (void)state;
  json_t *f = facts(), *g = facts();
  json_object_set_new(g, "numa_balancing", json_integer(1));
  write_probe("a", f, "aaaa", 2, 2);
  write_probe("b", g, "bbbb", 2, 2);
  struct nb_fleet_opts o = {.k = 4, .min_hosts = 5};
  nb_error_t err = {0};
  int rc;
  json_t *doc = judge(&o, &rc, &err);
  json_t *gr = json_array_get(json_object_get(doc, "groups"), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(gr, "reference"), "from")), "tie");
  json_t *d = json_array_get(json_object_get(doc, "findings"), 0);
  assert_string_equal(json_string_value(json_object_get(d, "host")), "b");
  assert_string_equal(json_string_value(json_object_get(d, "difference")), "numa_balancing 1, peers 0");
  json_decref(doc);
  /* The baseline: b's record, kept apart from the fleet's directory. */
  char base[128], cmd[300];
  snprintf(base, sizeof base, "%s.base.json", dir);
  snprintf(cmd, sizeof cmd, "mv %s/b-probe.json %s", dir, base);
  assert_int_equal(system(cmd), 0);
  write_probe("c", f, "aaaa", 2, 2);
  o.baseline = base;
  doc = judge(&o, &rc, &err);
  assert_int_equal(rc, 0);
  gr = json_array_get(json_object_get(doc, "groups"), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(gr, "reference"), "from")),
                      "baseline");
  assert_int_equal(json_integer_value(json_object_get(doc, "drift_hosts")), 2);
  d = json_array_get(json_object_get(doc, "findings"), 0);
  assert_string_equal(json_string_value(json_object_get(d, "difference")), "numa_balancing 0, peers 1");
  json_decref(doc);
  /* A baseline of other models matches no group (another GPU count does:
   * topology is compared across the counts of one pair of models). */
  snprintf(cmd, sizeof cmd, "sed -i 's/\"gpu_model\": \"G\"/\"gpu_model\": \"H\"/' %s", base);
  assert_int_equal(system(cmd), 0);
  doc = judge(&o, &rc, &err);
  assert_int_equal(rc, NB_EINVAL);
  assert_non_null(strstr(err.msg, "is no group of these hosts"));
  unlink(base);
  json_decref(f);
  json_decref(g);
  clear();
}

/* A host with a node gone counts one node: a performance group of its own,
 * but its topology is compared with its models' majority, where its
 * difference is named; also when that majority has fewer hosts than
 * --min-hosts (a threshold of the performance band only). */
static void test_fold(void **state)
{
  (void)state;
  json_t *f = facts(), *g = facts();
  json_array_remove(json_object_get(g, "nodes"), 1);
  json_object_set_new(g, "distances", json_pack("[[i]]", 10));
  for (int i = 0; i < 5; i++) {
    char host[16];
    snprintf(host, sizeof host, "h%d", i);
    write_probe(host, f, "aaaa", 2, 2);
  }
  write_probe("lost", g, "cccc", 2, 1);
  struct nb_fleet_opts o = {.k = 4, .min_hosts = 5};
  nb_error_t err = {0};
  int rc;
  json_t *doc = judge(&o, &rc, &err);
  assert_int_equal(json_array_size(json_object_get(doc, "groups")), 2);
  assert_int_equal(json_integer_value(json_object_get(doc, "drift_hosts")), 1);
  json_t *d = json_array_get(json_object_get(doc, "findings"), 0);
  assert_string_equal(json_string_value(json_object_get(d, "host")), "lost");
  assert_string_equal(json_string_value(json_object_get(d, "difference")),
                      "node 1 missing, peers have it (8 CPUs, 64.0 GiB)");
  json_decref(doc);
  o.min_hosts = 6;
  doc = judge(&o, &rc, &err);
  assert_int_equal(json_array_size(json_object_get(doc, "groups")), 2);
  assert_int_equal(json_integer_value(json_object_get(doc, "drift_hosts")), 1);
  json_decref(doc);
  /* --group naming nodes: a deliberate configuration, kept apart. */
  o.group = "cpu_model,gpu_model,gpus,nodes";
  doc = judge(&o, &rc, &err);
  assert_int_equal(rc, 0);
  assert_int_equal(json_integer_value(json_object_get(doc, "drift_hosts")), 0);
  json_decref(doc);
  json_decref(f);
  json_decref(g);
  clear();
}

/* The threshold is the table (bench/fleet-falsealarm --table) at its rows
 * and columns, interpolated between them, and tends to k for large groups. */
static void test_threshold_table(void **state)
{
  (void)state;
  assert_true(fabs(nb__fleet_threshold(4, 5) - 114.147) < 1e-9);
  assert_true(fabs(nb__fleet_threshold(4, 200) - nb__fleet_table[32][4]) < 1e-9);
  assert_int_equal(nb__fleet_ns[32], 200);
  assert_true(fabs(nb__fleet_threshold(3, 20) - nb__fleet_table[17][2]) < 1e-9);
  assert_true(fabs(nb__fleet_threshold(2.75, 10) - (nb__fleet_table[7][1] + nb__fleet_table[7][2]) / 2) <
              1e-9);
  /* Between rows, in 1/n: n = 21 lies between 20 and 22. */
  double t20 = nb__fleet_table[17][4], t22 = nb__fleet_table[18][4], t21 = nb__fleet_threshold(4, 21);
  assert_true((t21 - t20) * (t21 - t22) <= 0);
  /* Beyond the table, toward k; outside its k range, by the ratio. */
  assert_true(fabs(nb__fleet_threshold(4, 1000000) - 4) < 0.01);
  assert_true(fabs(nb__fleet_threshold(8, 50) - 2 * nb__fleet_threshold(4, 50)) < 1e-9);
  for (int r = 0; r < NB_FLEET_NS; r++)
    for (int c = 1; c < NB_FLEET_KS; c++)
      assert_true(nb__fleet_table[r][c] > nb__fleet_table[r][c - 1]);
}

/* The table against the estimator, independently of the generator (another
 * random generator and seed): clean normal groups of 5, 10 and 20 hosts at
 * k = 2.5 (nominal rate erfc(2.5/sqrt 2) = 1.24%, measurable in 100,000
 * values) flag values at the nominal rate within 20%; the plain k MADs
 * would flag 3.9 to 7 times as many at 5 hosts. */
static void test_threshold_rate(void **state)
{
  (void)state;
  srand48(13);
  static const int ns[] = {5, 10, 20};
  double p = erfc(2.5 / sqrt(2.0));
  for (size_t r = 0; r < sizeof ns / sizeof ns[0]; r++) {
    int n = ns[r];
    double t = nb__fleet_threshold(2.5, n), x[20], d[20];
    long flagged = 0, plain = 0, values = 0;
    for (int g = 0; g < 100000 / n; g++) {
      for (int i = 0; i < n; i++) {
        double u = drand48(), v = drand48();
        x[i] = d[i] = sqrt(-2 * log(1 - u)) * cos(2 * M_PI * v);
      }
      double med = nb__fleet_median(d, n);
      for (int i = 0; i < n; i++)
        d[i] = fabs(x[i] - med);
      double mad = nb__fleet_median(d, n) * NB_FLEET_MAD_SCALE;
      for (int i = 0; i < n; i++, values++) {
        flagged += fabs(x[i] - med) > t * mad;
        plain += fabs(x[i] - med) > 2.5 * mad;
      }
    }
    double rate = (double)flagged / (double)values;
    print_message("n = %d: calibrated %.4f, plain %.4f, nominal %.4f\n", n, rate,
                  (double)plain / (double)values, p);
    assert_true(rate > 0.8 * p && rate < 1.2 * p);
    if (n == 5)
      assert_true((double)plain / (double)values > 3 * p);
  }
}

static void test_options(void **state)
{
  (void)state;
  nb_fleet_t fl;
  nb_error_t err = {0};
  struct nb_fleet_opts o = {.k = 0, .min_hosts = 5};
  assert_int_equal(nb_fleet_new(&fl, &o, &err), NB_EINVAL);
  o.k = NAN;
  assert_int_equal(nb_fleet_new(&fl, &o, &err), NB_EINVAL);
  o.k = 4;
  o.min_hosts = 2;
  assert_int_equal(nb_fleet_new(&fl, &o, &err), NB_EINVAL);
  o.min_hosts = 5;
  o.group = "gpus,cpu_model,bogus";
  assert_int_equal(nb_fleet_new(&fl, &o, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "'bogus' is not a grouping key"));
  o.group = "none";
  assert_int_equal(nb_fleet_new(&fl, &o, &err), 0);
  /* Nothing read: no host to judge. */
  assert_int_equal(nb_fleet_judge(fl, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "no host to judge"));
  nb_fleet_free(fl);
}

int main(void)
{
  snprintf(dir, sizeof dir, "/tmp/nb-test-fleet-XXXXXX");
  if (!mkdtemp(dir))
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_diff_lines),
      cmocka_unit_test(test_median),
      cmocka_unit_test(test_band),
      cmocka_unit_test(test_tie_and_baseline),
      cmocka_unit_test(test_fold),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_threshold_table),
      cmocka_unit_test(test_threshold_rate),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rmdir(dir);
  return rc;
}
