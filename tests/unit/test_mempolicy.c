/* Unit tests (live): the memory-policy module (lib/src/mempolicy.c). The
 * policy calls are interposed here: they reach the kernel unchanged unless a
 * test refuses some modes, as a container's seccomp profile or cpuset would,
 * so that every rung of the fallback ladder is seen, each confirmed by
 * asking the kernel back. The cases change only the memory policy of the
 * test's thread (never its CPUs), and each ends with the default again. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <numaif.h>

#include "nbtest.h"

#include "mempolicy.h"

static nb_topo_t topo;
static int node;        /* an allowed node with CPUs and memory */
static unsigned refuse; /* bit (1 << MPOL_x): set_mempolicy and mbind refuse that mode with EPERM */
static bool refuse_get; /* get_mempolicy fails with EPERM */
static int set_calls;   /* set_mempolicy calls seen */

long set_mempolicy(int mode, const unsigned long *nmask, unsigned long maxnode)
{
  set_calls++;
  if (refuse & (1u << (mode & 0xff))) {
    errno = EPERM;
    return -1;
  }
  return syscall(SYS_set_mempolicy, mode, nmask, maxnode);
}

long mbind(void *start, unsigned long len, int mode, const unsigned long *nmask, unsigned long maxnode,
           unsigned flags)
{
  if (refuse & (1u << (mode & 0xff))) {
    errno = EPERM;
    return -1;
  }
  return syscall(SYS_mbind, start, len, mode, nmask, maxnode, flags);
}

long get_mempolicy(int *mode, unsigned long *nmask, unsigned long maxnode, void *addr, unsigned flags)
{
  if (refuse_get) {
    errno = EPERM;
    return -1;
  }
  return syscall(SYS_get_mempolicy, mode, nmask, maxnode, addr, flags);
}

/* After every case: the default policy, nothing refused. */
static int reset(void **state)
{
  (void)state;
  refuse = 0;
  refuse_get = false;
  return syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0) == 0 ? 0 : -1;
}

static void expect_policy(enum nb_mem_seen want, int want_node)
{
  enum nb_mem_seen seen;
  int nodes[8], n;
  nb__mempol_get(&seen, nodes, 8, &n);
  if (seen != want)
    fail_msg("kernel reports %s, want %s", nb_mem_seen_name(seen), nb_mem_seen_name(want));
  if (want_node >= 0) {
    assert_int_equal(n, 1);
    assert_int_equal(nodes[0], want_node);
  }
}

/* Every name is distinct and known; a planned policy and the policy the
 * kernel reports for it share a name (the audit compares them by name). */
static void test_names(void **state)
{
  (void)state;
  static const struct {
    enum nb_mem_seen s;
    const char *name;
  } seen[] = {{NB_SEEN_DEFAULT, "default"},       {NB_SEEN_BIND, "bind"},   {NB_SEEN_PREFERRED, "preferred"},
              {NB_SEEN_INTERLEAVE, "interleave"}, {NB_SEEN_LOCAL, "local"}, {NB_SEEN_OTHER, "other"}};
  for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++)
    assert_string_equal(nb_mem_seen_name(seen[i].s), seen[i].name);
  assert_string_equal(nb_mem_seen_name((enum nb_mem_seen)99), "?");
  static const struct {
    enum nb_mem_policy p;
    enum nb_mem_seen s;
  } pairs[] = {{NB_MEM_DEFAULT, NB_SEEN_DEFAULT},
               {NB_MEM_BIND, NB_SEEN_BIND},
               {NB_MEM_INTERLEAVE, NB_SEEN_INTERLEAVE}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    assert_string_equal(nb_mem_policy_name(pairs[i].p), nb_mem_seen_name(pairs[i].s));
  assert_string_equal(nb_mem_policy_name((enum nb_mem_policy)99), "?");
}

/* The top rung: MPOL_BIND taken, nothing refused. */
static void test_bind_taken(void **state)
{
  (void)state;
  struct nb_buf_plan plan = {NB_MEM_BIND, node};
  enum nb_mem_seen reached;
  assert_int_equal(nb__mempol_set_thread(&plan, NULL, 0, &reached), 0);
  assert_int_equal(reached, NB_SEEN_BIND);
  expect_policy(NB_SEEN_BIND, node);
}

/* MPOL_BIND refused: MPOL_PREFERRED on the same node, and the refusal's
 * errno; for a thread, for a mapping, and as nb_bind_self records it. */
static void test_preferred_rung(void **state)
{
  (void)state;
  refuse = 1u << MPOL_BIND;
  struct nb_buf_plan plan = {NB_MEM_BIND, node};
  enum nb_mem_seen reached;
  assert_int_equal(nb__mempol_set_thread(&plan, NULL, 0, &reached), EPERM);
  assert_int_equal(reached, NB_SEEN_PREFERRED);
  expect_policy(NB_SEEN_PREFERRED, node);

  size_t len = (size_t)sysconf(_SC_PAGESIZE);
  void *addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(addr != MAP_FAILED);
  assert_int_equal(nb__mempol_set_range(addr, len, &plan, NULL, 0, &reached), EPERM);
  assert_int_equal(reached, NB_SEEN_PREFERRED);
  munmap(addr, len);

  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, 0, NULL, -1, NB_MEM_BIND, node};
  struct nb_bind_status st;
  assert_int_equal(nb_bind_self(topo, &tp, NULL, 0, &st, NULL), 0);
  assert_int_equal(st.mem_errno, EPERM);
  assert_int_equal(st.mem_seen, NB_SEEN_PREFERRED);
  assert_string_equal(st.level, "preferred");

  struct nb_buf b;
  assert_int_equal(nb_buf_alloc(topo, &b, len, &plan, NULL, 0, NULL), 0);
  assert_int_equal(b.policy, NB_SEEN_PREFERRED);
  assert_int_equal(b.mbind_errno, EPERM);
  nb_buf_free(&b);
}

