/* Unit tests: the planner on fixture topologies. Table-driven cases with
 * hand-computed expectations, plus invariants checked on every fixture and
 * mode: threads stay on their node's allowed CPUs, never share a CPU unless
 * the plan says it is oversubscribed, and never land on memory-only nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nbtest.h"

static char *fx(const char *file)
{
  static char path[4][4096];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", NB_FIXTURES_DIR, file);
  return path[k];
}

/* Plan with --gpus and --gpu-node given as text: the option table reads it
 * (nb_config_set, as the CLI does), the planner checks it against the
 * topology; a mistake is reported by whichever finds it. */
static int plan_with(nb_plan_t *plan, nb_topo_t topo, enum nb_mode mode, const char *gpus, int workers,
                     const char *gpu_node, nb_error_t *err)
{
  struct nb_config oc;
  assert_int_equal(nb_config_init(&oc), 0);
  int rc = gpus ? nb_config_set(&oc, nb_option_find("gpus"), gpus, err) : 0;
  if (rc == 0 && gpu_node)
    rc = nb_config_set(&oc, nb_option_find("gpu-node"), gpu_node, err);
  if (rc == 0) {
    struct nb_plan_config cfg = {.mode = mode,
                                 .gpus = gpus ? &oc.gpu_select : NULL,
                                 .workers = workers,
                                 .gpu_node = gpu_node ? &oc.gpu_nodes : NULL};
    rc = nb_plan_make(plan, topo, &cfg, err);
  }
  nb_config_free(&oc);
  return rc;
}

static nb_plan_t plan_or_fail(nb_topo_t topo, enum nb_mode mode, const char *gpus, int workers,
                              const char *gpu_node)
{
  nb_plan_t plan = NULL;
  nb_error_t err = {0};
  if (plan_with(&plan, topo, mode, gpus, workers, gpu_node, &err) < 0)
    fail_msg("plan %s on %s: %s", nb_mode_name(mode), nb_topo_source(topo), err.msg);
  return plan;
}

static void expect_plan_error(nb_topo_t topo, enum nb_mode mode, const char *gpus, int workers,
                              const char *gpu_node, int code, const char *text)
{
  nb_plan_t plan = NULL;
  nb_error_t err = {0};
  int rc = plan_with(&plan, topo, mode, gpus, workers, gpu_node, &err);
  if (rc != code)
    fail_msg("plan %s gpus=%s: got %s (%s), want %s", nb_mode_name(mode), gpus ? gpus : "-", nb_err_name(rc),
             err.msg, nb_err_name(code));
  assert_null(plan);
  if (!strstr(err.msg, text))
    fail_msg("message '%s' lacks '%s'", err.msg, text);
}

static const char *cpus(const int *v, int n)
{
  static char buf[8][512];
  static int k;
  k = (k + 1) % 8;
  nb_format_cpulist(buf[k], sizeof buf[k], v, n);
  return buf[k];
}

#include "plan_invariants.h"

static void test_invariants_everywhere(void **state)
{
  (void)state;
  static const char *const files[] = {"2s-8gpu-smt.xml", "nps4-4gpu.xml", "memonly-cxl.xml",
                                      "nodes-above-packages.xml", "memless.xml"};
  static const int workers[] = {0, 1, 5, 12, 40};
  int plans = 0;
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    nb_topo_t topo = nbt_load(fx(files[f]), NULL);
    for (int m = 0; m < NB_NMODES; m++)
      for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
        nb_plan_t plan = plan_or_fail(topo, (enum nb_mode)m, NULL, workers[w], NULL);
        check_invariants(topo, plan);
        nb_plan_free(plan);
        plans++;
      }
    nb_topo_free(topo);
  }
  print_message("%d plans checked\n", plans);
}

/* ---- bind ---- */

