/* Unit tests: the /proc readers of `numabench audit` (procfs.c) on text and
 * on the recorded tree tests/fixtures/proc/nvidia-8gpu (gen-pids.py). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"
#include "nb-internal.h"
#include "procfs.h"

#define TREE NB_FIXTURES_DIR "/proc/nvidia-8gpu"

static void test_status_parse(void **state)
{
  (void)state;
  struct nb__pstatus st;
  assert_int_equal(nb__pstatus_parse("Name:\tpt (w) 1\nTgid:\t7\nPPid:\t3\nUid:\t1000\t1000\t1000\t1000\n"
                                     "Cpus_allowed:\tff\nCpus_allowed_list:\t0-3,8\nMems_allowed_list:\t1\n",
                                     &st),
                   0);
  assert_string_equal(st.name, "pt (w) 1");
  assert_int_equal(st.tgid, 7);
  assert_int_equal(st.ppid, 3);
  assert_int_equal(st.uid, 1000);
  assert_int_equal(st.ncpus, 5);
  assert_int_equal(st.cpus[4], 8);
  assert_int_equal(st.nmems, 1);
  assert_int_equal(st.mems[0], 1);
  nb__pstatus_free(&st);
  /* Lists a kernel does not give are unknown, not empty. */
  assert_int_equal(nb__pstatus_parse("Name:\tx\nPPid:\t0\n", &st), 0);
  assert_int_equal(st.ncpus, -1);
  assert_int_equal(st.nmems, -1);
  assert_int_equal(st.uid, -1);
  nb__pstatus_free(&st);
  /* Without a name or a parent it is not a status file. */
  assert_int_equal(nb__pstatus_parse("PPid:\t1\n", &st), -EINVAL);
  assert_int_equal(nb__pstatus_parse("Name:\tx\n", &st), -EINVAL);
  assert_int_equal(nb__pstatus_parse("Name:\tx\nPPid:\t1\nCpus_allowed_list:\t3-1\n", &st), -EINVAL);
}

static void test_stat_parse(void **state)
{
  (void)state;
  struct nb__tstat t;
  /* The name holds spaces and ')': fields are counted after the last ')'. */
  const char *line = "42 (a) b (c)) S 7 0 0 0 0 0 0 0 0 0 11 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 "
                     "13 0 0\n";
  assert_int_equal(nb__tstat_parse(line, &t), 0);
  assert_string_equal(t.comm, "a) b (c)");
  assert_int_equal(t.state, 'S');
  assert_int_equal(t.ppid, 7);
  assert_int_equal((int)t.ticks, 15);
  assert_int_equal(t.processor, 13);
  /* Cut before field 39, or a number that is not one: malformed. */
  assert_int_equal(nb__tstat_parse("42 (a) S 7 0 0\n", &t), NB_EFORMAT);
  assert_int_equal(nb__tstat_parse("42 a S 7\n", &t), NB_EFORMAT);
  char bad[512];
  snprintf(bad, sizeof bad, "%s", line);
  memcpy(strstr(bad, " 13 "), " x3 ", 4);
  assert_int_equal(nb__tstat_parse(bad, &t), NB_EFORMAT);
  /* A name set with prctl(PR_SET_NAME) to control bytes and an escape
   * sequence: each such byte is '?', so no table breaks and no terminal obeys. */
  assert_int_equal(
      nb__tstat_parse("42 (a\nb\033[2J\t\x80) S 7 0 0 0 0 0 0 0 0 0 11 4 0 0 0 0 0 0 0 0 0 0 0 0 "
                      "0 0 0 0 0 0 0 0 0 0 0 13 0 0\n",
                      &t),
      0);
  assert_string_equal(t.comm, "a?b?[2J??");
  struct nb__pstatus st;
  assert_int_equal(nb__pstatus_parse("Name:\tx\033]0;pwn\007y\nPPid:\t1\n", &st), 0);
  assert_string_equal(st.name, "x?]0;pwn?y");
  nb__pstatus_free(&st);
}

