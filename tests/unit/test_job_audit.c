/* Unit tests: the audit of a running job (job_audit.c) on the recorded /proc
 * tree of an 8-GPU machine (tests/fixtures/proc/nvidia-8gpu, gen-pids.py)
 * with the topology of the same machine (2s-8gpu-smt.xml), and fd
 * directories whose NVIDIA character devices are made here with mknod
 * (major 195); the test skips (77) where mknod is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <jansson.h>

#include "job_audit-internal.h"
#include "nbtest.h"
#include "nvproc.h"

static char root[] = "/tmp/nb-test-proc.XXXXXX";
static nb_topo_t topo;

/* root/dev/NAME as a character device 195:minor (or a regular file when
 * minor < 0), and root/proc/PID/fd/FD a link to it. */
static int fd_to(int pid, int fd, const char *name, int minor)
{
  char dev[512], dir[512], link[600];
  snprintf(dev, sizeof dev, "%s/dev/%s", root, name);
  snprintf(dir, sizeof dir, "%s/proc/%d/fd", root, pid);
  mkdir(dir, 0755);
  if (access(dev, F_OK) != 0) {
    int rc = minor >= 0 ? mknod(dev, S_IFCHR | 0600, makedev(NB_NVIDIA_MAJOR, (unsigned)minor))
                        : (fclose(fopen(dev, "w")), 0);
    if (rc != 0)
      return -errno;
  }
  snprintf(link, sizeof link, "%s/%d", dir, fd);
  return symlink(dev, link) == 0 ? 0 : -errno;
}

static int setup(void **state)
{
  (void)state;
  char cmd[1024], dev[512];
  if (!mkdtemp(root))
    return -1;
  snprintf(cmd, sizeof cmd, "cp -r '%s/proc/nvidia-8gpu/proc' '%s/'", NB_FIXTURES_DIR, root);
  snprintf(dev, sizeof dev, "%s/dev", root);
  if (system(cmd) != 0 || mkdir(dev, 0755) != 0)
    return -1;
  /* 1000 holds GPU minor 4 and nvidiactl (not a GPU); its worker 1001
   * inherited minor 4 (forked after CUDA started); 2000 minor 0; 3000
   * minor 5 through a node with another name (the device number counts,
   * not the name); 4000 a regular file called like a GPU and /dev/null. */
  int rc = fd_to(1000, 5, "nvidia4", 4);
  if (rc == -EPERM || rc == -EACCES) {
    fprintf(stderr, "skip: mknod of a character device refused here (%s): run as root or with CAP_MKNOD\n",
            strerror(-rc));
    exit(NB_TEST_SKIP);
  }
  if (rc || fd_to(1000, 3, "nvidiactl", 255) || fd_to(1000, 6, "nvidia4", 4) ||
      fd_to(1001, 5, "nvidia4", 4) || fd_to(2000, 4, "nvidia0", 0) || fd_to(3000, 4, "renamed", 5) ||
      fd_to(4000, 4, "nvidia7", -1))
    return -1;
  /* 6000 holds all eight GPUs, as a rank does once NCCL opened its peers. */
  for (int m = 0; m < 8; m++) {
    char name[16];
    snprintf(name, sizeof name, "gpu%d", m);
    if (fd_to(6000, 10 + m, name, m))
      return -1;
  }
  snprintf(cmd, sizeof cmd, "%s/proc/4000/fd/1", root);
  if (symlink("/dev/null", cmd) != 0)
    return -1;
  setenv("NB_TEST_PROC_ROOT", root, 1);
  topo = nbt_load(NB_FIXTURES_DIR "/2s-8gpu-smt.xml", NULL);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0)
    return -1;
  nb_topo_free(topo);
  unsetenv("NB_TEST_PROC_ROOT");
  return 0;
}

