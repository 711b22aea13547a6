/* numabench tests: shared helpers for the cmocka unit tests. */
#ifndef NBTEST_H
#define NBTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <numabench.h>

/* Exit code CTest reads as "skipped" (SKIP_RETURN_CODE). */
#define NB_TEST_SKIP 77

/* Load a topology or fail the test with the library's message. */
static inline nb_topo_t nbt_load(const char *source, const char *devices)
{
  nb_topo_t topo = NULL;
  nb_error_t err = {0};
  struct nb_topo_config cfg = {.source = source, .devices = devices, .no_cuda = true};
  if (nb_topo_load(&topo, &cfg, &err) < 0)
    fail_msg("loading %s: %s", source, err.msg);
  return topo;
}

/* CPU list of an int array, for comparisons that print both sides. */
static inline const char *nbt_cpus(char *buf, size_t len, const int *cpus, int n)
{
  nb_format_cpulist(buf, len, cpus, n);
  return buf;
}

#endif