static void test_bind_2s(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("2s-8gpu-smt.xml"), NULL);
  /* 24 cores per node, 4 GPUs per node: 6 cores each; auto workers = 5. */
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_BIND, NULL, 0, NULL);
  assert_int_equal(nb_plan_ngpus(plan), 8);
  assert_int_equal(nb_plan_workers(plan), 5);
  assert_true(nb_plan_workers_auto(plan));
  assert_false(nb_plan_simulated(plan));
  static const char *const shares[] = {"0-5,48-53",   "6-11,54-59",  "12-17,60-65", "18-23,66-71",
                                       "24-29,72-77", "30-35,78-83", "36-41,84-89", "42-47,90-95"};
  for (int i = 0; i < 8; i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    int node = i < 4 ? 0 : 1;
    assert_int_equal(g->gpu, i);
    assert_int_equal(g->gpu_node, node);
    assert_string_equal(cpus(g->share, g->nshare), shares[i]);
    assert_false(g->oversubscribed);
    /* One whole core (both SMT siblings) per thread, feeder first. */
    int first = 6 * i;
    char want[32];
    snprintf(want, sizeof want, "%d,%d", first, first + 48);
    assert_string_equal(cpus(g->feeder.cpus, g->feeder.ncpus), want);
    for (int w = 0; w < 5; w++) {
      snprintf(want, sizeof want, "%d,%d", first + 1 + w, first + 49 + w);
      assert_string_equal(cpus(g->workers[w].cpus, g->workers[w].ncpus), want);
      assert_int_equal(g->workers[w].mem_policy, NB_MEM_BIND);
      assert_int_equal(g->workers[w].mem_node, node);
    }
    assert_int_equal(g->feeder.mem_node, node);
    assert_int_equal(g->staging.policy, NB_MEM_BIND);
    assert_int_equal(g->staging.node, node);
    assert_int_equal(g->device_buf.node, node);
  }
  nb_plan_free(plan);

  /* 4 GPUs on node 0, 8 workers: 9 threads on a share of 6 cores (12 CPUs):
   * single CPUs in core order, SMT siblings adjacent, no oversubscription;
   * the first 3 threads keep a whole core. */
  plan = plan_or_fail(topo, NB_MODE_BIND, "4", 8, NULL);
  const struct nb_gpu_plan *g = nb_plan_gpu(plan, 0);
  assert_false(g->oversubscribed);
  assert_string_equal(cpus(g->share, g->nshare), "0-5,48-53");
  static const char *const smt[9] = {"0,48", "1,49", "2,50", "3", "51", "4", "52", "5", "53"};
  assert_string_equal(cpus(g->feeder.cpus, g->feeder.ncpus), smt[0]);
  for (int w = 0; w < 8; w++)
    assert_string_equal(cpus(g->workers[w].cpus, g->workers[w].ncpus), smt[w + 1]);
  nb_plan_free(plan);
  /* Alone on its node, one GPU with 8 workers gets the whole node. */
  plan = plan_or_fail(topo, NB_MODE_BIND, "1", 8, NULL);
  assert_string_equal(cpus(nb_plan_gpu(plan, 0)->share, nb_plan_gpu(plan, 0)->nshare), "0-23,48-71");
  nb_plan_free(plan);

  /* 4 GPUs of node 0, 12 workers: 13 threads on 6 cores / 12 CPUs. */
  plan = plan_or_fail(topo, NB_MODE_BIND, "4", 12, NULL);
  g = nb_plan_gpu(plan, 0);
  assert_true(g->oversubscribed);
  assert_string_equal(cpus(g->share, g->nshare), "0-5,48-53");
  int noted = 0;
  for (int k = 0; k < g->nnotes; k++)
    noted |= strstr(g->notes[k], "oversubscribed: 13 threads on 12 CPUs") != NULL;
  assert_true(noted);
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* ---- adversarial and remote ---- */

static void test_adversarial_remote_2s(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("2s-8gpu-smt.xml"), NULL);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_ADVERSARIAL, NULL, 3, NULL);
  for (int i = 0; i < 8; i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    int node = i < 4 ? 0 : 1, far = 1 - node;
    assert_int_equal(g->feeder.cpu_node, far);
    assert_int_equal(g->feeder.mem_node, far);
    assert_int_equal(g->staging.node, far);
    assert_int_equal(g->device_buf.node, node);
    for (int w = 0; w < 3; w++) {
      assert_int_equal(g->workers[w].cpu_node, node);
      assert_int_equal(g->workers[w].mem_node, node);
    }
    assert_false(g->oversubscribed);
  }
  nb_plan_free(plan);

  plan = plan_or_fail(topo, NB_MODE_REMOTE, "0,5", 2, NULL);
  assert_int_equal(nb_plan_ngpus(plan), 2);
  const struct nb_gpu_plan *g0 = nb_plan_gpu(plan, 0), *g5 = nb_plan_gpu(plan, 1);
  assert_int_equal(g0->gpu, 0);
  assert_int_equal(g5->gpu, 5);
  assert_int_equal(g0->feeder.cpu_node, 1);
  assert_int_equal(g0->workers[1].cpu_node, 1);
  assert_int_equal(g0->staging.node, 1);
  assert_int_equal(g0->device_buf.node, 0);
  assert_int_equal(g5->feeder.cpu_node, 0);
  assert_int_equal(g5->staging.node, 0);
  assert_int_equal(g5->device_buf.node, 1);
  /* Alone on its node, each GPU gets the whole node: 24 cores for 3 threads. */
  assert_string_equal(cpus(g0->share, g0->nshare), "24-47,72-95");
  assert_string_equal(cpus(g0->feeder.cpus, g0->feeder.ncpus), "24-31,72-79");
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* NPS4: the farthest node is on the other socket; ties (4 nodes at 32) go to
 * the lowest OS index. */
