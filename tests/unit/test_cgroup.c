/* Unit tests: cgroup limits read from recorded trees (tests/fixtures/cgroup/:
 * v2 with a quota, v2 without limits, v2 with a tighter parent, memory.high,
 * garbage, v1, v1 without a cgroup namespace), and what they change: the
 * automatic worker count of a plan, the automatic batch and the memory guard.
 * Expected values are computed by hand from the fixture files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* A hybrid host under Kubernetes: /proc/self/cgroup is over 4 KiB before
     * the cpu line (12.5 CPUs from v1); memory from unified/, its 900 MiB
     * usage less 600 MiB inactive page cache (memory.stat). */
    {"hybrid-long", 1, "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr", 1250000, 100000, 13,
     "cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr", GIB, 300 * MIB, GIB - 300 * MIB,
     "memory.max", "/sys/fs/cgroup/unified/kubepods/pod1/ctr", 0},
    /* v1: total_inactive_file (200 MiB) above the usage (100 MiB): used is 0,
     * never negative. */
    {"v1-cache", 1, "/sys/fs/cgroup/memory/docker/abc", -1, -1, -1, "", "", 512 * MIB, 0, 512 * MIB,
     "memory.limit_in_bytes", "/sys/fs/cgroup/memory/docker/abc", 0},
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

/* Which controller came from which version, on a hybrid host. */
static void test_versions(void **state)
{
  (void)state;
  struct nb_cgroup cg = read_fixture("hybrid-long");
  assert_int_equal(cg.cpu_version, 1);
  assert_int_equal(cg.mem_version, 2);
  cg = read_fixture("v2-quota");
  assert_int_equal(cg.cpu_version, 2);
  assert_int_equal(cg.mem_version, 2);
  cg = read_fixture("v2-max");
  assert_int_equal(cg.cpu_version, 0);
  assert_int_equal(cg.mem_version, 0);
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

/* A /proc/self/cgroup over 64 KiB: read up to its last whole line, with a
 * warning; control characters in a recorded path never reach a text. */
static void test_long_proc_file(void **state)
{
  (void)state;
  char root[] = "/tmp/nb-test-cgroup-XXXXXX", path[256];
  assert_non_null(mkdtemp(root));
  snprintf(path, sizeof path, "%s/proc", root);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/proc/self", root);
  assert_int_equal(mkdir(path, 0700), 0);
  const char *dirs[] = {"/sys", "/sys/fs", "/sys/fs/cgroup", "/sys/fs/cgroup/a\tb"};
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s%s", root, dirs[i]);
    assert_int_equal(mkdir(path, 0700), 0);
  }
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/cgroup.controllers", root);
  write_text(path, "cpu memory\n");
  snprintf(path, sizeof path, "%s/sys/fs/cgroup/a\tb/cpu.max", root);
  write_text(path, "x y\n");
  size_t len = 70 * 1024;
  char *text = malloc(len + 1);
  assert_non_null(text);
  /* Its own cgroup "/a<tab>b" first, then filler past 64 KiB. */
  size_t n = (size_t)snprintf(text, len + 1, "0::/a\tb\n");
  while (n + 100 < len)
    n += (size_t)snprintf(text + n, len + 1 - n, "9:blkio:/%090d\n", 0);
  snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
  write_text(path, text);
  free(text);
  struct nb_cgroup cg;
  nb_cgroup_read(&cg, root);
  int found = 0;
  for (int i = 0; i < cg.nwarnings; i++) {
    printf("  warning: %s\n", cg.warnings[i]);
    found += strstr(cg.warnings[i], "longer than 64 KiB") != NULL;
    for (const char *c = cg.warnings[i]; *c; c++)
      if ((unsigned char)*c < 0x20)
        fail_msg("warning %d has control character %#x", i, (unsigned)(unsigned char)*c);
  }
  assert_int_equal(found, 1);
  assert_int_equal(cg.version, 2);
  /* The tab of the directory's name is shown as '?', in the path and in the
   * warning about its cpu.max. */
  assert_string_equal(cg.path, "/sys/fs/cgroup/a?b");
  assert_int_equal(cg.nwarnings, 2);
  assert_non_null(strstr(cg.warnings[1], "/sys/fs/cgroup/a?b/cpu.max 'x y'"));
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

/* The CPU quota in text: two decimals at most, no exponent. */
static void test_cpus_text(void **state)
{
  (void)state;
  char b[32];
  assert_string_equal(nb__cpus_text(b, sizeof b, 150), "150");
  assert_string_equal(nb__cpus_text(b, sizeof b, 12.5), "12.5");
  assert_string_equal(nb__cpus_text(b, sizeof b, 0.25), "0.25");
  assert_string_equal(nb__cpus_text(b, sizeof b, 2), "2");
  assert_string_equal(nb__cpus_text(b, sizeof b, 1.0 / 3), "0.33");
  assert_string_equal(nb__cpus_text(b, sizeof b, 100), "100");
}

/* A sweep point this machine refuses, with err NULL (error.h allows it):
 * refused, no crash. */
static void test_sweep_refusal_err_null(void **state)
{
  (void)state;
  struct nb_config cfg;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&cfg), 0);
  char dir[] = "/tmp/nb-test-cgroup-sweep-XXXXXX";
  assert_non_null(mkdtemp(dir));
  const char *opts[][2] = {{"mode", "none"}, {"sample", "3x8x8"}, {"backend", "host"},   {"steps", "1"},
                           {"warmup", "0"},  {"output", dir},     {"sweep", "gpus=1,99"}};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    if (nb_config_set(&cfg, nb_option_find(opts[i][0]), opts[i][1], &err) < 0)
      fail_msg("--%s %s: %s", opts[i][0], opts[i][1], err.msg);
  assert_int_equal(nb_config_finish(&cfg, NB_CMD_RUN), 0);
  nb_experiment_t x = NULL;
  struct nb_experiment_config xc = {.options = &cfg};
  int rc = nb_experiment_new(&x, &xc, NULL);
  assert_true(rc < 0);
  assert_null(x);
  rc = nb_experiment_new(&x, &xc, &err);
  assert_true(rc < 0);
  if (!strstr(err.msg, "point 2 of 2"))
    fail_msg("refusal '%s' does not name the point", err.msg);
  nb_config_free(&cfg);
  assert_int_equal(rmdir(dir), 0);
}

