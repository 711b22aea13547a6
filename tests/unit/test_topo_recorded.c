/* Unit tests: the real machines recorded by hwloc in ../shared/topologies
 * (DGX-2, POWER8 with 4 GPUs, 4-node x86, 2-node with 3D devices). Skipped
 * (77) when that folder is not beside the project. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nbtest.h"
#include "plan_invariants.h"

struct recorded {
  const char *file;
  int nnodes;
  int dist01;
  int ngpus;
  int gpus_per_node[4]; /* count of GPUs on node os_index i */
  const char *gpu0_bus;
  const char *gpu0_name;
  const char *node0_cpus;
};

static const struct recorded machines[] = {
    /* 16 V100 found by class and nvmlN names, 8 per socket. */
    {"nvidia-dgx2.xml", 2, 21, 16, {8, 8}, "0000:34:00.0", "Tesla V100-SXM3-32GB-H", "0-1"},
    /* cudaN names, GPUs in PCI domains 0002, 0003, 000a, 000b. */
    {"power8-4gpu.xml", 2, 40, 4, {2, 2}, "0002:01:00.0", "Tesla P100-SXM2-16GB", "0-1,8-9,16-17,24-25"},
    /* NUMA nodes above packages, a VGA card that is not NVIDIA: no GPU. */
    {"4node-8pkg-pci.xml", 4, 26, 0, {0, 0, 0, 0}, NULL, NULL, "0-23"},
    /* Three NVIDIA 3D devices without OS devices, one on node 0, two on 1. */
    {"2node-3d-pci.xml",
     2,
     20,
     3,
     {1, 2},
     "0000:06:00.0",
     "NVIDIA 10de:06d2 3D controller",
     "0,2,4,6,8,10,12,14,16,18,20,22"},
};

static void test_recorded(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++) {
    const struct recorded *m = &machines[i];
    char path[4096], buf[256];
    snprintf(path, sizeof path, "%s/%s", NB_SHARED_TOPOLOGIES, m->file);
    print_message("recorded machine %s\n", m->file);
    nb_topo_t topo = nbt_load(path, NULL);
    assert_int_equal(nb_topo_nnodes(topo), m->nnodes);
    assert_int_equal(nb_topo_distance_origin(topo), NB_DIST_FIRMWARE);
    assert_int_equal(nb_topo_distance(topo, 0, 1), m->dist01);
    const struct nb_node *n0 = nb_topo_node(topo, 0);
    assert_string_equal(nbt_cpus(buf, sizeof buf, n0->cpus, n0->ncpus), m->node0_cpus);
    assert_int_equal(nb_topo_ngpus(topo), m->ngpus);
    int per_node[4] = {0};
    for (int g = 0; g < nb_topo_ngpus(topo); g++) {
      const struct nb_gpu *gpu = nb_topo_gpu(topo, g);
      assert_int_equal(gpu->index, g);
      assert_in_range(gpu->numa_node, 0, 3);
      assert_int_equal(gpu->nwarnings, 0);
      per_node[gpu->numa_node]++;
    }
    for (int k = 0; k < 4; k++)
      assert_int_equal(per_node[k], m->gpus_per_node[k]);
    if (m->ngpus) {
      assert_string_equal(nb_topo_gpu(topo, 0)->bus_id, m->gpu0_bus);
      assert_string_equal(nb_topo_gpu(topo, 0)->name, m->gpu0_name);
    }
    /* Every mode plans on it (simulated devices where it has no GPU), and
     * bind keeps each GPU's threads on its node. */
    for (int mode = 0; mode < NB_NMODES; mode++)
      for (int workers = 0; workers <= 12; workers += 6) {
        nb_plan_t plan = NULL;
        nb_error_t err = {0};
        struct nb_plan_config pc = {.mode = (enum nb_mode)mode, .workers = workers};
        if (nb_plan_make(&plan, topo, &pc, &err) < 0)
          fail_msg("%s: plan %s: %s", m->file, nb_mode_name((enum nb_mode)mode), err.msg);
        check_invariants(topo, plan);
        for (int g = 0; mode == NB_MODE_BIND && g < nb_plan_ngpus(plan); g++) {
          const struct nb_gpu_plan *gp = nb_plan_gpu(plan, g);
          assert_int_equal(gp->feeder.cpu_node, gp->gpu_node);
          assert_int_equal(gp->staging.node, gp->gpu_node);
        }
        nb_plan_free(plan);
      }
    nb_topo_free(topo);
  }
}

int main(void)
{
  if (access(NB_SHARED_TOPOLOGIES, R_OK) != 0) {
    printf("SKIP: recorded topologies not found at %s (they live in shared/topologies beside the project)\n",
           NB_SHARED_TOPOLOGIES);
    return NB_TEST_SKIP;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_recorded)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