static void test_farthest_nps4(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("nps4-4gpu.xml"), NULL);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_ADVERSARIAL, NULL, 2, NULL);
  static const int gpu_node[] = {1, 3, 5, 7}, far[] = {4, 4, 0, 0};
  for (int i = 0; i < 4; i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    assert_int_equal(g->gpu_node, gpu_node[i]);
    assert_int_equal(g->feeder.cpu_node, far[i]);
    assert_int_equal(g->staging.node, far[i]);
    assert_int_equal(g->workers[0].cpu_node, gpu_node[i]);
  }
  /* Two feeders share node 4's 8 cores (16 CPUs): 4 cores each, disjoint. */
  assert_string_equal(cpus(nb_plan_gpu(plan, 0)->feeder.cpus, nb_plan_gpu(plan, 0)->feeder.ncpus),
                      "32-35,96-99");
  assert_string_equal(cpus(nb_plan_gpu(plan, 1)->feeder.cpus, nb_plan_gpu(plan, 1)->feeder.ncpus),
                      "36-39,100-103");
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* Memory-only nodes (CXL beside node 0, far memory node 3) never get
 * threads, even when they are the farthest. */
static void test_memonly_never_chosen(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("memonly-cxl.xml"), NULL);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_REMOTE, NULL, 1, NULL);
  assert_int_equal(nb_plan_gpu(plan, 0)->feeder.cpu_node, 1);
  assert_int_equal(nb_plan_gpu(plan, 1)->feeder.cpu_node, 0);
  nb_plan_free(plan);
  plan = plan_or_fail(topo, NB_MODE_INTERLEAVE, NULL, 1, NULL);
  const int *il;
  int n = nb_plan_interleave_nodes(plan, &il);
  assert_string_equal(cpus(il, n), "0-3"); /* memory goes to every allowed node */
  assert_int_equal(nb_plan_gpu(plan, 0)->feeder.ncpus, 0);
  assert_int_equal(nb_plan_gpu(plan, 0)->staging.policy, NB_MEM_INTERLEAVE);
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* A memoryless node (CPUs 4-7, no memory; Mems_allowed never lists it):
 * its CPUs are allowed, so bind puts GPU 0's threads there, and their
 * memory on node 2, the nearest node with memory (16 vs node 0's 21). */
static void test_memoryless_node(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("memless.xml"), NULL);
  const struct nb_node *n1 = nb_topo_node(topo, 1);
  assert_true(n1->allowed);
  assert_false(n1->mem_allowed);
  assert_int_equal(n1->ncpus, 4);
  assert_int_equal(nb_topo_gpu(topo, 0)->numa_node, 1);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_BIND, "0-0", 2, NULL);
  const struct nb_gpu_plan *g = nb_plan_gpu(plan, 0);
  assert_int_equal(g->feeder.cpu_node, 1);
  assert_int_equal(g->feeder.mem_node, 2);
  assert_string_equal(cpus(g->feeder.cpus, g->feeder.ncpus), "4-5");
  for (int w = 0; w < 2; w++) {
    assert_int_equal(g->workers[w].cpu_node, 1);
    assert_int_equal(g->workers[w].mem_policy, NB_MEM_BIND);
    assert_int_equal(g->workers[w].mem_node, 2);
  }
  assert_int_equal(g->staging.node, 2);
  assert_int_equal(g->device_buf.node, 2);
  assert_int_equal(g->device.cpu_node, 1);
  int noted = 0;
  for (int k = 0; k < g->nnotes; k++)
    noted |= strstr(g->notes[k], "node 1 has no memory") && strstr(g->notes[k], "node 2");
  assert_true(noted);
  nb_plan_free(plan);
  /* remote: the far node from node 1 is node 0 (it has memory). */
  plan = plan_or_fail(topo, NB_MODE_REMOTE, "0-0", 1, NULL);
  assert_int_equal(nb_plan_gpu(plan, 0)->feeder.cpu_node, 0);
  assert_int_equal(nb_plan_gpu(plan, 0)->feeder.mem_node, 0);
  nb_plan_free(plan);
  /* Interleave never lists the memoryless node. */
  plan = plan_or_fail(topo, NB_MODE_INTERLEAVE, NULL, 1, NULL);
  const int *il;
  int n = nb_plan_interleave_nodes(plan, &il);
  assert_string_equal(cpus(il, n), "0,2");
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* A topology whose nodes record no memory (an XML without local_memory):
 * the modes that place memory say that, not that there are no CPUs. */
static void test_no_memory_anywhere(void **state)
{
  (void)state;
  char path[] = "/tmp/nbtest-nomem-XXXXXX.xml", cmd[4300];
  int fd = mkstemps(path, 4);
  assert_true(fd >= 0);
  close(fd);
  snprintf(cmd, sizeof cmd, "sed 's/ local_memory=\"[0-9]*\"//g' '%s' > '%s'", fx("2s-8gpu-smt.xml"), path);
  assert_int_equal(system(cmd), 0);
  nb_topo_t topo = nbt_load(path, NULL);
  static const enum nb_mode modes[] = {NB_MODE_BIND, NB_MODE_ADVERSARIAL, NB_MODE_REMOTE, NB_MODE_INTERLEAVE};
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
    expect_plan_error(topo, modes[m], NULL, 1, NULL, NB_EINVAL, "no node with memory");
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_NONE, NULL, 1, NULL);
  nb_plan_free(plan);
  nb_topo_free(topo);
  unlink(path);
}

