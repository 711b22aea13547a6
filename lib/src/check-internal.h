/* numabench: the result of `plan --check`, shared by the check (check.c) and
 * its text and JSON writers (report_check.c). Not installed. */
#ifndef NB_CHECK_INTERNAL_H
#define NB_CHECK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <numabench/audit.h>
#include <numabench/bind.h>
#include <numabench/plan.h>

#include "audit-internal.h"
#include "nb-internal.h"

/* One planned thread (a GPU's feeder or one of its workers) as the check ran it. */
struct chk_thread {
  struct nb_check *chk; /* the check it belongs to */
  int gpu;              /* index into the plan */
  pthread_t tid;
  bool started; /* pthread_create succeeded: join it */
  int rc;       /* 0, or why binding or allocating failed (in err) */
  nb_error_t err;
  struct nb__taudit audit;     /* where the kernel ran it */
  struct nb_buf bufs[2];       /* worker: its batch buffer; feeder: staging, device */
  struct nb__baudit baudit[2]; /* where the kernel put bufs[] */
  int nbufs;                   /* bufs[] allocated */
  volatile unsigned long sink; /* keeps the work loop from being optimised away */
};

/* The check and its result: the plan applied, every thread's and buffer's
 * audit, and numastat around it. */
struct nb_check {
  nb_plan_t plan;
  nb_topo_t topo;             /* the plan's; this machine */
  struct nb_check_config cfg; /* with the defaults filled in */
  int nthreads;
  struct chk_thread *threads; /* per GPU in plan order: the feeder, then its workers */
  struct nb__gate start;      /* the threads work at the same time */
  struct nb_numastat before, after;
  int moved;     /* staging moved for the self-test */
  bool achieved; /* every audit ok */
};

#endif
