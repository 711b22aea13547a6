/* Unit tests: the option table and setting options from text. */
#include <ctype.h>
#include <string.h>

#include "nbtest.h"

static void test_table_well_formed(void **state)
{
  (void)state;
  int n;
  const struct nb_option *opts = nb_options(&n);
  assert_true(n > 0);
  for (int i = 0; i < n; i++) {
    assert_non_null(opts[i].name);
    assert_non_null(opts[i].help);
    assert_true(strlen(opts[i].help) > 10);
    assert_true(opts[i].commands != 0);
    if (opts[i].type != NB_OPT_BOOL && !opts[i].metavar)
      fail_msg("--%s takes a value but has no metavar for --help", opts[i].name);
    for (const char *c = opts[i].name; *c; c++)
      assert_true(islower((unsigned char)*c) || *c == '-');
    for (int j = 0; j < i; j++) {
      assert_string_not_equal(opts[i].name, opts[j].name);
      if (opts[i].short_name)
        assert_int_not_equal(opts[i].short_name, opts[j].short_name);
    }
    assert_ptr_equal(nb_option_find(opts[i].name), &opts[i]);
  }
  assert_null(nb_option_find("no-such-option"));
}

static void test_defaults_and_set(void **state)
{
  (void)state;
  struct nb_config cfg;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&cfg), 0);
  const struct nb_option *topology = nb_option_find("topology"), *json = nb_option_find("json"),
                         *devices = nb_option_find("devices");
  assert_string_equal(cfg.topology, "live");
  assert_false(cfg.json);
  assert_null(cfg.devices);
  assert_false(nb_config_is_set(&cfg, topology));

  assert_int_equal(nb_config_set(&cfg, topology, "machine.xml", &err), 0);
  assert_string_equal(cfg.topology, "machine.xml");
  assert_true(nb_config_is_set(&cfg, topology));
  assert_false(nb_config_is_set(&cfg, json));

  assert_int_equal(nb_config_set(&cfg, json, NULL, &err), 0);
  assert_true(cfg.json);
  assert_int_equal(nb_config_set(&cfg, json, "false", &err), 0);
  assert_false(cfg.json);
  assert_int_equal(nb_config_set(&cfg, json, "maybe", &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "--json"));

  assert_int_equal(nb_config_set(&cfg, devices, "", &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "--devices"));
  assert_false(nb_config_is_set(&cfg, devices));
  nb_config_free(&cfg);
  assert_null(cfg.topology);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_well_formed),
      cmocka_unit_test(test_defaults_and_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
