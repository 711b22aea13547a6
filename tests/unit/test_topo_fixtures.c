/* Unit tests: the topology model on numabench's own fixture machines
 * (tests/fixtures/gen-fixtures.py describes each one). Every expectation
 * below is written from that description, not from numabench's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nbtest.h"

#define GIB (1024.0 * 1024 * 1024)
#define MAXN 8

struct exp_node {
  int os;
  const char *cpus;        /* allowed CPUs */
  const char *not_allowed; /* CPUs of the node outside the allowed set */
  bool has_cpus;
  bool allowed;
  double mem_gib;
  int ncores;
  int package; /* -1: none or several */
};

struct exp_gpu {
  int index;
  const char *bus;
  int node;
  enum nb_node_origin origin;
  const char *cpus;
  const char *name;
  int cuda_ordinal;
  const char *warning; /* substring of its only warning, NULL for none */
};

struct fixture {
  const char *file;
  const char *devices;
  const char *allowed;
  int nnodes;
  struct exp_node nodes[MAXN];
  enum nb_dist_origin dist_origin;
  int dist[MAXN][MAXN];
  enum nb_gpu_origin gpu_origin;
  int ngpus;
  struct exp_gpu gpus[MAXN];
  const char *topo_warning; /* substring of the only topology warning, NULL for none */
};

#define A100 "NVIDIA A100-SXM4-40GB"
#define H100 "NVIDIA H100 80GB HBM3"
#define N0 "0-23,48-71"
#define N1 "24-47,72-95"
#define NPS(k) #k