static const struct nb__jproc *proc(nb_job_audit_t a, int pid)
{
  for (int i = 0; i < a->nprocs; i++)
    if (a->procs[i].pid == pid)
      return &a->procs[i];
  fail_msg("process %d not in the audit", pid);
  return NULL;
}

static const struct nb__jrank *rank(nb_job_audit_t a, int pid)
{
  const struct nb__jproc *p = proc(a, pid);
  assert_true(p->rank >= 0);
  return &a->ranks[p->rank];
}

static void test_minors_by_device_number(void **state)
{
  (void)state;
  int m[8];
  assert_int_equal(nb__proc_nvidia_minors(1000, m, 8), 2);
  assert_int_equal(m[0], 4);
  assert_int_equal(m[1], 255);
  assert_int_equal(nb__proc_nvidia_minors(3000, m, 8), 1);
  assert_int_equal(m[0], 5);
  assert_int_equal(nb__proc_nvidia_minors(4000, m, 8), 0);
}

static void test_gpu_procs(void **state)
{
  (void)state;
  struct nb_job_audit_config cfg = {
      .gpu_procs = true, .children = true, .duration_s = 0.2, .interval_s = 0.1};
  nb_job_audit_t a;
  nb_error_t err = {0};
  assert_int_equal(nb_job_audit_run(topo, &cfg, &a, &err), 0);
  /* The four ranks and the worker of the first, which holds its rank's GPU
   * but is no rank of its own; not 4000. */
  assert_int_equal(a->nprocs, 5);
  assert_int_equal(a->nranks, 4);
  assert_int_equal(a->nsamples, 3);
  const struct nb__jrank *r = rank(a, 1000);
  assert_string_equal(a->gpus[r->gpu].bus_id, "0000:90:1c.0");
  assert_int_equal(r->node, 1);
  assert_int_equal(r->nprocs, 2);
  assert_int_equal(proc(a, 1001)->rank, proc(a, 1000)->rank);
  /* Running threads: a sample at every read; the sleeping one: none. */
  assert_int_equal(r->samples, 6);
  assert_int_equal(r->samples_on, 6);
  const struct nb__jproc *p = proc(a, 1000);
  assert_int_equal(p->nthreads, 2);
  assert_int_equal(p->threads[1].tid, 1002);
  assert_int_equal(p->threads[1].cpus.total, 0);
  /* A thread's own policy from its task numa_maps (heap line); unknown
   * where there is none. */
  assert_string_equal(p->threads[1].policy, "interleave:0-1");
  assert_string_equal(p->threads[0].policy, "");
  /* Data pages: anon, shm and device, never the file pages on node 0. */
  assert_int_equal((long)(r->bytes >> 10),
                   (1000 * 4 + 2 * 2048 + 512 * 4 + 256 * 4 + 10 * 4) + (2000 * 4 + 512 * 4 + 8 * 4));
  assert_true(r->bytes_on == r->bytes);
  assert_int_equal(r->verdict, NB_JOB_LOCAL);
  assert_null(r->fix);
  assert_string_equal(p->policy, "bind:1");
  assert_string_equal(p->policy_from, "numa_maps");
  assert_string_equal(p->gpu_how, "open device");
  assert_int_equal((long)(p->mem[NB__MEM_FILE].bytes[0] >> 10), 1000 * 4);

  r = rank(a, 2000);
  assert_int_equal(r->node, 0);
  assert_int_equal(r->verdict, NB_JOB_REMOTE);
  assert_true(r->cpu_share == 0.0 && r->page_share == 0.0);
  assert_non_null(r->fix);
  assert_string_equal(r->fix, "numabench exec --gpu 0000:10:1c.0 -- python train.py '--data dir'");

  r = rank(a, 3000);
  assert_int_equal(r->verdict, NB_JOB_SPLIT);
  assert_true(r->cpu_share == 1.0);
  assert_true(r->page_share > 0.50 && r->page_share < 0.51);
  assert_string_equal(proc(a, 3000)->policy, "default");
  /* 6000 holds GPUs on both nodes; LOCAL_RANK=3 in its environ names minor 3
   * (node 0), where it runs and allocates. */
  r = rank(a, 6000);
  assert_int_equal(proc(a, 6000)->ngpus, 8);
  assert_true(r->gpu >= 0);
  assert_string_equal(a->gpus[r->gpu].bus_id, "0000:20:1d.0");
  assert_string_equal(r->gpu_from, "environ");
  assert_int_equal(r->node, 0);
  assert_int_equal(r->verdict, NB_JOB_LOCAL);
  assert_int_equal(nb_job_audit_nnot_local(a), 2);
  assert_int_equal(nb_job_audit_unreadable(a), 0);
  /* The JSON is valid and says the same. */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_int_equal(nb_job_audit_write_json(a, f, &err), 0);
  fclose(f);
  json_error_t je;
  json_t *doc = json_loads(buf, 0, &je);
  if (!doc)
    fail_msg("audit JSON: %s", je.text);
  assert_int_equal(json_integer_value(json_object_get(doc, "not_local")), 2);
  json_t *r0 = json_array_get(json_object_get(doc, "ranks"), 0);
  assert_string_equal(json_string_value(json_object_get(r0, "verdict")), "local");
  assert_int_equal(json_array_size(json_object_get(r0, "processes")), 2);
  assert_string_equal(json_string_value(json_object_get(r0, "gpu_from")), "open device");
  /* A GPU node with memory is the node its rank's pages are judged on. */
  assert_true(json_is_integer(json_object_get(r0, "mem_node")));
  assert_int_equal(json_integer_value(json_object_get(r0, "mem_node")),
                   json_integer_value(json_object_get(r0, "gpu_node")));
  json_t *r3 = json_array_get(json_object_get(doc, "ranks"), 3);
  assert_int_equal(json_integer_value(json_object_get(r3, "pid")), 6000);
  assert_string_equal(json_string_value(json_object_get(r3, "gpu_from")), "environ");
  json_decref(doc);
  free(buf);
  nb_job_audit_free(a);
}

