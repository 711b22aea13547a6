/* Fuzz target: every option of the table set from arbitrary text
 * (nb_config_set: counts, sizes, shapes, modes, --gpus, --gpu-node,
 * --sweep, --fail-at, booleans, choices), as the command line and config
 * files do. The first byte picks the option; the rest is the value. A value
 * taken must hold what the option promises. */
#include <limits.h>

#include "fuzz.h"

static void check_value(const struct nb_config *cfg, const struct nb_option *opt)
{
  const char *field = (const char *)cfg + opt->offset;
  switch (opt->type) {
  case NB_OPT_INT: {
    int v = *(const int *)field;
    FUZZ_CHECK(v >= opt->min && v <= opt->max, "--%s %d outside %ld..%ld", opt->name, v, opt->min, opt->max);
    break;
  }
  case NB_OPT_SHAPE: {
    const struct nb_shape *s = &cfg->shape;
    FUZZ_CHECK(s->c > 0 && s->h > 0 && s->w > 0 && (double)s->c * s->h * s->w <= (double)(1 << 28),
               "--sample %dx%dx%d", s->c, s->h, s->w);
    break;
  }
  case NB_OPT_SIZE:
    FUZZ_CHECK(cfg->size_bytes >= 4096 && cfg->size_bytes <= (size_t)1e15, "--size %zu", cfg->size_bytes);
    break;
  case NB_OPT_FAULT:
    FUZZ_CHECK(cfg->fault.batch >= 0 && cfg->fault.batch <= NB_FAULT_MAX_BATCH, "--fail-at batch %ld",
               cfg->fault.batch);
    break;
  case NB_OPT_MODES:
    FUZZ_CHECK(cfg->modes.n >= 1 && cfg->modes.n <= NB_NMODES, "--mode: %d modes", cfg->modes.n);
    break;
  case NB_OPT_GPUS:
    FUZZ_CHECK(cfg->gpu_select.count >= 0 && cfg->gpu_select.count <= INT_MAX, "--gpus count %ld",
               cfg->gpu_select.count);
    for (int i = 0; i < cfg->gpu_select.n; i++)
      FUZZ_CHECK(cfg->gpu_select.range[i].lo >= 0 &&
                     cfg->gpu_select.range[i].lo <= cfg->gpu_select.range[i].hi &&
                     cfg->gpu_select.range[i].hi <= INT_MAX,
                 "--gpus range %ld-%ld", cfg->gpu_select.range[i].lo, cfg->gpu_select.range[i].hi);
    break;
  case NB_OPT_GPU_NODES:
    for (int i = 0; i < cfg->gpu_nodes.n; i++)
      FUZZ_CHECK(cfg->gpu_nodes.item[i].gpu >= 0 && cfg->gpu_nodes.item[i].gpu <= INT_MAX &&
                     cfg->gpu_nodes.item[i].node >= 0 && cfg->gpu_nodes.item[i].node <= INT_MAX,
                 "--gpu-node %ld=%ld", cfg->gpu_nodes.item[i].gpu, cfg->gpu_nodes.item[i].node);
    break;
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int n;
  const struct nb_option *opts = nb_options(&n);
  const struct nb_option *opt = &opts[data[0] % n];
  char *value = fuzz_string(data + 1, size - 1);
  struct nb_config cfg;
  FUZZ_CHECK(nb_config_init(&cfg) == 0, "nb_config_init");
  nb_error_t err = {0};
  int rc = nb_config_set(&cfg, opt, value, &err);
  FUZZ_CHECK(rc == 0 || rc == NB_EINVAL || rc == NB_ENOMEM, "--%s: code %d", opt->name, rc);
  fuzz_check_msg(&err, rc);
  FUZZ_CHECK(nb_config_is_set(&cfg, opt) == (rc == 0), "--%s: set after a refusal", opt->name);
  if (rc == 0) {
    check_value(&cfg, opt);
    FUZZ_CHECK(nb_config_finish(&cfg, opt->commands) == 0, "nb_config_finish");
  }
  /* The command line's messages echo arguments through nb_input_error. */
  nb_error_t echo = {0};
  FUZZ_CHECK(nb_input_error(&echo, NB_EINVAL, value) == NB_EINVAL, "nb_input_error");
  fuzz_check_line(&echo);
  nb_config_free(&cfg);
  free(value);
  return 0;
}