static const struct fixture fixtures[] = {
    {
        .file = "2s-8gpu-smt.xml",
        .allowed = "0-95",
        .nnodes = 2,
        .nodes = {{0, N0, "", true, true, 512, 24, 0}, {1, N1, "", true, true, 512, 24, 1}},
        .dist_origin = NB_DIST_FIRMWARE,
        .dist = {{10, 21}, {21, 10}},
        .gpu_origin = NB_GPUS_PCI,
        .ngpus = 8,
        .gpus = {{0, "0000:10:1c.0", 0, NB_NODE_HWLOC, N0, A100, 0, NULL},
                 {1, "0000:10:1d.0", 0, NB_NODE_HWLOC, N0, A100, 1, NULL},
                 {2, "0000:20:1c.0", 0, NB_NODE_HWLOC, N0, A100, 2, NULL},
                 {3, "0000:20:1d.0", 0, NB_NODE_HWLOC, N0, A100, 3, NULL},
                 {4, "0000:90:1c.0", 1, NB_NODE_HWLOC, N1, A100, 4, NULL},
                 {5, "0000:90:1d.0", 1, NB_NODE_HWLOC, N1, A100, 5, NULL},
                 {6, "0000:a0:1c.0", 1, NB_NODE_HWLOC, N1, A100, 6, NULL},
                 {7, "0000:a0:1d.0", 1, NB_NODE_HWLOC, N1, A100, 7, NULL}},
    },
    {
        /* --devices: any class, in the order given, short form accepted. */
        .file = "2s-8gpu-smt.xml",
        .devices = "0000:90:1c.0,10:1C.0,0000:30:00.0",
        .allowed = "0-95",
        .nnodes = 2,
        .nodes = {{0, N0, "", true, true, 512, 24, 0}, {1, N1, "", true, true, 512, 24, 1}},
        .dist_origin = NB_DIST_FIRMWARE,
        .dist = {{10, 21}, {21, 10}},
        .gpu_origin = NB_GPUS_DEVICES,
        .ngpus = 3,
        .gpus = {{0, "0000:90:1c.0", 1, NB_NODE_HWLOC, N1, A100, -1, NULL},
                 {1, "0000:10:1c.0", 0, NB_NODE_HWLOC, N0, A100, -1, NULL},
                 {2, "0000:30:00.0", 0, NB_NODE_HWLOC, N0, "Elastic Fabric Adapter", -1, NULL}},
    },
    {
        .file = "nps4-4gpu.xml",
        .allowed = "0-127",
        .nnodes = 8,
        .nodes = {{0, "0-7,64-71", "", true, true, 64, 8, 0},
                  {1, "8-15,72-79", "", true, true, 64, 8, 0},
                  {2, "16-23,80-87", "", true, true, 64, 8, 0},
                  {3, "24-31,88-95", "", true, true, 64, 8, 0},
                  {4, "32-39,96-103", "", true, true, 64, 8, 1},
                  {5, "40-47,104-111", "", true, true, 64, 8, 1},
                  {6, "48-55,112-119", "", true, true, 64, 8, 1},
                  {7, "56-63,120-127", "", true, true, 64, 8, 1}},
        .dist_origin = NB_DIST_FIRMWARE,
        .dist = {{10, 12, 12, 12, 32, 32, 32, 32},
                 {12, 10, 12, 12, 32, 32, 32, 32},
                 {12, 12, 10, 12, 32, 32, 32, 32},
                 {12, 12, 12, 10, 32, 32, 32, 32},
                 {32, 32, 32, 32, 10, 12, 12, 12},
                 {32, 32, 32, 32, 12, 10, 12, 12},
                 {32, 32, 32, 32, 12, 12, 10, 12},
                 {32, 32, 32, 32, 12, 12, 12, 10}},
        .gpu_origin = NB_GPUS_PCI,
        .ngpus = 4,
        .gpus = {{0, "0000:41:00.0", 1, NB_NODE_HWLOC, "8-15,72-79", H100, -1, NULL},
                 {1, "0000:61:00.0", 3, NB_NODE_HWLOC, "24-31,88-95", H100, -1, NULL},
                 {2, "0001:c1:00.0", 5, NB_NODE_HWLOC, "40-47,104-111", H100, -1, NULL},
                 {3, "0001:e1:00.0", 7, NB_NODE_HWLOC, "56-63,120-127", H100, -1, NULL}},
    },
    {
        .file = "memonly-cxl.xml",
        .allowed = "0-7",
        .nnodes = 4,
        .nodes = {{0, "0-3", "", true, true, 128, 4, 0},
                  {1, "4-7", "", true, true, 128, 4, 1},
                  {2, "", "", false, true, 256, 0, -1},
                  {3, "", "", false, true, 256, 0, -1}},
        .dist_origin = NB_DIST_FIRMWARE,
        .dist = {{10, 21, 14, 30}, {21, 10, 24, 30}, {14, 24, 10, 40}, {30, 30, 40, 10}},
        .gpu_origin = NB_GPUS_PCI,
        .ngpus = 2,
        .gpus = {{0, "0000:17:00.0", 0, NB_NODE_HWLOC, "0-3", "NVIDIA L40S", 0, NULL},
                 {1, "0000:97:00.0", 1, NB_NODE_HWLOC, "4-7", "NVIDIA L40S", 1, NULL}},
    },
    {
        .file = "unknown-node.xml",
        .allowed = "0-15",
        .nnodes = 2,
        .nodes = {{0, "0-3,8-11", "", true, true, 32, 4, 0}, {1, "4-7,12-15", "", true, true, 32, 4, 1}},
        .dist_origin = NB_DIST_DEFAULT,
        .dist = {{10, 20}, {20, 10}},
        .gpu_origin = NB_GPUS_PCI,
        .ngpus = 2,
        .gpus = {{0, "0000:3b:00.0", 0, NB_NODE_HWLOC, "0-3,8-11", "NVIDIA A10", 0, NULL},
                 {1, "0000:d8:00.0", -1, NB_NODE_UNKNOWN, "", "NVIDIA A10", 1, "NUMA node unknown"}},
        .topo_warning = "no NUMA distance matrix",
    },
    {
        .file = "container.xml",
        .allowed = "0-1,8-9",
        .nnodes = 2,
        .nodes = {{0, "0-1,8-9", "2-3,10-11", true, true, 64, 2, 0},
                  {1, "", "4-7,12-15", true, false, 64, 0, 1}},
        .dist_origin = NB_DIST_FIRMWARE,
        .dist = {{10, 20}, {20, 10}},
        .gpu_origin = NB_GPUS_PCI,
        .ngpus = 2,
        .gpus = {{0, "0000:18:00.0", 0, NB_NODE_HWLOC, "0-1,8-9", "NVIDIA 10de:1eb8 VGA controller", -1,
                  NULL},
                 {1, "0000:98:00.0", 1, NB_NODE_HWLOC, "", "NVIDIA 10de:1eb8 VGA controller", -1,
                  "outside this process's allowed nodes"}},
    },
    {
        .file = "nodes-above-packages.xml",
        .allowed = "0-7",
        .nnodes = 2,
        .nodes = {{0, "0-3", "", true, true, 96, 4, -1}, {1, "4-7", "", true, true, 96, 4, -1}},
        .dist_origin = NB_DIST_FIRMWARE,
        .dist = {{10, 20}, {20, 10}},
        .gpu_origin = NB_GPUS_PCI,
        .ngpus = 2,
        .gpus = {{0, "0000:05:00.0", 0, NB_NODE_HWLOC, "0-3", "Tesla T4", 0, NULL},
                 {1, "0000:85:00.0", 1, NB_NODE_HWLOC, "4-7", "Tesla T4", 1, NULL}},
    },
};

