/* numabench: one supervised run of launch: the ranks started through exec,
 * their output read line by line, the metric captured, the timeout, a
 * failing rank or a forwarded signal stopping every rank, and every rank's
 * process group gone before the run is over. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "launch-internal.h"
#include "nb-internal.h"

extern char **environ;

/* Bytes of a partial line kept per stream before it is passed on cut. */
#define LINE_BUF 8192
/* Most descendants of one rank the watcher follows. */
#define MAX_DESC 1024

/* One rank's pipes and what is left of its current lines. */
struct rank_io {
  int fd[2]; /* stdout, stderr read ends; -1 at EOF */
  char buf[2][LINE_BUF];
  size_t len[2];
  bool seen_err_line;  /* its first stderr line (exec's) has been read */
  FILE *log;           /* --log-dir file, or NULL */
  int moved[MAX_DESC]; /* descendants already given their pages' move */
  int nmoved;
  int worker_node;        /* adversarial: the GPU's node, from exec's line; -1 unknown yet */
  const int *worker_cpus; /* its CPUs */
  int nworker_cpus;
};

struct sup {
  nb_launch_t l;
  struct nb_launch_run *run;
  struct rank_io *io;
  double start, deadline; /* deadline: SIGKILL after the grace, 0 when not stopping */
  bool stopping;
  int live;         /* ranks not yet reaped */
  double placed_at; /* when every rank had given exec's line or exited, 0 before */
  double forked_at; /* when every running rank had started a process (a worker), 0 before */
  bool audit_started;
  bool audit_had_workers; /* every running rank had a descendant when the audit started */
  bool reaudited;         /* the second audit, once the workers ran, has started */
  struct nb__launch_audit *audit;
  struct nb__migrator mig;
};

/* A free TCP port for MASTER_PORT: the kernel's choice for port 0. */
static int free_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = 29500;
  if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0)
    close(s);
  return port;
}

static const char *const our_vars[] = {
    "LOCAL_RANK",          "RANK",        "WORLD_SIZE",        "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",         "MASTER_PORT", "CUDA_DEVICE_ORDER", "GROUP_RANK",
    "TORCHELASTIC_RUN_ID", NULL};

static bool ours(const char *kv)
{
  for (int i = 0; our_vars[i]; i++) {
    size_t n = strlen(our_vars[i]);
    if (!strncmp(kv, our_vars[i], n) && kv[n] == '=')
      return true;
  }
  return false;
}

/* The environment of rank r: ours, torchrun's names, over the caller's. All
 * built before fork, so that the child only calls async-signal-safe code. */
static char **rank_env(nb_launch_t l, int r, int port)
{
  int n = 0;
  while (environ[n])
    n++;
  char **env = calloc((size_t)n + 16, sizeof *env);
  if (!env)
    return NULL;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!ours(environ[i]))
      env[k++] = strdup(environ[i]);
  const struct nb_config *o = l->o;
  long world = (long)o->nnodes * l->nproc, rank = (long)o->node_rank * l->nproc + r;
  char v[9][300];
  snprintf(v[0], sizeof v[0], "LOCAL_RANK=%d", r);
  snprintf(v[1], sizeof v[1], "RANK=%ld", rank);
  snprintf(v[2], sizeof v[2], "WORLD_SIZE=%ld", world);
  snprintf(v[3], sizeof v[3], "LOCAL_WORLD_SIZE=%d", l->nproc);
  snprintf(v[4], sizeof v[4], "MASTER_ADDR=%s", o->master_addr ? o->master_addr : "127.0.0.1");
  snprintf(v[5], sizeof v[5], "MASTER_PORT=%d", port);
  snprintf(v[6], sizeof v[6], "CUDA_DEVICE_ORDER=PCI_BUS_ID");
  snprintf(v[7], sizeof v[7], "GROUP_RANK=%d", o->node_rank);
  snprintf(v[8], sizeof v[8], "TORCHELASTIC_RUN_ID=numabench");
  for (int i = 0; i < 9; i++)
    env[k++] = strdup(v[i]);
  for (int i = 0; i < k; i++)
    if (!env[i]) {
      for (int j = 0; j < k; j++)
        free(env[j]);
      free(env);
      return NULL;
    }
  return env;
}

static void free_env(char **env)
{
  for (int i = 0; env && env[i]; i++)
    free(env[i]);
  free(env);
}

