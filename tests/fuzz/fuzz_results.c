/* Fuzz target: a result file as `report` and `compare` read it
 * (nb_results_load), then the tables and the comparison of what loaded. */
#include "fuzz.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  atexit(fuzz_file_cleanup);
  if (!(devnull = fopen("/dev/null", "w")))
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = fuzz_file(data, size);
  nb_results_t res = NULL;
  nb_error_t err = {0};
  int rc = nb_results_load(&res, path, &err);
  FUZZ_CHECK(rc == 0 || nb_err_is_usage(rc) || rc == NB_EIO || rc == NB_ENOMEM, "code %d: %s", rc, err.msg);
  fuzz_check_msg(&err, rc);
  if (rc < 0)
    return 0;
  for (int fmt = NB_TABLE_TEXT; fmt <= NB_TABLE_CSV; fmt++) {
    nb_error_t e = {0};
    int r = nb_results_write_table(&res, 1, (enum nb_table_format)fmt, devnull, &e);
    fuzz_check_msg(&e, r);
  }
  int regressed = 0;
  nb_error_t e = {0};
  int r = nb_results_compare(res, res, 5, devnull, &regressed, &e);
  fuzz_check_msg(&e, r);
  nb_results_free(res);
  return 0;
}
