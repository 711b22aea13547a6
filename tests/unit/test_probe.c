/* Unit tests: the probe record (lib/src/probe.c, docs/probe-schema.md): its
 * key order, the fingerprint (a real SHA-256, equal for equal facts, changed
 * by each fact that should change it and by nothing in "extra"), the memory
 * rounding and the NPS inference on the fixture machines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cuda_devices.h"
#include "nbtest.h"
#include "probe-internal.h"
#include "topo-internal.h"

#define GIB (1024ull * 1024 * 1024)

static nb_topo_t load_fixture(const char *name)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", NB_FIXTURES_DIR, name);
  return nbt_load(path, NULL);
}

/* The host facts of a recorded topology (all unknown), then set as a test
 * machine would have them. */
static void known_host(nb_topo_t topo, struct nb__probe_host *h)
{
  nb__probe_host_read(topo, h);
  snprintf(h->hostname, sizeof h->hostname, "gpu-a01");
  snprintf(h->kernel, sizeof h->kernel, "6.1.0-18-amd64");
  snprintf(h->driver, sizeof h->driver, "550.54.15");
  snprintf(h->cmdline, sizeof h->cmdline, "root=/dev/sda1");
  h->uptime_s = 1000;
  h->state.numa_balancing = 0;
  h->state.smt_active = 1;
  snprintf(h->state.thp, sizeof h->state.thp, "madvise");
}

static void keys_are(const json_t *o, const char *const *want, int n)
{
  assert_int_equal(json_object_size(o), n);
  int i = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v)
  {
    (void)v;
    assert_string_equal(k, want[i]);
    i++;
  }
}

static void test_key_order(void **state)
{
  (void)state;
  nb_topo_t topo = load_fixture("2s-8gpu-smt.xml");
  struct nb__probe_host h;
  known_host(topo, &h);
  json_t *o = nb__probe_object(topo, &h);
  assert_non_null(o);
  static const char *const top[] = {"hostname", "group", "fingerprint", "facts", "extra"};
  keys_are(o, top, 5);
  static const char *const group[] = {"cpu_model", "gpu_model", "gpus", "nodes"};
  keys_are(json_object_get(o, "group"), group, 4);
  static const char *const facts[] = {
      "nodes",  "distances", "gpus", "nps", "smt", "numa_balancing", "transparent_hugepages",
      "kernel", "driver"};
  keys_are(json_object_get(o, "facts"), facts, 9);
  static const char *const node[] = {"node",     "cpus",       "cpuset",    "memory_gib",
                                     "has_cpus", "has_memory", "gpu_memory"};
  keys_are(json_array_get(json_object_get(json_object_get(o, "facts"), "nodes"), 0), node, 7);
  static const char *const gpu[] = {"index", "bus_id", "node", "model"};
  keys_are(json_array_get(json_object_get(json_object_get(o, "facts"), "gpus"), 0), gpu, 4);
  /* The fixture as gen-fixtures.py describes it: 2 sockets of 24 cores x 2
   * threads, 8 A100s, GPU 5 at 0000:90:1d.0 on node 1. */
  json_t *g = json_object_get(o, "group");
  assert_string_equal(json_string_value(json_object_get(g, "gpu_model")), "NVIDIA A100-SXM4-40GB");
  assert_int_equal(json_integer_value(json_object_get(g, "gpus")), 8);
  assert_int_equal(json_integer_value(json_object_get(g, "nodes")), 2);
  json_t *n0 = json_array_get(json_object_get(json_object_get(o, "facts"), "nodes"), 0);
  assert_string_equal(json_string_value(json_object_get(n0, "cpuset")), "0-23,48-71");
  assert_int_equal(json_integer_value(json_object_get(n0, "cpus")), 48);
  json_t *g5 = json_array_get(json_object_get(json_object_get(o, "facts"), "gpus"), 5);
  assert_string_equal(json_string_value(json_object_get(g5, "bus_id")), "0000:90:1d.0");
  assert_int_equal(json_integer_value(json_object_get(g5, "node")), 1);
  assert_string_equal(json_string_value(json_object_get(o, "hostname")), "gpu-a01");
  json_decref(o);
  nb_topo_free(topo);
}

