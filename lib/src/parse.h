/* numabench: parsers of option values (parse.c), for opts.c. Not installed.
 * Each returns 0 or NB_EINVAL with a message naming what is wrong with the
 * value, not the option: the caller adds "--name 'value': ". */
#ifndef NB_PARSE_H
#define NB_PARSE_H

#include <numabench/opts.h>

/* The one parser of integers in option values: decimal digits, with a '-'
 * first only for a negative value (not "-0"); no spaces, '+', hex, exponent
 * or fraction. Overflow is out of range, never wrapped or clamped (strtol's
 * and sscanf's leniencies let "3x4294967297x1" become 3x1x1). */
enum nb__num_result {
  NB__NUM_SYNTAX = -1, /* not a number */
  NB__NUM_RANGE = -2,  /* a number outside [min, max], overflow included */
};

/* Reads one number at *p and moves *p past its digits (also when it is out
 * of range); what follows is the caller's to check. 0 or nb__num_result. */
int nb__parse_num(const char **p, long min, long max, long *v);

/* The whole of text is one number within [min, max]: 0 or nb__num_result. */
int nb__parse_long(const char *text, long min, long max, long *v);

/* Room for a value shown in a message: a longer one is cut, so that what
 * the message says about it still fits (nb_error_t.msg is 640 bytes). */
#define NB__SHOWN_LEN 72

/* text, or its start and "..." when it does not fit in buf (len bytes). */
const char *nb__shown(const char *text, char *buf, size_t len);

/* A size (nb_parse_size), with a message: too small or not a size, or
 * larger than any machine's memory. */
int nb__parse_size(const char *text, size_t *bytes, nb_error_t *err);

/* text is one of choices (NULL-terminated): *index receives its position. */
int nb__parse_choice(const char *text, const char *const *choices, int *index, nb_error_t *err);

/* CxHxW: positive, at most 2^28 values. */
int nb__parse_shape(const char *text, struct nb_shape *shape, nb_error_t *err);

/* Mode names, comma-separated, each at most once, in the order given. */
int nb__parse_modes(const char *text, struct nb_modes *modes, nb_error_t *err);

#endif
