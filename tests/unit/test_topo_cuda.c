/* Unit tests: mapping a CUDA enumeration (ordinals, bus ids in CUDA's
 * 8-digit-domain upper-case form, host NUMA ids) onto a topology. The
 * enumerations are recorded by hand, so this runs without a GPU; the real
 * runtime is exercised by test_gpu_topo on a GPU machine. */
#include <stdlib.h>
#include <string.h>

#include "cuda_devices.h"
#include "nbtest.h"
#include "topo-internal.h"

#define FIXTURE NB_FIXTURES_DIR "/2s-8gpu-smt.xml"

static nb_topo_t load_with(const struct nb__cuda_info *info)
{
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.source = FIXTURE};
  if (nb__topo_load_with_cuda(&topo, &cfg, info, &err) < 0)
    fail_msg("%s", err.msg);
  return topo;
}

static int has_warning(nb_topo_t topo, const char *text)
{
  for (int i = 0; i < nb_topo_nwarnings(topo); i++)
    if (strstr(nb_topo_warning(topo, i), text))
      return 1;
  return 0;
}

/* CUDA's default order here is not PCI order: indexes are ordinals, bus ids
 * are normalised, nodes come from hwloc, and the user is warned. */
static void test_cuda_order(void **state)
{
  (void)state;
  static const char *const ids[] = {"00000000:A0:1D.0", "00000000:10:1C.0", "00000000:90:1C.0",
                                    "00000000:20:1D.0"};
  static const char *const want_bus[] = {"0000:a0:1d.0", "0000:10:1c.0", "0000:90:1c.0", "0000:20:1d.0"};
  static const int want_node[] = {1, 0, 1, 0};
  struct nb__cuda_dev devs[4];
  for (int i = 0; i < 4; i++) {
    memset(&devs[i], 0, sizeof devs[i]);
    strcpy(devs[i].bus_id, ids[i]);
    strcpy(devs[i].name, "NVIDIA H100 80GB HBM3");
    devs[i].host_numa_id = want_node[i];
  }
  struct nb__cuda_info info = {.runtime_version = 13000, .driver_version = 13000, .count = 4, .devs = devs};
  unsetenv("CUDA_DEVICE_ORDER");
  nb_topo_t topo = load_with(&info);
  assert_int_equal(nb_topo_gpu_origin(topo), NB_GPUS_CUDA);
  assert_string_equal(nb_topo_cuda_status(topo), "4 devices (runtime 13.0, driver 13.0)");
  assert_int_equal(nb_topo_ngpus(topo), 4);
  for (int i = 0; i < 4; i++) {
    const struct nb_gpu *g = nb_topo_gpu(topo, i);
    assert_int_equal(g->index, i);
    assert_int_equal(g->cuda_ordinal, i);
    assert_string_equal(g->bus_id, want_bus[i]);
    assert_int_equal(g->numa_node, want_node[i]);
    assert_int_equal(g->node_origin, NB_NODE_HWLOC);
    assert_string_equal(g->name, "NVIDIA H100 80GB HBM3");
    assert_int_equal(g->nwarnings, 0);
  }
  assert_true(has_warning(topo, "not PCI bus order"));
  nb_topo_free(topo);
}

/* CUDA's host NUMA id disagreeing with hwloc is a warning on that GPU; a
 * device hwloc does not know takes CUDA's node; a node the topology lacks is
 * unknown, never kept. */
static void test_cuda_disagreement(void **state)
{
  (void)state;
  struct nb__cuda_dev devs[3] = {
      {"00000000:10:1C.0", "A", 1}, /* hwloc: node 0 */
      {"00000000:77:00.0", "B", 1}, /* not in the topology's PCI tree */
      {"00000000:78:00.0", "C", 7}, /* not in the tree, and no node 7 */
  };
  struct nb__cuda_info info = {.runtime_version = 13000, .driver_version = 13000, .count = 3, .devs = devs};
  nb_topo_t topo = load_with(&info);
  const struct nb_gpu *a = nb_topo_gpu(topo, 0), *b = nb_topo_gpu(topo, 1), *c = nb_topo_gpu(topo, 2);
  assert_int_equal(a->numa_node, 0);
  assert_int_equal(a->nwarnings, 1);
  assert_non_null(strstr(a->warnings[0], "CUDA reports host NUMA node 1 but hwloc says 0"));
  assert_int_equal(b->numa_node, 1);
  assert_int_equal(b->node_origin, NB_NODE_CUDA);
  assert_non_null(strstr(b->warnings[0], "not in hwloc's PCI tree"));
  assert_int_equal(c->numa_node, -1);
  assert_int_equal(c->node_origin, NB_NODE_UNKNOWN);
  assert_int_equal(c->ncpus, 0);
  assert_non_null(strstr(c->warnings[c->nwarnings - 1], "node 7"));
  /* PCI order (10, 77, 78): no ordering warning. */
  assert_false(has_warning(topo, "not PCI bus order"));
  nb_topo_free(topo);
}

/* No usable CUDA: its error is kept, GPUs come from PCI with a warning. */
static void test_cuda_unusable(void **state)
{
  (void)state;
  struct nb__cuda_info info = {.runtime_version = 13000};
  strcpy(info.error, "cudaGetDeviceCount: cudaErrorNoDevice (no CUDA-capable device is detected)");
  nb_topo_t topo = load_with(&info);
  assert_int_equal(nb_topo_gpu_origin(topo), NB_GPUS_PCI);
  assert_int_equal(nb_topo_ngpus(topo), 8);
  assert_non_null(strstr(nb_topo_cuda_status(topo), "cudaErrorNoDevice"));
  assert_true(has_warning(topo, "GPUs listed from PCI because CUDA is unusable"));
  nb_topo_free(topo);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cuda_order),
      cmocka_unit_test(test_cuda_disagreement),
      cmocka_unit_test(test_cuda_unusable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
