/* Unit tests: a recorded /sys tree (hwloc-gather-topology inside a QEMU
 * guest with 2 CPU nodes, a memory-only node 2 and display devices behind
 * host bridges on nodes 0 and 1). Here the kernel's own files decide which
 * node has CPUs and where devices are. The tree is unpacked by CTest
 * (fixture fsroot_unpack) into NB_FSROOT_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nbtest.h"

static void test_fsroot_nodes(void **state)
{
  (void)state;
  char buf[64];
  nb_topo_t topo = nbt_load(NB_FSROOT_DIR, NULL);
  assert_int_equal(nb_topo_kind(topo), NB_TOPO_FSROOT);
  assert_false(nb_topo_is_this_system(topo));
  assert_int_equal(nb_topo_nnodes(topo), 3);
  static const char *const cpus[] = {"0-1", "2-3", ""};
  for (int i = 0; i < 3; i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    assert_int_equal(n->os_index, i);
    assert_string_equal(nbt_cpus(buf, sizeof buf, n->cpus, n->ncpus), cpus[i]);
    assert_int_equal(n->has_cpus, i < 2);
    assert_true(n->allowed);
    /* Free memory comes from the recorded nodeN/meminfo. */
    assert_true(n->free_bytes > 0);
    assert_true((uint64_t)n->free_bytes <= n->memory_bytes);
  }
  assert_int_equal(nb_topo_distance_origin(topo), NB_DIST_FIRMWARE);
  assert_int_equal(nb_topo_distance(topo, 0, 1), 21);
  assert_int_equal(nb_topo_distance(topo, 0, 2), 30);
  assert_int_equal(nb_topo_distance(topo, 2, 2), 10);
  /* QEMU's display devices are not NVIDIA GPUs. */
  assert_int_equal(nb_topo_ngpus(topo), 0);
  assert_int_equal(nb_topo_gpu_origin(topo), NB_GPUS_NONE);
  nb_topo_free(topo);
}

static void test_fsroot_devices(void **state)
{
  (void)state;
  char buf[64];
  /* Node 0's and node 1's devices, and the SATA controller whose sysfs
   * numa_node is -1 (no locality from firmware). */
  nb_topo_t topo = nbt_load(NB_FSROOT_DIR, "0000:41:00.0,81:00.0,0000:00:1f.2");
  assert_int_equal(nb_topo_gpu_origin(topo), NB_GPUS_DEVICES);
  assert_int_equal(nb_topo_ngpus(topo), 3);
  static const struct {
    const char *bus;
    int node;
    const char *cpus;
    enum nb_node_origin origin;
  } want[] = {{"0000:41:00.0", 0, "0-1", NB_NODE_HWLOC},
              {"0000:81:00.0", 1, "2-3", NB_NODE_HWLOC},
              {"0000:00:1f.2", -1, "", NB_NODE_UNKNOWN}};
  for (int i = 0; i < 3; i++) {
    const struct nb_gpu *g = nb_topo_gpu(topo, i);
    assert_int_equal(g->index, i);
    assert_string_equal(g->bus_id, want[i].bus);
    assert_int_equal(g->numa_node, want[i].node);
    assert_int_equal(g->node_origin, want[i].origin);
    assert_string_equal(nbt_cpus(buf, sizeof buf, g->cpus, g->ncpus), want[i].cpus);
  }
  const struct nb_gpu *unknown = nb_topo_gpu(topo, 2);
  assert_int_equal(unknown->nwarnings, 1);
  assert_non_null(strstr(unknown->warnings[0], "sysfs numa_node is -1"));
  nb_topo_free(topo);
}

/* A recorded tree is untrusted: a FIFO or an absurd CPU list where the
 * kernel's node files should be must neither hang nor exhaust memory; the
 * CPUs then come from hwloc's own reading of the tree. */