/* The command line of a rank: exec's prefix, the mode, the command. The
 * adversarial rank is exec's remote one with memory policy local (first
 * touch), so that its pages follow where each process runs: the rank's on
 * the remote node, the workers' (moved by the watcher) on the GPU's. Local
 * and not the default: under the default policy automatic NUMA balancing
 * (on by default on multi-node machines) migrates the rank's pages its
 * workers read (copy-on-write after the fork) toward the workers' node, seen
 * in a 2-node guest as 1 to 2% of a torch rank's private pages on the wrong
 * node; it leaves tasks with an explicit policy alone. */
static const char **rank_argv(nb_launch_t l, enum nb_mode mode)
{
  const char **a = calloc((size_t)(l->nexec + l->argc + 8), sizeof *a);
  if (!a)
    return NULL;
  int k = 0;
  for (int i = 0; i < l->nexec; i++)
    a[k++] = l->exec_argv[i];
  a[k++] = "--mode";
  a[k++] = mode == NB_MODE_ADVERSARIAL ? "remote" : nb_mode_name(mode);
  if (mode == NB_MODE_ADVERSARIAL) {
    a[k++] = "--mem";
    a[k++] = "local";
  }
  a[k++] = "--json";
  a[k++] = "--";
  for (int i = 0; i < l->argc; i++)
    a[k++] = l->argv[i];
  return a;
}

/* The child: its own process group, its pipes, default signals, exec. Only
 * async-signal-safe calls (the parent may have threads). */
static void child(const char **argv, char **env, int out, int err)
{
  setpgid(0, 0);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  execve(argv[0], (char *const *)argv, env);
  static const char msg[] = "numabench launch: cannot run numabench exec\n";
  if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
    _exit(127);
  _exit(127);
}

static void kill_all(struct sup *s, int sig)
{
  for (int r = 0; r < s->run->nranks; r++)
    if (s->run->ranks[r].pid > 0)
      kill(-s->run->ranks[r].pid, sig);
}

static void start_stopping(struct sup *s, enum nb_launch_outcome why, int sig)
{
  if (s->stopping)
    return;
  s->stopping = true;
  s->run->outcome = why;
  kill_all(s, sig);
  s->deadline = nb__now() + s->l->o->grace;
}

/* exec's line: the GPU's node, where the adversarial watcher puts workers. */
static void take_exec_line(struct sup *s, int r, const char *line)
{
  struct nb_launch_rank *rk = &s->run->ranks[r];
  json_t *j = json_loads(line, 0, NULL);
  if (!j || !json_is_integer(json_object_get(j, "schema_version"))) {
    json_decref(j);
    return;
  }
  rk->exec_line = strdup(line);
  json_t *node = json_object_get(json_object_get(j, "gpu"), "numa_node");
  if (json_is_integer(node) && s->l->topo) {
    int idx = nb_topo_node_index(s->l->topo, (int)json_integer_value(node));
    const struct nb_node *n = idx >= 0 ? nb_topo_node(s->l->topo, idx) : NULL;
    if (n && n->ncpus) {
      s->io[r].worker_node = n->os_index;
      s->io[r].worker_cpus = n->cpus;
      s->io[r].nworker_cpus = n->ncpus;
    }
  }
  json_decref(j);
}

static const char *str_or(json_t *v, const char *dflt)
{
  return json_is_string(v) ? json_string_value(v) : dflt;
}

/* A JSON array of integers as a CPU list ("0-3,8"); "-" when empty. */
static char *list_text(json_t *arr)
{
  int v[1024], n = 0;
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) if (n < 1024 && json_is_integer(x)) v[n++] = (int)json_integer_value(x);
  return n ? nb__cpulist_dup(v, n) : strdup("-");
}

/* exec's JSON line in a few words, for the terminal. */
static void show_exec_line(nb_launch_t l, int r, const char *line)
{
  json_t *j = json_loads(line, 0, NULL), *gpu = json_object_get(j, "gpu");
  json_t *node = json_object_get(gpu, "numa_node");
  char *cl = list_text(json_object_get(j, "cpus_seen")),
       *ml = list_text(json_object_get(j, "mem_nodes_seen"));
  char nn[16] = "?";
  if (json_is_integer(node))
    snprintf(nn, sizeof nn, "%d", (int)json_integer_value(node));
  fprintf(l->err, "[rank %d] exec: GPU %s (node %s), mode %s: CPUs %s, memory %s %s, %s\n", r,
          str_or(json_object_get(gpu, "bus_id"), "?"), nn, str_or(json_object_get(j, "mode"), "?"),
          cl ? cl : "?", str_or(json_object_get(j, "mem_policy_seen"), "?"), ml ? ml : "?",
          json_is_true(json_object_get(j, "achieved")) ? "achieved" : "NOT achieved");
  fflush(l->err);
  free(cl);
  free(ml);
  json_decref(j);
}

