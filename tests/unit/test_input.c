/* Unit tests: the input layer (lib/src/input.c) and presets read through it.
 * Every case would hang, read forever or pass silently without it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "nbtest.h"

static char dir[] = "/tmp/nbtest-input-XXXXXX";

static const char *file_with(const char *name, const char *text, size_t len)
{
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  fclose(f);
  return path;
}

static void test_reads_regular_file(void **state)
{
  (void)state;
  const char *p = file_with("a.txt", "abc\n", 4);
  char *data;
  size_t len;
  nb_error_t err = {0};
  assert_int_equal(nb__input_read("x", p, 0, 1024, &data, &len, &err), 0);
  assert_int_equal(len, 4);
  assert_string_equal(data, "abc\n");
  free(data);
  /* An empty file is empty, not an error, and still NUL-terminated. */
  p = file_with("empty.txt", "", 0);
  assert_int_equal(nb__input_read("x", p, 0, 1024, &data, &len, &err), 0);
  assert_int_equal(len, 0);
  assert_string_equal(data, "");
  free(data);
}

/* Each refusal: its code and a word of its one-line message. */
static void refused(const char *path, unsigned flags, size_t max, int code, const char *word)
{
  char *data = (char *)1;
  size_t len = 1;
  nb_error_t err = {0};
  alarm(10); /* a hang fails the test instead of stalling CI */
  int rc = nb__input_read("--config", path, flags, max, &data, &len, &err);
  alarm(0);
  if (rc != code || !strstr(err.msg, word) || strchr(err.msg, '\n'))
    fail_msg("%s: got %d '%s', expected %d with '%s'", path, rc, err.msg, code, word);
  assert_null(data);
  assert_int_equal(len, 0);
}

static void test_refuses_special_files(void **state)
{
  (void)state;
  refused("/dev/zero", 0, 1 << 20, NB_EINVAL, "character device");
  refused("/dev/zero", NB_INPUT_PIPE, 1 << 20, NB_EINVAL, "character device");
  refused("/dev/null", 0, 1 << 20, NB_EINVAL, "character device");
  refused(dir, 0, 1 << 20, NB_EINVAL, "a directory");
  refused("/nonexistent/x", 0, 1 << 20, NB_ENOENT, "No such file");
  char fifo[256];
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  refused(fifo, 0, 1 << 20, NB_EINVAL, "FIFO");
}

static void test_fifo_without_writer_is_empty(void **state)
{
  (void)state;
  char fifo[256], *data;
  size_t len;
  snprintf(fifo, sizeof fifo, "%s/fifo2", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  nb_error_t err = {0};
  alarm(10);
  assert_int_equal(nb__input_read("topology", fifo, NB_INPUT_PIPE, 1 << 20, &data, &len, &err), 0);
  alarm(0);
  assert_int_equal(len, 0);
  free(data);
}

static void test_size_cap(void **state)
{
  (void)state;
  char big[5000];
  memset(big, 'x', sizeof big);
  refused(file_with("big", big, sizeof big), 0, 4096, NB_EFORMAT, "larger than 4 KiB");
  /* One byte under the cap (the NUL needs the last) is read. */
  char *data;
  size_t len;
  assert_int_equal(nb__input_read("x", file_with("fits", big, 4095), 0, 4096, &data, &len, NULL), 0);
  assert_int_equal(len, 4095);
  free(data);
}

static void test_output_dir(void **state)
{
  (void)state;
  nb_error_t err = {0};
  char path[512];
  snprintf(path, sizeof path, "%s/a/b/c", dir);
  assert_int_equal(nb__output_dir("--output", path, &err), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  static const struct {
    const char *path, *word;
  } bad[] = {{"/dev/null", "character device"},
             {"/proc", "cannot create files"},
             {"/dev/null/x", "cannot create it"},
             {"", "empty"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = nb__output_dir("--output", bad[i].path, &err);
    if (rc != NB_EINVAL || !strstr(err.msg, bad[i].word) || !strstr(err.msg, "--output"))
      fail_msg("'%s': got %d '%s'", bad[i].path, rc, err.msg);
  }
  char *longname = malloc(NB_OUTPUT_DIR_MAX + 10);
  memset(longname, 'a', NB_OUTPUT_DIR_MAX + 9);
  longname[NB_OUTPUT_DIR_MAX + 9] = '\0';
  assert_int_equal(nb__output_dir("--output", longname, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "too long"));
  free(longname);
  snprintf(path, sizeof path, "%s/a/file", dir);
  file_with("a/file", "x", 1);
  assert_int_equal(nb__output_dir("--output", path, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "a file, not a directory"));
}

/* A preset: its text, and the error expected ("" = accepted). */
static void preset(const char *text, size_t len, const char *want)
{
  const char *p = file_with("p.ini", text, len);
  struct nb_config cfg;
  assert_int_equal(nb_config_init(&cfg), 0);
  nb_error_t err = {0};
  alarm(10);
  int rc = nb_config_load_file(&cfg, p, NB_CMD_PLAN, &err);
  alarm(0);
  nb_config_free(&cfg);
  if (*want ? rc >= 0 || !strstr(err.msg, want) : rc != 0)
    fail_msg("preset '%.40s': got %d '%s', expected '%s'", text, rc, err.msg, want);
}

static void test_presets(void **state)
{
  (void)state;
  char line[400];
  preset("mode = bind\nworkers = 2\n", 24, "");
  preset("\xef\xbb\xbf[numabench]\r\nmode = bind\r\n  ; note\r\n", 39, "");
  preset("mode = bind\nwor\0kers = 2\n", 25, "p.ini:2: a NUL byte");
  preset("mode = bind\n  ,none\n", 20, "p.ini:2: an indented line");
  preset("mode = bind\n\tworkers = 2\n", 25, "p.ini:2: an indented line");
  preset("[]\nmode = bind\n", 15, "p.ini:1: an empty section name");
  preset("[numabench\n", 11, "p.ini:1: not a 'name = value' line");
  preset("one\ntwo\n", 8, "p.ini:1: not a 'name = value' line");
  preset("workers = x\nno equals\n", 22, "p.ini:1: --workers");
  /* 198 characters fit inih's line; 199 would reach it in two pieces. */
  int n = snprintf(line, sizeof line, "workers = 1%187s\nmode = x\n", "");
  preset(line, (size_t)n, "p.ini:2: --mode");
  n = snprintf(line, sizeof line, "workers = 1%188s\nmode = x\n", "");
  preset(line, (size_t)n, "p.ini:1: longer than 198 characters");
  n = snprintf(line, sizeof line, "; %300s\nmode = x\n", "");
  preset(line, (size_t)n, "p.ini:1: longer than 198");
}

static void test_preset_files(void **state)
{
  (void)state;
  struct nb_config cfg;
  nb_error_t err = {0};
  assert_int_equal(nb_config_init(&cfg), 0);
  alarm(10);
  assert_int_equal(nb_config_load_file(&cfg, "/dev/zero", NB_CMD_PLAN, &err), NB_EINVAL);
  assert_int_equal(nb_config_load_file(&cfg, dir, NB_CMD_PLAN, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "--config"));
  alarm(0);
  nb_config_free(&cfg);
}

int main(void)
{
  if (!mkdtemp(dir))
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_regular_file),
      cmocka_unit_test(test_refuses_special_files),
      cmocka_unit_test(test_fifo_without_writer_is_empty),
      cmocka_unit_test(test_size_cap),
      cmocka_unit_test(test_output_dir),
      cmocka_unit_test(test_presets),
      cmocka_unit_test(test_preset_files),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    rc = rc ? rc : 1;
  return rc;
}