/* SHA-256("{}"), from sha256sum: the fingerprint is the real hash. */
static void test_real_sha256(void **state)
{
  (void)state;
  char fp[NB_FINGERPRINT_LEN];
  nb_error_t err = {0};
  assert_int_equal(nb_probe_fingerprint_text("{}", fp, &err), 0);
  assert_string_equal(fp, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  assert_int_equal(nb_probe_fingerprint_text("[1]", fp, &err), NB_EFORMAT);
  assert_int_equal(nb_probe_fingerprint_text("{\"a\":", fp, &err), NB_EFORMAT);
  assert_non_null(strstr(err.msg, "probe facts"));
}

static const char *fp_of(json_t *o)
{
  return json_string_value(json_object_get(o, "fingerprint"));
}

/* Recompute the fingerprint of o's facts after changing one of them. */
static void refingerprint(json_t *o, char out[NB_FINGERPRINT_LEN])
{
  assert_int_equal(nb__probe_fingerprint(json_object_get(o, "facts"), out), 0);
}

static void test_same_facts_same_fingerprint(void **state)
{
  (void)state;
  nb_topo_t a = load_fixture("nps4-4gpu.xml"), b = load_fixture("nps4-4gpu.xml");
  struct nb__probe_host ha, hb;
  known_host(a, &ha);
  known_host(b, &hb);
  /* What differs per host by right: the name, uptime, the command line. */
  snprintf(hb.hostname, sizeof hb.hostname, "gpu-b77");
  hb.uptime_s = 99999;
  snprintf(hb.cmdline, sizeof hb.cmdline, "root=/dev/nvme0n1p2 quiet");
  json_t *oa = nb__probe_object(a, &ha), *ob = nb__probe_object(b, &hb);
  assert_string_equal(fp_of(oa), fp_of(ob));
  assert_string_not_equal(json_string_value(json_object_get(oa, "hostname")),
                          json_string_value(json_object_get(ob, "hostname")));
  /* The facts read back from text in another key order give the same hash. */
  char *text = json_dumps(json_object_get(oa, "facts"), JSON_INDENT(3));
  json_t *back = json_loads(text, 0, NULL);
  json_t *reordered = json_object();
  const char *k;
  json_t *v;
  /* Insert the keys last to first. */
  const char *keys[16];
  int n = 0;
  json_object_foreach(back, k, v) keys[n++] = k;
  for (int i = n - 1; i >= 0; i--)
    json_object_set(reordered, keys[i], json_object_get(back, keys[i]));
  char *rtext = json_dumps(reordered, JSON_PRESERVE_ORDER);
  char fp[NB_FINGERPRINT_LEN];
  nb_error_t err = {0};
  assert_int_equal(nb_probe_fingerprint_text(rtext, fp, &err), 0);
  assert_string_equal(fp, fp_of(oa));
  free(text);
  free(rtext);
  json_decref(back);
  json_decref(reordered);
  json_decref(oa);
  json_decref(ob);
  nb_topo_free(a);
  nb_topo_free(b);
}

static void test_drifts_change_fingerprint(void **state)
{
  (void)state;
  nb_topo_t topo = load_fixture("nps4-4gpu.xml");
  struct nb__probe_host h;
  known_host(topo, &h);
  json_t *o = nb__probe_object(topo, &h);
  char ref[NB_FINGERPRINT_LEN], fp[NB_FINGERPRINT_LEN];
  snprintf(ref, sizeof ref, "%s", fp_of(o));
  json_t *facts = json_object_get(o, "facts");

  /* numa_balancing left on: from the host facts, as probe reads them. */
  h.state.numa_balancing = 1;
  json_t *o2 = nb__probe_object(topo, &h);
  assert_string_not_equal(fp_of(o2), ref);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(o2, "facts"), "numa_balancing")), 1);
  json_decref(o2);
  h.state.numa_balancing = 0;

  /* A GPU whose slot reports no node. */
  json_t *g1 = json_array_get(json_object_get(facts, "gpus"), 1);
  json_t *was = json_deep_copy(json_object_get(g1, "node"));
  json_object_set_new(g1, "node", json_null());
  refingerprint(o, fp);
  assert_string_not_equal(fp, ref);
  json_object_set_new(g1, "node", was);
  refingerprint(o, fp);
  assert_string_equal(fp, ref);

  /* NPS changed by a BIOS update. */
  json_object_set_new(facts, "nps", json_integer(1));
  refingerprint(o, fp);
  assert_string_not_equal(fp, ref);
  json_object_set_new(facts, "nps", json_integer(4));

  /* Half a node's memory. */
  json_t *n1 = json_array_get(json_object_get(facts, "nodes"), 1);
  json_object_set_new(n1, "memory_gib", json_integer(32));
  refingerprint(o, fp);
  assert_string_not_equal(fp, ref);
  json_decref(o);

  /* A different kernel or driver. */
  snprintf(h.driver, sizeof h.driver, "535.161.08");
  o = nb__probe_object(topo, &h);
  assert_string_not_equal(fp_of(o), ref);
  json_decref(o);
  nb_topo_free(topo);
}

/* The rounding step for an installed size of g GiB, as docs/probe-schema.md
 * states it: the power of two between 1/32 and 1/16 of the value, at least
 * 1 GiB. Computed here apart from probe.c's bit arithmetic. */