static void test_none_interleave(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("2s-8gpu-smt.xml"), NULL);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_NONE, "2", 4, NULL);
  for (int i = 0; i < 2; i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    assert_int_equal(g->feeder.ncpus, 0);
    assert_int_equal(g->feeder.mem_policy, NB_MEM_DEFAULT);
    assert_int_equal(g->workers[3].mem_policy, NB_MEM_DEFAULT);
    assert_int_equal(g->staging.policy, NB_MEM_DEFAULT);
    assert_int_equal(g->device_buf.policy, NB_MEM_BIND); /* the device stays on its node */
    assert_int_equal(g->nshare, 0);
  }
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* ---- errors and overrides ---- */

static void test_errors_and_overrides(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("unknown-node.xml"), NULL);
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, NULL, NB_EINVAL, "GPU 1 (0000:d8:00.0): NUMA node unknown");
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, NULL, NB_EINVAL, "--gpu-node 1=NODE");
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_BIND, NULL, 1, "1=1");
  assert_int_equal(nb_plan_gpu(plan, 1)->gpu_node, 1);
  assert_true(nb_plan_gpu(plan, 1)->gpu_node_overridden);
  assert_int_equal(nb_plan_gpu(plan, 1)->feeder.cpu_node, 1);
  nb_plan_free(plan);
  /* none does not need the node; its device buffer is then unbound. */
  plan = plan_or_fail(topo, NB_MODE_NONE, NULL, 1, NULL);
  assert_int_equal(nb_plan_gpu(plan, 1)->device_buf.policy, NB_MEM_DEFAULT);
  nb_plan_free(plan);
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, "1=9", NB_EINVAL, "no node 9");
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, "7=0", NB_EINVAL, "GPU 7 is not among");
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, "1:0", NB_EINVAL, "expected GPU=NODE");
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, "1=1,", NB_EINVAL, "expected GPU=NODE");
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, "1=1,1=0", NB_EINVAL, "GPU 1 is given twice");
  expect_plan_error(topo, NB_MODE_BIND, NULL, -1, "1=1", NB_EINVAL, "--workers -1");
  nb_topo_free(topo);

  /* A container allowing node 0 only: bind of GPU 1 (node 1) is refused, a
   * mode needing two nodes cannot exist, GPU 0 alone works. */
  topo = nbt_load(fx("container.xml"), NULL);
  expect_plan_error(topo, NB_MODE_BIND, NULL, 1, NULL, NB_EINVAL,
                    "its node 1 has no CPUs this process may use");
  expect_plan_error(topo, NB_MODE_ADVERSARIAL, NULL, 1, NULL, NB_ENOTSUP, "needs two NUMA nodes with CPUs");
  expect_plan_error(topo, NB_MODE_REMOTE, NULL, 1, NULL, NB_ENOTSUP, "needs two NUMA nodes with CPUs");
  plan = plan_or_fail(topo, NB_MODE_BIND, "0-0", 0, NULL);
  assert_int_equal(nb_plan_workers(plan), 1); /* 2 allowed cores: feeder + 1 worker */
  assert_string_equal(cpus(nb_plan_gpu(plan, 0)->share, nb_plan_gpu(plan, 0)->nshare), "0-1,8-9");
  nb_plan_free(plan);
  nb_topo_free(topo);
}

