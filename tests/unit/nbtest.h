/* numabench tests: shared helpers for the cmocka unit tests. */
#ifndef NBTEST_H
#define NBTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <unistd.h>

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

/* Start a run and wait for it; *out receives the run (NULL when it could
 * not start) for the caller to inspect and free. Returns the first error. */
static inline int nbt_run_once(nb_plan_t plan, const struct nb_run_config *cfg, nb_run_t *out,
                               nb_error_t *err)
{
  nb_run_t run = NULL;
  int rc = nb_run_start(&run, plan, cfg, err);
  if (run) {
    int w = nb_run_wait(run, err);
    rc = rc < 0 ? rc : w;
  }
  *out = run;
  return rc;
}

/* Stop a run from another thread after a while (nbt_stop_after, then
 * pthread_join(s.thread) once the run has ended). */
struct nbt_stopper {
  nb_run_t run;
  unsigned usec;
  pthread_t thread;
};

static inline void *nbt_stopper_main(void *arg)
{
  struct nbt_stopper *s = (struct nbt_stopper *)arg;
  usleep(s->usec);
  nb_run_stop(s->run);
  return NULL;
}

static inline int nbt_stop_after(struct nbt_stopper *s, nb_run_t run, unsigned usec)
{
  s->run = run;
  s->usec = usec;
  return pthread_create(&s->thread, NULL, nbt_stopper_main, s);
}

/* CPU list of an int array, for comparisons that print both sides. */
static inline const char *nbt_cpus(char *buf, size_t len, const int *cpus, int n)
{
  nb_format_cpulist(buf, len, cpus, n);
  return buf;
}

#endif
