/* numabench: the command line. Parse, call the library, map errors to
 * messages and exit codes: 0 success, 1 failure while working, 2 bad input
 * (options, files). Every error is one line on stderr. */
#include <ctype.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <numabench.h>

#define EXIT_USAGE 2
#define EXIT_MISPLACED 3 /* the audit found placement not achieved */

struct command {
  const char *name;
  unsigned bit;
  const char *summary;
  int (*run)(const struct nb_config *cfg, int argc, char **argv);
  const char *args;     /* what may follow --, NULL when nothing may */
  const char *operands; /* file operands (report, compare), NULL when none */
  int min_operands, max_operands;
};

static int cmd_topo(const struct nb_config *cfg, int argc, char **argv);
static int cmd_plan(const struct nb_config *cfg, int argc, char **argv);
static int cmd_run(const struct nb_config *cfg, int argc, char **argv);
static int cmd_report(const struct nb_config *cfg, int argc, char **argv);
static int cmd_compare(const struct nb_config *cfg, int argc, char **argv);
static int cmd_bw(const struct nb_config *cfg, int argc, char **argv);

static const struct command commands[] = {
    {"topo", NB_CMD_TOPO, "show NUMA nodes, distances and GPUs with their nodes and local CPUs", cmd_topo,
     NULL, NULL, 0, 0},
    {"plan", NB_CMD_PLAN,
     "plan where every GPU's feeder, workers and buffers go; print it, emit numactl launch lines, or apply "
     "and "
     "audit it here (--check)",
     cmd_plan, "CMD [ARGS...]", NULL, 0, 0},
    {"run", NB_CMD_RUN,
     "run the input pipeline for every GPU at once in each placement mode and report throughput, stage times "
     "and "
     "the placement audit (the default command)",
     cmd_run, NULL, NULL, 0, 0},
    {"report", NB_CMD_REPORT,
     "tabulate result files: steps/s with 95% intervals, GB/s, speedup vs none, placement", cmd_report, NULL,
     "FILE...", 1, 1 << 20},
    {"bw", NB_CMD_BW,
     "measure the raw copy bandwidth the pipeline is compared against: CUDA, pinned H2D and D2H per NUMA "
     "node x "
     "GPU; host, a node x node memory-copy matrix; each alone and all at once",
     cmd_bw, NULL, NULL, 0, 0},
    {"compare", NB_CMD_COMPARE,
     "compare a new result file with a baseline: exit 0 no regression, 1 regression, 2 not comparable",
     cmd_compare, NULL, "BASELINE NEW", 2, 2},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static int fail(const nb_error_t *err)
{
  fprintf(stderr, "numabench: %s\n", err->msg);
  return nb_err_is_usage(err->code) ? EXIT_USAGE : EXIT_FAILURE;
}

/* stdout must have reached its destination: a full disk is a failure. */
static int finish_stdout(int rc)
{
  if ((fflush(stdout) == EOF || ferror(stdout)) && rc == 0) {
    fprintf(stderr, "numabench: writing standard output failed\n");
    return EXIT_FAILURE;
  }
  return rc;
}

static void usage(FILE *out)
{
  fprintf(out, "usage: numabench <command> [options]\n"
               "       numabench --help | --version\n\n"
               "numabench measures how NUMA placement of data-loading threads and pinned buffers\n"
               "affects feeding GPUs, and proves where threads and pages really are.\n\n"
               "Commands:\n");
  for (int i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun `numabench <command> --help` for the command's options.\n");
}

static void command_help(const struct command *c)
{
  int n;
  const struct nb_option *opts = nb_options(&n);
  printf("usage: numabench %s [options]%s%s%s%s%s\n\n%s.\n\nOptions:\n", c->name, c->operands ? " " : "",
         c->operands ? c->operands : "", c->args ? " [-- " : "", c->args ? c->args : "", c->args ? "]" : "",
         c->summary);
  for (int i = 0; i < n; i++) {
    if (!(opts[i].commands & c->bit))
      continue;
    char lhs[96];
    char sopt[8] = "";
    if (opts[i].short_name)
      snprintf(sopt, sizeof sopt, "-%c, ", opts[i].short_name);
    snprintf(lhs, sizeof lhs, "%s--%s%s%s", sopt, opts[i].name, opts[i].metavar ? " " : "",
             opts[i].metavar ? opts[i].metavar : "");
    printf("  %-30s %s", lhs, opts[i].help);
    if (opts[i].def)
      printf(" [default: %s]", opts[i].def);
    printf("\n");
  }
  printf("  %-30s %s\n", "-h, --help", "show this help");
}

static void version(void)
{
  char info[512];
  printf("numabench %s\n%s", nb_version(), nb_build_info(info, sizeof info));
}

/* Parse argv[1..] for command c into cfg; *rest is the index of the first
 * argument after "--". Returns 0, -1 for --help shown, or an exit code > 0.
 * With quiet, only collects what it can (the --config pre-pass): nothing is
 * printed and errors are left to the real pass. */
static int parse(const struct command *c, int argc, char **argv, struct nb_config *cfg, int *rest, int quiet)
{
  int n;
  const struct nb_option *opts = nb_options(&n);
  struct option *lo = calloc((size_t)n + 2, sizeof *lo);
  /* "+": stop at the first operand, so that a stray word is an error, not
   * silently moved into the command after --. */
  char shorts[2 * 64 + 4] = "+:h";
  size_t sl = 3;
  if (c->operands) { /* options may follow the file operands */
    memmove(shorts, shorts + 1, strlen(shorts));
    sl = 2;
  }
  if (!lo) {
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (!(opts[i].commands & c->bit))
      continue;
    /* Flags take an optional =false, so that a preset's true can be undone. */
    int has_arg = opts[i].type == NB_OPT_BOOL ? optional_argument : required_argument;
    lo[k++] = (struct option){opts[i].name, has_arg, NULL, 256 + i};
    if (opts[i].short_name) {
      shorts[sl++] = (char)opts[i].short_name;
      if (has_arg == required_argument)
        shorts[sl++] = ':';
    }
  }
  lo[k++] = (struct option){"help", no_argument, NULL, 'h'};
  shorts[sl] = '\0';

  int rc = 0, ch;
  opterr = 0;
  optind = 1;
  while (rc == 0 && (ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
    const struct nb_option *opt = NULL;
    if (quiet && (ch == 'h' || ch == '?' || ch == ':'))
      continue;
    if (ch == 'h') {
      command_help(c);
      rc = -1;
      break;
    }
    if (ch == '?' || ch == ':') {
      const char *arg = argv[optind - 1];
      if (ch == ':')
        fprintf(stderr, "numabench %s: option %s needs a value (see numabench %s --help)\n", c->name, arg,
                c->name);
      else if (optopt >= 256 || optopt == 'h')
        fprintf(stderr, "numabench %s: option %.*s takes no value (see numabench %s --help)\n", c->name,
                (int)strcspn(arg, "="), arg, c->name);
      else if (optopt > 0 && optopt < 256 && isprint(optopt))
        fprintf(stderr, "numabench %s: unknown option -%c (see numabench %s --help)\n", c->name, optopt,
                c->name);
      else
        fprintf(stderr, "numabench %s: unknown option %s (see numabench %s --help)\n", c->name, arg, c->name);
      rc = EXIT_USAGE;
      break;
    }
    if (ch >= 256)
      opt = &opts[ch - 256];
    else
      for (int i = 0; i < n; i++)
        if (opts[i].short_name == ch && (opts[i].commands & c->bit))
          opt = &opts[i];
    nb_error_t err = {0};
    if (!opt || nb_config_set(cfg, opt, optarg, &err) < 0) {
      if (quiet)
        continue;
      rc = opt ? fail(&err) : EXIT_FAILURE;
    }
  }
  *rest = optind;
  if (quiet) {
    free(lo);
    return 0;
  }
  int operands = argc - optind;
  if (rc == 0 && c->operands && (operands < c->min_operands || operands > c->max_operands)) {
    fprintf(stderr, "numabench %s: expected %s (see numabench %s --help)\n", c->name, c->operands, c->name);
    rc = EXIT_USAGE;
  }
  if (rc == 0 && !c->operands && optind < argc &&
      !(c->args && optind > 1 && !strcmp(argv[optind - 1], "--"))) {
    fprintf(stderr, "numabench %s: unexpected argument '%s' (see numabench %s --help)\n", c->name,
            argv[optind], c->name);
    rc = EXIT_USAGE;
  }
  free(lo);
  return rc;
}

static int cmd_topo(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.source = cfg->topology, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return fail(&err);
  int rc = cfg->json ? nb_topo_write_json(topo, stdout, &err) : nb_topo_write_text(topo, stdout, &err);
  nb_topo_free(topo);
  return rc < 0 ? fail(&err) : 0;
}

/* Split "a,b,c" into modes; 0 or an exit code with the message printed. */
static int parse_modes(const char *list, enum nb_mode *modes, int *n)
{
  *n = 0;
  for (const char *p = list;;) {
    size_t len = strcspn(p, ",");
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
    int m = nb_mode_parse(name);
    if (m < 0) {
      fprintf(stderr,
              "numabench: --mode '%s': unknown mode '%s' (modes: none, bind, adversarial, remote, "
              "interleave)\n",
              list, name);
      return EXIT_USAGE;
    }
    for (int i = 0; i < *n; i++)
      if (modes[i] == (enum nb_mode)m) {
        fprintf(stderr, "numabench: --mode '%s': %s is listed twice\n", list, name);
        return EXIT_USAGE;
      }
    modes[(*n)++] = (enum nb_mode)m;
    if (!p[len])
      return 0;
    p += len + 1;
  }
}

static int cmd_plan(const struct nb_config *cfg, int argc, char **argv)
{
  enum nb_mode modes[NB_NMODES];
  int nmodes, rc;
  if ((rc = parse_modes(cfg->mode ? cfg->mode : "bind", modes, &nmodes)) != 0)
    return rc;
  if (cfg->emit && strcmp(cfg->emit, "numactl")) {
    fprintf(stderr, "numabench plan: --emit '%s': the only launcher is numactl\n", cfg->emit);
    return EXIT_USAGE;
  }
  if (cfg->emit && (cfg->json || cfg->check)) {
    fprintf(stderr, "numabench plan: --emit cannot be combined with %s\n", cfg->json ? "--json" : "--check");
    return EXIT_USAGE;
  }
  if (cfg->emit && nmodes != 1) {
    fprintf(stderr, "numabench plan: --emit needs a single --mode, not '%s'\n", cfg->mode ? cfg->mode : "");
    return EXIT_USAGE;
  }
  if (!cfg->emit && argc > 0) {
    fprintf(stderr, "numabench plan: a command after -- is only used with --emit numactl\n");
    return EXIT_USAGE;
  }
  if (cfg->check_move_staging >= 0 && !cfg->check) {
    fprintf(stderr, "numabench plan: --check-move-staging only works with --check\n");
    return EXIT_USAGE;
  }

  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.source = cfg->topology, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return fail(&err);
  if (cfg->check && !nb_topo_is_this_system(topo)) {
    fprintf(stderr,
            "numabench plan: --check applies plans to this machine only; topology %s is not this machine "
            "(drop --topology)\n",
            nb_topo_source(topo));
    nb_topo_free(topo);
    return EXIT_USAGE;
  }

  rc = 0;
  int misplaced = 0;
  for (int i = 0; i < nmodes && rc == 0; i++) {
    struct nb_plan_config pc = {
        .mode = modes[i], .gpus = cfg->gpus, .workers = cfg->workers, .gpu_node = cfg->gpu_node};
    nb_plan_t plan;
    if (nb_plan_make(&plan, topo, &pc, &err) < 0) {
      if (err.code == NB_ENOTSUP && nmodes > 1) {
        /* Inside a list, a mode this machine cannot have is a recorded skip. */
        if (cfg->json)
          rc = nb_plan_write_skip_json(modes[i], err.msg, stdout, &err) < 0 ? fail(&err) : 0;
        else
          printf("%sskipped mode %s: %s\n", i ? "\n" : "", nb_mode_name(modes[i]), err.msg);
        continue;
      }
      rc = err.code == NB_ENOTSUP ? (fprintf(stderr, "numabench: %s\n", err.msg), EXIT_USAGE) : fail(&err);
      break;
    }
    if (cfg->check) {
      struct nb_check_config cc = {.move_staging_to = cfg->check_move_staging};
      nb_check_t chk;
      if (nb_check_run(plan, &cc, &chk, &err) < 0) {
        rc = fail(&err);
      } else {
        if ((cfg->json ? nb_check_write_json(chk, stdout, &err)
                       : (i ? fputc('\n', stdout) : 0, nb_check_write_text(chk, stdout, &err))) < 0)
          rc = fail(&err);
        else if (!nb_check_achieved(chk) && !cfg->allow_misplacement)
          misplaced = 1;
        nb_check_free(chk);
      }
    } else if (cfg->emit) {
      if (nb_plan_write_numactl(plan, argc, (const char *const *)argv, stdout, &err) < 0)
        rc = err.code == NB_ENOTSUP ? (fprintf(stderr, "numabench: %s\n", err.msg), EXIT_USAGE) : fail(&err);
    } else if (cfg->json) {
      if (nb_plan_write_json(plan, stdout, &err) < 0)
        rc = fail(&err);
    } else {
      if (i)
        fputc('\n', stdout);
      if (nb_plan_write_text(plan, stdout, &err) < 0)
        rc = fail(&err);
    }
    nb_plan_free(plan);
  }
  nb_topo_free(topo);
  if (rc == 0 && misplaced) {
    fprintf(stderr,
            "numabench: placement not achieved (see the rows marked NO); --allow-misplacement exits 0\n");
    rc = EXIT_MISPLACED;
  }
  return rc;
}

/* ---- run ---- */

/* The run being measured, for the signal thread. */
static struct {
  pthread_mutex_t mu;
  nb_run_t run;
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
    if (current.run)
      nb_run_stop(current.run);
    pthread_mutex_unlock(&current.mu);
  }
  return NULL;
}

struct progress {
  int tty;
  const char *mode;
  double last;
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void show_progress(void *arg, int step, int total)
{
  struct progress *p = arg;
  double t = now_s();
  if (step < total && t - p->last < 0.2)
    return;
  p->last = t;
  fprintf(stderr, "\r  mode %-11s step %d/%d%s", p->mode, step, total, step == total ? "\n" : "");
}

static int parse_sample(const char *text, int *c, int *h, int *w)
{
  char tail;
  if (sscanf(text, "%dx%dx%d%c", c, h, w, &tail) != 3 || *c <= 0 || *h <= 0 || *w <= 0 ||
      (double)*c * *h * *w > (double)(1 << 28)) {
    fprintf(stderr,
            "numabench: --sample '%s': expected CxHxW with positive sizes and at most 2^28 values, e.g. "
            "3x224x224\n",
            text);
    return EXIT_USAGE;
  }
  return 0;
}

/* --backend and --pin as asked; the backend is resolved against the machine
 * later (nb_backend_resolve). */
static int parse_backend(const struct nb_config *cfg, enum nb_backend *backend, enum nb_pin *pin)
{
  if (!strcmp(cfg->backend, "auto"))
    *backend = NB_BACKEND_AUTO;
  else if (!strcmp(cfg->backend, "host"))
    *backend = NB_BACKEND_HOST;
  else if (!strcmp(cfg->backend, "cuda"))
    *backend = NB_BACKEND_CUDA;
  else {
    fprintf(stderr, "numabench: --backend '%s': expected auto, host or cuda\n", cfg->backend);
    return EXIT_USAGE;
  }
  if (!strcmp(cfg->pin, "register"))
    *pin = NB_PIN_REGISTER;
  else if (!strcmp(cfg->pin, "hostalloc"))
    *pin = NB_PIN_HOSTALLOC;
  else {
    fprintf(stderr, "numabench: --pin '%s': expected register or hostalloc\n", cfg->pin);
    return EXIT_USAGE;
  }
  return 0;
}

/* The backend for this machine: --backend cuda without a usable GPU is a
 * usage error (exit 2) naming the CUDA error; auto falls back to host and
 * says why in why. */
static int resolve_backend(nb_topo_t topo, enum nb_backend *backend, char *why, size_t len)
{
  nb_error_t err = {0};
  if (nb_backend_resolve(topo, *backend, backend, why, len, &err) < 0) {
    fprintf(stderr, "numabench: %s\n", err.msg);
    return EXIT_USAGE;
  }
  return 0;
}

/* The run's settings from the options; 0 or an exit code (message printed). */
static int resolve_run(const struct nb_config *cfg, struct nb_run_config *rc_cfg, enum nb_mode *modes,
                       int *nmodes)
{
  int rc;
  *rc_cfg = (struct nb_run_config){.warmup = cfg->warmup,
                                   .steps = cfg->steps,
                                   .seed = (uint64_t)cfg->seed,
                                   .gpu_work_us = cfg->gpu_work,
                                   .verify = cfg->verify,
                                   .fail_at = cfg->fail_at};
  if ((rc = parse_modes(cfg->mode ? cfg->mode : "none,bind,adversarial", modes, nmodes)) != 0 ||
      (rc = parse_sample(cfg->sample, &rc_cfg->channels, &rc_cfg->height, &rc_cfg->width)) != 0)
    return rc;
  if (!strcmp(cfg->pipeline, "torch"))
    rc_cfg->pipeline = NB_PIPE_TORCH;
  else if (!strcmp(cfg->pipeline, "direct"))
    rc_cfg->pipeline = NB_PIPE_DIRECT;
  else {
    fprintf(stderr, "numabench: --pipeline '%s': expected torch or direct\n", cfg->pipeline);
    return EXIT_USAGE;
  }
  if ((rc = parse_backend(cfg, &rc_cfg->backend, &rc_cfg->pin)) != 0)
    return rc;
  return 0;
}

/* One point of the benchmark: every mode, --repeat times interleaved, on
 * one configuration; then the report and the result files. */
static int run_point(const struct nb_config *cfg, const char *sweep_opt, const char *sweep_val,
                     int *interrupted)
{
  enum nb_mode modes[NB_NMODES];
  int nmodes, rc;
  struct nb_run_config rc_cfg;
  if ((rc = resolve_run(cfg, &rc_cfg, modes, &nmodes)) != 0)
    return rc;

  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return fail(&err);
  enum nb_backend asked = rc_cfg.backend;
  char why[640];
  if ((rc = resolve_backend(topo, &rc_cfg.backend, why, sizeof why)) != 0) {
    nb_topo_free(topo);
    return rc;
  }

  /* Plans first, for every mode: memory and batch size are decided over all. */
  nb_plan_t plans[NB_NMODES] = {0};
  char skip_text[NB_NMODES][640];
  nb_plan_t ran[NB_NMODES];
  int nran = 0;
  for (int i = 0; i < nmodes && rc == 0; i++) {
    skip_text[i][0] = '\0';
    struct nb_plan_config pc = {
        .mode = modes[i], .gpus = cfg->gpus, .workers = cfg->workers, .gpu_node = cfg->gpu_node};
    if (nb_plan_make(&plans[i], topo, &pc, &err) < 0) {
      if (err.code == NB_ENOTSUP && nmodes > 1) {
        snprintf(skip_text[i], sizeof skip_text[i], "%s", err.msg);
        continue;
      }
      rc = err.code == NB_ENOTSUP ? (fprintf(stderr, "numabench: %s\n", err.msg), EXIT_USAGE) : fail(&err);
      break;
    }
    ran[nran++] = plans[i];
  }
  int batch_auto = cfg->batch == 0;
  if (rc == 0 && nran == 0) {
    fprintf(stderr, "numabench: no mode can run on this machine\n");
    rc = EXIT_USAGE;
  }
  if (rc == 0) {
    rc_cfg.batch = cfg->batch;
    if (batch_auto && !(rc_cfg.batch = nb_run_pick_batch(ran, nran, &rc_cfg, 128, 0.5))) {
      fprintf(stderr,
              "numabench: not even a batch of 1 fits in half the free memory; use a smaller --sample or "
              "fewer --workers\n");
      rc = EXIT_USAGE;
    }
    for (int i = 0; rc == 0 && i < nran; i++)
      if (nb_run_check_memory(ran[i], &rc_cfg, &err) < 0)
        rc = fail(&err);
  }

  char devices[320];
  if (cfg->devices)
    snprintf(devices, sizeof devices, "the PCI devices given with --devices");
  else if (nran && nb_plan_simulated(ran[0]))
    snprintf(devices, sizeof devices, "simulated: one per NUMA node with CPUs");
  else if (rc_cfg.backend == NB_BACKEND_CUDA)
    snprintf(devices, sizeof devices, "CUDA GPUs; staging pinned with %s",
             rc_cfg.pin == NB_PIN_HOSTALLOC ? "cudaHostAlloc" : "cudaHostRegister");
  else
    snprintf(devices, sizeof devices, "the GPUs' nodes; the host backend copies in their place%s%.240s%s",
             asked == NB_BACKEND_AUTO && why[0] ? " (auto: " : "", asked == NB_BACKEND_AUTO ? why : "",
             asked == NB_BACKEND_AUTO && why[0] ? ")" : "");

  /* Modes interleaved, repeat after repeat, so that drift favours none. */
  int cap = nmodes * cfg->repeat, n = 0, misplaced = 0;
  nb_run_t *runs = calloc((size_t)cap, sizeof *runs);
  enum nb_mode *emodes = calloc((size_t)cap, sizeof *emodes);
  int *erep = calloc((size_t)cap, sizeof *erep);
  const char **reasons = calloc((size_t)cap, sizeof *reasons);
  if (rc == 0 && (!runs || !emodes || !erep || !reasons)) {
    fprintf(stderr, "numabench: out of memory\n");
    rc = EXIT_FAILURE;
  }
  struct progress prog = {.tty = isatty(STDERR_FILENO) && !cfg->quiet};
  for (int rep = 0; rc == 0 && rep < cfg->repeat && !*interrupted; rep++)
    for (int i = 0; rc == 0 && i < nmodes && !*interrupted; i++) {
      if (!plans[i]) {
        if (rep == 0) { /* a skipped mode is recorded once */
          emodes[n] = modes[i];
          reasons[n++] = skip_text[i];
        }
        continue;
      }
      pthread_mutex_lock(&current.mu);
      *interrupted = current.signo != 0;
      pthread_mutex_unlock(&current.mu);
      if (*interrupted)
        break;
      prog.mode = nb_mode_name(modes[i]);
      prog.last = 0;
      rc_cfg.progress = prog.tty ? show_progress : NULL;
      rc_cfg.progress_arg = &prog;
      nb_run_t run;
      if (nb_run_start(&run, plans[i], &rc_cfg, &err) < 0 && !run) {
        rc = fail(&err);
        break;
      }
      pthread_mutex_lock(&current.mu);
      current.run = run;
      if (current.signo)
        nb_run_stop(run);
      pthread_mutex_unlock(&current.mu);
      int wrc = nb_run_wait(run, &err);
      pthread_mutex_lock(&current.mu);
      current.run = NULL;
      *interrupted = current.signo != 0;
      pthread_mutex_unlock(&current.mu);
      emodes[n] = modes[i];
      erep[n] = rep;
      runs[n++] = run;
      if (wrc < 0) {
        if (prog.tty)
          fputc('\n', stderr);
        rc = fail(&err);
        break;
      }
      if (modes[i] != NB_MODE_NONE && !nb_run_placement_achieved(run) && !cfg->allow_misplacement)
        misplaced = 1;
    }

  if (rc == 0) {
    struct nb_report rep = {.options = cfg,
                            .run = &rc_cfg,
                            .topo = topo,
                            .batch_auto = batch_auto,
                            .devices_text = devices,
                            .repeats = cfg->repeat,
                            .sweep_option = sweep_opt,
                            .sweep_value = sweep_val,
                            .nentries = n,
                            .runs = runs,
                            .modes = emodes,
                            .repeat = erep,
                            .skip_reasons = reasons,
                            .interrupted = *interrupted};
    if ((cfg->json ? nb_report_write_json(&rep, stdout, &err) : nb_report_write_text(&rep, stdout, &err)) < 0)
      rc = fail(&err);
    char path[4096];
    if (rc == 0 && !cfg->no_save) {
      if (nb_report_save(&rep, cfg->output, path, sizeof path, &err) < 0)
        rc = fail(&err);
      else
        fprintf(stderr, "numabench: results saved in %s (and .csv)\n", path);
    }
  }
  for (int i = 0; runs && i < n; i++)
    nb_run_free(runs[i]);
  for (int i = 0; i < nmodes; i++)
    nb_plan_free(plans[i]);
  free(runs);
  free(emodes);
  free(erep);
  free(reasons);
  nb_topo_free(topo);
  if (rc == 0 && misplaced && !*interrupted) {
    fprintf(stderr,
            "numabench: placement not achieved in at least one mode (see the report); --allow-misplacement "
            "exits 0\n");
    return EXIT_MISPLACED;
  }
  return rc;
}

/* ---- report, compare ---- */

static int load_all(int argc, char **argv, nb_results_t *files)
{
  for (int i = 0; i < argc; i++) {
    nb_error_t err = {0};
    if (nb_results_load(&files[i], argv[i], &err) < 0) {
      for (int k = 0; k < i; k++)
        nb_results_free(files[k]);
      return fail(&err);
    }
  }
  return 0;
}

static int cmd_report(const struct nb_config *cfg, int argc, char **argv)
{
  enum nb_table_format fmt;
  if (!strcmp(cfg->format, "text"))
    fmt = NB_TABLE_TEXT;
  else if (!strcmp(cfg->format, "md"))
    fmt = NB_TABLE_MD;
  else if (!strcmp(cfg->format, "csv"))
    fmt = NB_TABLE_CSV;
  else {
    fprintf(stderr, "numabench report: --format '%s': expected text, md or csv\n", cfg->format);
    return EXIT_USAGE;
  }
  nb_results_t *files = calloc((size_t)argc, sizeof *files);
  if (!files)
    return EXIT_FAILURE;
  int rc = load_all(argc, argv, files);
  nb_error_t err = {0};
  if (rc == 0 && nb_results_write_table(files, argc, fmt, stdout, &err) < 0)
    rc = fail(&err);
  if (files[argc - 1] || rc == 0)
    for (int i = 0; i < argc; i++)
      nb_results_free(files[i]);
  free(files);
  return rc;
}

static int cmd_compare(const struct nb_config *cfg, int argc, char **argv)
{
  nb_results_t files[2];
  int rc = load_all(argc, argv, files), regressed = 0;
  if (rc)
    return rc;
  nb_error_t err = {0};
  if (nb_results_compare(files[0], files[1], cfg->threshold, stdout, &regressed, &err) < 0)
    rc = err.code == NB_EINVAL ? (fprintf(stderr, "numabench: %s\n", err.msg), EXIT_USAGE) : fail(&err);
  nb_results_free(files[0]);
  nb_results_free(files[1]);
  return rc ? rc : regressed ? EXIT_FAILURE : 0;
}

static int cmd_bw(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  struct nb_bw_config bc = {.repeat = nb_config_is_set(cfg, nb_option_find("repeat")) ? cfg->repeat : 5};
  if (nb_parse_size(cfg->size, &bc.bytes) < 0) {
    fprintf(stderr, "numabench: --size '%s': expected a size of at least 4K, e.g. 64M or 1G\n", cfg->size);
    return EXIT_USAGE;
  }
  enum nb_backend backend;
  int rc = parse_backend(cfg, &backend, &bc.pin);
  if (rc)
    return rc;
  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return fail(&err);
  char why[640];
  if ((rc = resolve_backend(topo, &backend, why, sizeof why)) != 0) {
    nb_topo_free(topo);
    return rc;
  }
  if (why[0] && !cfg->json)
    fprintf(stderr, "numabench: bw: host backend (auto: %s)\n", why);
  nb_bw_t bw;
  bc.backend = backend;
  if (nb_bw_measure(topo, &bc, &bw, &err) < 0) {
    rc = fail(&err);
  } else {
    if ((cfg->json ? nb_bw_write_json(bw, stdout, &err) : nb_bw_write_text(bw, stdout, &err)) < 0)
      rc = fail(&err);
    nb_bw_free(bw);
  }
  nb_topo_free(topo);
  return rc;
}

/* Options a sweep may vary: those that change a run, not how it is reported. */
static const char *const sweepable[] = {"gpu-work", "workers", "batch", "sample",
                                        "pipeline", "steps",   "gpus",  NULL};

static int cmd_run(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  const struct nb_option *opt = NULL;
  char name[64] = "";
  const char *values = NULL;
  if (cfg->sweep) {
    const char *eq = strchr(cfg->sweep, '=');
    if (eq && eq - cfg->sweep < (long)sizeof name)
      snprintf(name, sizeof name, "%.*s", (int)(eq - cfg->sweep), cfg->sweep);
    int ok = 0;
    for (int i = 0; sweepable[i]; i++)
      ok |= !strcmp(sweepable[i], name);
    if (!eq || !ok || !eq[1]) {
      fprintf(stderr,
              "numabench: --sweep '%s': expected OPTION=V1,V2,... with OPTION one of gpu-work, workers, "
              "batch, sample, pipeline, steps, gpus\n",
              cfg->sweep);
      return EXIT_USAGE;
    }
    opt = nb_option_find(name);
    values = eq + 1;
    /* Every value is checked before the first point runs. */
    for (const char *v = values;;) {
      char value[128];
      size_t len = strcspn(v, ",");
      snprintf(value, sizeof value, "%.*s", (int)(len < sizeof value ? len : sizeof value - 1), v);
      struct nb_config point;
      struct nb_run_config rcfg;
      enum nb_mode modes[NB_NMODES];
      int nmodes, bad;
      nb_error_t err = {0};
      if (nb_config_copy(&point, cfg) < 0)
        return EXIT_FAILURE;
      bad = nb_config_set(&point, opt, value, &err) < 0 ? fail(&err)
                                                        : resolve_run(&point, &rcfg, modes, &nmodes);
      nb_config_free(&point);
      if (bad)
        return bad;
      if (!v[len])
        break;
      v += len + 1;
    }
  }

  /* Signals: taken by one thread so that a run stops after its step. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR2);
  pthread_t sigt;
  int sig_thread = 0, rc = 0, interrupted = 0;
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 && pthread_create(&sigt, NULL, signal_thread, &set) == 0)
    sig_thread = 1;

  if (!opt) {
    rc = run_point(cfg, NULL, NULL, &interrupted);
  } else {
    for (const char *v = values; rc == 0 && !interrupted;) {
      char value[128];
      size_t len = strcspn(v, ",");
      snprintf(value, sizeof value, "%.*s", (int)(len < sizeof value ? len : sizeof value - 1), v);
      struct nb_config point;
      nb_error_t err = {0};
      if (nb_config_copy(&point, cfg) < 0) {
        fprintf(stderr, "numabench: out of memory\n");
        rc = EXIT_FAILURE;
        break;
      }
      if (nb_config_set(&point, opt, value, &err) < 0)
        rc = fail(&err);
      else
        rc = run_point(&point, name, value, &interrupted);
      nb_config_free(&point);
      if (!v[len])
        break;
      v += len + 1;
      if (rc == 0 && !cfg->json)
        fputc('\n', stdout);
    }
  }
  if (sig_thread) {
    pthread_mutex_lock(&current.mu);
    current.done = 1;
    pthread_mutex_unlock(&current.mu);
    pthread_kill(sigt, SIGUSR2);
    pthread_join(sigt, NULL);
  }
  if (rc == 0 && interrupted)
    return 128 + current.signo;
  return rc;
}

int main(int argc, char **argv)
{
  /* No command, or options first: the benchmark itself. */
  char *run_argv[] = {argv[0], (char *)"run", NULL};
  if (argc < 2) {
    argv = run_argv;
    argc = 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    if (!strcmp(name, "help") && argc > 2) {
      for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[2], commands[i].name)) {
          command_help(&commands[i]);
          return finish_stdout(0);
        }
      fprintf(stderr, "numabench: unknown command '%s' (see numabench --help)\n", argv[2]);
      return EXIT_USAGE;
    }
    usage(stdout);
    return finish_stdout(0);
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    version();
    return finish_stdout(0);
  }
  const struct command *c = NULL;
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(name, commands[i].name))
      c = &commands[i];
  int shift = 1;
  if (!c && name[0] == '-') {
    for (int i = 0; i < NCOMMANDS; i++)
      if (!strcmp(commands[i].name, "run"))
        c = &commands[i];
    shift = 0; /* argv[1] is already an option of run */
  }
  if (!c) {
    fprintf(stderr, "numabench: unknown command '%s' (see numabench --help)\n", name);
    return EXIT_USAGE;
  }

  struct nb_config cfg;
  if (nb_config_init(&cfg) < 0) {
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  /* A preset first, so that the command line overrides it: a quiet pass
   * finds --config however it was written (-Cfile, -qC file, --config=...). */
  struct nb_config pre;
  int rest = 0;
  if (nb_config_init(&pre) < 0) {
    nb_config_free(&cfg);
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  parse(c, argc - shift, argv + shift, &pre, &rest, 1);
  if (pre.config) {
    nb_error_t err = {0};
    if (nb_config_load_file(&cfg, pre.config, c->bit, &err) < 0) {
      nb_config_free(&pre);
      nb_config_free(&cfg);
      return fail(&err);
    }
  }
  nb_config_free(&pre);
  int rc = parse(c, argc - shift, argv + shift, &cfg, &rest, 0);
  if (rc == 0)
    rc = c->run(&cfg, argc - shift - rest, argv + shift + rest);
  else if (rc < 0)
    rc = 0;
  nb_config_free(&cfg);
  return finish_stdout(rc);
}