static void test_gpu_selection(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("2s-8gpu-smt.xml"), NULL);
  static const struct {
    const char *spec;
    const char *want; /* GPU indexes in plan order */
  } ok[] = {{"2", "0,1"},  {"8", "0,1,2,3,4,5,6,7"}, {"0,2,5", "0,2,5"}, {"4-7", "4,5,6,7"}, {"5-5", "5"},
            {"6,1", "6,1"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    nb_plan_t plan = plan_or_fail(topo, NB_MODE_BIND, ok[i].spec, 1, NULL);
    int n = nb_plan_ngpus(plan);
    char got[64] = "";
    for (int k = 0; k < n; k++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", k ? "," : "", nb_plan_gpu(plan, k)->gpu);
    assert_string_equal(got, ok[i].want);
    nb_plan_free(plan);
  }
  expect_plan_error(topo, NB_MODE_BIND, "9", 1, NULL, NB_EINVAL, "this topology has 8 GPUs");
  expect_plan_error(topo, NB_MODE_BIND, "0", 1, NULL, NB_EINVAL, "give a count");
  expect_plan_error(topo, NB_MODE_BIND, "0,0", 1, NULL, NB_EINVAL, "listed twice");
  expect_plan_error(topo, NB_MODE_BIND, "0,9", 1, NULL, NB_EINVAL, "there is no GPU 9");
  expect_plan_error(topo, NB_MODE_BIND, "x", 1, NULL, NB_EINVAL, "give a count");
  expect_plan_error(topo, NB_MODE_BIND, "3-1", 1, NULL, NB_EINVAL, "bad range");
  expect_plan_error(topo, NB_MODE_BIND, "1,", 1, NULL, NB_EINVAL, "'' is not a GPU index");
  expect_plan_error(topo, NB_MODE_BIND, "+2", 1, NULL, NB_EINVAL, "give a count");
  expect_plan_error(topo, NB_MODE_BIND, " 2", 1, NULL, NB_EINVAL, "give a count");
  nb_topo_free(topo);
}

/* No GPU: one simulated device per allowed node with CPUs (QEMU tree: nodes
 * 0 and 1; memory-only node 2 gets none). */
static void test_simulated_devices(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(NB_FSROOT_DIR, NULL);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_BIND, NULL, 0, NULL);
  assert_true(nb_plan_simulated(plan));
  assert_int_equal(nb_plan_ngpus(plan), 2);
  assert_int_equal(nb_plan_gpu(plan, 0)->gpu_node, 0);
  assert_int_equal(nb_plan_gpu(plan, 1)->gpu_node, 1);
  assert_string_equal(nb_plan_gpu(plan, 1)->bus_id, "");
  assert_int_equal(nb_plan_workers(plan), 1);
  assert_string_equal(cpus(nb_plan_gpu(plan, 1)->feeder.cpus, nb_plan_gpu(plan, 1)->feeder.ncpus), "2");
  nb_plan_free(plan);
  plan = plan_or_fail(topo, NB_MODE_ADVERSARIAL, NULL, 1, NULL);
  assert_int_equal(nb_plan_gpu(plan, 0)->feeder.cpu_node, 1);
  assert_int_equal(nb_plan_gpu(plan, 1)->feeder.cpu_node, 0);
  nb_plan_free(plan);
  nb_topo_free(topo);
}

/* ---- numactl lines ---- */

static char *emit(nb_plan_t plan, int argc, const char *const *argv, int *rc)
{
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  nb_error_t err = {0};
  *rc = nb_plan_write_numactl(plan, argc, argv, mem, &err);
  fclose(mem);
  return text;
}

/* The recorded VM tree with node 2 given as GPU 0000:41:00.0's memory by
 * the driver's numa_status (as test_topo_fsroot does); keep: whether hwloc
 * keeps the node (HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES) or hides it. */
static nb_topo_t load_gpu_memory_tree(char *dir, int keep)
{
  char cmd[900];
  strcpy(dir, "/tmp/nbtest-plan-gpumem-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd,
           "cp -a '%s' '%s/vm' && mkdir -p '%s/vm/proc/driver/nvidia/gpus/0000:41:00.0' && "
           "printf 'Node:                      2\\nStatus:                    online\\n' "
           ">'%s/vm/proc/driver/nvidia/gpus/0000:41:00.0/numa_status'",
           NB_FSROOT_DIR, dir, dir, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s/vm", dir);
  if (keep)
    setenv("HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES", "1", 1);
  nb_topo_t topo = nbt_load(cmd, "0000:41:00.0");
  unsetenv("HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES");
  return topo;
}

static void remove_dir(const char *dir)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* A GPU-memory node, hidden by hwloc or modelled: numactl is given the
 * plan's nodes (0-1), never "all", which would take in node 2. */
static void test_numactl_gpu_memory(void **state)
{
  (void)state;
  const char *const argv[] = {"python"};
  for (int keep = 0; keep < 2; keep++) {
    char dir[64];
    nb_topo_t topo = load_gpu_memory_tree(dir, keep);
    assert_int_equal(nb_topo_nnodes(topo), keep ? 3 : 2);
    nb_plan_t plan = plan_or_fail(topo, NB_MODE_INTERLEAVE, NULL, 1, NULL);
    int rc;
    char *text = emit(plan, 1, argv, &rc);
    assert_int_equal(rc, 0);
    if (!strstr(text, "numactl --interleave=0-1 env"))
      fail_msg("keep %d: '%s' does not interleave over nodes 0-1", keep, text);
    free(text);
    nb_plan_free(plan);
    nb_topo_free(topo);
    remove_dir(dir);
  }
}

/* Unbound memory (mode none) never lands on a GPU's own memory: node 2's
 * free memory is not room for it. A batch whose memory fits nodes 0 and 1
 * only with node 2's free memory added is refused. */
static void test_none_memory_skips_gpu_memory(void **state)
{
  (void)state;
  char dir[64];
  nb_topo_t topo = load_gpu_memory_tree(dir, 1);
  assert_true(nb_topo_node(topo, 2)->gpu_memory);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_NONE, NULL, 1, NULL);
  double cpu_nodes = 0.9 * (double)(nb_topo_node(topo, 0)->free_bytes + nb_topo_node(topo, 1)->free_bytes);
  double all = cpu_nodes + 0.9 * (double)nb_topo_node(topo, 2)->free_bytes;
  struct nb_run_config cfg = {.channels = 3,
                              .height = 256,
                              .width = 256,
                              .warmup = 1,
                              .steps = 2,
                              .pipeline = NB_PIPE_TORCH,
                              .backend = NB_BACKEND_HOST};
  uint64_t need[3], floating = 0;
  int b;
  for (b = 1; b < 100000; b++) {
    cfg.batch = b;
    nb_run_memory(plan, &cfg, need, &floating);
    /* What is bound to nodes 0 and 1 (the device buffer) comes first. */
    if ((double)(floating + need[0] + need[1]) > cpu_nodes)
      break;
  }
  double total = (double)(floating + need[0] + need[1] + need[2]);
  printf("  batch %d: %llu bytes floating, %.0f in all; nodes 0-1 hold %.0f, with node 2 %.0f\n", b,
         (unsigned long long)floating, total, cpu_nodes, all);
  assert_int_equal(need[2], 0);
  if (total > all || (double)need[0] > 0.9 * (double)nb_topo_node(topo, 0)->free_bytes)
    skip(); /* the step between batches is wider than node 2's room: no such batch */
  nb_error_t err = {0};
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), NB_EINVAL);
  if (!strstr(err.msg, "more than the allowed nodes have free"))
    fail_msg("refusal '%s' is not the floating-memory one", err.msg);
  nb_plan_free(plan);
  nb_topo_free(topo);
  remove_dir(dir);
}