static char *fixture_path(const char *file)
{
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", NB_FIXTURES_DIR, file);
  return path;
}

static void check_model(const struct fixture *f, nb_topo_t topo)
{
  char buf[512];
  const int *allowed;
  int nallowed = nb_topo_allowed_cpus(topo, &allowed);
  assert_false(nb_topo_is_this_system(topo));
  assert_int_equal(nb_topo_kind(topo), NB_TOPO_XML);
  assert_string_equal(nbt_cpus(buf, sizeof buf, allowed, nallowed), f->allowed);

  assert_int_equal(nb_topo_nnodes(topo), f->nnodes);
  int ncores = 0;
  for (int i = 0; i < f->nnodes; i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    const struct exp_node *e = &f->nodes[i];
    assert_int_equal(n->os_index, e->os);
    assert_int_equal(nb_topo_node_index(topo, e->os), i);
    assert_string_equal(nbt_cpus(buf, sizeof buf, n->cpus, n->ncpus), e->cpus);
    assert_string_equal(nbt_cpus(buf, sizeof buf, n->cpus_not_allowed, n->ncpus_not_allowed), e->not_allowed);
    assert_int_equal(n->has_cpus, e->has_cpus);
    assert_int_equal(n->allowed, e->allowed);
    assert_int_equal((long long)n->memory_bytes, (long long)(e->mem_gib * GIB));
    assert_int_equal(n->free_bytes, -1); /* XML records no free memory */
    assert_int_equal(n->ncores, e->ncores);
    assert_int_equal(n->package, e->package);
    ncores += e->ncores;
  }
  assert_int_equal(nb_topo_distance_origin(topo), f->dist_origin);
  for (int i = 0; i < f->nnodes; i++)
    for (int j = 0; j < f->nnodes; j++)
      assert_int_equal(nb_topo_distance(topo, i, j), f->dist[i][j]);

  /* Cores: each lists allowed SMT siblings of one node, all cores counted. */
  assert_int_equal(nb_topo_ncores(topo), ncores);
  for (int i = 0; i < nb_topo_ncores(topo); i++) {
    const struct nb_core *c = nb_topo_core(topo, i);
    const struct nb_node *n = nb_topo_node(topo, nb_topo_node_index(topo, c->node));
    assert_non_null(n);
    for (int k = 0; k < c->ncpus; k++) {
      int found = 0;
      for (int j = 0; j < n->ncpus; j++)
        found |= n->cpus[j] == c->cpus[k];
      if (!found)
        fail_msg("core %d CPU %d is not a CPU of its node %d", i, c->cpus[k], c->node);
    }
  }

  assert_int_equal(nb_topo_gpu_origin(topo), f->gpu_origin);
  assert_int_equal(nb_topo_ngpus(topo), f->ngpus);
  for (int i = 0; i < f->ngpus; i++) {
    const struct nb_gpu *g = nb_topo_gpu(topo, i);
    const struct exp_gpu *e = &f->gpus[i];
    assert_int_equal(g->index, e->index);
    assert_string_equal(g->bus_id, e->bus);
    assert_int_equal(g->numa_node, e->node);
    assert_string_equal(nb_node_origin_name(g->node_origin), nb_node_origin_name(e->origin));
    assert_string_equal(nbt_cpus(buf, sizeof buf, g->cpus, g->ncpus), e->cpus);
    assert_string_equal(g->name, e->name);
    assert_int_equal(g->cuda_ordinal, e->cuda_ordinal);
    assert_int_equal(g->nwarnings, e->warning ? 1 : 0);
    if (e->warning && !strstr(g->warnings[0], e->warning))
      fail_msg("GPU %d warning '%s' lacks '%s'", i, g->warnings[0], e->warning);
  }
  assert_int_equal(nb_topo_nwarnings(topo), f->topo_warning ? 1 : 0);
  if (f->topo_warning && !strstr(nb_topo_warning(topo, 0), f->topo_warning))
    fail_msg("topology warning '%s' lacks '%s'", nb_topo_warning(topo, 0), f->topo_warning);
}

