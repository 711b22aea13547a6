/* numabench: the command line's options: getopt_long built from the
 * library's option table, and the --config preset read before them. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
      cli_command_help(c);
      rc = -1;
      break;
    }
    if (ch == '?' || ch == ':') {
      char shown[CLI_SHOWN];
      const char *arg = cli_shown(argv[optind - 1], shown);
      if (ch == ':')
        cli_usage("numabench %s: option %s needs a value (see numabench %s --help)", c->name, arg, c->name);
      else if (optopt >= 256 || optopt == 'h')
        cli_usage("numabench %s: option %.*s takes no value (see numabench %s --help)", c->name,
                  (int)strcspn(arg, "="), arg, c->name);
      else if (optopt > 0 && optopt < 256 && isprint(optopt))
        cli_usage("numabench %s: unknown option -%c (see numabench %s --help)", c->name, optopt, c->name);
      else
        cli_usage("numabench %s: unknown option %s (see numabench %s --help)", c->name, arg, c->name);
      rc = CLI_EXIT_USAGE;
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
      if (opt && (opt->flags & NB_OPT_CMD_ERRORS) && optarg && *optarg) {
        rc = cli_usage("numabench %s: %s", c->name, err.msg);
      } else {
        rc = opt ? cli_fail(&err) : EXIT_FAILURE;
      }
    }
  }
  *rest = optind;
  if (quiet) {
    free(lo);
    return 0;
  }
  int operands = argc - optind;
  if (rc == 0 && c->operands && (operands < c->min_operands || operands > c->max_operands)) {
    rc = cli_usage("numabench %s: expected %s (see numabench %s --help)", c->name, c->operands, c->name);
  }
  if (rc == 0 && !c->operands && optind < argc &&
      !(c->args && optind > 1 && !strcmp(argv[optind - 1], "--"))) {
    char shown[CLI_SHOWN];
    rc = cli_usage("numabench %s: unexpected argument '%s' (see numabench %s --help)", c->name,
                   cli_shown(argv[optind], shown), c->name);
  }
  free(lo);
  return rc;
}

int cli_options(const struct command *c, int argc, char **argv, struct nb_config *cfg, int *rest)
{
  /* A preset first, so that the command line overrides it: a quiet pass
   * finds --config however it was written (-Cfile, -qC file, --config=...). */
  struct nb_config pre;
  if (nb_config_init(&pre) < 0) {
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  /* On a copy: getopt_long permutes the vector it is given (operands move
   * after the options), and the real pass must see the arguments in the
   * user's order, or "compare A B --threshold" reads A as the threshold. */
  char **copy = malloc(((size_t)argc + 1) * sizeof *copy);
  if (!copy) {
    nb_config_free(&pre);
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  memcpy(copy, argv, ((size_t)argc + 1) * sizeof *copy);
  parse(c, argc, copy, &pre, rest, 1);
  free(copy);
  if (pre.config) {
    nb_error_t err = {0};
    if (nb_config_load_file(cfg, pre.config, c->bit, &err) < 0) {
      nb_config_free(&pre);
      return cli_fail(&err);
    }
  }
  nb_config_free(&pre);
  return parse(c, argc, argv, cfg, rest, 0);
}