static void test_numactl(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("2s-8gpu-smt.xml"), NULL);
  const char *argv[] = {"python", "train.py", "--lr", "0.1", "--name", "it's a $HOME run"};
  /* Each GPU alone on its node: its share is the whole node. */
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_BIND, "0,4", 2, NULL);
  int rc;
  char *text = emit(plan, 6, argv, &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(
      text, "numactl --physcpubind=0-23,48-71 --membind=0 env CUDA_VISIBLE_DEVICES=0,4 LOCAL_RANK=0 RANK=0 "
            "WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 python train.py --lr 0.1 --name 'it'\\''s a $HOME run'\n"
            "numactl --physcpubind=24-47,72-95 --membind=1 env CUDA_VISIBLE_DEVICES=0,4 LOCAL_RANK=1 RANK=1 "
            "WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 python train.py --lr 0.1 --name 'it'\\''s a $HOME run'\n");
  free(text);
  nb_plan_free(plan);

  plan = plan_or_fail(topo, NB_MODE_ADVERSARIAL, "1", 1, NULL);
  text = emit(plan, 1, argv, &rc);
  assert_int_equal(rc, NB_ENOTSUP);
  free(text);
  nb_plan_free(plan);

  plan = plan_or_fail(topo, NB_MODE_REMOTE, "1", 1, NULL);
  text = emit(plan, 1, argv, &rc);
  assert_string_equal(text,
                      "numactl --physcpubind=24-47,72-95 --membind=1 env CUDA_VISIBLE_DEVICES=0 LOCAL_RANK=0 "
                      "RANK=0 WORLD_SIZE=1 LOCAL_WORLD_SIZE=1 python\n");
  free(text);
  nb_plan_free(plan);

  plan = plan_or_fail(topo, NB_MODE_NONE, "2", 1, NULL);
  text = emit(plan, 1, argv, &rc);
  assert_string_equal(
      text, "env CUDA_VISIBLE_DEVICES=0,1 LOCAL_RANK=0 RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 python\n"
            "env CUDA_VISIBLE_DEVICES=0,1 LOCAL_RANK=1 RANK=1 WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 python\n");
  free(text);
  nb_plan_free(plan);

  /* The plan's nodes, never numactl's "all" (which would take in a GPU's
   * own memory nodes, hidden from the model or not). */
  plan = plan_or_fail(topo, NB_MODE_INTERLEAVE, "1", 1, NULL);
  text = emit(plan, 1, argv, &rc);
  assert_string_equal(text,
                      "numactl --interleave=0-1 env CUDA_VISIBLE_DEVICES=0 LOCAL_RANK=0 RANK=0 WORLD_SIZE=1 "
                      "LOCAL_WORLD_SIZE=1 python\n");
  free(text);
  nb_plan_free(plan);
  nb_topo_free(topo);

  /* GPUs known by PCI order only: CUDA must be told to number them so. */
  topo = nbt_load(fx("nps4-4gpu.xml"), NULL);
  plan = plan_or_fail(topo, NB_MODE_BIND, "2-2", 1, NULL);
  text = emit(plan, 1, argv, &rc);
  assert_string_equal(text,
                      "numactl --physcpubind=40-47,104-111 --membind=5 env CUDA_DEVICE_ORDER=PCI_BUS_ID "
                      "CUDA_VISIBLE_DEVICES=2 LOCAL_RANK=0 RANK=0 WORLD_SIZE=1 LOCAL_WORLD_SIZE=1 python\n");
  free(text);
  nb_plan_free(plan);
  nb_topo_free(topo);
}

