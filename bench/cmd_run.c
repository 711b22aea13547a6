/* numabench run: the experiment (the library's nb_experiment), reported
 * point by point; the signals that stop it and the progress line are the
 * command line's. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* The experiment being run, for the signal thread. */
static struct {
  pthread_mutex_t mu;
  nb_experiment_t x;
  int signo;
  int done; /* set before cmd_run wakes the signal thread to end it */
} current = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

/* SIGINT and SIGTERM are blocked in every thread and taken here, in a normal
 * thread, which may lock and ask the run to stop after its current step. */
static void *signal_thread(void *arg)
{
  sigset_t *set = arg;
  for (;;) {
    int sig;
    if (sigwait(set, &sig) != 0)
      continue;
    pthread_mutex_lock(&current.mu);
    if (sig == SIGUSR2) { /* ours only when cmd_run says the runs are over */
      int done = current.done;
      pthread_mutex_unlock(&current.mu);
      if (done)
        return NULL;
      continue;
    }
    if (!current.signo)
      current.signo = sig;
    if (current.x)
      nb_experiment_stop(current.x);
    pthread_mutex_unlock(&current.mu);
  }
  return NULL;
}

struct progress {
  int run; /* the run the line is about */
  double last;
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The progress line: at most 5 updates a second, the last step always; a
 * failed run ends the line so that the error starts on its own. */
static void show_progress(void *arg, const struct nb_progress *p)
{
  struct progress *pr = arg;
  if (p->failed) {
    fputc('\n', stderr);
    return;
  }
  double t = now_s();
  if (p->run != pr->run) {
    pr->run = p->run;
    pr->last = 0;
  }
  if (p->step < p->total && t - pr->last < 0.2)
    return;
  pr->last = t;
  fprintf(stderr, "\r  mode %-11s step %d/%d%s", nb_mode_name(p->mode), p->step, p->total,
          p->step == p->total ? "\n" : "");
}

/* One point's result files, its report on stdout, and the placement
 * verdict. The files are saved first: a full disk or a closed pipe on stdout
 * must not lose the measurement (SIGPIPE is ignored; the write fails and is
 * reported after the files are safe). */
static int report_point(const struct nb_report *rep)
{
  const struct nb_config *cfg = rep->options;
  nb_error_t err = {0};
  char path[4096] = "";
  bool misplaced = !rep->placement_achieved && !cfg->allow_misplacement && !rep->interrupted;
  if (!cfg->no_save) {
    if (nb_report_save(rep, cfg->output, path, sizeof path, &err) < 0)
      return cli_fail(&err);
    /* Exit 3 says where the results went in its own one line. */
    if (!misplaced)
      cli_note("results saved in %s (and .csv)", path);
  }
  if ((cfg->json ? nb_report_write_json(rep, stdout, &err) : nb_report_write_text(rep, stdout, &err)) < 0 ||
      fflush(stdout) == EOF || ferror(stdout)) {
    int e = err.sys_errno ? err.sys_errno : errno;
    cli_note("run: writing the report to standard output: %s%s%s%s", strerror(e),
             cfg->no_save ? "" : " (the results are saved in ", path, cfg->no_save ? "" : ")");
    return EXIT_FAILURE;
  }
  if (misplaced) {
    /* One line: which modes, where the details are, the way out. */
    char modes[NB_NMODES * 16] = "";
    bool seen[NB_NMODES] = {false};
    int nmodes = 0;
    for (int i = 0; i < rep->nentries; i++) {
      nb_run_t run = rep->entries[i].run;
      enum nb_mode m = rep->entries[i].mode;
      if (run && m != NB_MODE_NONE && !nb_run_placement_achieved(run) && !seen[m]) {
        seen[m] = true;
        nmodes++;
        snprintf(modes + strlen(modes), sizeof modes - strlen(modes), "%s%s", modes[0] ? ", " : "",
                 nb_mode_name(m));
      }
    }
    cli_note("placement not achieved in mode%s %s (details: the report's placement%s%s%s); "
             "--allow-misplacement exits 0",
             nmodes > 1 ? "s" : "", modes, path[0] ? "; results saved in " : "", path,
             path[0] ? " and .csv" : "");
    return CLI_EXIT_MISPLACED;
  }
  return 0;
}

/* Every point of the experiment, each reported as soon as it is done, with a
 * blank line between points; a failure, a misplaced point or a signal ends
 * the experiment after the point. */
static int run_points(nb_experiment_t x, const struct nb_config *cfg, int *interrupted)
{
  int rc = 0, n = nb_experiment_npoints(x);
  for (int i = 0; i < n; i++) {
    const struct nb_report *rep;
    nb_error_t err = {0};
    if (nb_experiment_run_point(x, i, &rep, &err) < 0)
      return err.code == NB_ENOTSUP ? cli_refuse(&err) : cli_fail(&err);
    *interrupted = rep->interrupted;
    rc = report_point(rep);
    if (i == n - 1)
      break;
    if (rc == 0 && !cfg->json)
      fputc('\n', stdout);
    if (rc != 0 || *interrupted)
      break;
  }
  return rc;
}

int cmd_run(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  struct progress prog = {.run = -1};
  struct nb_experiment_config xc = {.options = cfg, .progress_arg = &prog};
  if (isatty(STDERR_FILENO) && !cfg->quiet)
    xc.progress = show_progress;
  nb_experiment_t x;
  nb_error_t err = {0};
  /* A sweep point this machine cannot have is a refusal, as in run_points. */
  if (nb_experiment_new(&x, &xc, &err) < 0)
    return err.code == NB_ENOTSUP ? cli_refuse(&err) : cli_fail(&err);
  /* A reader that went away (`| head`) must not kill the run before its
   * result files are saved: the write fails with EPIPE instead, and
   * report_point says so after saving. */
  signal(SIGPIPE, SIG_IGN);

  /* Signals: taken by one thread so that a run stops after its step. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR2);
  pthread_t sigt;
  int sig_thread = 0, interrupted = 0;
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 && pthread_create(&sigt, NULL, signal_thread, &set) == 0)
    sig_thread = 1;
  pthread_mutex_lock(&current.mu);
  current.x = x;
  if (current.signo)
    nb_experiment_stop(x);
  pthread_mutex_unlock(&current.mu);

  int rc = run_points(x, cfg, &interrupted);

  pthread_mutex_lock(&current.mu);
  current.x = NULL;
  current.done = 1;
  pthread_mutex_unlock(&current.mu);
  if (sig_thread) {
    pthread_kill(sigt, SIGUSR2);
    pthread_join(sigt, NULL);
  }
  nb_experiment_free(x);
  if (rc == 0 && interrupted)
    return 128 + current.signo;
  return rc;
}
