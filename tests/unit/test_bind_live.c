/* Unit tests (live): binding the calling thread and placing buffers on this
 * machine, and the degradation order when the kernel refuses, each result
 * confirmed by asking the kernel back. Binding runs in helper threads so the
 * test process itself stays unbound. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "nbtest.h"

static nb_topo_t topo;

struct job {
  struct nb_thread_plan tp;
  struct nb_bind_status st;
  int rc;
  struct nb_buf buf;
  struct nb_buf_plan bp;
  int buf_rc;
  int cpu_after;
};

static void *run_job(void *arg)
{
  struct job *j = arg;
  j->rc = nb_bind_self(topo, &j->tp, NULL, 0, &j->st, NULL);
  j->buf_rc = nb_buf_alloc(topo, &j->buf, 1 << 20, &j->bp, NULL, 0, NULL);
  j->cpu_after = sched_getcpu();
  return NULL;
}

static void run(struct job *j)
{
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, run_job, j), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
}

static int first_allowed(void)
{
  const int *cpus;
  nb_topo_allowed_cpus(topo, &cpus);
  return cpus[0];
}

/* A node and CPU this process can use, as the plan would give them. */
static void test_bind_achieved(void **state)
{
  (void)state;
  int cpu = first_allowed(), node = nb_topo_cpu_node(topo, cpu);
  struct job j = {.tp = {NB_ROLE_WORKER, 0, 1, &cpu, node, NB_MEM_BIND, node}, .bp = {NB_MEM_BIND, node}};
  run(&j);
  assert_int_equal(j.rc, 0);
  assert_true(j.st.cpu_asked);
  assert_true(j.st.cpu_bound);
  assert_int_equal(j.st.cpu_errno, 0);
  assert_int_equal(j.st.mem_seen, NB_SEEN_BIND);
  assert_int_equal(j.st.nmem_nodes_seen, 1);
  assert_int_equal(j.st.mem_nodes_seen[0], node);
  assert_string_equal(j.st.level, "membind");
  assert_int_equal(j.cpu_after, cpu);
  assert_int_equal(j.buf_rc, 0);
  assert_int_equal(j.buf.policy, NB_SEEN_BIND);
  struct nb_hist h;
  assert_int_equal(nb_hist_init(&h, topo), 0);
  assert_int_equal(nb_audit_pages(topo, j.buf.addr, j.buf.len, 64, &h, NULL), 0);
  assert_int_equal(h.total, 64);
  assert_true(nb_hist_share(&h, topo, node) == 1.0);
  nb_hist_free(&h);
  nb_buf_free(&j.buf);
}

/* A node that does not exist: MPOL_BIND and MPOL_PREFERRED are refused, the
 * thread keeps its CPUs and the default policy, and says so. */
static void test_degrade_memory(void **state)
{
  (void)state;
  int cpu = first_allowed(), node = nb_topo_cpu_node(topo, cpu), missing = 4000;
  struct job j = {.tp = {NB_ROLE_WORKER, 0, 1, &cpu, node, NB_MEM_BIND, missing},
                  .bp = {NB_MEM_BIND, missing}};
  run(&j);
  assert_int_equal(j.rc, 0);
  assert_true(j.st.cpu_bound);
  assert_true(j.st.mem_errno == EINVAL || j.st.mem_errno == ENODEV);
  assert_int_equal(j.st.mem_seen, NB_SEEN_DEFAULT);
  assert_string_equal(j.st.level, "cpu-only");
  /* The buffer degrades too, and its pages are wherever the kernel put them. */
  assert_int_equal(j.buf_rc, 0);
  assert_int_equal(j.buf.policy, NB_SEEN_DEFAULT);
  assert_int_not_equal(j.buf.mbind_errno, 0);
  /* Its pages are present, on a node of this machine, reported as such. */
  struct nb_hist h;
  assert_int_equal(nb_hist_init(&h, topo), 0);
  assert_int_equal(nb_audit_pages(topo, j.buf.addr, j.buf.len, 0, &h, NULL), 0);
  assert_int_equal(h.total, (long)(j.buf.len / (size_t)sysconf(_SC_PAGESIZE)));
  assert_int_equal(h.other, 0);
  nb_hist_free(&h);
  nb_buf_free(&j.buf);
}

