/* numabench topo: the topology as text or JSON. */
#include <stdio.h>

#include "cli.h"

int cmd_topo(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.source = cfg->topology, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return cli_fail(&err);
  int rc = cfg->json ? nb_topo_write_json(topo, stdout, &err) : nb_topo_write_text(topo, stdout, &err);
  nb_topo_free(topo);
  return rc < 0 ? cli_fail(&err) : 0;
}