static void test_shell_quote(void **state)
{
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {{"plain", "plain"},     {"a b", "'a b'"}, {"", "''"},
               {"it's", "'it'\\''s'"}, {"$x", "'$x'"},   {"a=b,c:d/e.f", "a=b,c:d/e.f"},
               {"*", "'*'"},           {"\n", "'\n'"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[64];
    int n = nb_shell_quote(buf, sizeof buf, cases[i].in);
    assert_string_equal(buf, cases[i].out);
    assert_int_equal(n, (int)strlen(cases[i].out));
  }
}

/* ---- the mode table ---- */

static bool uses(const struct nb_mode_info *mi, enum nb_place pl)
{
  return mi->feeder == pl || mi->workers == pl || mi->staging == pl;
}

/* Rows in enum order, names that parse back, needs that follow from the
 * places (a far node needs a second node; any node relative to the GPU
 * needs the GPU's node; threads on the GPU's node need CPUs there). */
static void test_mode_table(void **state)
{
  (void)state;
  for (int m = 0; m < NB_NMODES; m++) {
    const struct nb_mode_info *mi = nb_mode_info((enum nb_mode)m);
    assert_non_null(mi);
    assert_int_equal(mi->mode, m);
    assert_string_equal(nb_mode_name((enum nb_mode)m), mi->name);
    assert_int_equal(nb_mode_parse(mi->name), m);
    assert_true(mi->help && *mi->help);
    bool far = uses(mi, NB_PLACE_FAR_NODE), gpu = uses(mi, NB_PLACE_GPU_NODE);
    bool thread_on_gpu = mi->feeder == NB_PLACE_GPU_NODE || mi->workers == NB_PLACE_GPU_NODE;
    if (far != !!(mi->needs & NB_NEED_FAR_NODE) || (far || gpu) != !!(mi->needs & NB_NEED_GPU_NODE) ||
        thread_on_gpu != !!(mi->needs & NB_NEED_GPU_NODE_CPUS))
      fail_msg("mode %s: needs 0x%x do not follow from its places", mi->name, mi->needs);
  }
  assert_null(nb_mode_info((enum nb_mode)NB_NMODES));
  assert_null(nb_mode_info((enum nb_mode) - 1));
  assert_string_equal(nb_mode_name((enum nb_mode)NB_NMODES), "?");
  assert_int_equal(nb_mode_parse("bogus"), -1);
  assert_int_equal(nb_mode_parse(""), -1);
}

/* The place a plan gave a thread or buffer is the one its mode's row names. */
static void expect_place(const char *what, enum nb_place pl, enum nb_mem_policy pol, int node,
                         const struct nb_gpu_plan *g)
{
  bool ok = false;
  switch (pl) {
  case NB_PLACE_UNBOUND:
    ok = pol == NB_MEM_DEFAULT && node == -1;
    break;
  case NB_PLACE_GPU_NODE:
    ok = pol == NB_MEM_BIND && node == g->gpu_node;
    break;
  case NB_PLACE_FAR_NODE:
    ok = pol == NB_MEM_BIND && node >= 0 && node != g->gpu_node;
    break;
  case NB_PLACE_INTERLEAVE:
    ok = pol == NB_MEM_INTERLEAVE && node == -1;
    break;
  }
  if (!ok)
    fail_msg("GPU %d (node %d): %s planned %s node %d", g->gpu, g->gpu_node, what, nb_mem_policy_name(pol),
             node);
}

static void test_plans_follow_table(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("nps4-4gpu.xml"), NULL);
  for (int m = 0; m < NB_NMODES; m++) {
    const struct nb_mode_info *mi = nb_mode_info((enum nb_mode)m);
    nb_plan_t plan = plan_or_fail(topo, (enum nb_mode)m, NULL, 2, NULL);
    for (int i = 0; i < nb_plan_ngpus(plan); i++) {
      const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
      expect_place("feeder", mi->feeder, g->feeder.mem_policy, g->feeder.mem_node, g);
      for (int w = 0; w < g->nworkers; w++)
        expect_place("worker", mi->workers, g->workers[w].mem_policy, g->workers[w].mem_node, g);
      expect_place("staging", mi->staging, g->staging.policy, g->staging.node, g);
      /* The device side is on the GPU's node in every mode. */
      expect_place("device buffer", NB_PLACE_GPU_NODE, g->device_buf.policy, g->device_buf.node, g);
      if (mi->note) {
        assert_true(g->nnotes >= 1);
        assert_string_equal(g->notes[0], mi->note);
      }
    }
    const int *il;
    assert_int_equal(nb_plan_interleave_nodes(plan, &il) > 0, uses(mi, NB_PLACE_INTERLEAVE));
    nb_plan_free(plan);
  }
  nb_topo_free(topo);
}

/* Grace-Hopper-like (gh200-like.xml): node 1 is the GPU's HBM (hwloc
 * GPUMemory), memory-only, at distance 80. No mode ever puts host memory
 * there: interleave spreads over node 0 only, bind's memory is node 0,
 * remote and adversarial find no far node (node 1 has no CPUs), and the
 * notes say node 1 was left out. Even with the GPU's node given as node 1,
 * the device buffer goes to node 0. */