static void test_fsroot_hostile(void **state)
{
  (void)state;
  char dir[] = "/tmp/nbtest-fsroot-XXXXXX", cmd[512], path[600];
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd, "cp -a '%s' '%s/vm'", NB_FSROOT_DIR, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/vm/sys/devices/system/node/node0/cpulist", dir);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mkfifo(path, 0644), 0);
  snprintf(path, sizeof path, "%s/vm/sys/devices/system/node/node1/cpulist", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < 100; i++)
    fputs("0-1048576,", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/vm", dir);
  alarm(60); /* a hang fails the test instead of stalling CI */
  nb_topo_t topo = nbt_load(path, NULL);
  alarm(0);
  char buf[64];
  static const char *const cpus[] = {"0-1", "2-3", ""};
  assert_int_equal(nb_topo_nnodes(topo), 3);
  for (int i = 0; i < 3; i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    assert_string_equal(nbt_cpus(buf, sizeof buf, n->cpus, n->ncpus), cpus[i]);
  }
  nb_topo_free(topo);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* A copy of the recorded tree in a scratch directory, to damage. */
static void copy_tree(char *dir, char *root, size_t len)
{
  char cmd[512];
  strcpy(dir, "/tmp/nbtest-fsroot-XXXXXX"); /* mkdtemp fills the template in */
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd, "cp -a '%s' '%s/vm'", NB_FSROOT_DIR, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(root, len, "%s/vm", dir);
}

static void put(const char *root, const char *file, const char *text)
{
  char path[600];
  int n = snprintf(path, sizeof path, "%s/sys/devices/system/node/%s", root, file);
  assert_true(n > 0 && (size_t)n < sizeof path);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void remove_tree(const char *dir)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void expect_inconsistent(const char *root, const char *text)
{
  nb_topo_t topo = (nb_topo_t)1;
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.source = root, .no_cuda = true};
  int rc = nb_topo_load(&topo, &cfg, &err);
  if (rc != NB_EFORMAT)
    fail_msg("got %s (%s), want NB_EFORMAT", nb_err_name(rc), err.msg);
  assert_null(topo);
  assert_null(strchr(err.msg, '\n'));
  if (!strstr(err.msg, "inconsistent topology") || !strstr(err.msg, text))
    fail_msg("message '%s' lacks 'inconsistent topology' or '%s'", err.msg, text);
}

/* A tree that hwloc reads but that contradicts itself is refused at load,
 * once, instead of crashing later: overlapping node CPU lists left node 1
 * with CPUs and no core (the planner divided by zero), an absurd MemFree
 * overflowed a signed multiply. */
static void test_fsroot_inconsistent(void **state)
{
  (void)state;
  char dir[] = "/tmp/nbtest-fsroot-XXXXXX", root[600];
  copy_tree(dir, root, sizeof root);
  put(root, "node0/cpulist", "0-3\n");
  expect_inconsistent(root, "CPU 2 is in the CPU lists of both node 0 and node 1");
  remove_tree(dir);

  copy_tree(dir, root, sizeof root);
  put(root, "node1/meminfo",
      "Node 1 MemTotal:        1048576 kB\nNode 1 MemFree:  18446744073709551615 kB\n");
  expect_inconsistent(root, "node 1's meminfo gives an impossible MemFree");
  remove_tree(dir);

  /* Large but possible: loads. */
  copy_tree(dir, root, sizeof root);
  put(root, "node1/meminfo", "Node 1 MemTotal:        1048576 kB\nNode 1 MemFree:  1048576 kB\n");
  nb_topo_t topo = nbt_load(root, NULL);
  assert_int_equal(nb_topo_node(topo, 1)->free_bytes, 1073741824);
  nb_topo_free(topo);
  remove_tree(dir);
}

/* The NVIDIA driver's numa_status for one GPU, as a Grace Hopper machine
 * records it: its memory is NUMA node `node`. */
static void put_numa_status(const char *root, const char *bus_id, int node)
{
  char path[700], cmd[800];
  snprintf(path, sizeof path, "%s/proc/driver/nvidia/gpus/%s", root, bus_id);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
  assert_int_equal(system(cmd), 0);
  strncat(path, "/numa_status", sizeof path - strlen(path) - 1);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "Node:                      %d\nStatus:                    online\n", node);
  assert_int_equal(fclose(f), 0);
}

/* A recorded tree whose driver files give the memory-only node 2 as GPU
 * 0000:41:00.0's memory. hwloc drops such a node unless told to keep it:
 * then the model lacks it (nothing can choose it) and a warning names it.
 * With HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES=1 (inherited by the child that
 * parses the tree) hwloc keeps it as subtype GPUMemory: the model marks it
 * and names its GPU. */
static void test_fsroot_gpu_memory(void **state)
{
  (void)state;
  char dir[] = "/tmp/nbtest-fsroot-XXXXXX", root[600];
  copy_tree(dir, root, sizeof root);
  put_numa_status(root, "0000:41:00.0", 2);

  unsetenv("HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES");
  nb_topo_t topo = nbt_load(root, "0000:41:00.0");
  assert_int_equal(nb_topo_nnodes(topo), 2);
  assert_int_equal(nb_topo_node_index(topo, 2), -1);
  int hidden = 0;
  for (int i = 0; i < nb_topo_nwarnings(topo); i++)
    hidden +=
        strstr(nb_topo_warning(topo, i), "GPU 0000:41:00.0's memory as NUMA node 2, which hwloc hides") != 0;
  assert_int_equal(hidden, 1);
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    assert_false(nb_topo_node(topo, i)->gpu_memory);
  nb_topo_free(topo);

  setenv("HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES", "1", 1);
  topo = nbt_load(root, "0000:41:00.0");
  unsetenv("HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES");
  assert_int_equal(nb_topo_nnodes(topo), 3);
  const struct nb_node *n = nb_topo_node(topo, 2);
  assert_int_equal(n->os_index, 2);
  assert_true(n->gpu_memory);
  assert_false(n->has_cpus); /* the kernel's cpulist, not the GPU's local CPUs hwloc gives it */
  assert_string_equal(n->gpu_bus_id, "0000:41:00.0");
  assert_int_equal(n->gpu, 0);
  assert_false(nb_topo_node(topo, 0)->gpu_memory);
  assert_false(nb_topo_node(topo, 1)->gpu_memory);
  assert_int_equal(nb_topo_node(topo, 0)->gpu, -1);
  nb_topo_free(topo);
  remove_tree(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fsroot_nodes),      cmocka_unit_test(test_fsroot_devices),
      cmocka_unit_test(test_fsroot_hostile),    cmocka_unit_test(test_fsroot_inconsistent),
      cmocka_unit_test(test_fsroot_gpu_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
