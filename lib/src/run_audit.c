/* numabench: a run's placement audit as the reporters read it. Kept apart
 * from run.c and pipeline.c, which own the run's threads and results. */
#include <stddef.h>

#include <numabench/run.h>

#include "pipeline.h"

_Static_assert(NB_RUN_NBUFKINDS == NB__NBUFKINDS, "run.h and pipeline.h count the same buffer kinds");

int nb_run_audit_nthreads(nb_run_t r, int i)
{
  return i >= 0 && i < r->ngpus ? r->g[i].gp->nworkers + 2 : 0;
}

const nb_thread_audit_t *nb_run_thread_audit(nb_run_t r, int i, int k)
{
  if (k < 0 || k >= nb_run_audit_nthreads(r, i))
    return NULL;
  return &r->g[i].taudit[k];
}

const nb_buf_audit_t *nb_run_buf_audit(nb_run_t r, int i, int k)
{
  if (i < 0 || i >= r->ngpus || k < 0 || k >= NB__NBUFKINDS)
    return NULL;
  const struct nb__baudit *b = &r->g[i].baudit[k];
  return b->pages.total || b->unverifiable ? b : NULL;
}

void nb_run_numastat(nb_run_t r, const struct nb_numastat **before, const struct nb_numastat **after)
{
  *before = &r->before;
  *after = &r->after;
}
