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

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_live_matches_kernel),
      cmocka_unit_test(test_live_restricted_affinity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
