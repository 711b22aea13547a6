/* numabench bw: the raw copy bandwidth per node and GPU. */
#include <stdio.h>

#include "cli.h"

/* The backend for this machine: --backend cuda without a usable GPU is a
 * usage error (exit 2) naming the CUDA error; auto falls back to host and
 * says why in why. */
static int resolve_backend(nb_topo_t topo, enum nb_backend *backend, char *why, size_t len)
{
  nb_error_t err = {0};
  return nb_backend_resolve(topo, *backend, backend, why, len, &err) < 0 ? cli_refuse(&err) : 0;
}

int cmd_bw(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  struct nb_bw_config bc = {.repeat = cfg->repeat, .bytes = cfg->size_bytes, .pin = nb_options_pin(cfg)};
  enum nb_backend backend = nb_options_backend(cfg);
  nb_error_t err = {0};
  int rc;
  nb_topo_t topo;
  struct nb_topo_config tc = {.devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return cli_fail(&err);
  char why[640];
  if ((rc = resolve_backend(topo, &backend, why, sizeof why)) != 0) {
    nb_topo_free(topo);
    return rc;
  }
  nb_bw_t bw;
  bc.backend = backend;
  if (nb_bw_measure(topo, &bc, &bw, &err) < 0) {
    rc = cli_fail(&err);
  } else {
    /* After measuring: a refusal (--size) stays the one line on stderr. */
    if (why[0] && !cfg->json)
      fprintf(stderr, "numabench: bw: host backend (auto: %s)\n", why);
    if ((cfg->json ? nb_bw_write_json(bw, stdout, &err) : nb_bw_write_text(bw, stdout, &err)) < 0)
      rc = cli_fail(&err);
    nb_bw_free(bw);
  }
  nb_topo_free(topo);
  return rc;
}
