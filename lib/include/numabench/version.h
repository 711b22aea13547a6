/* numabench: version and what this build contains. */
#ifndef NUMABENCH_VERSION_H
#define NUMABENCH_VERSION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version from `git describe` at build time (release number outside git). */
const char *nb_version(void);

/** One line per optional part and dependency, built in or not, with versions
 *  (CUDA, hwloc headers and library, libnuma API, jansson). Writes at most
 *  len bytes including the terminating NUL; returns buf. */
char *nb_build_info(char *buf, size_t len);

/** Whether this build contains the CUDA parts. */
int nb_have_cuda(void);

#ifdef __cplusplus
}
#endif
#endif