/* A complete line of rank r's stream k: metric, tail, exec's line, echo. */
static void take_line(struct sup *s, int r, int k, char *line, size_t len)
{
  struct nb_launch_rank *rk = &s->run->ranks[r];
  struct rank_io *io = &s->io[r];
  nb_launch_t l = s->l;
  line[len] = '\0';
  bool exec_line = false;
  if (k == 1 && !io->seen_err_line) {
    io->seen_err_line = true;
    if (line[0] == '{') {
      take_exec_line(s, r, line);
      exec_line = rk->exec_line != NULL;
    }
  }
  regmatch_t m[2];
  if (!exec_line && l->have_metric && regexec(&l->metric, line, 2, m, 0) == 0) {
    regmatch_t g = m[1].rm_so >= 0 ? m[1] : m[0];
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(g.rm_eo - g.rm_so), line + g.rm_so);
    char *end;
    errno = 0;
    double v = strtod(num, &end);
    if (end != num && !*end && errno == 0 && isfinite(v)) {
      rk->metric = v;
      rk->has_metric = true;
    }
  }
  if (!exec_line) {
    if (rk->ntail == NB_LAUNCH_TAIL) {
      memmove(rk->tail[0], rk->tail[1], sizeof rk->tail[0] * (NB_LAUNCH_TAIL - 1));
      rk->ntail--;
    }
    snprintf(rk->tail[rk->ntail++], NB_LAUNCH_LINE, "%s", line);
  }
  if (io->log) {
    fprintf(io->log, "%s\n", line);
    fflush(io->log);
  } else if (exec_line) {
    if (l->echo_exec)
      show_exec_line(l, rk->rank, line);
  } else {
    /* One write per line: the lines of ranks never mix. */
    FILE *f = k == 0 ? l->out : l->err;
    fprintf(f, "[rank %d] %s\n", rk->rank, line);
    fflush(f);
  }
}

/* Read what rank r's stream k has; at EOF pass on the last partial line. */
static void drain(struct sup *s, int r, int k)
{
  struct rank_io *io = &s->io[r];
  for (;;) {
    if (io->len[k] == LINE_BUF - 1) { /* a line too long: passed on in pieces */
      take_line(s, r, k, io->buf[k], io->len[k]);
      io->len[k] = 0;
    }
    ssize_t n = read(io->fd[k], io->buf[k] + io->len[k], LINE_BUF - 1 - io->len[k]);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return; /* EAGAIN: more later */
    if (n == 0) {
      if (io->len[k])
        take_line(s, r, k, io->buf[k], io->len[k]);
      io->len[k] = 0;
      close(io->fd[k]);
      io->fd[k] = -1;
      return;
    }
    io->len[k] += (size_t)n;
    char *nl;
    size_t off = 0;
    while ((nl = memchr(io->buf[k] + off, '\n', io->len[k] - off))) {
      take_line(s, r, k, io->buf[k] + off, (size_t)(nl - (io->buf[k] + off)));
      off = (size_t)(nl - io->buf[k]) + 1;
    }
    memmove(io->buf[k], io->buf[k] + off, io->len[k] - off);
    io->len[k] -= off;
  }
}

/* Reap ranks that exited; the first failure stops the others. */
static void reap(struct sup *s)
{
  for (int r = 0; r < s->run->nranks; r++) {
    struct nb_launch_rank *rk = &s->run->ranks[r];
    int st;
    if (rk->exited || rk->pid <= 0 || waitpid(rk->pid, &st, WNOHANG) != rk->pid)
      continue;
    rk->exited = true;
    rk->exit_s = nb__now() - s->start;
    rk->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    rk->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    s->live--;
    if (rk->exit_code != 0 && !s->stopping) {
      s->run->failed_rank = r;
      start_stopping(s, NB_LAUNCH_FAILED, SIGTERM);
    }
  }
}

