/* numabench: the command line. Parse, call the library, map errors to
 * messages and exit codes: 0 success, 1 failure while working, 2 bad input
 * (options, files). Every error is one line on stderr. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench.h>

#define EXIT_USAGE 2

struct command {
  const char *name;
  unsigned bit;
  const char *summary;
  int (*run)(const struct nb_config *cfg);
};

static int cmd_topo(const struct nb_config *cfg);

static const struct command commands[] = {
  {"topo", NB_CMD_TOPO, "show NUMA nodes, distances and GPUs with their nodes and local CPUs", cmd_topo},
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
  printf("usage: numabench %s [options]\n\n%s.\n\nOptions:\n", c->name, c->summary);
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

/* Parse argv[1..] for command c into cfg. Returns 0, -1 for --help shown, or
 * an exit code > 0. */
static int parse(const struct command *c, int argc, char **argv, struct nb_config *cfg)
{
  int n;
  const struct nb_option *opts = nb_options(&n);
  struct option *lo = calloc((size_t)n + 2, sizeof *lo);
  char shorts[2 * 64 + 4] = ":h";
  size_t sl = 2;
  if (!lo) {
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (!(opts[i].commands & c->bit))
      continue;
    int has_arg = opts[i].type == NB_OPT_BOOL ? no_argument : required_argument;
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
      else if (optopt)
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
    if (!opt || nb_config_set(cfg, opt, opt->type == NB_OPT_BOOL ? NULL : optarg, &err) < 0)
      rc = opt ? fail(&err) : EXIT_FAILURE;
  }
  if (rc == 0 && optind < argc) {
    fprintf(stderr, "numabench %s: unexpected argument '%s' (see numabench %s --help)\n", c->name, argv[optind],
            c->name);
    rc = EXIT_USAGE;
  }
  free(lo);
  return rc;
}

static int cmd_topo(const struct nb_config *cfg)
{
  nb_error_t err = {0};
  nb_topo_t topo;
  struct nb_topo_config tc = {.source = cfg->topology, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return fail(&err);
  int rc = cfg->json ? nb_topo_write_json(topo, stdout, &err) : nb_topo_write_text(topo, stdout, &err);
  nb_topo_free(topo);
  return rc < 0 ? fail(&err) : 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
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
  if (!c) {
    if (name[0] == '-')
      fprintf(stderr, "numabench: option %s needs a command first (see numabench --help)\n", name);
    else
      fprintf(stderr, "numabench: unknown command '%s' (see numabench --help)\n", name);
    return EXIT_USAGE;
  }

  struct nb_config cfg;
  if (nb_config_init(&cfg) < 0) {
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  int rc = parse(c, argc - 1, argv + 1, &cfg);
  if (rc == 0)
    rc = c->run(&cfg);
  else if (rc < 0)
    rc = 0;
  nb_config_free(&cfg);
  return finish_stdout(rc);
}
