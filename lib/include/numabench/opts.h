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
#include <numabench/plan.h>

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
  NB_CMD_EXEC = 1u << 6,
  NB_CMD_AUDIT = 1u << 7,
  NB_CMD_LAUNCH = 1u << 8,
  NB_CMD_PROBE = 1u << 9,
  NB_CMD_FLEET = 1u << 15,
};

/* Every option's value is parsed once, when it is set, by its type. Typed
 * options keep the text as given beside the value (result files record the
 * options as the user wrote them). */
enum nb_opt_type {
  NB_OPT_BOOL,      /* a flag: present means true */
  NB_OPT_STRING,    /* text: a path, a list parsed by the library call that takes it */
  NB_OPT_INT,       /* an integer within [min, max] */
  NB_OPT_ENUM,      /* one of choices; the value is the choice's index (an int) */
  NB_OPT_SIZE,      /* bytes: a number with K, M or G (powers of 1024), at least 4K (a size_t) */
  NB_OPT_SHAPE,     /* CxHxW, positive, at most 2^28 values (a struct nb_shape) */
  NB_OPT_MODES,     /* placement modes, comma-separated, each once (a struct nb_modes) */
  NB_OPT_FAULT,     /* STAGE:BATCH, a failure to inject (a struct nb_fault) */
  NB_OPT_GPUS,      /* a count or indexes and ranges (a struct nb_gpu_select) */
  NB_OPT_GPU_NODES, /* GPU=NODE,... (a struct nb_gpu_nodes) */
};

/* Option flags. */
#define NB_OPT_SWEEPABLE 1u /* --sweep may vary it: it changes a run, not how it is reported */

/** The longest value of one --sweep point. */
#define NB_SWEEP_VALUE_MAX 127
#define NB_OPT_CMD_ERRORS                                                                                    \
  2u /* the CLI names the command in errors about its value ("numabench report: --format ..."), as it        \
        always has for the options one command checked itself */

/** A sample shape: channels x height x width. */
struct nb_shape {
  int c, h, w;
};

/** Placement modes in the order given. */
struct nb_modes {
  int n;
  enum nb_mode mode[NB_NMODES];
};

/** Where --fail-at injects a failure (tests of the error paths). */
enum nb_fault_stage {
  NB_FAULT_NONE,
  NB_FAULT_WORKER,  /* a worker fails building the batch */
  NB_FAULT_FEEDER,  /* the feeder fails handing it over */
  NB_FAULT_DEVICE,  /* the device side fails copying it */
  NB_FAULT_CORRUPT, /* a bit of the batch is flipped in staging (--verify must catch it) */
};

/** The last batch index a run reaches: --warmup and --steps are at most 2^24
 *  each, and batches are numbered from 0 in every run. */
#define NB_FAULT_MAX_BATCH ((1L << 25) - 1)

/** A failure to inject: at which stage, at which batch (>= 0). */
struct nb_fault {
  enum nb_fault_stage stage;
  long batch;
};

/* Choices of the enum options, in the order of the enums they stand for. */
enum nb_opt_pipeline { NB_OPT_PIPE_TORCH, NB_OPT_PIPE_DIRECT }; /* = enum nb_pipeline */
enum nb_opt_backend { NB_OPT_BACKEND_AUTO, NB_OPT_BACKEND_HOST, NB_OPT_BACKEND_CUDA }; /* = enum nb_backend */
enum nb_opt_source { NB_OPT_SOURCE_RANDN, NB_OPT_SOURCE_REPLAY };                      /* = enum nb_source */
enum nb_opt_pin { NB_OPT_PIN_REGISTER, NB_OPT_PIN_HOSTALLOC }; /* = enum nb_pin (REGISTER, HOSTALLOC) */
/* = enum nb_table_format; JSON: fleet only (report refuses it) */
enum nb_opt_format { NB_OPT_FORMAT_TEXT, NB_OPT_FORMAT_MD, NB_OPT_FORMAT_CSV, NB_OPT_FORMAT_JSON };
enum nb_opt_emit { NB_OPT_EMIT_NUMACTL, NB_OPT_EMIT_TORCHRUN, NB_OPT_EMIT_SCRIPT };

