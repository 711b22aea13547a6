/* numabench: a user's own command run under each placement (`numabench
 * launch`), the seed's A/B experiment on a real training script.
 *
 * Every placement mode runs --repeat times, interleaved as `run` does (none,
 * bind, ..., none, bind, ...). One run starts --nproc local ranks of the
 * command, each as its own process group, each placed by `numabench exec`
 * (the caller gives the line that runs exec; the library adds the mode), with
 * a torchrun-compatible environment. The library supervises the run: rank
 * output line by line (prefixed, or to per-rank files), the --metric value
 * each rank prints, a timeout, a failing rank stopping the others, a signal
 * forwarded to every rank's process group, and no process of a rank left
 * behind. In mode adversarial it watches every rank's process tree and moves
 * the rank's descendants (dataloader workers) and their threads to the GPU's
 * node while the rank itself runs on the remote node.
 *
 * The results are per run and per rank; the summary per mode uses the
 * statistics of `run` (nb_stats_compute, nb_ratio_ci). Result files: kind
 * "launch" in docs/results-schema.md.
 */
#ifndef NUMABENCH_LAUNCH_H
#define NUMABENCH_LAUNCH_H

#include <stdbool.h>
#include <stdio.h>

#include <numabench/error.h>
#include <numabench/opts.h>
#include <numabench/plan.h>
#include <numabench/stats.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_launch *nb_launch_t;

/** Lines of output kept per rank, for a failed run's report. */
#define NB_LAUNCH_TAIL 8
/** Longest line kept (longer lines are kept cut). */
#define NB_LAUNCH_LINE 400

/** Where a run is, for a progress line. */
struct nb_launch_progress {
  enum nb_mode mode; /* the mode running */
  int repeat;        /* 0 .. --repeat - 1 */
  int repeats;       /* --repeat */
  double elapsed_s;  /* since the run started */
  bool done;         /* the run is over: the last call for it */
};

struct nb_launch_config {
  const struct nb_config *options; /* resolved options (not copied: must outlive the launch) */
  const char *const *exec_argv;    /* what places one rank, e.g. {"/proc/self/exe", "exec", "--devices",
                                      "...", NULL}; the library appends --mode M, --json, -- and the command */
  int argc;                        /* the command: argv[0..argc) */
  const char *const *argv;
  nb_topo_t topo;  /* this machine's topology (GPUs, nodes); kept, not freed */
  int stop_fd;     /* readable: one byte, a signal number, to forward to every rank and stop; -1 none */
  FILE *out, *err; /* where rank stdout and stderr lines go, prefixed "[rank N] " (without --log-dir) */
  bool echo_exec;  /* also show each rank's exec line (else it is only recorded) */
  void (*progress)(void *arg, const struct nb_launch_progress *p); /* about 5 times a second; may be NULL */
  void *progress_arg;
};

/** How a run ended. */
enum nb_launch_outcome {
  NB_LAUNCH_OK,          /* every rank exited 0 */
  NB_LAUNCH_FAILED,      /* a rank exited non-zero or was killed: the others were stopped */
  NB_LAUNCH_TIMEOUT,     /* --timeout passed: every rank was stopped */
  NB_LAUNCH_INTERRUPTED, /* a signal was forwarded: every rank was stopped */
  NB_LAUNCH_SKIPPED      /* the mode cannot exist here (the reason is recorded) */
};

/** What the adversarial watcher did to one rank's descendants. */
struct nb_launch_moves {
  int procs;         /* descendant processes placed on the worker node */
  int threads;       /* their threads given the worker node's CPUs (sched_setaffinity) */
  int thread_errors; /* threads that refused (the last errno in thread_errno) */
  int thread_errno;
  int pages_calls;      /* move_pages calls that succeeded */
  long pages_asked;     /* the descendants' own pages asked to move (present, mapped by them alone) */
  long pages_left;      /* of those, not on the worker node after the move */
  long pages_skipped;   /* their own pages left alone: in a huge-page block not wholly theirs (launch_watch.c) */
  int pages_errno;      /* the last errno of move_pages or of reading /proc, 0 when none */
  int worker_node; /* the node they were moved to, -1 when nothing was to move */
};

/** Placement proof of one rank in one run: what the mode planned (from
 *  exec's line) against what the audit saw while the run was in progress
 *  (CPU samples of every thread, resident data pages, from /proc). The
 *  rank's own process and its descendants (workers) are judged apart:
 *  adversarial plans them on different nodes. */
struct nb_launch_proof {
  bool audited; /* the audit sampled the rank; else why_not says why */
  char why_not[120];
  int rank_node;          /* planned node of the rank's process, -1 when not bound (none) */
  int worker_node;        /* planned node of its descendants, -1 when not bound */
  double rank_cpu_share;  /* share of the rank process's CPU samples on rank_node (NaN: none) */
  double rank_page_share; /* share of its data pages on rank_node */
  double worker_cpu_share, worker_page_share; /* the same for its descendants, on worker_node */
  int workers_seen;                           /* descendant processes the audit saw */
  bool as_planned;       /* every share that is known is at least the audit's threshold */
  bool workers_off_node; /* a bound mode whose workers ran (CPU samples) off their planned node */
  char verdict[16];      /* the audit's verdict of the whole rank against its GPU's node */
};

