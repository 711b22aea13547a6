/* numabench: parsers of option values (parse.c), for opts.c. Not installed.
 * Each returns 0 or NB_EINVAL with a message naming what is wrong with the
 * value, not the option: the caller adds "--name 'value': ". */
#ifndef NB_PARSE_H
#define NB_PARSE_H

#include <numabench/opts.h>

/* text is one of choices (NULL-terminated): *index receives its position. */
int nb__parse_choice(const char *text, const char *const *choices, int *index, nb_error_t *err);

/* CxHxW: positive, at most 2^28 values. */
int nb__parse_shape(const char *text, struct nb_shape *shape, nb_error_t *err);

/* Mode names, comma-separated, each at most once, in the order given. */
int nb__parse_modes(const char *text, struct nb_modes *modes, nb_error_t *err);

#endif