static void test_pids_without_children(void **state)
{
  (void)state;
  struct nb_job_target t[2] = {{.pid = 1000}, {.pid = 4000, .gpu = "6"}};
  struct nb_job_audit_config cfg = {.targets = t, .ntargets = 2, .duration_s = 0};
  nb_job_audit_t a;
  nb_error_t err = {0};
  assert_int_equal(nb_job_audit_run(topo, &cfg, &a, &err), 0);
  assert_int_equal(a->nprocs, 2);
  assert_int_equal(a->nsamples, 1);
  /* GPU given as an index of the topology: GPU 6, node 1. 4000 sleeps
   * (no CPU sample) and its pages are on node 0: remote on pages alone. */
  const struct nb__jrank *r = rank(a, 4000);
  assert_string_equal(a->gpus[r->gpu].bus_id, "0000:a0:1c.0");
  assert_int_equal(r->samples, 0);
  assert_true(r->cpu_share < 0);
  assert_int_equal(r->verdict, NB_JOB_REMOTE);
  assert_string_equal(proc(a, 4000)->gpu_how, "given");
  assert_string_equal(proc(a, 4000)->policy, "prefer:0");
  assert_int_equal(proc(a, 4000)->problems.n, 1);
  assert_non_null(strstr(proc(a, 4000)->problems.v[0], "1 malformed"));
  nb_job_audit_free(a);
}

/* A kernel without numa_maps: said, counted as unreadable (exit 1), the
 * rest still reported. */
