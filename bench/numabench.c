/* numabench: the command line. Dispatch to one file per command
 * (cmd_*.c), --help and --version, and the one mapping from outcomes to exit
 * statuses: 0 success, 1 failure while working, 2 bad input (options,
 * files), 3 placement not achieved, 128 + S for a run stopped by signal S.
 * Every error is one line on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
    {"exec", NB_CMD_EXEC,
     "bind this rank of a job (CPUs and memory) to its GPU's node, say so in one line, and run the command: "
     "torchrun --no-python numabench exec -- python train.py",
     cmd_exec, "CMD [ARGS...]", NULL, 0, 0},
    {"audit", NB_CMD_AUDIT,
     "show where a running job's processes, threads and pages are, per GPU rank: local, remote or split, "
     "with "
     "the fix",
     cmd_audit, NULL, NULL, 0, 0},
    {"launch", NB_CMD_LAUNCH,
     "run your own command (e.g. a training script) under each placement mode, --nproc ranks each placed by "
     "exec, --repeat times interleaved, and report its --metric or wall time with speedup vs none",
     cmd_launch, "CMD [ARGS...]", NULL, 0, 0},
    {"probe", NB_CMD_PROBE,
     "print this machine's placement facts (nodes, distances, GPUs and their nodes, NPS, SMT, kernel "
     "settings) and their fingerprint, the record fleet compares across hosts; --output DIR saves it",
     cmd_probe, NULL, NULL, 0, 0},
    {"fleet", NB_CMD_FLEET,
     "read result files and probe records of many hosts (files or directories, recursively) and list the "
     "hosts whose topology or metrics drift from their machine type's: exit 0 consistent, 1 drift, 2 bad "
     "input",
     cmd_fleet, NULL, "DIR|FILE...", 1, 1 << 20},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

int cli_fail(const nb_error_t *err)
{
  fprintf(stderr, "numabench: %s\n", err->msg);
  return nb_err_is_usage(err->code) ? CLI_EXIT_USAGE : EXIT_FAILURE;
}

int cli_refuse(const nb_error_t *err)
{
  fprintf(stderr, "numabench: %s\n", err->msg);
  return CLI_EXIT_USAGE;
}

const char *cli_shown(const char *arg, char *buf)
{
  if (strlen(arg) < CLI_SHOWN)
    return arg;
  snprintf(buf, CLI_SHOWN, "%.*s...", CLI_SHOWN - 4, arg);
  return buf;
}

int cli_usage(const char *fmt, ...)
{
  nb_error_t err = {0};
  char text[sizeof err.msg];
  va_list ap;
  va_start(ap, fmt);
  if (vsnprintf(text, sizeof text, fmt, ap) < 0)
    text[0] = '\0';
  va_end(ap);
  nb_input_error(&err, NB_EINVAL, text);
  fprintf(stderr, "%s\n", err.msg);
  return CLI_EXIT_USAGE;
}

void cli_note(const char *fmt, ...)
{
  /* Room for a whole result path (4096 bytes) and its words: a note names
   * a file the user wants to find, so it is never cut as errors are. */
  char text[4608];
  va_list ap;
  va_start(ap, fmt);
  if (vsnprintf(text, sizeof text, fmt, ap) < 0)
    text[0] = '\0';
  va_end(ap);
  /* Scrubbed as nb_input_error scrubs errors: a control character in an
   * echoed name (a newline in --output) is shown as '?'. */
  for (char *p = text; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  fprintf(stderr, "numabench: %s\n", text);
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

void cli_command_help(const struct command *c)
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
    char mvbuf[128];
    const char *mv = nb_option_metavar(&opts[i], mvbuf, sizeof mvbuf);
    snprintf(lhs, sizeof lhs, "%s--%s%s%s", sopt, opts[i].name, mv ? " " : "", mv ? mv : "");
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

int main(int argc, char **argv)
{
  /* No command, or options first: the benchmark itself. */
  char *run_argv[] = {argv[0], (char *)"run", NULL};
  if (argc < 2) {
    argv = run_argv;
    argc = 2;
  }
  const char *name = argv[1];
  char shown[CLI_SHOWN];
  /* Words after what these take are refused, not ignored: "help run
   * extra" and "--version x" are mistakes. --help CMD and -h CMD are help CMD. */
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    if (argc > 3)
      return cli_usage("numabench %s: unexpected argument '%s' (see numabench --help)", name,
                       cli_shown(argv[3], shown));
    if (argc > 2) {
      for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[2], commands[i].name)) {
          cli_command_help(&commands[i]);
          return finish_stdout(0);
        }
      return cli_usage("numabench: unknown command '%s' (see numabench --help)", cli_shown(argv[2], shown));
    }
    usage(stdout);
    return finish_stdout(0);
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    if (argc > 2)
      return cli_usage("numabench %s: unexpected argument '%s' (see numabench --help)", name,
                       cli_shown(argv[2], shown));
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
    return cli_usage("numabench: unknown command '%s' (see numabench --help)", cli_shown(name, shown));
  }

  struct nb_config cfg;
  if (nb_config_init(&cfg) < 0) {
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  int rest = 0;
  int rc = cli_options(c, argc - shift, argv + shift, &cfg, &rest);
  if (rc == 0) {
    nb_error_t err = {0};
    nb_config_finish(&cfg, c->bit);
    if (nb_config_check(&cfg, c->bit, &err) < 0)
      rc = cli_fail(&err);
  }
  if (rc == 0)
    rc = c->run(&cfg, argc - shift - rest, argv + shift + rest);
  else if (rc < 0)
    rc = 0;
  nb_config_free(&cfg);
  return finish_stdout(rc);
}