/* The JSON document says the same as the model, with numbers as numbers and
 * unknown values as null. */
static void check_json(const struct fixture *f, nb_topo_t topo)
{
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  nb_error_t err = {0};
  assert_int_equal(nb_topo_write_json(topo, mem, &err), 0);
  fclose(mem);
  json_error_t jerr;
  json_t *doc = json_loads(text, 0, &jerr);
  if (!doc)
    fail_msg("invalid JSON for %s: %s at line %d", f->file, jerr.text, jerr.line);
  free(text);
  assert_int_equal(json_integer_value(json_object_get(doc, "schema_version")), 1);
  assert_string_equal(json_string_value(json_object_get(doc, "source")), "xml");
  assert_true(json_is_false(json_object_get(doc, "this_system")));
  json_t *nodes = json_object_get(doc, "nodes"), *dist = json_object_get(doc, "distances");
  assert_int_equal(json_array_size(nodes), (size_t)f->nnodes);
  assert_int_equal(json_array_size(dist), (size_t)f->nnodes);
  for (int i = 0; i < f->nnodes; i++) {
    json_t *n = json_array_get(nodes, (size_t)i);
    assert_int_equal(json_integer_value(json_object_get(n, "os_index")), f->nodes[i].os);
    assert_true(json_is_integer(json_object_get(n, "memory_bytes")));
    assert_true(json_is_null(json_object_get(n, "free_bytes")));
    assert_int_equal(json_is_true(json_object_get(n, "has_cpus")), f->nodes[i].has_cpus);
    assert_int_equal(json_is_true(json_object_get(n, "allowed")), f->nodes[i].allowed);
    json_t *row = json_array_get(dist, (size_t)i);
    assert_int_equal(json_array_size(row), (size_t)f->nnodes);
    for (int j = 0; j < f->nnodes; j++)
      assert_int_equal(json_integer_value(json_array_get(row, (size_t)j)), f->dist[i][j]);
  }
  json_t *gpus = json_object_get(doc, "gpus");
  assert_int_equal(json_array_size(gpus), (size_t)f->ngpus);
  for (int i = 0; i < f->ngpus; i++) {
    json_t *g = json_array_get(gpus, (size_t)i);
    assert_string_equal(json_string_value(json_object_get(g, "pci_bus_id")), f->gpus[i].bus);
    json_t *node = json_object_get(g, "numa_node");
    if (f->gpus[i].node < 0)
      assert_true(json_is_null(node));
    else
      assert_int_equal(json_integer_value(node), f->gpus[i].node);
    assert_true(json_is_array(json_object_get(g, "cpus")));
    assert_true(json_is_array(json_object_get(g, "warnings")));
  }
  json_decref(doc);
}

static void test_fixtures(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
    const struct fixture *f = &fixtures[i];
    print_message("fixture %s%s%s\n", f->file, f->devices ? " --devices " : "", f->devices ? f->devices : "");
    nb_topo_t topo = nbt_load(fixture_path(f->file), f->devices);
    check_model(f, topo);
    check_json(f, topo);
    nb_topo_free(topo);
  }
}

/* The text report of the 2-socket machine, compared exactly with a reviewed
 * copy (tests/fixtures/2s-8gpu-smt.txt). */
static void test_text_golden(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fixture_path("2s-8gpu-smt.xml"), NULL);
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_int_equal(nb_topo_write_text(topo, mem, NULL), 0);
  fclose(mem);
  nb_topo_free(topo);

  FILE *f = fopen(fixture_path("2s-8gpu-smt.txt"), "r");
  assert_non_null(f);
  char want[8192];
  size_t n = fread(want, 1, sizeof want - 1, f);
  want[n] = '\0';
  fclose(f);
  /* The golden copy names the file relative to the fixtures directory. */
  char *at = strstr(text, NB_FIXTURES_DIR "/");
  assert_non_null(at);
  memmove(at, at + strlen(NB_FIXTURES_DIR "/"), strlen(at + strlen(NB_FIXTURES_DIR "/")) + 1);
  assert_string_equal(text, want);
  free(text);
}

