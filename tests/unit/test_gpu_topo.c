/* GPU test (label gpu): on a machine with a usable GPU, the CUDA runtime's
 * GPUs agree with the kernel: each bus id exists in sysfs, and each GPU's
 * node is sysfs numa_node where that is known. Skips (77) saying why when
 * numabench has no CUDA or the machine no usable GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"

static nb_topo_t topo;

static void test_gpus_match_sysfs(void **state)
{
  (void)state;
  assert_int_equal(nb_topo_gpu_origin(topo), NB_GPUS_CUDA);
  for (int i = 0; i < nb_topo_ngpus(topo); i++) {
    const struct nb_gpu *g = nb_topo_gpu(topo, i);
    char path[128], buf[32];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", g->bus_id);
    FILE *f = fopen(path, "r");
    if (!f)
      fail_msg("GPU %d: %s does not exist", i, path);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    int sys = atoi(buf);
    print_message("GPU %d %s %s: node %d (%s), sysfs %d\n", i, g->bus_id, g->name, g->numa_node,
                  nb_node_origin_name(g->node_origin), sys);
    assert_int_equal(g->cuda_ordinal, i);
    assert_true(strlen(g->name) > 0);
    if (sys >= 0)
      assert_int_equal(g->numa_node, sys);
    if (g->numa_node >= 0)
      assert_true(g->ncpus > 0);
  }
}

int main(void)
{
  if (!nb_have_cuda()) {
    printf("SKIP: numabench was built without CUDA\n");
    return NB_TEST_SKIP;
  }
  nb_error_t err = {0};
  struct nb_topo_config cfg = {0};
  if (nb_topo_load(&topo, &cfg, &err) < 0) {
    printf("loading the live topology: %s\n", err.msg);
    return 1;
  }
  if (nb_topo_gpu_origin(topo) != NB_GPUS_CUDA) {
    printf("SKIP: no usable GPU (CUDA: %s)\n", nb_topo_cuda_status(topo));
    nb_topo_free(topo);
    return NB_TEST_SKIP;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpus_match_sysfs)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo);
  return rc;
}