/** One rank of one run. */
struct nb_launch_rank {
  int rank;        /* local rank */
  int pid;         /* its process (and process group) */
  bool exited;     /* reaped */
  int exit_code;   /* when it exited normally, else -1 */
  int signal;      /* the signal that killed it, else 0 */
  double exit_s;   /* seconds from the run's start to its exit */
  bool has_metric; /* it printed a line matching --metric */
  double metric;   /* the last value captured */
  int ntail;       /* lines in tail, oldest first */
  char tail[NB_LAUNCH_TAIL][NB_LAUNCH_LINE];
  char *exec_line; /* exec's JSON line (its first line on stderr), or NULL when it printed none */
  struct nb_launch_moves moves;
  int descendants_seen; /* most descendant processes seen at once */
  struct nb_launch_proof proof;
};

/** One run: a mode, a repeat. */
struct nb_launch_run {
  enum nb_mode mode;
  int repeat;
  enum nb_launch_outcome outcome;
  const char *skip_reason; /* NB_LAUNCH_SKIPPED: why */
  double wall_s;           /* start to the last rank's exit */
  int failed_rank;         /* the first rank that failed, -1 when none */
  int signo;               /* NB_LAUNCH_INTERRUPTED: the signal forwarded */
  int master_port;
  double value;     /* the run's result (higher is better), NaN when the run has none */
  int slowest_rank; /* with --metric: the rank whose value is the run's, else -1 */
  int nranks;
  struct nb_launch_rank *ranks;
};

/** A mode's summary, over its complete runs. */
struct nb_launch_summary {
  enum nb_mode mode;
  bool skipped;
  int runs;               /* complete runs (every rank exited 0 and, with --metric, printed a value) */
  int failed;             /* runs that failed, timed out or were interrupted */
  struct nb_stats value;  /* of the runs' values; n 0 when none */
  struct nb_stats wall;   /* of their wall times */
  double speedup, lo, hi; /* value vs none's, with its 95% interval; NaN when unknown */
  int audited;            /* rank runs the audit sampled (of every run of the mode, complete or not) */
  int as_planned;         /* of them, placed as the mode planned */
  int workers_off_node;   /* of them, bound modes whose workers ran off their planned node */
};

/** Check launch's options and the command against each other: a command
 *  given, --metric a valid POSIX extended regex, --node-rank below --nnodes.
 *  - NB_EINVAL: the message names the option and the fix. */
int nb_launch_check(const struct nb_config *options, int argc, nb_error_t *err);

/** A launch ready to run: --nproc resolved (one per GPU of topo by default),
 *  the metric compiled. Nothing is started.
 *  - NB_EINVAL: what nb_launch_check refuses; --nproc 0 without GPUs.
 *  - NB_ENOMEM. */
int nb_launch_new(nb_launch_t *lp, const struct nb_launch_config *cfg, nb_error_t *err);
void nb_launch_free(nb_launch_t l);

/** Run every repeat of every mode, interleaved. A run that fails stops the
 *  experiment unless --keep-going; a forwarded signal stops it. Returns 0
 *  when the experiment was carried out, whatever its runs' outcomes (see
 *  nb_launch_failed).
 *  - NB_EIO: a rank could not be started (pipe, fork) or its log file
 *    not created. - NB_ENOMEM. */
int nb_launch_run(nb_launch_t l, nb_error_t *err);

/** Ranks per run. */
int nb_launch_nproc(nb_launch_t l);
/** The runs so far, in the order they ran (skipped modes once). */
int nb_launch_nruns(nb_launch_t l);
const struct nb_launch_run *nb_launch_get_run(nb_launch_t l, int i);
/** Whether a run failed or timed out. */
bool nb_launch_failed(nb_launch_t l);
/** The signal forwarded to the ranks, 0 when none. */
int nb_launch_interrupted(nb_launch_t l);

/** Per mode, in --mode order: *n receives the count. NULL on ENOMEM. */
struct nb_launch_summary *nb_launch_summarize(nb_launch_t l, int *n);

/** The table of results per mode, and every failed run with its rank, exit
 *  status and last lines. - NB_EIO. */
int nb_launch_write_text(nb_launch_t l, FILE *out, nb_error_t *err);
/** The result document (docs/results-schema.md, kind launch). - NB_EIO, NB_ENOMEM. */
int nb_launch_write_json(nb_launch_t l, FILE *out, nb_error_t *err);
/** The result files in dir: <time>-<host>-launch-<modes>.json and .csv,
 *  written atomically, never overwriting. path receives the JSON's path.
 *  - NB_EIO. */
int nb_launch_save(nb_launch_t l, const char *dir, char *path, size_t len, nb_error_t *err);

const char *nb_launch_outcome_name(enum nb_launch_outcome o);

#ifdef __cplusplus
}
#endif
#endif