/* The Grace-Hopper-like machine (gen-fixtures.py gh200): node 1 is the
 * GPU's HBM, marked by hwloc's subtype GPUMemory and PCIBusID. The model
 * marks it and names its GPU, the JSON and the text say so, and a CXL node
 * (another subtype) is not GPU memory. */
static void test_gpu_memory_node(void **state)
{
  (void)state;
  char buf[64];
  nb_topo_t topo = nbt_load(fixture_path("gh200-like.xml"), NULL);
  assert_int_equal(nb_topo_nnodes(topo), 2);
  const struct nb_node *n0 = nb_topo_node(topo, 0), *n1 = nb_topo_node(topo, 1);
  assert_string_equal(nbt_cpus(buf, sizeof buf, n0->cpus, n0->ncpus), "0-71");
  assert_int_equal(n0->ncores, 72);
  assert_int_equal((long long)n0->memory_bytes, (long long)(480 * GIB));
  assert_false(n0->gpu_memory);
  assert_int_equal(n0->gpu, -1);
  assert_string_equal(n0->gpu_bus_id, "");
  assert_int_equal(n1->os_index, 1);
  assert_false(n1->has_cpus);
  assert_int_equal(n1->ncpus, 0);
  assert_int_equal((long long)n1->memory_bytes, (long long)(96 * GIB));
  assert_true(n1->gpu_memory);
  assert_string_equal(n1->gpu_bus_id, "0009:01:00.0");
  assert_int_equal(n1->gpu, 0);
  assert_int_equal(nb_topo_distance(topo, 0, 1), 80);
  assert_int_equal(nb_topo_distance(topo, 1, 0), 80);
  /* The GPU itself is local to the CPU node. */
  assert_int_equal(nb_topo_ngpus(topo), 1);
  assert_string_equal(nb_topo_gpu(topo, 0)->bus_id, "0009:01:00.0");
  assert_int_equal(nb_topo_gpu(topo, 0)->numa_node, 0);
  assert_int_equal(nb_topo_nwarnings(topo), 1);
  if (!strstr(nb_topo_warning(topo, 0), "node 1 is the memory of GPU 0 (0009:01:00.0)"))
    fail_msg("warning '%s' does not name node 1 as GPU 0's memory", nb_topo_warning(topo, 0));

  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_int_equal(nb_topo_write_json(topo, mem, NULL), 0);
  fclose(mem);
  json_t *doc = json_loads(text, 0, NULL);
  assert_non_null(doc);
  free(text);
  json_t *nodes = json_object_get(doc, "nodes");
  json_t *j0 = json_array_get(nodes, 0), *j1 = json_array_get(nodes, 1);
  assert_true(json_is_false(json_object_get(j0, "gpu_memory")));
  assert_true(json_is_null(json_object_get(j0, "gpu_memory_of")));
  assert_true(json_is_true(json_object_get(j1, "gpu_memory")));
  json_t *of = json_object_get(j1, "gpu_memory_of");
  assert_int_equal(json_integer_value(json_object_get(of, "gpu")), 0);
  assert_true(json_is_integer(json_object_get(of, "gpu")));
  assert_string_equal(json_string_value(json_object_get(of, "pci_bus_id")), "0009:01:00.0");
  /* Not this machine: its kernel settings are unknown, never this host's. */
  assert_null(json_object_get(doc, "host"));
  json_decref(doc);

  text = NULL;
  mem = open_memstream(&text, &len);
  assert_int_equal(nb_topo_write_text(topo, mem, NULL), 0);
  fclose(mem);
  if (!strstr(text, "(none: GPU 0's memory)"))
    fail_msg("text does not show node 1 as GPU memory:\n%s", text);
  if (strstr(text, "Kernel:") || strstr(text, "numa_balancing"))
    fail_msg("text shows this host's kernel settings for a recorded topology:\n%s", text);
  free(text);
  nb_topo_free(topo);

  topo = nbt_load(fixture_path("memonly-cxl.xml"), NULL);
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    assert_false(nb_topo_node(topo, i)->gpu_memory);
  nb_topo_free(topo);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_text_golden),
      cmocka_unit_test(test_gpu_memory_node),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
