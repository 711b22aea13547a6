/* numabench: the option table and setting options from text. */
#include <stdlib.h>
#include <string.h>

#include <numabench/opts.h>

#include "nb-internal.h"

#define NB_OFF(field) offsetof(struct nb_config, field)

static const struct nb_option options[] = {
  {"topology", 't', NB_OPT_STRING, NB_OFF(topology), "live", NB_CMD_TOPO, "SRC",
   "topology to read: 'live' (this machine), an hwloc XML file (lstopo --of xml) or a recorded /sys tree "
   "(hwloc-gather-topology)"},
  {"devices", 'd', NB_OPT_STRING, NB_OFF(devices), NULL, NB_CMD_TOPO, "BUSID[,BUSID...]",
   "treat these PCI devices as the GPUs, in this order (any device class; e.g. 0000:41:00.0,0000:81:00.0)"},
  {"no-cuda", 0, NB_OPT_BOOL, NB_OFF(no_cuda), NULL, NB_CMD_TOPO, NULL,
   "do not ask the CUDA runtime; find GPUs from PCI devices"},
  {"json", 'j', NB_OPT_BOOL, NB_OFF(json), NULL, NB_CMD_TOPO, NULL,
   "write JSON to stdout (schema: docs/topo-schema.md)"},
};

_Static_assert(sizeof options / sizeof options[0] <= 64, "struct nb_config.set has 64 bits");

const struct nb_option *nb_options(int *n)
{
  *n = (int)(sizeof options / sizeof options[0]);
  return options;
}

const struct nb_option *nb_option_find(const char *name)
{
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (!strcmp(options[i].name, name))
      return &options[i];
  return NULL;
}

static int store(struct nb_config *cfg, const struct nb_option *opt, const char *value, nb_error_t *err)
{
  char *field = (char *)cfg + opt->offset;
  switch (opt->type) {
  case NB_OPT_BOOL:
    if (value && strcmp(value, "true") && strcmp(value, "1") && strcmp(value, "false") && strcmp(value, "0"))
      return nb__err(err, NB_EINVAL, "--%s: '%s' is not a boolean (true, false, 1 or 0)", opt->name, value);
    *(bool *)field = !value || !strcmp(value, "true") || !strcmp(value, "1");
    return 0;
  case NB_OPT_STRING: {
    if (!value || !*value)
      return nb__err(err, NB_EINVAL, "--%s needs a value (%s)", opt->name, opt->metavar);
    char *copy = strdup(value);
    if (!copy)
      return nb__err(err, NB_ENOMEM, "--%s: out of memory", opt->name);
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
  }
  }
  return nb__err(err, NB_EINTERNAL, "--%s: unknown option type", opt->name);
}

int nb_config_init(struct nb_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    if (!options[i].def)
      continue;
    int rc = store(cfg, &options[i], options[i].def, NULL);
    if (rc < 0) {
      nb_config_free(cfg);
      return rc;
    }
  }
  return 0;
}

int nb_config_set(struct nb_config *cfg, const struct nb_option *opt, const char *value, nb_error_t *err)
{
  int rc = store(cfg, opt, value, err);
  if (rc == 0)
    cfg->set |= UINT64_C(1) << (opt - options);
  return rc;
}

bool nb_config_is_set(const struct nb_config *cfg, const struct nb_option *opt)
{
  return cfg->set & (UINT64_C(1) << (opt - options));
}

void nb_config_free(struct nb_config *cfg)
{
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (options[i].type == NB_OPT_STRING) {
      char **p = (char **)((char *)cfg + options[i].offset);
      free(*p);
      *p = NULL;
    }
}