/* Adversarial: every descendant of each rank and its threads onto the
 * GPU's node; pages moved once per process. */
static void watch(struct sup *s)
{
  int desc[MAX_DESC];
  for (int r = 0; r < s->run->nranks; r++) {
    struct nb_launch_rank *rk = &s->run->ranks[r];
    struct rank_io *io = &s->io[r];
    if (rk->exited || rk->pid <= 0)
      continue;
    int n = nb__launch_descendants(rk->pid, desc, MAX_DESC);
    if (n > rk->descendants_seen)
      rk->descendants_seen = n;
    if (s->run->mode != NB_MODE_ADVERSARIAL || io->worker_node < 0)
      continue;
    rk->moves.worker_node = io->worker_node;
    for (int i = 0; i < n; i++) {
      bool first = true;
      for (int j = 0; j < io->nmoved && first; j++)
        first = io->moved[j] != desc[i];
      if (first && io->nmoved < MAX_DESC)
        io->moved[io->nmoved++] = desc[i];
      nb__launch_move(&s->mig, desc[i], rk->pid, io->worker_cpus, io->nworker_cpus, io->worker_node, first,
                      &rk->moves);
    }
  }
}

/* What the stop descriptor says: a signal to forward. */
static void take_signal(struct sup *s)
{
  unsigned char b;
  if (read(s->l->stop_fd, &b, 1) != 1 || !b)
    return;
  s->l->signo = b;
  s->run->signo = b;
  if (!s->stopping)
    start_stopping(s, NB_LAUNCH_INTERRUPTED, b);
  else
    kill_all(s, b);
}

static void tick_progress(struct sup *s, double *last, bool done)
{
  nb_launch_t l = s->l;
  double t = nb__now();
  if (!l->progress || (!done && t - *last < 0.2))
    return;
  *last = t;
  struct nb_launch_progress p = {.mode = s->run->mode,
                                 .repeat = s->run->repeat,
                                 .repeats = l->o->repeat,
                                 .elapsed_s = t - s->start,
                                 .done = done};
  l->progress(l->progress_arg, &p);
}

/* Until every rank's process group is empty (what was left in it was
 * killed when the last rank exited), for at most 3 s: the run is not over
 * while a worker of it still runs. Orphans adopted by a subreaper caller
 * (the CLI is one) are reaped here. */
static void wait_groups(struct sup *s)
{
  double until = nb__now() + 3.0;
  for (;;) {
    int alive = 0;
    for (int r = 0; r < s->run->nranks; r++) {
      int pg = s->run->ranks[r].pid;
      if (pg <= 0)
        continue;
      while (waitpid(-pg, NULL, WNOHANG) > 0)
        ;
      if (kill(-pg, 0) == 0) {
        alive++;
        kill(-pg, SIGKILL);
      }
    }
    if (!alive || nb__now() > until)
      return;
    usleep(10000);
  }
}

static bool all_placed(const struct sup *s)
{
  for (int r = 0; r < s->run->nranks; r++)
    if (!s->run->ranks[r].exec_line && !s->run->ranks[r].exited)
      return false;
  return true;
}

/* Whether every rank still running has started a process of its own (its
 * first dataloader worker), as the watcher saw. */
static bool all_forked(const struct sup *s)
{
  for (int r = 0; r < s->run->nranks; r++)
    if (!s->run->ranks[r].exited && s->run->ranks[r].descendants_seen == 0)
      return false;
  return true;
}

/* The audit starts --audit-at seconds after every rank was placed (exec's
 * lines): on a slow machine exec itself takes a while. A job whose ranks
 * had no workers yet then (a slow import: torch takes minutes in an
 * emulated guest) is audited once more when every rank has started them
 * and the first audit is over, a second later so that all of them have
 * forked; each rank's proof is the later audit's. A job that never forks
 * keeps the first. */
static void audit_tick(struct sup *s, double t)
{
  nb_launch_t l = s->l;
  if (!s->placed_at && all_placed(s))
    s->placed_at = t;
  if (!s->forked_at && s->placed_at && all_forked(s))
    s->forked_at = t;
  if (!s->audit_started && s->live && s->placed_at && t - s->placed_at >= l->o->audit_at) {
    s->audit_started = true;
    s->audit_had_workers = s->forked_at > 0;
    s->audit = nb__launch_audit_start(l, s->run);
  }
  if (s->audit_started && !s->audit_had_workers && !s->reaudited && s->live && s->forked_at &&
      t - s->forked_at >= 1 && (!s->audit || nb__launch_audit_done(s->audit))) {
    s->reaudited = true;
    nb__launch_audit_end(s->audit, s->run);
    s->audit = nb__launch_audit_start(l, s->run);
  }
}

