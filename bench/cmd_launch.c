/* numabench launch: the user's command under each placement mode, every
 * rank placed by `numabench exec` (this binary), supervised by the library
 * (nb_launch); the signals that stop it and the progress line are the
 * command line's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <numabench/launch.h>

#include "cli.h"

/* The signal thread writes each SIGINT/SIGTERM as one byte into this pipe;
 * the library forwards it to every rank's process group. */
static struct {
  int fd[2];
  pthread_mutex_t mu;
  int done;
} stop = {{-1, -1}, PTHREAD_MUTEX_INITIALIZER, 0};

static void *signal_thread(void *arg)
{
  sigset_t *set = arg;
  for (;;) {
    int sig;
    if (sigwait(set, &sig) != 0)
      continue;
    pthread_mutex_lock(&stop.mu);
    int done = stop.done;
    pthread_mutex_unlock(&stop.mu);
    if (sig == SIGUSR2) {
      if (done)
        return NULL;
      continue;
    }
    unsigned char b = (unsigned char)sig;
    if (write(stop.fd[1], &b, 1) < 0)
      continue;
  }
  return NULL;
}

static void show_progress(void *arg, const struct nb_launch_progress *p)
{
  (void)arg;
  fprintf(stderr, "\r  launch: mode %-11s repeat %d/%d  %6.1f s%s", nb_mode_name(p->mode), p->repeat + 1,
          p->repeats, p->elapsed_s, p->done ? "\n" : "");
}

/* The line that places one rank: this binary's exec with the machine
 * options launch was given. */
static int exec_prefix(const struct nb_config *cfg, const char **a, char *self, size_t len)
{
  ssize_t n = readlink("/proc/self/exe", self, len - 1);
  if (n <= 0)
    return -1;
  self[n] = '\0';
  int k = 0;
  a[k++] = self;
  a[k++] = "exec";
  if (cfg->devices) {
    a[k++] = "--devices";
    a[k++] = cfg->devices;
  }
  if (cfg->no_cuda)
    a[k++] = "--no-cuda";
  if (cfg->gpu_node) {
    a[k++] = "--gpu-node";
    a[k++] = cfg->gpu_node;
  }
  a[k] = NULL;
  return 0;
}

/* Whether the command can be run: a path names an executable file, a name
 * is found in PATH, as execvp would. A command that cannot run is bad input
 * (exit 2) before any rank starts, not a failed run in every mode. */
static int runnable(const char *name)
{
  struct stat st;
  if (strchr(name, '/'))
    return stat(name, &st) == 0 && S_ISREG(st.st_mode) && access(name, X_OK) == 0;
  const char *path = getenv("PATH");
  char full[PATH_MAX];
  for (const char *p = path ? path : "/bin:/usr/bin"; *name; p += strcspn(p, ":") + 1) {
    int n = (int)strcspn(p, ":");
    snprintf(full, sizeof full, "%.*s/%s", n, n ? p : ".", name);
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
      return 1;
    if (!p[n])
      break;
  }
  return 0;
}

/* Results first (files, then the report), as run does: a closed stdout must
 * not lose the measurement. */
static int report(nb_launch_t l, const struct nb_config *cfg)
{
  nb_error_t err = {0};
  char path[4096];
  if (!cfg->no_save) {
    if (nb_launch_save(l, cfg->output, path, sizeof path, &err) < 0)
      return cli_fail(&err);
    fprintf(stderr, "numabench: results saved in %s (and .csv)\n", path);
  }
  if ((cfg->json ? nb_launch_write_json(l, stdout, &err) : nb_launch_write_text(l, stdout, &err)) < 0) {
    fprintf(stderr, "numabench: launch: writing the report to standard output: %s%s\n", strerror(errno),
            cfg->no_save ? "" : " (the result files are saved)");
    return EXIT_FAILURE;
  }
  return 0;
}