/* Interleave over the allowed nodes: the kernel reports MPOL_INTERLEAVE. */
static void test_interleave(void **state)
{
  (void)state;
  int nodes[64], n = 0;
  for (int i = 0; i < nb_topo_nnodes(topo) && n < 64; i++)
    if (nb_topo_node(topo, i)->allowed)
      nodes[n++] = nb_topo_node(topo, i)->os_index;
  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, 0, NULL, -1, NB_MEM_INTERLEAVE, -1};
  struct nb_bind_status st;
  assert_int_equal(nb_bind_self(topo, &tp, nodes, n, &st, NULL), 0);
  assert_int_equal(st.mem_seen, NB_SEEN_INTERLEAVE);
  assert_int_equal(st.nmem_nodes_seen, n < 8 ? n : 8);
  assert_string_equal(st.level, "interleave");
  /* Back to the default for the rest of this thread's tests. */
  struct nb_thread_plan dflt = {NB_ROLE_WORKER, 0, 0, NULL, -1, NB_MEM_DEFAULT, -1};
  assert_int_equal(nb_bind_self(topo, &dflt, NULL, 0, &st, NULL), 0);
  assert_int_equal(st.mem_seen, NB_SEEN_DEFAULT);
}

/* A CPU outside the allowed set: affinity is refused and not claimed. */
static void test_degrade_cpu(void **state)
{
  (void)state;
  int bogus = 65000, node = nb_topo_cpu_node(topo, first_allowed());
  struct job j = {.tp = {NB_ROLE_FEEDER, -1, 1, &bogus, node, NB_MEM_BIND, node}, .bp = {NB_MEM_DEFAULT, -1}};
  run(&j);
  assert_int_equal(j.rc, 0);
  assert_false(j.st.cpu_bound);
  assert_int_equal(j.st.cpu_errno, EINVAL);
  assert_string_equal(j.st.level, "mem-only");
  nb_buf_free(&j.buf);
}

/* An unbound plan resets an inherited policy to the default. */
static void test_unbound_resets(void **state)
{
  (void)state;
  struct job j = {.tp = {NB_ROLE_WORKER, 0, 0, NULL, -1, NB_MEM_DEFAULT, -1}, .bp = {NB_MEM_DEFAULT, -1}};
  run(&j);
  assert_int_equal(j.rc, 0);
  assert_false(j.st.cpu_asked);
  assert_int_equal(j.st.mem_seen, NB_SEEN_DEFAULT);
  assert_string_equal(j.st.level, "unbound");
  nb_buf_free(&j.buf);
}

/* Plans of another machine are never applied. */
static void test_foreign_refused(void **state)
{
  (void)state;
  nb_topo_t xml = nbt_load(NB_FIXTURES_DIR "/2s-8gpu-smt.xml", NULL);
  int cpu = 0;
  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, 1, &cpu, 0, NB_MEM_BIND, 0};
  struct nb_bind_status st;
  nb_error_t err = {0};
  assert_int_equal(nb_bind_self(xml, &tp, NULL, 0, &st, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "not this machine"));
  struct nb_buf b;
  struct nb_buf_plan bp = {NB_MEM_BIND, 0};
  assert_int_equal(nb_buf_alloc(xml, &b, 4096, &bp, NULL, 0, &err), NB_EINVAL);
  assert_null(b.addr);
  nb_topo_free(xml);
}

static void test_numastat(void **state)
{
  (void)state;
  struct nb_numastat s;
  assert_int_equal(nb_numastat_read(topo, &s), 0);
  assert_int_equal(s.nnodes, nb_topo_nnodes(topo));
  uint64_t hits = 0;
  for (int i = 0; i < s.nnodes; i++)
    hits += s.numa_hit[i];
  assert_true(hits > 0); /* this process alone has allocated pages */
  nb_numastat_free(&s);
}

/* A buffer large enough to be first-touched by helper threads: every page
 * is there, zeroed, on the bound node, whatever thread touched it. */
static void test_parallel_first_touch(void **state)
{
  (void)state;
  const struct nb_node *nd = nb_topo_node(topo, 0);
  struct nb_buf b;
  struct nb_buf_plan bp = {NB_MEM_BIND, nd->os_index};
  nb_error_t err = {0};
  size_t len = (size_t)256 << 20;
  if (nb_buf_alloc(topo, &b, len, &bp, NULL, 0, &err) < 0)
    fail_msg("%s", err.msg);
  struct nb_hist h;
  assert_int_equal(nb_hist_init(&h, topo), 0);
  assert_int_equal(nb_audit_pages(topo, b.addr, b.len, 4096, &h, &err), 0);
  /* Every sampled page present and on the node (absent pages count as other). */
  assert_true(h.total > 0);
  assert_int_equal(h.other, 0);
  assert_int_equal(h.count[0], h.total);
  const unsigned char *p = b.addr;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  for (size_t off = 0; off < b.len; off += page)
    if (p[off] | p[off + page - 1])
      fail_msg("byte at %zu not zero", off);
  nb_hist_free(&h);
  nb_buf_free(&b);
}