/* poll until every rank has exited and its pipes are closed (or, once the
 * ranks are gone, a second has passed: a process outside the group may
 * hold them). */
static void supervise(struct sup *s)
{
  nb_launch_t l = s->l;
  int nr = s->run->nranks;
  struct pollfd *p = calloc((size_t)(2 * nr + 1), sizeof *p);
  double last_watch = 0, last_prog = 0, all_gone = 0;
  for (;;) {
    int np = 0;
    for (int r = 0; p && r < nr; r++)
      for (int k = 0; k < 2; k++)
        if (s->io[r].fd[k] >= 0)
          p[np++] = (struct pollfd){.fd = s->io[r].fd[k], .events = POLLIN};
    if (p && l->stop_fd >= 0)
      p[np++] = (struct pollfd){.fd = l->stop_fd, .events = POLLIN};
    int open = np - (l->stop_fd >= 0);
    if (s->live == 0 && (open == 0 || (all_gone && nb__now() - all_gone > 1.0)))
      break;
    if (p)
      poll(p, (nfds_t)np, 50);
    else
      usleep(50000);
    for (int r = 0; r < nr; r++)
      for (int k = 0; k < 2; k++)
        if (s->io[r].fd[k] >= 0)
          drain(s, r, k);
    if (l->stop_fd >= 0 && p && p[np - 1].revents & POLLIN)
      take_signal(s);
    reap(s);
    double t = nb__now();
    if (s->live == 0 && !all_gone) {
      all_gone = t;
      double end = 0;
      for (int r = 0; r < nr; r++)
        end = s->run->ranks[r].exit_s > end ? s->run->ranks[r].exit_s : end;
      s->run->wall_s = end;
      /* What the ranks left in their groups (workers) goes with them. */
      kill_all(s, SIGKILL);
    }
    if (!s->stopping && l->o->timeout > 0 && t - s->start >= l->o->timeout)
      start_stopping(s, NB_LAUNCH_TIMEOUT, SIGTERM);
    if (s->stopping && s->live && t >= s->deadline)
      kill_all(s, SIGKILL);
    audit_tick(s, t);
    if (t - last_watch >= 0.2 && s->live) {
      last_watch = t;
      watch(s);
    }
    tick_progress(s, &last_prog, false);
  }
  free(p);
  wait_groups(s);
  tick_progress(s, &last_prog, true);
}

static int open_log(nb_launch_t l, struct nb_launch_run *run, int r, FILE **f, nb_error_t *err)
{
  *f = NULL;
  if (!l->o->log_dir)
    return 0;
  if (mkdir(l->o->log_dir, 0777) < 0 && errno != EEXIST)
    return nb__err_sys(err, NB_EIO, errno, "launch: --log-dir %s cannot be created", l->o->log_dir);
  char path[4096];
  snprintf(path, sizeof path, "%s/%s-%d-rank%d.log", l->o->log_dir, nb_mode_name(run->mode), run->repeat, r);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0 || !(*f = fdopen(fd, "w"))) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return nb__err_sys(err, NB_EIO, e, "launch: --log-dir: cannot write %s", path);
  }
  return 0;
}

/* Start rank r: pipes, environment, fork. */
static int start_rank(struct sup *s, int r, const char **argv, nb_error_t *err)
{
  struct rank_io *io = &s->io[r];
  int po[2], pe[2];
  int rc = open_log(s->l, s->run, r, &io->log, err);
  if (rc < 0)
    return rc;
  if (pipe2(po, O_CLOEXEC) < 0)
    return nb__err_sys(err, NB_EIO, errno, "launch: pipe for rank %d", r);
  if (pipe2(pe, O_CLOEXEC) < 0) {
    int e = errno;
    close(po[0]);
    close(po[1]);
    return nb__err_sys(err, NB_EIO, e, "launch: pipe for rank %d", r);
  }
  char **env = rank_env(s->l, r, s->run->master_port);
  pid_t pid = env ? fork() : -1;
  int e = errno;
  if (pid == 0)
    child(argv, env, po[1], pe[1]);
  free_env(env);
  close(po[1]);
  close(pe[1]);
  if (pid < 0) {
    close(po[0]);
    close(pe[0]);
    return env ? nb__err_sys(err, NB_EIO, e, "launch: cannot start rank %d (fork)", r)
               : nb__err(err, NB_ENOMEM, "launch: out of memory");
  }
  /* Both sides set the group: whichever runs first, kill(-pid) reaches it. */
  setpgid(pid, pid);
  s->run->ranks[r].pid = pid;
  s->live++;
  io->fd[0] = po[0];
  io->fd[1] = pe[0];
  fcntl(po[0], F_SETFL, O_NONBLOCK);
  fcntl(pe[0], F_SETFL, O_NONBLOCK);
  return 0;
}