static int launch(const struct nb_config *cfg, nb_topo_t topo, int argc, char **argv)
{
  const char *prefix[12];
  char self[PATH_MAX];
  if (exec_prefix(cfg, prefix, self, sizeof self) < 0) {
    fprintf(stderr, "numabench: launch: cannot find this program (/proc/self/exe): %s\n", strerror(errno));
    return EXIT_FAILURE;
  }
  struct nb_launch_config lc = {.options = cfg,
                                .exec_argv = prefix,
                                .argc = argc,
                                .argv = (const char *const *)argv,
                                .topo = topo,
                                .stop_fd = stop.fd[0],
                                /* With --json stdout holds the document only. */
                                .out = cfg->json ? stderr : stdout,
                                .err = stderr,
                                .echo_exec = !cfg->quiet && !cfg->log_dir};
  if (isatty(STDERR_FILENO) && !cfg->quiet)
    lc.progress = show_progress;
  nb_launch_t l;
  nb_error_t err = {0};
  if (nb_launch_new(&l, &lc, &err) < 0)
    return cli_fail(&err);
  int rc = nb_launch_run(l, &err);
  if (rc < 0) {
    fprintf(stderr, "numabench: %s\n", err.msg);
    rc = EXIT_FAILURE; /* what ran is still saved */
  }
  int rrc = report(l, cfg);
  /* A placed mode that the audit did not see as planned, as run's
   * placement not achieved. */
  int n = 0, misplaced = 0;
  struct nb_launch_summary *sum = nb_launch_summarize(l, &n);
  for (int k = 0; sum && k < n; k++)
    misplaced += sum[k].mode != NB_MODE_NONE && sum[k].as_planned < sum[k].audited;
  free(sum);
  int sig = nb_launch_interrupted(l);
  if (rc == 0 && rrc)
    rc = rrc;
  if (rc == 0 && sig)
    rc = 128 + sig;
  else if (rc == 0 && nb_launch_failed(l)) {
    fprintf(stderr, "numabench: launch: a run failed (see the report)\n");
    rc = EXIT_FAILURE;
  } else if (rc == 0 && misplaced && !cfg->allow_misplacement) {
    fprintf(stderr,
            "numabench: launch: placement not as planned in %d mode%s (see the report); "
            "--allow-misplacement exits 0\n",
            misplaced, misplaced == 1 ? "" : "s");
    rc = CLI_EXIT_MISPLACED;
  }
  nb_launch_free(l);
  return rc;
}

int cmd_launch(const struct nb_config *cfg, int argc, char **argv)
{
  nb_error_t err = {0};
  if (nb_launch_check(cfg, argc, &err) < 0)
    return cli_usage("numabench %s", err.msg);
  char shown[CLI_SHOWN];
  if (!runnable(argv[0]))
    return cli_usage("numabench launch: cannot run '%s': no executable file of that name%s",
                     cli_shown(argv[0], shown), strchr(argv[0], '/') ? "" : " in PATH");
  nb_topo_t topo;
  struct nb_topo_config tc = {.devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return cli_fail(&err);
  signal(SIGPIPE, SIG_IGN);
  /* Workers a rank leaves behind are adopted by numabench rather than init,
   * so that the launcher reaps them and their process group empties before
   * the next run starts. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR2);
  pthread_t sigt;
  int sig_thread = 0;
  if (pipe2(stop.fd, O_CLOEXEC) == 0 && pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 &&
      pthread_create(&sigt, NULL, signal_thread, &set) == 0)
    sig_thread = 1;
  int rc = launch(cfg, topo, argc, argv);
  pthread_mutex_lock(&stop.mu);
  stop.done = 1;
  pthread_mutex_unlock(&stop.mu);
  if (sig_thread) {
    pthread_kill(sigt, SIGUSR2);
    pthread_join(sigt, NULL);
  }
  for (int i = 0; i < 2; i++)
    if (stop.fd[i] >= 0)
      close(stop.fd[i]);
  nb_topo_free(topo);
  return rc;
}
