/* Fuzz target: a --config preset (nb_config_load_file: the INI reader and
 * every option's value parser behind it). The first byte picks the command
 * whose options the file may set; the rest is the file. */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  atexit(fuzz_file_cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const unsigned commands[] = {NB_CMD_TOPO, NB_CMD_PLAN, NB_CMD_RUN, NB_CMD_BW};
  if (size < 1)
    return 0;
  unsigned command = commands[data[0] % (sizeof commands / sizeof commands[0])];
  const char *path = fuzz_file(data + 1, size - 1);
  struct nb_config cfg;
  FUZZ_CHECK(nb_config_init(&cfg) == 0, "nb_config_init");
  nb_error_t err = {0};
  int rc = nb_config_load_file(&cfg, path, command, &err);
  FUZZ_CHECK(rc == 0 || nb_err_is_usage(rc) || rc == NB_EIO || rc == NB_ENOMEM, "code %d: %s", rc, err.msg);
  fuzz_check_msg(&err, rc);
  if (rc == 0)
    FUZZ_CHECK(nb_config_finish(&cfg, command) == 0, "nb_config_finish");
  nb_config_free(&cfg);
  return 0;
}