/* The run's value: with --metric, the slowest rank's (every rank must have
 * printed one), else runs per second of wall time. */
static void run_value(nb_launch_t l, struct nb_launch_run *run)
{
  run->value = NAN;
  run->slowest_rank = -1;
  if (run->outcome != NB_LAUNCH_OK)
    return;
  if (!l->have_metric) {
    run->value = run->wall_s > 0 ? 1.0 / run->wall_s : NAN;
    return;
  }
  for (int r = 0; r < run->nranks; r++) {
    if (!run->ranks[r].has_metric) {
      run->value = NAN;
      run->slowest_rank = -1;
      return;
    }
    if (run->slowest_rank < 0 || run->ranks[r].metric < run->value) {
      run->value = run->ranks[r].metric;
      run->slowest_rank = r;
    }
  }
}

int nb__launch_run_one(nb_launch_t l, enum nb_mode mode, int repeat, struct nb_launch_run *run,
                       nb_error_t *err)
{
  memset(run, 0, sizeof *run);
  run->mode = mode;
  run->repeat = repeat;
  run->failed_rank = -1;
  run->slowest_rank = -1;
  run->value = NAN;
  run->nranks = l->nproc;
  run->master_port = l->o->master_port ? l->o->master_port : free_port();
  run->ranks = calloc((size_t)l->nproc, sizeof *run->ranks);
  struct sup s = {.l = l, .run = run, .io = calloc((size_t)l->nproc, sizeof *s.io)};
  const char **argv = rank_argv(l, mode);
  int rc = 0;
  if (!run->ranks || !s.io || !argv) {
    rc = nb__err(err, NB_ENOMEM, "launch: out of memory");
    goto out;
  }
  for (int r = 0; r < l->nproc; r++) {
    run->ranks[r] = (struct nb_launch_rank){.rank = r, .exit_code = -1};
    run->ranks[r].moves.worker_node = -1;
    run->ranks[r].proof = (struct nb_launch_proof){.rank_node = -1,
                                                   .worker_node = -1,
                                                   .rank_cpu_share = NAN,
                                                   .rank_page_share = NAN,
                                                   .worker_cpu_share = NAN,
                                                   .worker_page_share = NAN};
    snprintf(run->ranks[r].proof.why_not, sizeof run->ranks[r].proof.why_not,
             "the run ended before the audit started (--audit-at %d)", l->o->audit_at);
    s.io[r] = (struct rank_io){.fd = {-1, -1}, .worker_node = -1};
  }
  s.start = nb__now();
  for (int r = 0; r < l->nproc && rc == 0; r++)
    rc = start_rank(&s, r, argv, err);
  if (rc < 0) /* the ranks started go, and are waited for */
    start_stopping(&s, NB_LAUNCH_FAILED, SIGKILL);
  if (mode == NB_MODE_ADVERSARIAL)
    nb__migrator_start(&s.mig);
  supervise(&s);
  if (mode == NB_MODE_ADVERSARIAL)
    nb__migrator_stop(&s.mig);
  nb__launch_audit_end(s.audit, run);
  run_value(l, run);
out:
  for (int r = 0; s.io && r < l->nproc; r++) {
    for (int k = 0; k < 2; k++)
      if (s.io[r].fd[k] >= 0)
        close(s.io[r].fd[k]);
    if (s.io[r].log)
      fclose(s.io[r].log);
  }
  free(s.io);
  free(argv);
  return rc;
}

void nb__launch_run_free(struct nb_launch_run *run)
{
  for (int r = 0; run->ranks && r < run->nranks; r++)
    free(run->ranks[r].exec_line);
  free(run->ranks);
  run->ranks = NULL;
}
