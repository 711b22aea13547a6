/* numabench: launch's private interface, shared by launch.c (the
 * experiment), launch_run.c (one supervised run), launch_watch.c (rank
 * process trees) and report_launch.c. Not installed. */
#ifndef NB_LAUNCH_INTERNAL_H
#define NB_LAUNCH_INTERNAL_H

#include <regex.h>

#include <numabench/launch.h>

struct nb_launch {
  const struct nb_config *o;
  const char *const *exec_argv;
  int nexec; /* entries of exec_argv */
  int argc;
  const char *const *argv;
  nb_topo_t topo;
  int stop_fd;
  FILE *out, *err;
  bool echo_exec;
  void (*progress)(void *arg, const struct nb_launch_progress *p);
  void *progress_arg;
  int nproc;
  bool have_metric;
  regex_t metric;
  struct nb_launch_run *runs;
  int nruns, cap;
  int signo;   /* forwarded, 0 when none */
  bool failed; /* a run failed or timed out */
  char skip[NB_NMODES][240];
};

/* One run of mode, repeat: start the ranks, supervise them until every one
 * has exited and its process group is gone, fill run. Errors: NB_EIO (pipe,
 * fork, log file), NB_ENOMEM; a rank that fails is an outcome, not an
 * error. */
int nb__launch_run_one(nb_launch_t l, enum nb_mode mode, int repeat, struct nb_launch_run *run,
                       nb_error_t *err);

/* The descendants of root (not root itself), from one scan of /proc: up to
 * max pids into out; returns the count. */
int nb__launch_descendants(int root, int *out, int max);

/* The thread that moves pages (move_pages) for the adversarial
 * watcher. Counters of a move are written under mu until stop. */
#include <pthread.h>
#define NB__MIGRATE_QUEUE 256
struct nb__migration {
  int pid, rank, node; /* rank: the rank whose descendant pid is */
  struct nb_launch_moves *m;
};
struct nb__migrator {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool started, stop;
  long head, n; /* taken and queued so far */
  unsigned long huge; /* the transparent huge page size, read once */
  struct nb__migration q[NB__MIGRATE_QUEUE];
};
int nb__migrator_start(struct nb__migrator *g);
/* Stop it (moves still queued are dropped: the run is over) and join. */
void nb__migrator_stop(struct nb__migrator *g);

/* Adversarial: give every thread of pid, a descendant of rank, the CPUs
 * cpus[0..n) now and, when first is set, have g move its own pages to node;
 * counts into m. */
void nb__launch_move(struct nb__migrator *g, int pid, int rank, const int *cpus, int n, int node, bool first,
                     struct nb_launch_moves *m);

/* The placement proof (launch_audit.c): start the audit of every rank's
 * tree in a thread, from what the ranks' exec lines say; NULL when it cannot
 * start (the proof then says so). End: wait for it and fill every rank's
 * proof. */
struct nb__launch_audit;
struct nb__launch_audit *nb__launch_audit_start(nb_launch_t l, const struct nb_launch_run *run);
/* Joins the audit and writes each rank's proof into run; a rank the audit
 * did not find keeps a proof an earlier audit of this run gave it. */
void nb__launch_audit_end(struct nb__launch_audit *a, struct nb_launch_run *run);
/* Whether the audit's thread has finished (ending it will not block). */
bool nb__launch_audit_done(const struct nb__launch_audit *a);

/* Free what a run owns. */
void nb__launch_run_free(struct nb_launch_run *run);

#endif
