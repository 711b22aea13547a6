/* Unit tests: cgroup limits read from recorded trees (tests/fixtures/cgroup/:
 * v2 with a quota, v2 without limits, v2 with a tighter parent, memory.high,
 * garbage, v1, v1 without a cgroup namespace), and what they change: the
 * automatic worker count of a plan, the automatic batch and the memory guard.
 * Expected values are computed by hand from the fixture files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"

#include "../../lib/src/cgroup.h"

#define GIB (INT64_C(1) << 30)
#define MIB (INT64_C(1) << 20)

static struct nb_cgroup read_fixture(const char *name)
{
  char root[4096];
  snprintf(root, sizeof root, "%s/cgroup/%s", NB_FIXTURES_DIR, name);
  struct nb_cgroup cg;
  nb_cgroup_read(&cg, root);
  return cg;
}

struct want {
  const char *fixture;
  int version;
  const char *path;
  int64_t quota, period;
  int cpu_limit;
  const char *cpu_file, *cpu_path;
  int64_t mem_limit, mem_used, mem_avail;
  const char *mem_file, *mem_path;
  int nwarnings;
};

static const struct want cases[] = {
    {"v2-quota", 2, "/sys/fs/cgroup/job.slice/task", 250000, 100000, 3, "cpu.max",
     "/sys/fs/cgroup/job.slice/task", 4 * GIB, 1288490188, 4 * GIB - 1288490188, "memory.max",
     "/sys/fs/cgroup/job.slice/task", 0},
    {"v2-max", 2, "/sys/fs/cgroup/user.slice/session-1.scope", -1, -1, -1, "", "", -1, -1, -1, "", "", 0},
    /* The parent allows 1 CPU and leaves 512 MiB; the leaf 4 CPUs and 1.9 GiB. */
    {"v2-nested", 2, "/sys/fs/cgroup/outer/inner", 100000, 100000, 1, "cpu.max", "/sys/fs/cgroup/outer", GIB,
     512 * MIB, 512 * MIB, "memory.max", "/sys/fs/cgroup/outer", 0},
    /* Usage above memory.high leaves nothing; half a CPU rounds up to one. */
    {"v2-high", 2, "/sys/fs/cgroup/box", 50000, 100000, 1, "cpu.max", "/sys/fs/cgroup/box", GIB, 2 * GIB, 0,
     "memory.high", "/sys/fs/cgroup/box", 0},
    /* A line without colons, "abc 100000", "-5", an overflowing
     * memory.high, "12x" (not read: no limit), a zero period, " 1024". */
    {"v2-garbage", 2, "/sys/fs/cgroup/bad", -1, -1, -1, "", "", -1, -1, -1, "", "", 6},
    {"v1", 1, "/sys/fs/cgroup/memory/docker/abc", 150000, 100000, 2, "cpu.cfs_quota_us",
     "/sys/fs/cgroup/cpu,cpuacct/docker/abc", 2 * GIB, 100 * MIB, 2 * GIB - 100 * MIB,
     "memory.limit_in_bytes", "/sys/fs/cgroup/memory/docker/abc", 0},
    /* The host's path is not under the mounts: the mounts are the cgroup. */
    {"v1-nons", 1, "/sys/fs/cgroup/memory", 300000, 100000, 3, "cpu.cfs_quota_us", "/sys/fs/cgroup/cpu",
     512 * MIB, 600000000, 0, "memory.limit_in_bytes", "/sys/fs/cgroup/memory", 0},
};

static void check_case(const struct want *w)
{
  struct nb_cgroup cg = read_fixture(w->fixture);
  for (int i = 0; i < cg.nwarnings; i++)
    printf("  %s warning: %s\n", w->fixture, cg.warnings[i]);
  if (cg.version != w->version || strcmp(cg.path, w->path))
    fail_msg("%s: version %d path '%s', want %d '%s'", w->fixture, cg.version, cg.path, w->version, w->path);
  if (cg.cpu_quota_us != w->quota || cg.cpu_period_us != w->period || cg.cpu_limit != w->cpu_limit ||
      strcmp(cg.cpu_file, w->cpu_file) || (w->cpu_limit > 0 && strcmp(cg.cpu_path, w->cpu_path)))
    fail_msg("%s: cpu %lld/%lld = %d (%s at %s), want %lld/%lld = %d (%s at %s)", w->fixture,
             (long long)cg.cpu_quota_us, (long long)cg.cpu_period_us, cg.cpu_limit, cg.cpu_file, cg.cpu_path,
             (long long)w->quota, (long long)w->period, w->cpu_limit, w->cpu_file, w->cpu_path);
  if (cg.mem_limit != w->mem_limit || cg.mem_used != w->mem_used || cg.mem_avail != w->mem_avail ||
      strcmp(cg.mem_file, w->mem_file) || (w->mem_limit >= 0 && strcmp(cg.mem_path, w->mem_path)))
    fail_msg("%s: memory %lld used %lld avail %lld (%s at %s), want %lld %lld %lld (%s at %s)", w->fixture,
             (long long)cg.mem_limit, (long long)cg.mem_used, (long long)cg.mem_avail, cg.mem_file,
             cg.mem_path, (long long)w->mem_limit, (long long)w->mem_used, (long long)w->mem_avail,
             w->mem_file, w->mem_path);
  if (cg.nwarnings != w->nwarnings)
    fail_msg("%s: %d warnings, want %d", w->fixture, cg.nwarnings, w->nwarnings);
}

static void test_recorded_trees(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_case(&cases[i]);
}