/** The resolved configuration. Strings are owned (nb_config_free). */
struct nb_config {
  char *topology;                  /* --topology: live, an hwloc XML file or a recorded /sys tree */
  char *devices;                   /* --devices: PCI bus ids to treat as GPUs */
  bool json;                       /* --json: machine-readable output */
  bool no_cuda;                    /* --no-cuda: do not ask the CUDA runtime */
  char *gpus;                      /* --gpus: a count (first N) or a list of GPU indexes, as given */
  struct nb_gpu_select gpu_select; /* --gpus: parsed */
  int workers;                   /* --workers: worker threads per GPU, 0 = one per core of the GPU's share */
  char *mode;                    /* --mode: placement mode(s), comma-separated, as given */
  struct nb_modes modes;         /* --mode: parsed, or the command's default (nb_config_finish) */
  char *gpu_node;                /* --gpu-node: GPU=NODE overrides, as given */
  struct nb_gpu_nodes gpu_nodes; /* --gpu-node: parsed */
  char *emit;                    /* --emit: launch lines to print ("numactl") */
  int emit_kind;                 /* --emit: enum nb_opt_emit */
  bool check;                    /* --check: apply the plan here and audit it */
  bool allow_misplacement;       /* --allow-misplacement: exit 0 even when placement was not achieved */
  int check_move_staging; /* --check-move-staging: move GPU 0's staging pages to this node (audit self-test),
                             -1 off */
  char *sample;           /* --sample: CxHxW, as given */
  struct nb_shape shape;  /* --sample: parsed */
  int batch;              /* --batch: samples per batch, 0 = the largest that fits (at most 128) */
  int warmup;             /* --warmup: untimed steps */
  int steps;              /* --steps: timed steps */
  int seed;               /* --seed: data seed */
  char *pipeline;         /* --pipeline: torch or direct */
  int pipeline_kind;      /* --pipeline: enum nb_opt_pipeline */
  char *backend;          /* --backend: auto, host or cuda */
  int backend_kind;       /* --backend: enum nb_opt_backend */
  char *pin;              /* --pin: register or hostalloc */
  int pin_kind;           /* --pin: enum nb_opt_pin */
  int gpu_work;           /* --gpu-work: device work per step, microseconds */
  char *source;           /* --source: randn or replay */
  int source_kind;        /* --source: enum nb_opt_source */
  char *pool_size;        /* --pool-size: bytes of each worker's replay pool, as given */
  size_t pool_bytes;      /* --pool-size: parsed */
  int cpu_work;           /* --cpu-work: worker CPU work per sample, microseconds */
  bool verify;            /* --verify: check every delivered batch */
  bool quiet;             /* --quiet: no progress line */
  char *fail_at;          /* --fail-at: inject a failure (tests), as given */
  struct nb_fault fault;  /* --fail-at: parsed; stage NB_FAULT_NONE when not given */
  int repeat;             /* --repeat: runs of each mode, interleaved */
  char *output;           /* --output: directory of result files */
  bool no_save;           /* --no-save: write no result files */
  char *config;           /* --config: preset file read before the command line */
  char *sweep;            /* --sweep: OPTION=V1,V2,...: one run per value */
  int nproc;              /* --nproc: launch's local ranks, 0 = one per GPU */
  int nnodes;             /* --nnodes: hosts of the launched job */
  int node_rank;          /* --node-rank: this host's index among them */
  char *master_addr;      /* --master-addr: MASTER_ADDR of the launched ranks */
  int master_port;        /* --master-port: MASTER_PORT, 0 = a free one per run */
  char *metric;           /* --metric: regex capturing the launched command's result */
  int timeout;            /* --timeout: seconds a launched run may take, 0 = no limit */
  int grace;              /* --grace: seconds from SIGTERM to SIGKILL when a launched run is stopped */
  int audit_at;           /* --audit-at: seconds into a launched run when its audit starts */
  int audit_for;          /* --audit-for: seconds the audit samples */
  bool keep_going;        /* --keep-going: launch goes on after a failed run */
  char *log_dir;          /* --log-dir: per-rank output files instead of the terminal */
  char *format;           /* --format: report table format (text, md, csv) */
  int format_kind;        /* --format: enum nb_opt_format */
  int threshold;          /* --threshold: compare's regression threshold, percent */
  char *size;             /* --size: bytes per copy for bw (K, M, G suffixes), as given */
  size_t size_bytes;      /* --size: parsed */
  char *pid;              /* --pid: PID[:GPU],... to audit, as given */
  bool gpu_procs;         /* --gpu-procs: audit every process holding an NVIDIA GPU open */
  bool children;          /* --children: add the descendants of the processes found (default true) */
  char *duration;         /* --duration: seconds of CPU sampling, as given */
  bool expect_local;      /* --expect-local: exit 3 when a rank is not local */
  char *gpu;              /* --gpu: exec's GPU, INDEX or BUSID, as given */
  char *policy;           /* --policy: exec's CPUs on the node (node, socket, exclusive, core-complex) */
  int policy_kind;        /* --policy: enum nb_exec_policy */
  char *mem;              /* --mem: exec's memory policy (bind, preferred, interleave, none, local) */
  int mem_kind;           /* --mem: enum nb_exec_mem */
  bool allow_unbound;     /* --allow-unbound: exec runs the command unbound instead of refusing */
  char *group;            /* --group: fleet's grouping keys, comma-separated */
  char *k;                /* --k: fleet's band half-width in MADs, as given */
  int min_hosts;          /* --min-hosts: fewest hosts fleet judges a metric on */
  char *baseline;         /* --baseline: fleet's golden probe record */
  uint64_t set;           /* bit i: option i of the table was given by the user */
};

