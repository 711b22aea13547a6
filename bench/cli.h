/* numabench: the command line's private interface, shared by numabench.c
 * (dispatch, help, exit codes), cli_opts.c (options) and cmd_*.c (one file
 * per command). Not installed. */
#ifndef NB_CLI_H
#define NB_CLI_H

#include <stdio.h>

#include <numabench.h>

/* Exit statuses: 0 success, 1 (EXIT_FAILURE) failure while working, and: */
#define CLI_EXIT_USAGE 2     /* bad input: options, files, what this machine cannot do */
#define CLI_EXIT_MISPLACED 3 /* the audit found placement not achieved */
/* A run stopped by signal S exits 128 + S, as a shell reports it. */

struct command {
  const char *name;
  unsigned bit; /* enum nb_command: the options of the table it takes */
  const char *summary;
  int (*run)(const struct nb_config *cfg, int argc, char **argv);
  const char *args;     /* what may follow --, NULL when nothing may */
  const char *operands; /* file operands (report, compare), NULL when none */
  int min_operands, max_operands;
};

/* The commands, each in its own file: argc/argv are what follows -- (plan)
 * or the file operands (report, compare). They return an exit status. */
int cmd_topo(const struct nb_config *cfg, int argc, char **argv);
int cmd_plan(const struct nb_config *cfg, int argc, char **argv);
int cmd_run(const struct nb_config *cfg, int argc, char **argv);
int cmd_report(const struct nb_config *cfg, int argc, char **argv);
int cmd_compare(const struct nb_config *cfg, int argc, char **argv);
int cmd_bw(const struct nb_config *cfg, int argc, char **argv);
int cmd_audit(const struct nb_config *cfg, int argc, char **argv);
int cmd_exec(const struct nb_config *cfg, int argc, char **argv);
int cmd_launch(const struct nb_config *cfg, int argc, char **argv);
int cmd_probe(const struct nb_config *cfg, int argc, char **argv);
int cmd_fleet(const struct nb_config *cfg, int argc, char **argv);

/* Print a library error as one line; exit 2 when the input is at fault
 * (nb_err_is_usage), else 1. */
int cli_fail(const nb_error_t *err);

/* Print a library error as one line; exit 2 whatever its code: the request
 * cannot be met here (a mode or backend this machine cannot have, files that
 * cannot be compared). */
int cli_refuse(const nb_error_t *err);

/* Print a message of the command line's own about bad input (it may echo
 * arguments) as one line, scrubbed as the library's errors are
 * (nb_input_error); returns CLI_EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a note that is not an error (where results went) as one line on
 * stderr, "numabench: " first, control characters in it shown as '?' as in
 * every echoed input; never cut. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An argument as messages show it: cut to fit buf (CLI_SHOWN bytes) with
 * "...", so that what the message says about it is never cut off. */
#define CLI_SHOWN 72
const char *cli_shown(const char *arg, char *buf);

/* The command's --help, from the option table. */
void cli_command_help(const struct command *c);

/* The command's options into cfg: a --config preset first, then the command
 * line over it; *rest is the index in argv of the first argument left
 * (after "--", or the file operands). Returns 0, -1 when --help was shown,
 * or an exit status with the message printed. */
int cli_options(const struct command *c, int argc, char **argv, struct nb_config *cfg, int *rest);

#endif
