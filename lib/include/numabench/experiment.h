/* numabench: the experiment behind `numabench run`.
 *
 * One experiment = the resolved options of one invocation: for every sweep
 * point (one per value of --sweep, or a single point), every placement mode
 * run --repeat times, interleaved (none, bind, ..., none, bind, ...) so that
 * drift over time favours no mode. For each point the experiment plans every
 * mode first, picks the batch and checks memory over all of them, then runs.
 *
 * Points are run one call at a time, so that a caller can report each point
 * as soon as it is done (text, JSON, result files) before the next starts.
 */
#ifndef NUMABENCH_EXPERIMENT_H
#define NUMABENCH_EXPERIMENT_H

#include <stdbool.h>

#include <numabench/error.h>
#include <numabench/opts.h>
#include <numabench/plan.h>
#include <numabench/run.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_experiment *nb_experiment_t;

/** Where the run in progress is, for a progress line. */
struct nb_progress {
  enum nb_mode mode; /* the mode running */
  int repeat;        /* 0 .. --repeat - 1 */
  int run;           /* runs started in the experiment so far, minus one: changes with every run */
  int step, total;   /* steps done (warmup included) of total */
  bool failed;       /* the run failed: the last call for it, so that a progress line can be ended */
};

struct nb_experiment_config {
  const struct nb_config *options; /* the resolved options (copied; recorded in every result) */
  /* Called from GPU 0's device side after each step, and once more when a
   * started run fails; may be NULL. */
  void (*progress)(void *arg, const struct nb_progress *p);
  void *progress_arg;
};

/** Resolve the options of an experiment: the sweep, and for every point its
 *  modes, sample shape, pipeline and backend as asked; every sweep value is
 *  checked before anything runs. With several points, each point is also
 *  prepared against this machine as nb_experiment_run_point
 *  would (topology, backend, plans, batch, memory), without running
 *  anything; its error then starts with "--sweep OPTION=VALUE (point K of
 *  N, nothing was run): ". A single point is loaded by its run.
 *  - NB_EINVAL: a bad option value (the message names the option).
 *  - NB_ENOTSUP, and the errors of nb_experiment_run_point's preparation,
 *    for a sweep point this machine cannot have.
 *  - NB_ENOMEM. */
int nb_experiment_new(nb_experiment_t *xp, const struct nb_experiment_config *cfg, nb_error_t *err);

/** Sweep points: values of --sweep, or 1. */
int nb_experiment_npoints(nb_experiment_t x);

/** Run point i: load the topology, resolve the backend, plan every mode (a
 *  mode this machine cannot have is a recorded skip inside a list), pick the
 *  batch, check memory, then every repeat of every mode. *repp receives the
 *  point's result, valid until the next call or nb_experiment_free; its
 *  interrupted field says nb_experiment_stop cut it short, its
 *  placement_achieved field whether every placed mode achieved its placement.
 *  - NB_EINVAL: an option that does not fit this machine (no batch fits,
 *    too little memory), or the run refused its configuration.
 *  - NB_ENOTSUP: what was asked cannot run here: a single mode the machine
 *    cannot have, no mode at all, or --backend cuda without a usable GPU.
 *  - errors of nb_topo_load, nb_plan_make, nb_run_start and nb_run_wait. */
int nb_experiment_run_point(nb_experiment_t x, int i, const struct nb_report **repp, nb_error_t *err);

/** Stop the run in progress after its current step, and start no other run.
 *  Safe from any thread (not from a signal handler). */
void nb_experiment_stop(nb_experiment_t x);

void nb_experiment_free(nb_experiment_t x);

/** --backend as asked (resolved against the machine later, nb_backend_resolve). */
enum nb_backend nb_options_backend(const struct nb_config *cfg);

/** --pin as the CUDA backend takes it. */
enum nb_pin nb_options_pin(const struct nb_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
