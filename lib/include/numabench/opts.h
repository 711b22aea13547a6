/* numabench: the option table.
 *
 * One table drives everything about options: the command line (getopt_long),
 * --help, config files (later), and the resolved configuration written into
 * results, with which options the user set. Like fio's struct fio_option.
 */
#ifndef NUMABENCH_OPTS_H
#define NUMABENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <numabench/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Subcommands, as bits: an option lists the commands that take it. */
enum nb_command {
  NB_CMD_TOPO = 1u << 0,
  NB_CMD_PLAN = 1u << 1,
  NB_CMD_RUN = 1u << 2,
  NB_CMD_REPORT = 1u << 3,
  NB_CMD_COMPARE = 1u << 4,
  NB_CMD_BW = 1u << 5,
};

enum nb_opt_type {
  NB_OPT_BOOL,   /* a flag: present means true */
  NB_OPT_STRING, /* a value kept as text, validated by its consumer */
  NB_OPT_INT,    /* an integer within [min, max] */
};

/** The resolved configuration. Strings are owned (nb_config_free). */
struct nb_config {
  char *topology;          /* --topology: live, an hwloc XML file or a recorded /sys tree */
  char *devices;           /* --devices: PCI bus ids to treat as GPUs */
  bool json;               /* --json: machine-readable output */
  bool no_cuda;            /* --no-cuda: do not ask the CUDA runtime */
  char *gpus;              /* --gpus: a count (first N) or a list of GPU indexes */
  int workers;             /* --workers: worker threads per GPU, 0 = one per core of the GPU's share */
  char *mode;              /* --mode: placement mode(s), comma-separated */
  char *gpu_node;          /* --gpu-node: GPU=NODE overrides */
  char *emit;              /* --emit: launch lines to print ("numactl") */
  bool check;              /* --check: apply the plan here and audit it */
  bool allow_misplacement; /* --allow-misplacement: exit 0 even when placement was not achieved */
  int check_move_staging;  /* --check-move-staging: move GPU 0's staging pages to this node (audit self-test),
                              -1 off */
  char *sample;            /* --sample: CxHxW */
  int batch;               /* --batch: samples per batch, 0 = the largest that fits (at most 128) */
  int warmup;              /* --warmup: untimed steps */
  int steps;               /* --steps: timed steps */
  int seed;                /* --seed: data seed */
  char *pipeline;          /* --pipeline: torch or direct */
  char *backend;           /* --backend: auto, host or cuda */
  char *pin;               /* --pin: register or hostalloc */
  int gpu_work;            /* --gpu-work: device work per step, microseconds */
  bool verify;             /* --verify: check every delivered batch */
  bool quiet;              /* --quiet: no progress line */
  char *fail_at;           /* --fail-at: inject a failure (tests) */
  int repeat;              /* --repeat: runs of each mode, interleaved */
  char *output;            /* --output: directory of result files */
  bool no_save;            /* --no-save: write no result files */
  char *config;            /* --config: preset file read before the command line */
  char *sweep;             /* --sweep: OPTION=V1,V2,...: one run per value */
  char *format;            /* --format: report table format (text, md, csv) */
  int threshold;           /* --threshold: compare's regression threshold, percent */
  char *size;              /* --size: bytes per copy for bw (K, M, G suffixes) */
  uint64_t set;            /* bit i: option i of the table was given by the user */
};

struct nb_option {
  const char *name; /* long name, also the config-file key */
  int short_name;   /* single-letter form, 0 when none */
  enum nb_opt_type type;
  size_t offset;       /* of the field in struct nb_config */
  const char *def;     /* default as text; NULL when unset by default */
  unsigned commands;   /* enum nb_command bits */
  const char *metavar; /* the value's name in --help */
  const char *help;    /* one line */
  long min, max;       /* NB_OPT_INT: allowed range */
};

/** The table; *n receives its length. */
const struct nb_option *nb_options(int *n);

/** The option named name, NULL when there is none. */
const struct nb_option *nb_option_find(const char *name);

/** Fill cfg with the defaults. Returns 0 or NB_ENOMEM. */
int nb_config_init(struct nb_config *cfg);

/** Set an option from text (value NULL for flags) and mark it user-set.
 *  - NB_EINVAL: bad value, message names the option.
 *  - NB_ENOMEM: out of memory. */
int nb_config_set(struct nb_config *cfg, const struct nb_option *opt, const char *value, nb_error_t *err);

/** Load options from an INI preset ("name = value" lines, option names of
 *  the table, optional [numabench] section); they count as set by the user.
 *  - NB_ENOENT: the file cannot be opened.
 *  - NB_EINVAL: "FILE:LINE: reason" for an unknown key, a bad value, an
 *    option the command does not take, or a malformed line. */
int nb_config_load_file(struct nb_config *cfg, const char *path, unsigned command, nb_error_t *err);

/** Deep copy (strings duplicated). Returns 0 or NB_ENOMEM. */
int nb_config_copy(struct nb_config *dst, const struct nb_config *src);

/** Whether the user gave the option (vs. its default). */
bool nb_config_is_set(const struct nb_config *cfg, const struct nb_option *opt);

void nb_config_free(struct nb_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