static bool last_by_quota;

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
  /* The plan says the quota lowered the count exactly when it did. */
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(nb_plan_write_text(plan, f, &err), 0);
  fclose(f);
  bool says = strstr(text, "within the cgroup's CPU quota") != NULL;
  if (says != nb_plan_workers_by_quota(plan))
    fail_msg("plan text %s the quota, by_quota %d: %.200s", says ? "names" : "lacks",
             nb_plan_workers_by_quota(plan), text);
  free(text);
  last_by_quota = nb_plan_workers_by_quota(plan);
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
  assert_true(last_by_quota);
  assert_int_equal(auto_workers(topo, "0,4"), two < 7 ? two : 7);
  assert_int_equal(last_by_quota, two > 7);
  cg.cpu_limit = 4096;
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(auto_workers(topo, NULL), all);
  assert_false(last_by_quota); /* a quota that lowered nothing is not named */
  cg.cpu_limit = -1;
  nb__topo_set_cgroup(topo, &cg);
  assert_int_equal(auto_workers(topo, NULL), all);
  assert_false(last_by_quota);
  nb_topo_free(topo);
}

/* All the memory a plan's run takes with this batch. */
static uint64_t total_need(nb_plan_t plan, struct nb_run_config *cfg, int batch)
{
  nb_topo_t topo = nb_plan_topo(plan);
  struct nb_run_config c = *cfg;
  c.batch = batch;
  uint64_t *need = calloc((size_t)nb_topo_nnodes(topo), sizeof *need), floating, total;
  assert_non_null(need);
  nb_run_memory(plan, &c, need, &floating);
  total = floating;
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    total += need[i];
  free(need);
  return total;
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
  uint64_t need_b = total_need(plan, &cfg, b), need_next = total_need(plan, &cfg, b + 1);
  printf("  batch chosen under 64 MiB: %d (%llu bytes; %llu for one more)\n", b, (unsigned long long)need_b,
         (unsigned long long)need_next);
  assert_true(b >= 1 && b < 128);
  /* The largest batch within half of what the limit leaves (32 MiB). */
  if (need_b > 32 * MIB || need_next <= 32 * MIB)
    fail_msg("batch %d needs %llu, batch %d %llu: not the largest within 32 MiB", b,
             (unsigned long long)need_b, b + 1, (unsigned long long)need_next);
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
      cmocka_unit_test(test_recorded_trees),         cmocka_unit_test(test_garbage_warnings),
      cmocka_unit_test(test_missing_tree),           cmocka_unit_test(test_workers_follow_quota),
      cmocka_unit_test(test_memory_limit),           cmocka_unit_test(test_versions),
      cmocka_unit_test(test_long_proc_file),         cmocka_unit_test(test_cpus_text),
      cmocka_unit_test(test_sweep_refusal_err_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