static unsigned long long step_gib(unsigned long long g)
{
  unsigned long long p = 1;
  while (p * 2 <= g)
    p *= 2;
  return p >= 32 ? p / 16 : 1;
}

static void test_memory_rounding(void **state)
{
  (void)state;
  assert_int_equal(nb__probe_memory_gib(0), 0);
  assert_int_equal(nb__probe_memory_gib(1), 1);
  assert_int_equal(nb__probe_memory_gib(GIB), 1);
  assert_int_equal(nb__probe_memory_gib(GIB * 156 / 10), 16);
  assert_int_equal(nb__probe_memory_gib(16 * GIB), 16);
  /* A 512 GiB node as kernels with different reservations report it. */
  assert_int_equal(nb__probe_memory_gib(503 * GIB), 512);
  assert_int_equal(nb__probe_memory_gib(505 * GIB + 12345), 512);
  assert_int_equal(nb__probe_memory_gib(512 * GIB), 512);
  /* Half its DIMMs stays apart. */
  assert_int_equal(nb__probe_memory_gib(251 * GIB), 256);
  assert_int_equal(nb__probe_memory_gib(62 * GIB + GIB / 2), 64);
  /* The documented flip: values round up to the next multiple of the step
   * (2 GiB at 32-63 GiB, 16 GiB at 256-511), so 61.9 GiB is 62 (a 64 GiB
   * node that lost more than one step, or a 62 GiB one) and 62.1 is 64. */
  assert_int_equal(nb__probe_memory_gib(GIB * 619 / 10), 62);
  assert_int_equal(nb__probe_memory_gib(GIB * 621 / 10), 64);
  assert_int_equal(nb__probe_memory_gib(GIB * 2479 / 10), 248);
  assert_int_equal(nb__probe_memory_gib(GIB * 2481 / 10), 256);

  /* On the grid are the installed sizes whose odd part is at most 31 (in
   * GiB; every size below 32 GiB): every population of up to 16 DIMMs of a
   * power-of-two size, and of up to 10, or an even number up to 16, of the
   * 24/48/96 GiB DDR5 sizes (11, 13 or 15 of those are not: odd part 33,
   * 39, 45). Such a node keeps its installed size whatever the kernel
   * reserves, as long as that is less than the step of the values just
   * below it (1/32 of it at a power of two, up to 1/16 above one; at least
   * 1 GiB); one step or more below, it reads a grid point lower. */
  static const unsigned dimm[] = {8, 16, 24, 32, 48, 64, 96, 128, 256};
  for (size_t d = 0; d < sizeof dimm / sizeof dimm[0]; d++)
    for (unsigned n = 1; n <= 16; n++) {
      unsigned long long g = (unsigned long long)dimm[d] * n, odd = g;
      while (odd % 2 == 0)
        odd /= 2;
      int on_grid = g < 32 || odd <= 31;
      int sold = dimm[d] % 3 || n <= 10 || n % 2 == 0;
      if (sold)
        assert_true(on_grid);
      if (!on_grid) {
        assert_int_not_equal(nb__probe_memory_gib(g * GIB), (long)g);
        continue;
      }
      /* The step of the values just below g: half as large at a power of
       * two, where the reported value falls into the binade below. */
      unsigned long long st = step_gib(g - 1);
      assert_int_equal(nb__probe_memory_gib(g * GIB), (long)g);
      assert_int_equal(nb__probe_memory_gib(g * GIB - 1), (long)g);
      assert_int_equal(nb__probe_memory_gib((g - st) * GIB + 1), (long)g);
      assert_int_equal(nb__probe_memory_gib((g - st) * GIB), (long)(g - st));
    }
}

/* The facts do not depend on how CUDA enumerated the GPUs: the same machine
 * probed without CUDA, with a CUDA runtime that sees only two of its eight
 * GPUs (CUDA_VISIBLE_DEVICES, a Slurm job's device cgroup) under its own
 * names and with no host node, and with --devices naming one GPU, has one
 * fingerprint and one group. Only extra says what was enumerated. */
