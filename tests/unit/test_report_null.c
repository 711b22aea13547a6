/* Unit test (live): an interrupted experiment whose mode completed only one
 * of its --repeat runs has statistics without an interval or a cv (null in
 * the JSON). Its text report shows them as "-" and its CSV as empty fields,
 * never "nan" or "inf" (issue 14). The experiment is stopped from its own
 * progress callback once the second run has started, so that the first run
 * is complete and the second is not, every time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nbtest.h"

static void stop_in_second_run(void *arg, const struct nb_progress *p)
{
  if (p->run == 1 && p->step >= 1)
    nb_experiment_stop(*(nb_experiment_t *)arg);
}

static void set(struct nb_config *cfg, const char *name, const char *value)
{
  nb_error_t err = {0};
  if (nb_config_set(cfg, nb_option_find(name), value, &err) < 0)
    fail_msg("--%s %s: %s", name, value, err.msg);
}

/* Whether text holds "nan" or "inf" in any case. */
static int has_nonfinite(const char *text)
{
  for (const char *p = text; *p; p++)
    if (!strncasecmp(p, "nan", 3) || !strncasecmp(p, "inf", 3))
      return 1;
  return 0;
}

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f)
    fail_msg("open %s", path);
  char *buf = calloc(1, 1 << 20);
  assert_non_null(buf);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_one_complete_run_of_several(void **state)
{
  (void)state;
  struct nb_config cfg;
  assert_int_equal(nb_config_init(&cfg), 0);
  char dir[] = "/tmp/nb-test-report-null-XXXXXX";
  assert_non_null(mkdtemp(dir));
  set(&cfg, "mode", "none");
  set(&cfg, "repeat", "3");
  set(&cfg, "sample", "3x8x8");
  set(&cfg, "batch", "1");
  set(&cfg, "warmup", "0");
  set(&cfg, "steps", "200");
  set(&cfg, "backend", "host");
  set(&cfg, "output", dir);
  assert_int_equal(nb_config_finish(&cfg, NB_CMD_RUN), 0);

  nb_experiment_t x = NULL;
  struct nb_experiment_config xc = {.options = &cfg, .progress = stop_in_second_run, .progress_arg = &x};
  nb_error_t err = {0};
  if (nb_experiment_new(&x, &xc, &err) < 0)
    fail_msg("experiment: %s", err.msg);
  const struct nb_report *rep = NULL;
  if (nb_experiment_run_point(x, 0, &rep, &err) < 0)
    fail_msg("run: %s", err.msg);
  assert_true(rep->interrupted);

  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  assert_int_equal(nb_report_write_text(rep, mem, &err), 0);
  fclose(mem);
  /* The repeats' summary has the one complete run, its interval unknown. */
  assert_non_null(strstr(text, "steps/s over 3 repeats"));
  assert_non_null(strstr(text, "[-, -]"));
  assert_non_null(strstr(text, "cv -%"));
  if (has_nonfinite(text))
    fail_msg("text report:\n%s", text);

  char path[4096];
  assert_int_equal(nb_report_save(rep, dir, path, sizeof path, &err), 0);
  char csv[4096];
  snprintf(csv, sizeof csv, "%.*s.csv", (int)(strlen(path) - 5), path);
  char *c = slurp(csv);
  if (has_nonfinite(c))
    fail_msg("%s:\n%s", csv, c);
  /* One row per run: the complete one and the interrupted one. */
  int rows = 0;
  for (const char *p = c; (p = strchr(p, '\n')); p++)
    rows++;
  assert_int_equal(rows, 3);

  /* The JSON says null where the text says "-" and the CSV has nothing. */
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc)
    fail_msg("%s: %s", path, jerr.text);
  json_t *sps = json_object_get(json_array_get(json_object_get(doc, "summary"), 0), "steps_per_s");
  assert_int_equal(json_integer_value(json_object_get(sps, "n")), 1);
  assert_true(json_is_null(json_array_get(json_object_get(sps, "ci95"), 0)));
  assert_true(json_is_null(json_object_get(sps, "cv")));
  json_decref(doc);

  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(c);
  free(text);
  nb_experiment_free(x);
  nb_config_free(&cfg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_complete_run_of_several)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
