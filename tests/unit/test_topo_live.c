/* Unit tests: on the live machine, what the topology reports equals what the
 * kernel says: the allowed CPUs (sched_getaffinity), the allowed nodes
 * (Mems_allowed_list), the node count and each node's CPUs (sysfs). */
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"
#include "nb-internal.h"

static const char *affinity_text(char *buf, size_t len)
{
  cpu_set_t set;
  int cpus[CPU_SETSIZE], n = 0;
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set))
      cpus[n++] = c;
  return nbt_cpus(buf, len, cpus, n);
}

/* Mems_allowed_list from /proc/self/status. */
static void mems_allowed(char *buf, size_t len)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[4096];
  buf[0] = '\0';
  assert_non_null(f);
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Mems_allowed_list: %4095s", line) == 1) {
      snprintf(buf, len, "%s", line);
      break;
    }
  fclose(f);
}

static int kernel_nodes(int *nodes, int max)
{
  DIR *d = opendir("/sys/devices/system/node");
  int n = 0;
  if (!d) { /* a kernel without NUMA: one node */
    nodes[0] = 0;
    return 1;
  }
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, "node", 4) && e->d_name[4] >= '0' && e->d_name[4] <= '9' && n < max)
      nodes[n++] = atoi(e->d_name + 4);
  closedir(d);
  qsort(nodes, (size_t)n, sizeof *nodes, nb__cmp_int);
  return n;
}

static void check_against_kernel(void)
{
  char want[4096], got[4096];
  nb_topo_t topo = nbt_load("live", NULL);
  assert_true(nb_topo_is_this_system(topo));
  assert_int_equal(nb_topo_kind(topo), NB_TOPO_LIVE);

  const int *allowed;
  int nallowed = nb_topo_allowed_cpus(topo, &allowed);
  assert_string_equal(nbt_cpus(got, sizeof got, allowed, nallowed), affinity_text(want, sizeof want));

  int knodes[1024];
  int nk = kernel_nodes(knodes, 1024);
  assert_int_equal(nb_topo_nnodes(topo), nk);

  char mems[4096];
  mems_allowed(mems, sizeof mems);
  int *mem_nodes;
  int nmem = nb__parse_cpulist(mems, 4095, &mem_nodes);
  assert_true(nmem > 0);

  int union_cpus[CPU_SETSIZE], nunion = 0;
  for (int i = 0; i < nk; i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    assert_int_equal(n->os_index, knodes[i]);
    int is_mem_allowed = 0;
    for (int j = 0; j < nmem; j++)
      is_mem_allowed |= mem_nodes[j] == n->os_index;
    assert_int_equal(n->allowed, is_mem_allowed);
    /* The node's allowed CPUs are its sysfs cpulist within the affinity. */
    char path[128], list[4096];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", n->os_index);
    if (nb__read_sysfile(NULL, path, list, sizeof list) == 0) {
      int *kcpus;
      int nkc = nb__parse_cpulist(list, 65535, &kcpus);
      assert_true(nkc >= 0);
      assert_int_equal(n->ncpus + n->ncpus_not_allowed, nkc);
      assert_int_equal(n->has_cpus, nkc > 0);
      free(kcpus);
    }
    for (int j = 0; j < n->ncpus; j++)
      union_cpus[nunion++] = n->cpus[j];
    assert_true(n->free_bytes >= 0);
    assert_true((uint64_t)n->free_bytes <= n->memory_bytes);
  }
  free(mem_nodes);
  qsort(union_cpus, (size_t)nunion, sizeof *union_cpus, nb__cmp_int);
  assert_string_equal(nbt_cpus(got, sizeof got, union_cpus, nunion), want);
  nb_topo_free(topo);
}

static void test_live_matches_kernel(void **state)
{
  (void)state;
  check_against_kernel();
}

/* Restricting this thread's affinity (as taskset or a container does)
 * restricts what the topology calls allowed. */
static void test_live_restricted_affinity(void **state)
{
  (void)state;
  cpu_set_t saved, one;
  assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
  int first = -1, count = CPU_COUNT(&saved);
  for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
    if (CPU_ISSET(c, &saved))
      first = c;
  if (count < 2)
    skip(); /* one allowed CPU already: nothing to restrict */
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
  nb_topo_t topo = nbt_load("live", NULL);
  const int *allowed;
  assert_int_equal(nb_topo_allowed_cpus(topo, &allowed), 1);
  assert_int_equal(allowed[0], first);
  int total = 0;
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    total += nb_topo_node(topo, i)->ncpus;
  assert_int_equal(total, 1);
  nb_topo_free(topo);
  check_against_kernel();
  assert_int_equal(sched_setaffinity(0, sizeof saved, &saved), 0);
}

static void put_numa_status(const char *root, const char *bus_id, int node)
{
  char path[600];
  snprintf(path, sizeof path, "%s/proc/driver/nvidia/gpus/%s", root, bus_id);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
  assert_int_equal(system(cmd), 0);
  strncat(path, "/numa_status", sizeof path - strlen(path) - 1);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "Node:                      %d\nStatus:                    online\n", node);
  assert_int_equal(fclose(f), 0);
}

static int warned(nb_topo_t topo, const char *text)
{
  int n = 0;
  for (int i = 0; i < nb_topo_nwarnings(topo); i++)
    n += strstr(nb_topo_warning(topo, i), text) != NULL;
  return n;
}

/* The NVIDIA driver's numa_status files (a recorded /proc through the
 * test-only NB_TEST_PROC_ROOT) on the live machine: one names a node with
 * CPUs, which is never taken for GPU memory; one names a node hwloc does not
 * show (as hwloc hides GPU-memory nodes by default), which a warning names. */
static void test_live_driver_gpu_memory(void **state)
{
  (void)state;
  char dir[] = "/tmp/nbtest-proc-XXXXXX", cmd[600];
  assert_non_null(mkdtemp(dir));
  nb_topo_t topo = nbt_load("live", NULL);
  int cpu_node = -1, absent = NB_MAX_NODE_INDEX;
  for (int i = 0; i < nb_topo_nnodes(topo) && cpu_node < 0; i++)
    if (nb_topo_node(topo, i)->has_cpus)
      cpu_node = nb_topo_node(topo, i)->os_index;
  assert_true(cpu_node >= 0);
  assert_int_equal(nb_topo_node_index(topo, absent), -1);
  nb_topo_free(topo);
  put_numa_status(dir, "0000:01:00.0", cpu_node);
  put_numa_status(dir, "0000:02:00.0", absent);

  setenv("NB_TEST_PROC_ROOT", dir, 1);
  topo = nbt_load("live", NULL);
  unsetenv("NB_TEST_PROC_ROOT");
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    assert_false(nb_topo_node(topo, i)->gpu_memory);
  char want[128];
  snprintf(want, sizeof want, "gives node %d, which has CPUs, as GPU memory: ignored", cpu_node);
  assert_int_equal(warned(topo, want), 1);
  snprintf(want, sizeof want, "GPU 0000:02:00.0's memory as NUMA node %d, which hwloc hides", absent);
  assert_int_equal(warned(topo, want), 1);
  nb_topo_free(topo);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_live_matches_kernel),
      cmocka_unit_test(test_live_restricted_affinity),
      cmocka_unit_test(test_live_driver_gpu_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