/* Every rung refused: nothing changes (the thread keeps the interleave it
 * had), the asked policy's errno is returned; nb_bind_self then resets the
 * thread to the default rather than leave an inherited policy. */
static void test_all_refused(void **state)
{
  (void)state;
  struct nb_buf_plan il = {NB_MEM_INTERLEAVE, -1}, plan = {NB_MEM_BIND, node};
  enum nb_mem_seen reached;
  assert_int_equal(nb__mempol_set_thread(&il, &node, 1, &reached), 0);
  assert_int_equal(reached, NB_SEEN_INTERLEAVE);
  refuse = 1u << MPOL_BIND | 1u << MPOL_PREFERRED | 1u << MPOL_INTERLEAVE;
  assert_int_equal(nb__mempol_set_thread(&plan, NULL, 0, &reached), EPERM);
  assert_int_equal(reached, NB_SEEN_DEFAULT);
  expect_policy(NB_SEEN_INTERLEAVE, node);
  assert_int_equal(nb__mempol_set_thread(&il, &node, 1, &reached), EPERM);
  assert_int_equal(reached, NB_SEEN_DEFAULT);

  /* The default asks for nothing: no call, nothing refused. */
  int calls = set_calls;
  struct nb_buf_plan dflt = {NB_MEM_DEFAULT, -1};
  assert_int_equal(nb__mempol_set_thread(&dflt, NULL, 0, &reached), 0);
  assert_int_equal(reached, NB_SEEN_DEFAULT);
  assert_int_equal(set_calls, calls);

  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, 0, NULL, -1, NB_MEM_BIND, node};
  struct nb_bind_status st;
  assert_int_equal(nb_bind_self(topo, &tp, NULL, 0, &st, NULL), 0);
  assert_int_equal(st.mem_errno, EPERM);
  assert_int_equal(st.mem_seen, NB_SEEN_DEFAULT);
  assert_string_equal(st.level, "none");
}

/* A temporary policy comes off again: the saved one is back, nodes and all. */
static void test_save_restore(void **state)
{
  (void)state;
  struct nb_buf_plan il = {NB_MEM_INTERLEAVE, -1}, plan = {NB_MEM_BIND, node};
  enum nb_mem_seen reached;
  struct nb__mempol_saved saved;
  assert_int_equal(nb__mempol_set_thread(&il, &node, 1, &reached), 0);
  assert_int_equal(nb__mempol_save(&saved), 0);
  assert_true(saved.valid);
  assert_int_equal(nb__mempol_set_thread(&plan, NULL, 0, &reached), 0);
  expect_policy(NB_SEEN_BIND, node);
  nb__mempol_restore(&saved);
  expect_policy(NB_SEEN_INTERLEAVE, node);

  /* From the default, back to the default. */
  nb__mempol_reset();
  expect_policy(NB_SEEN_DEFAULT, -1);
  assert_int_equal(nb__mempol_save(&saved), 0);
  assert_int_equal(nb__mempol_set_thread(&plan, NULL, 0, &reached), 0);
  nb__mempol_restore(&saved);
  expect_policy(NB_SEEN_DEFAULT, -1);

  /* A policy that cannot be read cannot be restored: the caller is told,
   * and restoring it changes nothing. */
  refuse_get = true;
  assert_int_equal(nb__mempol_save(&saved), EPERM);
  assert_false(saved.valid);
  int calls = set_calls;
  nb__mempol_restore(&saved);
  assert_int_equal(set_calls, calls);
  enum nb_mem_seen seen;
  int nodes[8], n = 5;
  nb__mempol_get(&seen, nodes, 8, &n);
  assert_int_equal(seen, NB_SEEN_OTHER);
  assert_int_equal(n, 0);
}

int main(void)
{
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.no_cuda = true};
  if (nb_topo_load(&topo, &cfg, &err) < 0) {
    printf("live topology: %s\n", err.msg);
    return 1;
  }
  int mode;
  if (get_mempolicy(&mode, NULL, 0, NULL, 0) < 0 && errno == ENOSYS) {
    printf("skip: this kernel has no NUMA policy calls\n");
    nb_topo_free(topo);
    return NB_TEST_SKIP;
  }
  node = -1;
  for (int i = 0; i < nb_topo_nnodes(topo) && node < 0; i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    if (nd->allowed && nd->ncpus > 0 && nd->memory_bytes > 0)
      node = nd->os_index;
  }
  if (node < 0) {
    printf("skip: no allowed node with CPUs and memory\n");
    nb_topo_free(topo);
    return NB_TEST_SKIP;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test_teardown(test_bind_taken, reset),
      cmocka_unit_test_teardown(test_preferred_rung, reset),
      cmocka_unit_test_teardown(test_all_refused, reset),
      cmocka_unit_test_teardown(test_save_restore, reset),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo);
  return rc;
}