/* Every garbage file is named in a warning, with the file and the value. */
static void test_garbage_warnings(void **state)
{
  (void)state;
  struct nb_cgroup cg = read_fixture("v2-garbage");
  const char *expect[] = {"line 'this line has no colons'",
                          "bad/cpu.max 'abc 100000'",
                          "bad/memory.max '-5'",
                          "bad/memory.high '99999999999999999999999'",
                          "/sys/fs/cgroup/cpu.max '100000 0'",
                          "/sys/fs/cgroup/memory.max ' 1024'"};
  for (int i = 0; i < 6; i++)
    if (!strstr(cg.warnings[i], expect[i]))
      fail_msg("warning %d '%s' lacks '%s'", i, cg.warnings[i], expect[i]);
}

/* No /proc/self/cgroup: nothing found, nothing limited, no warning. */
static void test_missing_tree(void **state)
{
  (void)state;
  struct nb_cgroup cg = read_fixture("no-such-tree");
  assert_int_equal(cg.version, 0);
  assert_int_equal(cg.cpu_limit, -1);
  assert_int_equal(cg.mem_avail, -1);
  assert_int_equal(cg.nwarnings, 0);
  char big[8192];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  nb_cgroup_read(&cg, big);
  assert_int_equal(cg.version, 0);
  assert_int_equal(cg.nwarnings, 1);
  assert_non_null(strstr(cg.warnings[0], "path too long"));
}

static int auto_workers(nb_topo_t topo, const char *gpus)
{
  struct nb_config oc;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&oc), 0);
  if (gpus)
    assert_int_equal(nb_config_set(&oc, nb_option_find("gpus"), gpus, &err), 0);
  struct nb_plan_config cfg = {.mode = NB_MODE_BIND, .gpus = gpus ? &oc.gpu_select : NULL};
  nb_plan_t plan = NULL;
  if (nb_plan_make(&plan, topo, &cfg, &err) < 0)
    fail_msg("plan: %s", err.msg);
  int w = nb_plan_workers(plan);
  nb_plan_free(plan);
  nb_config_free(&oc);
  return w;
}

/* The quota's CPUs are shared between the selected GPUs, the feeder
 * included: 16 CPUs for 8 GPUs leaves 2 each, one worker; for 2 GPUs 8
 * each, 7 workers. A quota above the cores changes nothing. */
static void test_workers_follow_quota(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(NB_FIXTURES_DIR "/2s-8gpu-smt.xml", NULL);
  assert_null(nb_topo_cgroup(topo)); /* recorded: no limit from here */
  int all = auto_workers(topo, NULL), two = auto_workers(topo, "0,4");
  assert_true(all > 1);
  struct nb_cgroup cg = read_fixture("v2-quota");
  cg.cpu_quota_us = 1600000;
  cg.cpu_limit = 16;
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(auto_workers(topo, NULL), 1);
  assert_int_equal(auto_workers(topo, "0,4"), two < 7 ? two : 7);
  cg.cpu_limit = 4096;
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(auto_workers(topo, NULL), all);
  cg.cpu_limit = -1;
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(auto_workers(topo, NULL), all);
  nb_topo_free(topo);
}

/* The memory guard and the automatic batch on this machine's nodes, under a
 * memory limit that leaves 64 MiB: a batch of 128 samples of 3 MiB (384 MiB)
 * is refused naming the cgroup; the batch chosen fits half of 64 MiB. */
static void test_memory_limit(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load("live", NULL);
  nb_plan_t plan = NULL;
  nb_error_t err = {0};
  struct nb_plan_config pc = {.mode = NB_MODE_NONE, .workers = 1};
  if (nb_plan_make(&plan, topo, &pc, &err) < 0)
    fail_msg("plan: %s", err.msg);
  struct nb_run_config cfg = {.channels = 3,
                              .height = 512,
                              .width = 512,
                              .batch = 128,
                              .warmup = 1,
                              .steps = 2,
                              .pipeline = NB_PIPE_TORCH,
                              .backend = NB_BACKEND_HOST};
  struct nb_cgroup cg = read_fixture("v2-small-mem");
  assert_int_equal(cg.mem_avail, 64 * MIB);
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), NB_EINVAL);
  if (!strstr(err.msg, "cgroup memory limit") || !strstr(err.msg, "memory.max") ||
      !strstr(err.msg, "/sys/fs/cgroup/small") || !strstr(err.msg, "lower --batch (now 128)"))
    fail_msg("refusal '%s' lacks the limit, its file, its cgroup or the fix", err.msg);
  int b = nb_run_pick_batch(&plan, 1, &cfg, 128, 0.5);
  uint64_t need1;
  cfg.batch = 1;
  uint64_t *need = calloc((size_t)nb_topo_nnodes(topo), sizeof *need), floating;
  assert_non_null(need);
  nb_run_memory(plan, &cfg, need, &floating);
  need1 = floating;
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    need1 += need[i];
  free(need);
  printf("  batch chosen under 64 MiB: %d (%llu bytes per batch of 1)\n", b, (unsigned long long)need1);
  assert_true(b >= 1 && b < 128);
  cfg.batch = b;
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), 0);
  /* Nothing left: no batch fits, and the guard says so. */
  cg.mem_avail = 0;
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(nb_run_pick_batch(&plan, 1, &cfg, 128, 0.5), 0);
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), NB_EINVAL);
  /* Without a limit the node's free memory decides, as before. */
  nb__topo_set_cgroup(topo, NULL);
  cfg.batch = 1;
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), 0);
  nb_plan_free(plan);
  nb_topo_free(topo);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recorded_trees), cmocka_unit_test(test_garbage_warnings),
      cmocka_unit_test(test_missing_tree),   cmocka_unit_test(test_workers_follow_quota),
      cmocka_unit_test(test_memory_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