static void test_cuda_view_not_in_facts(void **state)
{
  (void)state;
  struct nb__cuda_dev devs[2];
  static const char *const ids[] = {"00000000:A0:1D.0", "00000000:10:1C.0"};
  for (int i = 0; i < 2; i++) {
    memset(&devs[i], 0, sizeof devs[i]);
    strcpy(devs[i].bus_id, ids[i]);
    strcpy(devs[i].name, "NVIDIA A100 as CUDA names it");
    devs[i].host_numa_id = -1;
  }
  struct nb__cuda_info info = {.runtime_version = 12040, .driver_version = 12040, .count = 2, .devs = devs};
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.source = NB_FIXTURES_DIR "/2s-8gpu-smt.xml"};
  nb_topo_t plain = load_fixture("2s-8gpu-smt.xml"), cuda = NULL, dev = NULL;
  if (nb__topo_load_with_cuda(&cuda, &cfg, &info, &err) < 0)
    fail_msg("%s", err.msg);
  cfg.devices = "0000:90:1d.0";
  if (nb_topo_load(&dev, &cfg, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(nb_topo_gpu_origin(cuda), NB_GPUS_CUDA);
  assert_int_equal(nb_topo_ngpus(cuda), 2);
  assert_int_equal(nb_topo_ngpus(dev), 1);
  struct nb__probe_host h;
  known_host(plain, &h);
  json_t *op = nb__probe_object(plain, &h), *oc = nb__probe_object(cuda, &h), *od = nb__probe_object(dev, &h);
  assert_string_equal(fp_of(op), fp_of(oc));
  assert_string_equal(fp_of(op), fp_of(od));
  assert_true(json_equal(json_object_get(op, "group"), json_object_get(oc, "group")));
  assert_true(json_equal(json_object_get(op, "group"), json_object_get(od, "group")));
  /* Eight GPUs in bus order, GPU 7 the last bus id, on node 1. */
  json_t *gpus = json_object_get(json_object_get(oc, "facts"), "gpus");
  assert_int_equal(json_array_size(gpus), 8);
  json_t *g7 = json_array_get(gpus, 7);
  assert_string_equal(json_string_value(json_object_get(g7, "bus_id")), "0000:a0:1d.0");
  assert_int_equal(json_integer_value(json_object_get(g7, "node")), 1);
  /* What CUDA saw is kept apart. */
  json_t *xc = json_object_get(oc, "extra"), *xp = json_object_get(op, "extra");
  assert_string_equal(json_string_value(json_object_get(xc, "cuda")), "12.4");
  assert_true(json_is_null(json_object_get(xp, "cuda")));
  json_t *en = json_object_get(xc, "gpus_enumerated");
  assert_string_equal(json_string_value(json_object_get(en, "origin")), "cuda");
  assert_int_equal(json_array_size(json_object_get(en, "gpus")), 2);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(en, "gpus"), 0), "model")),
      "NVIDIA A100 as CUDA names it");
  json_decref(op);
  json_decref(oc);
  json_decref(od);
  nb_topo_free(plain);
  nb_topo_free(cuda);
  nb_topo_free(dev);
}

static long nps_of(const char *fixture)
{
  nb_topo_t topo = load_fixture(fixture);
  json_t *o = nb__probe_json(topo);
  json_t *nps = json_object_get(json_object_get(o, "facts"), "nps");
  long v = json_is_null(nps) ? -1 : (long)json_integer_value(nps);
  json_decref(o);
  nb_topo_free(topo);
  return v;
}

/* From gen-fixtures.py's descriptions: 4 nodes per socket; one node per
 * socket; a CXL memory-only node and a GPU's memory are not counted; nodes
 * that hold both packages. */
static void test_nps(void **state)
{
  (void)state;
  assert_int_equal(nps_of("nps4-4gpu.xml"), 4);
  assert_int_equal(nps_of("2s-8gpu-smt.xml"), 1);
  assert_int_equal(nps_of("memonly-cxl.xml"), 1);
  assert_int_equal(nps_of("gh200-like.xml"), 1);
  assert_int_equal(nps_of("nodes-above-packages.xml"), 0);
}

/* A recorded topology is another machine: none of this host's facts. */
static void test_recorded_has_no_host_facts(void **state)
{
  (void)state;
  nb_topo_t topo = load_fixture("2s-8gpu-smt.xml");
  json_t *o = nb__probe_json(topo);
  json_t *f = json_object_get(o, "facts");
  assert_true(json_is_null(json_object_get(f, "numa_balancing")));
  assert_true(json_is_null(json_object_get(f, "transparent_hugepages")));
  assert_true(json_is_null(json_object_get(f, "kernel")));
  assert_true(json_is_null(json_object_get(f, "driver")));
  assert_null(json_object_get(f, "cuda"));
  assert_true(json_is_null(json_object_get(json_object_get(o, "extra"), "cuda")));
  /* SMT from the topology: 2 threads per core. */
  assert_true(json_is_true(json_object_get(f, "smt")));
  json_decref(o);
  nb_topo_free(topo);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_order),
      cmocka_unit_test(test_real_sha256),
      cmocka_unit_test(test_same_facts_same_fingerprint),
      cmocka_unit_test(test_drifts_change_fingerprint),
      cmocka_unit_test(test_memory_rounding),
      cmocka_unit_test(test_nps),
      cmocka_unit_test(test_recorded_has_no_host_facts),
      cmocka_unit_test(test_cuda_view_not_in_facts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
