/* numabench probe: this machine's placement facts and their fingerprint,
 * as text or as the probe file's JSON, saved with --output. */
#include <stdio.h>

#include "cli.h"

int cmd_probe(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.source = cfg->topology, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return cli_fail(&err);
  nb_probe_t probe;
  int rc = nb_probe_collect(&probe, topo, &err);
  nb_topo_free(topo);
  if (rc < 0)
    return cli_fail(&err);
  /* The file first: a closed stdout (| head) loses no record. Only an
   * --output the user gave saves one; the option's default is run's. */
  if (nb_config_is_set(cfg, nb_option_find("output"))) {
    char path[4096];
    if ((rc = nb_probe_save(probe, cfg->output, path, sizeof path, &err)) < 0) {
      nb_probe_free(probe);
      return cli_fail(&err);
    }
    cli_note("probe: saved %s", path);
  }
  rc = cfg->json ? nb_probe_write_json(probe, stdout, &err) : nb_probe_write_text(probe, stdout, &err);
  nb_probe_free(probe);
  return rc < 0 ? cli_fail(&err) : 0;
}