static void test_gpu_memory_never_chosen(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(fx("gh200-like.xml"), NULL);
  assert_true(nb_topo_node(topo, 1)->gpu_memory);
  nb_plan_t plan = plan_or_fail(topo, NB_MODE_INTERLEAVE, NULL, 2, NULL);
  const int *il;
  int n = nb_plan_interleave_nodes(plan, &il);
  assert_string_equal(cpus(il, n), "0");
  const struct nb_gpu_plan *g = nb_plan_gpu(plan, 0);
  int noted = 0;
  for (int k = 0; k < g->nnotes; k++)
    noted |= strstr(g->notes[k], "node 1 is GPU memory (this GPU's): left out of the interleaved nodes") != 0;
  assert_true(noted);
  /* numactl's "all" is the memory set, which holds node 1: name node 0. */
  const char *argv[] = {"python", "train.py"};
  int rc;
  char *text = emit(plan, 2, argv, &rc);
  assert_int_equal(rc, 0);
  if (!strstr(text, "numactl --interleave=0 env") || strstr(text, "=all"))
    fail_msg("interleave emit does not name node 0 alone: %s", text);
  free(text);
  nb_plan_free(plan);

  plan = plan_or_fail(topo, NB_MODE_BIND, NULL, 0, NULL);
  g = nb_plan_gpu(plan, 0);
  assert_int_equal(g->gpu_node, 0);
  assert_int_equal(g->feeder.cpu_node, 0);
  assert_int_equal(g->feeder.mem_node, 0);
  assert_int_equal(g->nworkers, 71); /* one per core of the 72, the feeder on one */
  for (int w = 0; w < g->nworkers; w++)
    assert_int_equal(g->workers[w].mem_node, 0);
  assert_int_equal(g->staging.policy, NB_MEM_BIND);
  assert_int_equal(g->staging.node, 0);
  assert_int_equal(g->device_buf.node, 0);
  noted = 0;
  for (int k = 0; k < g->nnotes; k++)
    noted |= strstr(g->notes[k], "node 1 is GPU memory") != 0;
  assert_true(noted);
  nb_plan_free(plan);

  expect_plan_error(topo, NB_MODE_REMOTE, NULL, 1, NULL, NB_ENOTSUP, "two NUMA nodes with CPUs");
  expect_plan_error(topo, NB_MODE_ADVERSARIAL, NULL, 1, NULL, NB_ENOTSUP, "two NUMA nodes with CPUs");

  /* none binds nothing, so it has nothing to leave out. */
  plan = plan_or_fail(topo, NB_MODE_NONE, NULL, 1, NULL);
  g = nb_plan_gpu(plan, 0);
  for (int k = 0; k < g->nnotes; k++)
    assert_null(strstr(g->notes[k], "GPU memory"));
  nb_plan_free(plan);

  /* The modes that plan here keep the invariants at any worker count. */
  static const enum nb_mode planned[] = {NB_MODE_NONE, NB_MODE_BIND, NB_MODE_INTERLEAVE};
  static const int workers[] = {0, 1, 5, 80};
  for (size_t m = 0; m < sizeof planned / sizeof planned[0]; m++)
    for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
      plan = plan_or_fail(topo, planned[m], NULL, workers[w], NULL);
      check_invariants(topo, plan);
      nb_plan_free(plan);
    }

  plan = plan_or_fail(topo, NB_MODE_INTERLEAVE, NULL, 1, "0=1");
  g = nb_plan_gpu(plan, 0);
  assert_int_equal(g->gpu_node, 1);
  assert_int_equal(g->device_buf.node, 0);
  noted = 0;
  for (int k = 0; k < g->nnotes; k++)
    noted |= strstr(g->notes[k], "device buffer (host backend) goes to node 0: node 1 is GPU memory") != 0;
  assert_true(noted);
  n = nb_plan_interleave_nodes(plan, &il);
  assert_string_equal(cpus(il, n), "0");
  nb_plan_free(plan);
  nb_topo_free(topo);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_invariants_everywhere), cmocka_unit_test(test_bind_2s),
      cmocka_unit_test(test_adversarial_remote_2s), cmocka_unit_test(test_farthest_nps4),
      cmocka_unit_test(test_numactl_gpu_memory),    cmocka_unit_test(test_none_memory_skips_gpu_memory),
      cmocka_unit_test(test_memonly_never_chosen),  cmocka_unit_test(test_none_interleave),
      cmocka_unit_test(test_memoryless_node),       cmocka_unit_test(test_no_memory_anywhere),
      cmocka_unit_test(test_errors_and_overrides),  cmocka_unit_test(test_gpu_selection),
      cmocka_unit_test(test_simulated_devices),     cmocka_unit_test(test_numactl),
      cmocka_unit_test(test_shell_quote),           cmocka_unit_test(test_mode_table),
      cmocka_unit_test(test_plans_follow_table),    cmocka_unit_test(test_gpu_memory_never_chosen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
