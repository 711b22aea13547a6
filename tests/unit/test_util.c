/* Unit tests: CPU lists, PCI bus ids, error texts. */
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"
#include "nb-internal.h"

static void test_cpulist_format(void **state)
{
  (void)state;
  static const struct {
    int cpus[16];
    int n;
    const char *want;
  } cases[] = {
      {{0}, 0, ""},
      {{5}, 1, "5"},
      {{0, 1, 2, 3}, 4, "0-3"},
      {{0, 2, 4}, 3, "0,2,4"},
      {{0, 1, 2, 3, 8, 9, 10, 11}, 8, "0-3,8-11"},
      {{0, 1, 48, 49, 50}, 5, "0-1,48-50"},
      {{7, 9, 10}, 3, "7,9-10"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[128];
    int need = nb_format_cpulist(buf, sizeof buf, cases[i].cpus, cases[i].n);
    assert_string_equal(buf, cases[i].want);
    assert_int_equal(need, (int)strlen(cases[i].want));
  }
  /* Truncation: never overflows, reports the full length. */
  int many[] = {0, 2, 4, 6, 8, 10, 12};
  char small[6];
  int need = nb_format_cpulist(small, sizeof small, many, 7);
  assert_int_equal(need, (int)strlen("0,2,4,6,8,10,12"));
  assert_true(strlen(small) < sizeof small);
}

static void test_cpulist_parse(void **state)
{
  (void)state;
  static const struct {
    const char *text;
    int n; /* expected count, or a negative error */
    const char *back;
  } cases[] = {
      {"", 0, ""},
      {"0", 1, "0"},
      {"0-3", 4, "0-3"},
      {"0-23,48-71", 48, "0-23,48-71"},
      {"8,0-1", 3, "0-1,8"},
      {"0-1,1-2", 3, "0-2"}, /* a value listed twice counts once (found by fuzz_cpulist) */
      {"5,5", 1, "5"},
      {"3-1", NB_EFORMAT, NULL},
      {"a", NB_EFORMAT, NULL},
      {"1,,2", NB_EFORMAT, NULL},
      {"-1", NB_EFORMAT, NULL},
      {"1-", NB_EFORMAT, NULL},
      {"65536", NB_EFORMAT, NULL},
      {"0-65535", 65536, "0-65535"},
      {"0-65535,0", NB_EFORMAT, NULL},
      {"2147483647", NB_EFORMAT, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int *v = NULL;
    int n = nb__parse_cpulist(cases[i].text, 65535, &v);
    assert_int_equal(n, cases[i].n);
    if (n >= 0) {
      char buf[128];
      assert_string_equal(nbt_cpus(buf, sizeof buf, v, n), cases[i].back);
    }
    free(v);
  }
}

static void test_bus_id(void **state)
{
  (void)state;
  static const struct {
    const char *text;
    const char *want; /* NULL: must be refused */
  } cases[] = {
      {"0000:3b:00.0", "0000:3b:00.0"},
      {"3B:00.0", "0000:3b:00.0"},
      {"00000000:3B:00.0", "0000:3b:00.0"}, /* CUDA's and nvidia-smi's form */
      {"0001:c1:1f.7", "0001:c1:1f.7"},
      {"a:1:2.3", "000a:01:02.3"},
      {"", NULL},
      {"3b:00", NULL},
      {"0000:3b:00", NULL},
      {"g0:00.0", NULL},
      {"0000:3b:20.0", NULL}, /* device > 0x1f */
      {"0000:3b:00.8", NULL}, /* function > 7 */
      {"10000:00:00.0", NULL},
      {"0000:3b:00.0x", NULL},
      {":3b:00.0", NULL},
      {"0000:123:00.0", NULL},
      {"0000:3b:00.0,", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[NB_BUSID_LEN] = "";
    int rc = nb_parse_bus_id(cases[i].text, out);
    if (cases[i].want) {
      assert_int_equal(rc, 0);
      assert_string_equal(out, cases[i].want);
    } else {
      if (rc != NB_EINVAL)
        fail_msg("bus id '%s' accepted as '%s'", cases[i].text, out);
    }
  }
}

static void test_errors(void **state)
{
  (void)state;
  static const int codes[] = {NB_EINVAL,  NB_ENOENT, NB_EFORMAT, NB_EIO,      NB_ENOMEM,
                              NB_ENOTSUP, NB_EPERM,  NB_ECUDA,   NB_EINTERNAL};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    assert_string_not_equal(nb_strerror(codes[i]), "unknown error");
    assert_string_not_equal(nb_err_name(codes[i]), "NB_E?");
    for (size_t j = 0; j < i; j++)
      assert_int_not_equal(codes[i], codes[j]);
  }
  assert_string_equal(nb_err_name(NB_EINVAL), "NB_EINVAL");
  assert_string_equal(nb_strerror(12345), "unknown error");
  nb_error_t err;
  assert_int_equal(nb__err_sys(&err, NB_EIO, 2, "file %s", "x"), NB_EIO);
  assert_int_equal(err.code, NB_EIO);
  assert_int_equal(err.sys_errno, 2);
  assert_string_equal(err.msg, "file x: No such file or directory");
  assert_int_equal(nb__err(NULL, NB_EINVAL, "ignored"), NB_EINVAL);
  assert_true(nb_err_is_usage(NB_EINVAL));
  assert_false(nb_err_is_usage(NB_ENOMEM));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cpulist_format),
      cmocka_unit_test(test_cpulist_parse),
      cmocka_unit_test(test_bus_id),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