/** A default that only some commands take (plan --mode bind, bw --repeat 5). */
struct nb_opt_default {
  unsigned commands; /* enum nb_command bits; 0 ends the list */
  const char *value;
};

struct nb_option {
  const char *name; /* long name, also the config-file key */
  int short_name;   /* single-letter form, 0 when none */
  enum nb_opt_type type;
  size_t offset;              /* of the field in struct nb_config: the text for typed options */
  const char *def;            /* default as text; NULL when unset by default */
  unsigned commands;          /* enum nb_command bits */
  const char *metavar;        /* the value's name in --help; NULL for enums: their choices */
  const char *help;           /* one line */
  long min, max;              /* NB_OPT_INT: allowed range */
  size_t value_offset;        /* typed options: of the parsed value in struct nb_config */
  const char *const *choices; /* NB_OPT_ENUM: the names, NULL-terminated */
  const char *bad_choice;     /* NB_OPT_ENUM: what a wrong value is told; NULL: "expected <choices>" */
  const struct nb_opt_default *cdefs; /* per-command defaults of the parsed value, or NULL */
  unsigned flags;                     /* NB_OPT_SWEEPABLE, NB_OPT_CMD_ERRORS */
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

/** Apply the defaults that depend on the command (plan --mode bind, run
 *  --mode none,bind,adversarial, bw --repeat 5) to the options the user did
 *  not set. The text recorded in result files stays as it was (NULL).
 *  Returns 0 (the table's defaults are valid). */
int nb_config_finish(struct nb_config *cfg, unsigned command);

/** Checks between options, after nb_config_finish: for run, a --fail-at
 *  batch that no run reaches (past --warmup + --steps, or the fewest steps
 *  of a --sweep of steps). - NB_EINVAL: the message names the options. */
int nb_config_check(const struct nb_config *cfg, unsigned command, nb_error_t *err);

/** The value's name in --help: the metavar, or an enum's choices "a|b|c". */
const char *nb_option_metavar(const struct nb_option *opt, char *buf, size_t len);

/** Parse a size: a number of bytes with an optional K, M or G (powers of
 *  1024, optionally followed by B or iB), at least 4K. - NB_EINVAL. */
int nb_parse_size(const char *text, size_t *bytes);

/** Parse a failure to inject: worker:N, feeder:N, device:N or corrupt:N
 *  (0 <= N <= NB_FAULT_MAX_BATCH). - NB_EINVAL: the message names what is
 *  expected. */
int nb_parse_fault(const char *text, struct nb_fault *fault, nb_error_t *err);

/** Parse --gpus: a count ("8") or indexes and ranges ("0,2,5", "4-7").
 *  - NB_EINVAL: the message names what is wrong with the text. */
int nb_parse_gpus(const char *text, struct nb_gpu_select *sel, nb_error_t *err);

/** Parse --gpu-node: GPU=NODE[,GPU=NODE...].
 *  - NB_EINVAL: the message names what is wrong with the text. */
int nb_parse_gpu_nodes(const char *text, struct nb_gpu_nodes *o, nb_error_t *err);

/** Record text, a message that echoes the user's input (an option name, a
 *  command), as an error with code, the way the library's own errors are
 *  recorded: one line, control characters shown as '?', cut to fit. The
 *  command line's own messages go through it, so that an argument holding a
 *  newline cannot split them. Returns code. */
int nb_input_error(nb_error_t *err, int code, const char *text);

/** Whether the user gave the option (vs. its default). */
bool nb_config_is_set(const struct nb_config *cfg, const struct nb_option *opt);

void nb_config_free(struct nb_config *cfg);

/** Split --sweep OPTION=V1,V2,... and call each(arg, option, value) for
 *  every value in order, stopping at the first that fails.
 *  - NB_EINVAL: not OPTION=V1,... with a sweepable option, or a value over
 *    NB_SWEEP_VALUE_MAX characters; or what each returned. */
int nb_sweep_each(const char *sweep,
                  int (*each)(void *arg, const struct nb_option *opt, const char *value, nb_error_t *err),
                  void *arg, nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
