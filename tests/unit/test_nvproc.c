/* Unit tests: the NVIDIA driver's /proc information files (nvproc.c) and the
 * host settings reader, on a recorded tree of an 8-GPU machine. */
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"
#include "nb-internal.h"
#include "nvproc.h"

#include <numabench/host.h>

static void test_parse(void **state)
{
  (void)state;
  struct nb__nvgpu g;
  assert_int_equal(nb__nvproc_parse("Model: \t\t NVIDIA H200\nGPU UUID: \t GPU-0123\nBus Location: \t "
                                    "0000:1B:00.0\nDevice Minor: \t 7\n",
                                    &g),
                   0);
  assert_string_equal(g.bus_id, "0000:1b:00.0");
  assert_int_equal(g.minor, 7);
  assert_string_equal(g.uuid, "GPU-0123");
  assert_string_equal(g.model, "NVIDIA H200");
  /* No minor, or a minor that is not a number: unknown, not 0. */
  assert_int_equal(nb__nvproc_parse("Bus Location: 0000:01:00.0\n", &g), 0);
  assert_int_equal(g.minor, -1);
  assert_int_equal(nb__nvproc_parse("Bus Location: 0000:01:00.0\nDevice Minor: -3\n", &g), 0);
  assert_int_equal(g.minor, -1);
  assert_int_equal(nb__nvproc_parse("Bus Location: 0000:01:00.0\nDevice Minor: 3x\n", &g), 0);
  assert_int_equal(g.minor, -1);
  /* A key must be a whole key at the start of a line. */
  assert_int_equal(nb__nvproc_parse("Old Bus Location: 0000:01:00.0\n", &g), NB_EFORMAT);
  assert_int_equal(nb__nvproc_parse("Model: x\n", &g), NB_EFORMAT);
  assert_int_equal(nb__nvproc_parse("Bus Location: not-a-bus\n", &g), NB_EFORMAT);
  assert_int_equal(nb__nvproc_parse("", &g), NB_EFORMAT);
}

static void test_recorded_tree(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", NB_FIXTURES_DIR "/proc/nvidia-8gpu", 1);
  struct nb__nvgpu *g;
  struct nb__strv warn = {0};
  int n = nb__nvproc_gpus(&g, &warn, NULL);
  assert_int_equal(n, 8);
  static const char *const bus[] = {"0000:10:1c.0", "0000:10:1d.0", "0000:20:1c.0", "0000:20:1d.0",
                                    "0000:90:1c.0", "0000:90:1d.0", "0000:a0:1c.0", "0000:a0:1d.0"};
  for (int i = 0; i < n; i++) {
    assert_string_equal(g[i].bus_id, bus[i]);
    assert_int_equal(g[i].minor, i);
    assert_string_equal(g[i].model, "NVIDIA A100-SXM4-40GB");
    assert_true(strncmp(g[i].uuid, "GPU-abc0000", 11) == 0);
  }
  /* The directory whose file names no bus location is skipped, and said. */
  assert_int_equal(warn.n, 1);
  assert_non_null(strstr(warn.v[0], "0000:ff:00.0"));
  free(g);
  nb__strv_free(&warn);
  /* No driver directory: no GPUs, no error. */
  setenv("NB_TEST_PROC_ROOT", NB_FIXTURES_DIR "/proc/does-not-exist", 1);
  assert_int_equal(nb__nvproc_gpus(&g, NULL, NULL), 0);
  assert_null(g);
  unsetenv("NB_TEST_PROC_ROOT");
  assert_string_equal(nb__proc_root(), "");
}

static void test_host_state(void **state)
{
  (void)state;
  struct nb_host_state s;
  nb_host_state_read(&s);
  /* A bit mask: 3 is normal balancing and memory tiering together. */
  assert_true(s.numa_balancing >= -1 && s.numa_balancing <= 3);
  assert_true(s.smt_active >= -1 && s.smt_active <= 1);
  assert_true(s.thp[0] == '\0' || !strcmp(s.thp, "always") || !strcmp(s.thp, "madvise") ||
              !strcmp(s.thp, "never"));
  struct nb_host_state on = {1, "", -1}, off = {0, "", -1}, tier = {2, "", -1};
  assert_non_null(strstr(nb_host_state_warning(&on), "kernel.numa_balancing=1"));
  assert_non_null(strstr(nb_host_state_warning(&tier), "kernel.numa_balancing=2"));
  assert_null(nb_host_state_warning(&off));
  /* Both bits: the warning names each, and the name is not "unknown". */
  struct nb_host_state both = {3, "", -1};
  const char *w = nb_host_state_warning(&both);
  assert_non_null(w);
  assert_non_null(strstr(w, "kernel.numa_balancing=3"));
  assert_non_null(strstr(w, "migrates the pages"));
  assert_non_null(strstr(w, "tiers"));
  assert_string_equal(nb_host_balancing_name(3), "on and memory tiering");
  assert_string_equal(nb_host_balancing_name(2), "memory tiering");
  assert_string_equal(nb_host_balancing_name(1), "on");
  assert_string_equal(nb_host_balancing_name(0), "off");
  assert_string_equal(nb_host_balancing_name(4), "unknown mode");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_recorded_tree),
      cmocka_unit_test(test_host_state),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