static void test_vma_parse(void **state)
{
  (void)state;
  struct nb__vma v;
  assert_int_equal(nb__vma_parse("7f00 bind:1 heap anon=3 dirty=3 N0=1 N1=2 kernelpagesize_kB=4\n", &v), 0);
  assert_string_equal(v.policy, "bind:1");
  assert_int_equal(v.kind, NB__MEM_ANON);
  assert_int_equal(v.nnodes, 2);
  assert_int_equal(v.node[1], 1);
  assert_int_equal((int)v.bytes[1], 2 * 4096);
  /* The page size comes after the counts and scales them. */
  assert_int_equal(nb__vma_parse("7f00 default huge anon=1 N3=1 kernelpagesize_kB=2048", &v), 0);
  assert_true(v.huge);
  assert_int_equal((int)v.bytes[0], 2048 * 1024);
  static const struct {
    const char *line;
    enum nb__mem_kind kind;
  } kinds[] = {
      {"1 default file=/usr/lib/libc.so.6 mapped=3 N0=3 kernelpagesize_kB=4", NB__MEM_FILE},
      {"1 default file=/dev/shm/torch_1 dirty=1 N0=1 kernelpagesize_kB=4", NB__MEM_SHM},
      {"1 default file=/SYSV00000000\\040(deleted) dirty=1 N0=1 kernelpagesize_kB=4", NB__MEM_SHM},
      {"1 default file=/memfd:torch\\040(deleted) dirty=1 N0=1 kernelpagesize_kB=4", NB__MEM_SHM},
      {"1 default file=/dev/nvidiactl dirty=1 N0=1 kernelpagesize_kB=4", NB__MEM_DEVICE},
      {"1 interleave:0-1 stack anon=1 N0=1 kernelpagesize_kB=4", NB__MEM_ANON},
  };
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    assert_int_equal(nb__vma_parse(kinds[i].line, &v), 0);
    if (v.kind != kinds[i].kind)
      fail_msg("%s: kind %s, expected %s", kinds[i].line, nb__mem_kind_name(v.kind),
               nb__mem_kind_name(kinds[i].kind));
  }
  assert_true(v.stack);
  /* A mapping with nothing resident has only its policy. */
  assert_int_equal(nb__vma_parse("7f3100000000 bind:1\n", &v), 0);
  assert_int_equal(v.nnodes, 0);
  /* Policies whose names hold a space are kept whole. */
  assert_int_equal(nb__vma_parse("7f00 prefer (many):0-1 heap anon=2 N0=2 kernelpagesize_kB=4", &v), 0);
  assert_string_equal(v.policy, "prefer (many):0-1");
  assert_int_equal(v.nnodes, 1);
  assert_int_equal(nb__vma_parse("7f00 weighted interleave=static:0-1 anon=2 N1=2 kernelpagesize_kB=4", &v),
                   0);
  assert_string_equal(v.policy, "weighted interleave=static:0-1");
  assert_int_equal(v.nnodes, 1);
  assert_int_equal(nb__vma_parse("not a numa_maps line", &v), NB_EFORMAT);
  assert_int_equal(nb__vma_parse("7f00 default N0=x", &v), NB_EFORMAT);
  assert_int_equal(nb__vma_parse("7f00 default N0=1 kernelpagesize_kB=0", &v), NB_EFORMAT);
  assert_int_equal(nb__vma_parse("7f00", &v), NB_EFORMAT);
}

struct tally {
  int vmas;
  uint64_t bytes[NB__MEM_NKINDS];
};

static int count(void *arg, const struct nb__vma *v)
{
  struct tally *t = arg;
  t->vmas++;
  for (int i = 0; i < v->nnodes; i++)
    t->bytes[v->kind] += v->bytes[i];
  return 0;
}

static void test_recorded_tree(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", TREE, 1);
  int *ids;
  int n = nb__proc_ids(0, &ids);
  assert_int_equal(n, 7);
  assert_int_equal(ids[0], 1000);
  assert_int_equal(ids[4], 4000);
  assert_int_equal(ids[5], 5000);
  assert_int_equal(ids[6], 6000);
  free(ids);
  /* The environment as NAME=VALUE strings; none recorded for 1000. */
  char **env;
  assert_int_equal(nb__proc_environ(6000, &env), 0);
  assert_string_equal(env[0], "LOCAL_RANK=3");
  assert_string_equal(env[2], "PATH=/usr/bin");
  assert_null(env[3]);
  free(env);
  assert_int_equal(nb__proc_environ(1000, &env), -ENOENT);
  assert_null(env);
  assert_int_equal(nb__proc_ids(1000, &ids), 2);
  assert_int_equal(ids[1], 1002);
  free(ids);
  assert_int_equal(nb__proc_ids(999, &ids), -ENOENT);

  struct nb__pstatus st;
  assert_int_equal(nb__pstatus_read(1001, 0, &st), 0);
  assert_string_equal(st.name, "pt (worker) 1");
  assert_int_equal(st.ppid, 1000);
  assert_int_equal(st.ncpus, 24);
  nb__pstatus_free(&st);
  assert_int_equal(nb__pstatus_read(999, 0, &st), -ENOENT);

  struct nb__tstat t;
  assert_int_equal(nb__tstat_read(1000, 1002, &t), 0);
  assert_int_equal(t.state, 'S');
  assert_int_equal(t.processor, 72);
  assert_int_equal(nb__tstat_read(1000, 1003, &t), -ENOENT);

  char *cmd;
  assert_int_equal(nb__proc_cmdline(2000, &cmd), 0);
  assert_string_equal(cmd, "python train.py '--data dir'");
  free(cmd);

  struct tally tl = {0};
  int bad;
  assert_int_equal(nb__numa_maps_each(1000, 0, count, &tl, &bad), 0);
  assert_int_equal(bad, 0);
  assert_int_equal(tl.vmas, 8);
  assert_int_equal((int)(tl.bytes[NB__MEM_ANON] >> 10), 1000 * 4 + 2 * 2048 + 10 * 4);
  assert_int_equal((int)(tl.bytes[NB__MEM_SHM] >> 10), 512 * 4);
  assert_int_equal((int)(tl.bytes[NB__MEM_DEVICE] >> 10), 256 * 4);
  assert_int_equal((int)(tl.bytes[NB__MEM_FILE] >> 10), 1000 * 4);
  memset(&tl, 0, sizeof tl);
  assert_int_equal(nb__numa_maps_each(4000, 0, count, &tl, &bad), 0);
  assert_int_equal(bad, 1);
  assert_int_equal(tl.vmas, 2);
  assert_int_equal(nb__numa_maps_each(999, 0, count, &tl, &bad), -ENOENT);
  /* A process without an fd directory holds nothing that can be seen. */
  int minors[4];
  assert_int_equal(nb__proc_nvidia_minors(4000, minors, 4), -ENOENT);
  unsetenv("NB_TEST_PROC_ROOT");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_parse),
      cmocka_unit_test(test_stat_parse),
      cmocka_unit_test(test_vma_parse),
      cmocka_unit_test(test_recorded_tree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
