/* numabench fleet: result files and probe records of many hosts, grouped by
 * machine type; the hosts whose topology or metrics drift from their peers.
 * Exit 0 all consistent, 1 drift found, 2 bad input (also a report whose
 * directory walk skipped a damaged file and found no drift). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <numabench/fleet.h>

#include "cli.h"

_Static_assert((int)NB_OPT_FORMAT_JSON == (int)NB_FLEET_JSON && (int)NB_OPT_FORMAT_CSV == (int)NB_FLEET_CSV &&
                   (int)NB_OPT_FORMAT_MD == (int)NB_FLEET_MD,
               "--format's choices follow enum nb_fleet_format");

int cmd_fleet(const struct nb_config *cfg, int argc, char **argv)
{
  char shown[CLI_SHOWN];
  char *end;
  errno = 0;
  double k = strtod(cfg->k, &end);
  if (errno || end == cfg->k || *end || !isfinite(k) || k <= 0 || k > 1000)
    return cli_usage(
        "numabench fleet: --k '%s': expected a number of MADs above 0 and at most 1000 (default 4)",
        cli_shown(cfg->k, shown));
  /* The default keys are NULL to the library: only keys the user named
   * split a topology set (docs/fleet-schema.md). */
  const struct nb_option *gopt = nb_option_find("group");
  struct nb_fleet_opts o = {.group = gopt && nb_config_is_set(cfg, gopt) ? cfg->group : NULL,
                            .k = k,
                            .min_hosts = cfg->min_hosts,
                            .baseline = cfg->baseline};
  nb_fleet_t fleet;
  nb_error_t err = {0};
  if (nb_fleet_new(&fleet, &o, &err) < 0)
    return cli_fail(&err);
  int rc = 0, failed = 0;
  for (int i = 0; !failed && i < argc; i++)
    failed = nb_fleet_add(fleet, argv[i], &err) < 0;
  /* Warnings come first, also when a later file is refused: they say which
   * files were not counted; the refusal is the last line. */
  for (int i = 0; nb_fleet_warning(fleet, i); i++)
    cli_note("warning: %s", nb_fleet_warning(fleet, i));
  if (failed)
    rc = cli_fail(&err);
  if (rc == 0 && nb_fleet_judge(fleet, &err) < 0)
    rc = cli_refuse(&err);
  if (rc == 0 && nb_fleet_write(fleet, (enum nb_fleet_format)cfg->format_kind, stdout, &err) < 0)
    rc = cli_fail(&err);
  if (rc == 0 && nb_fleet_drift(fleet))
    rc = EXIT_FAILURE;
  /* Files skipped as unreadable or damaged: the report covers the rest, but
   * "consistent" would be a claim about hosts it did not see. Drift found
   * stays 1 (the stronger news); otherwise 2, never 0. */
  else if (rc == 0 && nb_fleet_rejected(fleet)) {
    cli_note("fleet: %ld file%s skipped (named above): the input was incomplete; exit 2",
             nb_fleet_rejected(fleet), nb_fleet_rejected(fleet) > 1 ? "s" : "");
    rc = CLI_EXIT_USAGE;
  }
  nb_fleet_free(fleet);
  return rc;
}
