/* numabench report and compare: tables over result files, and the
 * regression gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

_Static_assert((int)NB_OPT_FORMAT_CSV == (int)NB_TABLE_CSV && (int)NB_OPT_FORMAT_MD == (int)NB_TABLE_MD,
               "--format's choices follow enum nb_table_format");

static int load_all(int argc, char **argv, nb_results_t *files)
{
  for (int i = 0; i < argc; i++) {
    nb_error_t err = {0};
    if (nb_results_load(&files[i], argv[i], &err) < 0) {
      for (int k = 0; k < i; k++)
        nb_results_free(files[k]);
      return cli_fail(&err);
    }
  }
  return 0;
}

int cmd_report(const struct nb_config *cfg, int argc, char **argv)
{
  enum nb_table_format fmt = (enum nb_table_format)cfg->format_kind;
  nb_results_t *files = calloc((size_t)argc, sizeof *files);
  if (!files)
    return EXIT_FAILURE;
  int rc = load_all(argc, argv, files);
  nb_error_t err = {0};
  if (rc == 0 && nb_results_write_table(files, argc, fmt, stdout, &err) < 0)
    rc = cli_fail(&err);
  if (files[argc - 1] || rc == 0)
    for (int i = 0; i < argc; i++)
      nb_results_free(files[i]);
  free(files);
  return rc;
}

int cmd_compare(const struct nb_config *cfg, int argc, char **argv)
{
  nb_results_t files[2];
  int rc = load_all(argc, argv, files), regressed = 0;
  if (rc)
    return rc;
  nb_error_t err = {0};
  if (nb_results_compare(files[0], files[1], cfg->threshold, stdout, &regressed, &err) < 0)
    rc = err.code == NB_EINVAL ? cli_refuse(&err) : cli_fail(&err);
  nb_results_free(files[0]);
  nb_results_free(files[1]);
  return rc ? rc : regressed ? EXIT_FAILURE : 0;
}