static void test_no_numa_maps(void **state)
{
  (void)state;
  struct nb_job_target t = {.pid = 5000, .gpu = "0000:10:1c.0"};
  struct nb_job_audit_config cfg = {.targets = &t, .ntargets = 1};
  nb_job_audit_t a;
  nb_error_t err = {0};
  assert_int_equal(nb_job_audit_run(topo, &cfg, &a, &err), 0);
  const struct nb__jproc *p = proc(a, 5000);
  assert_false(p->gone);
  assert_false(p->pages_read);
  assert_int_equal(p->problems.n, 1);
  assert_non_null(strstr(p->problems.v[0], "this kernel has none (built without CONFIG_NUMA)"));
  assert_int_equal(nb_job_audit_unreadable(a), 1);
  assert_int_equal(p->ncpus, 96);
  assert_int_equal(rank(a, 5000)->verdict, NB_JOB_UNKNOWN);
  nb_job_audit_free(a);
}

static void test_bad_targets(void **state)
{
  (void)state;
  nb_job_audit_t a;
  nb_error_t err = {0};
  struct nb_job_target gone = {.pid = 999};
  struct nb_job_audit_config cfg = {.targets = &gone, .ntargets = 1};
  assert_int_equal(nb_job_audit_run(topo, &cfg, &a, &err), NB_ENOENT);
  assert_non_null(strstr(err.msg, "--pid 999: no such process"));
  struct nb_job_target far = {.pid = 1000, .gpu = "8"};
  cfg.targets = &far;
  assert_int_equal(nb_job_audit_run(topo, &cfg, &a, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "8 GPUs"));

  struct nb_job_target *t;
  assert_int_equal(nb_job_targets_parse("12,34:0000:41:00.0,56:3", &t, &err), 3);
  assert_int_equal(t[1].pid, 34);
  assert_string_equal(t[1].gpu, "0000:41:00.0");
  assert_string_equal(t[2].gpu, "3");
  assert_string_equal(t[0].gpu, "");
  free(t);
  static const char *const bad[] = {"", "0", "-1", "x", "12,", "12:", "12:gpu", "12,12", "99999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (nb_job_targets_parse(bad[i], &t, &err) != NB_EINVAL)
      fail_msg("--pid '%s' was accepted", bad[i]);
}

/* root/proc/PID/REL with len bytes of body. */
static void put(int pid, const char *rel, const char *body, size_t len)
{
  char path[600];
  snprintf(path, sizeof path, "%s/proc/%d/%s", root, pid, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(body, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* root/proc/PID as a running single-threaded process on CPU cpu (its
 * parent init) whose only data pages are a heap of 1000 pages with policy
 * pol on node node. */
static void fake_proc(int pid, int cpu, const char *pol, int node)
{
  char text[1024], rel[64];
  snprintf(text, sizeof text, "mkdir -p '%s/proc/%d/task/%d'", root, pid, pid);
  assert_int_equal(system(text), 0);
  /* Fields 1-52 of proc(5): 14 utime, 39 processor. */
  int n = snprintf(text, sizeof text, "%d (python) R 1", pid);
  for (int f = 5; f <= 52; f++)
    n += snprintf(text + n, sizeof text - (size_t)n, " %d", f == 14 ? 100 : f == 39 ? cpu : 0);
  n += snprintf(text + n, sizeof text - (size_t)n, "\n");
  put(pid, "stat", text, (size_t)n);
  snprintf(rel, sizeof rel, "task/%d/stat", pid);
  put(pid, rel, text, (size_t)n);
  n = snprintf(
      text, sizeof text,
      "Name:\tpython\nState:\tR (running)\nTgid:\t%d\nPid:\t%d\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n"
      "Threads:\t1\nCpus_allowed_list:\t4-7\nMems_allowed_list:\t0,2\n",
      pid, pid);
  put(pid, "status", text, (size_t)n);
  n = snprintf(text, sizeof text, "55d0c1000000 %s heap anon=1000 dirty=1000 N%d=1000 kernelpagesize_kB=4\n",
               pol, node);
  put(pid, "numa_maps", text, (size_t)n);
  put(pid, "cmdline", "python\0train.py", sizeof "python\0train.py");
}

/* A GPU on a memoryless node (memless.xml: node 1 has CPUs 4-7 and GPUs
 * 41:00.0 and 42:00.0 but no memory; node 2, at distance 16, is the nearest
 * with memory, node 0 at 21): a rank on node 1's CPUs with its pages on node
 * 2 is where the planner and numabench exec put it, so local, not split; one
 * with its pages on node 0 is split. */
static void test_memoryless_gpu_node(void **state)
{
  (void)state;
  nb_topo_t ml = nbt_load(NB_FIXTURES_DIR "/memless.xml", NULL);
  fake_proc(7000, 4, "bind:2", 2);
  fake_proc(7001, 5, "bind:0", 0);
  struct nb_job_target t[2] = {{.pid = 7000, .gpu = "0000:41:00.0"}, {.pid = 7001, .gpu = "0000:42:00.0"}};
  struct nb_job_audit_config cfg = {.targets = t, .ntargets = 2, .duration_s = 0};
  nb_job_audit_t a;
  nb_error_t err = {0};
  assert_int_equal(nb_job_audit_run(ml, &cfg, &a, &err), 0);
  const struct nb__jrank *r = rank(a, 7000);
  assert_int_equal(r->node, 1);
  assert_int_equal(r->mem_node, 2);
  assert_true(r->cpu_share == 1.0 && r->page_share == 1.0);
  assert_int_equal(r->verdict, NB_JOB_LOCAL);
  assert_non_null(strstr(r->why, "on node 1 (memory: node 2, the nearest with memory)"));
  r = rank(a, 7001);
  assert_int_equal(r->mem_node, 2);
  assert_true(r->cpu_share == 1.0 && r->page_share == 0.0);
  assert_int_equal(r->verdict, NB_JOB_SPLIT);
  assert_int_equal(nb_job_audit_nnot_local(a), 1);
  nb_job_audit_free(a);
  /* A GPU node with memory is its own memory node. */
  t[0].pid = 1000;
  snprintf(t[0].gpu, sizeof t[0].gpu, "4");
  cfg.ntargets = 1;
  assert_int_equal(nb_job_audit_run(topo, &cfg, &a, &err), 0);
  assert_int_equal(rank(a, 1000)->mem_node, 1);
  assert_null(strstr(rank(a, 1000)->why, "memory: node"));
  nb_job_audit_free(a);
  nb_topo_free(ml);
  /* Gone again, so that no other test's scan of the tree sees them. */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/proc/7000' '%s/proc/7001'", root, root);
  assert_int_equal(system(cmd), 0);
}

/* --pid given a thread id: /proc/TID exists (though no listing shows it), and
 * its status says Tgid: the process. Refused, naming the process. The entry
 * is made here, and removed, so that the other tests' scans do not see it. */
static void test_pid_of_a_thread(void **state)
{
  (void)state;
  char dir[600], path[700], cmd[800];
  snprintf(dir, sizeof dir, "%s/proc/1002", root);
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(path, sizeof path, "%s/status", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("Name:\tpin_memory\nTgid:\t1000\nPid:\t1002\nPPid:\t1\nCpus_allowed_list:\t24-47\n"
        "Mems_allowed_list:\t1\n",
        f);
  fclose(f);
  struct nb_job_target t = {.pid = 1002};
  struct nb_job_audit_config cfg = {.targets = &t, .ntargets = 1};
  nb_job_audit_t a;
  nb_error_t err = {0};
  int rc = nb_job_audit_run(topo, &cfg, &a, &err);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(rc, NB_EINVAL);
  assert_non_null(strstr(err.msg, "--pid 1002 is a thread of process 1000: give --pid 1000"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minors_by_device_number),
      cmocka_unit_test(test_gpu_procs),
      cmocka_unit_test(test_pids_without_children),
      cmocka_unit_test(test_no_numa_maps),
      cmocka_unit_test(test_bad_targets),
      cmocka_unit_test(test_memoryless_gpu_node),
      cmocka_unit_test(test_pid_of_a_thread),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
