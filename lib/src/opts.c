/* numabench: the option table and setting options from text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/opts.h>

#include "nb-internal.h"

#define NB_OFF(field) offsetof(struct nb_config, field)

#define TP (NB_CMD_TOPO | NB_CMD_PLAN)

static const struct nb_option options[] = {
  {"topology", 't', NB_OPT_STRING, NB_OFF(topology), "live", TP, "SRC",
   "topology to read: 'live' (this machine), an hwloc XML file (lstopo --of xml) or a recorded /sys tree "
   "(hwloc-gather-topology)", 0, 0},
  {"devices", 'd', NB_OPT_STRING, NB_OFF(devices), NULL, TP, "BUSID[,BUSID...]",
   "treat these PCI devices as the GPUs, in this order (any device class; e.g. 0000:41:00.0,0000:81:00.0)", 0, 0},
  {"no-cuda", 0, NB_OPT_BOOL, NB_OFF(no_cuda), NULL, TP, NULL,
   "do not ask the CUDA runtime; find GPUs from PCI devices", 0, 0},
  {"gpus", 'g', NB_OPT_STRING, NB_OFF(gpus), NULL, NB_CMD_PLAN, "N|LIST",
   "GPUs to use: a count (the first N by index) or indexes and ranges (0,2,5 or 4-7; one GPU: 5-5); default all", 0, 0},
  {"workers", 'w', NB_OPT_INT, NB_OFF(workers), "0", NB_CMD_PLAN, "W",
   "worker threads per GPU; 0 = one thread per core of each GPU's share of its node", 0, 4096},
  {"mode", 'm', NB_OPT_STRING, NB_OFF(mode), "bind", NB_CMD_PLAN, "MODE[,MODE...]",
   "placement: none, bind, adversarial, remote, interleave; a list plans each in turn", 0, 0},
  {"gpu-node", 0, NB_OPT_STRING, NB_OFF(gpu_node), NULL, NB_CMD_PLAN, "GPU=NODE[,...]",
   "take this NUMA node for a GPU (firmware that gives none, or to experiment)", 0, 0},
  {"emit", 0, NB_OPT_STRING, NB_OFF(emit), NULL, NB_CMD_PLAN, "numactl",
   "print one launch line per GPU rank for the command after --, e.g. --emit numactl -- python train.py", 0, 0},
  {"check", 'c', NB_OPT_BOOL, NB_OFF(check), NULL, NB_CMD_PLAN, NULL,
   "apply the plan on this machine to real threads and small buffers, ask the kernel where they are, "
   "exit 0 only if the placement was achieved", 0, 0},
  {"allow-misplacement", 0, NB_OPT_BOOL, NB_OFF(allow_misplacement), NULL, NB_CMD_PLAN, NULL,
   "exit 0 even when the audit finds placement not achieved (it is still reported)", 0, 0},
  {"check-move-staging", 0, NB_OPT_INT, NB_OFF(check_move_staging), "-1", NB_CMD_PLAN, "NODE",
   "with --check: move GPU 0's staging pages to NODE before the audit, to see the audit catch it", -1, 4095},
  {"json", 'j', NB_OPT_BOOL, NB_OFF(json), NULL, TP, NULL,
   "write JSON to stdout (schemas: docs/topo-schema.md, docs/plan-schema.md)", 0, 0},
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
  case NB_OPT_INT: {
    char *end;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || *end || errno)
      return nb__err(err, NB_EINVAL, "--%s: '%s' is not an integer", opt->name, value ? value : "");
    if (v < opt->min || v > opt->max)
      return nb__err(err, NB_EINVAL, "--%s %ld: out of range (%ld to %ld)", opt->name, v, opt->min, opt->max);
    *(int *)field = (int)v;
    return 0;
  }
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
