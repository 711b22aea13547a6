/* numabench: the one error contract of the library.
 *
 * Every fallible function returns 0 on success or a negative NB_E* code, and
 * fills an optional nb_error_t with one line saying what failed, on which
 * input, and how to fix it when there is a fix. The library never prints and
 * never exits; the CLI prints that line and maps the code to an exit status.
 */
#ifndef NUMABENCH_ERROR_H
#define NUMABENCH_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, text): one list generates the enum and nb_strerror(). */
#define NB_ERRNO_MAP(X)                                                                                      \
  X(EINVAL, -1, "invalid argument")                                                                          \
  X(ENOENT, -2, "not found")                                                                                 \
  X(EFORMAT, -3, "malformed input")                                                                          \
  X(EIO, -4, "input/output error")                                                                           \
  X(ENOMEM, -5, "out of memory")                                                                             \
  X(ENOTSUP, -6, "not supported by this build or machine")                                                   \
  X(EPERM, -7, "operation not permitted")                                                                    \
  X(ECUDA, -8, "CUDA error")                                                                                 \
  X(EINTERNAL, -9, "internal error")

typedef enum {
  NB_OK = 0,
#define NB__ERR_ENUM(name, value, text) NB_##name = (value),
  NB_ERRNO_MAP(NB__ERR_ENUM)
#undef NB__ERR_ENUM
} nb_errcode_t;

/** What failed. Callers may pass NULL wherever an nb_error_t * is taken. */
typedef struct nb_error {
  int code;      /* NB_OK or a negative NB_E* code */
  int sys_errno; /* the errno behind the failure, 0 when there is none */
  char msg[640]; /* one line, no trailing newline: input, what is wrong, fix */
} nb_error_t;

/** Short text for an error code ("invalid argument"); never NULL. */
const char *nb_strerror(int code);

/** Symbolic name of an error code ("NB_EINVAL"); never NULL. */
const char *nb_err_name(int code);

/** True when the error lies in the user's input (options, files): exit 2. */
int nb_err_is_usage(int code);

#ifdef __cplusplus
}
#endif
#endif