/* The mapping of addr in /proc/self/smaps: its VmFlags line and its
 * AnonHugePages in kB, as the kernel reports them. 0, or -1 when not found. */
static int smaps_of(const void *addr, char *flags, size_t nflags, long *huge_kb)
{
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f)
    return -1;
  char line[512];
  int in = 0, found = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char c;
    if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
      if (in)
        break;
      in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
      continue;
    }
    if (in && sscanf(line, "AnonHugePages: %ld kB", huge_kb) == 1)
      continue;
    if (in && strncmp(line, "VmFlags:", 8) == 0) {
      snprintf(flags, nflags, "%s", line + 8);
      found = 0;
    }
  }
  fclose(f);
  return found;
}

/* Every buffer is small pages (MADV_NOHUGEPAGE): a huge page first touched
 * under a memory policy was seen with part of its memory on another node in
 * the QEMU guests. The kernel must report the mapping "nh" and hold no huge
 * page in it, THP set to always or not. */
static void test_small_pages(void **state)
{
  (void)state;
  if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0) {
    print_message("skipped: this kernel has no transparent hugepages to refuse\n");
    skip();
  }
  struct nb_buf b;
  struct nb_buf_plan bp = {NB_MEM_BIND, nb_topo_node(topo, 0)->os_index};
  nb_error_t err = {0};
  if (nb_buf_alloc(topo, &b, (size_t)64 << 20, &bp, NULL, 0, &err) < 0)
    fail_msg("%s", err.msg);
  char flags[512] = "";
  long huge_kb = -1;
  assert_int_equal(smaps_of((const char *)b.addr + b.len / 2, flags, sizeof flags, &huge_kb), 0);
  print_message("VmFlags:%s", flags);
  if (!strstr(flags, " nh"))
    fail_msg("the buffer's mapping is not MADV_NOHUGEPAGE (VmFlags:%s)", flags);
  assert_int_equal(huge_kb, 0);
  nb_buf_free(&b);
}

/* Pinning needs a GPU: without one it fails with the CUDA error (or says the
 * build has no CUDA), leaving nothing allocated; with one it pins. */
static void test_pinned_needs_cuda(void **state)
{
  (void)state;
  static const enum nb_pin how[] = {NB_PIN_REGISTER, NB_PIN_HOSTALLOC};
  for (int k = 0; k < 2; k++) {
    struct nb_buf b;
    struct nb_buf_plan bp = {NB_MEM_BIND, nb_topo_node(topo, 0)->os_index};
    nb_error_t err = {0};
    int rc = nb_buf_alloc_pinned(topo, &b, 1 << 20, &bp, NULL, 0, nb__copy_cuda.pinner, how[k], &err);
    print_message("--pin %s: %s\n", nb_pin_name(how[k]), rc == 0 ? "pinned" : err.msg);
    if (rc == 0) {
      assert_int_equal(b.pinned, how[k]);
      nb_buf_free(&b);
      continue;
    }
    assert_true(rc == NB_ECUDA || rc == NB_ENOTSUP);
    assert_true(strstr(err.msg, "cuda") || strstr(err.msg, "CUDA"));
    assert_null(b.addr);
    assert_int_equal(b.pinned, NB_PIN_NONE);
  }
}

int main(void)
{
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.no_cuda = true};
  if (nb_topo_load(&topo, &cfg, &err) < 0) {
    printf("live topology: %s\n", err.msg);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bind_achieved),     cmocka_unit_test(test_degrade_memory),
      cmocka_unit_test(test_degrade_cpu),       cmocka_unit_test(test_unbound_resets),
      cmocka_unit_test(test_foreign_refused),   cmocka_unit_test(test_numastat),
      cmocka_unit_test(test_interleave),        cmocka_unit_test(test_parallel_first_touch),
      cmocka_unit_test(test_pinned_needs_cuda), cmocka_unit_test(test_small_pages),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo);
  return rc;
}
