/* numabench: `plan --check`. Applies a plan to real threads and small
 * buffers on this machine, then asks the kernel where everything is. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench/audit.h>

#include "audit-internal.h"
#include "check-internal.h"
#include "nb-internal.h"

static void *check_thread(void *arg)
{
  struct chk_thread *t = arg;
  struct nb_check *c = t->chk;
  const struct nb_gpu_plan *g = nb_plan_gpu(c->plan, t->gpu);
  const struct nb_thread_plan *tp = t->audit.tp;
  const int *il;
  int nil = nb_plan_interleave_nodes(c->plan, &il);

  /* Affinity, then policy, then allocate and first-touch from here. */
  t->rc = nb_bind_self(c->topo, tp, il, nil, &t->audit.bind, &t->err);
  struct nb_buf_plan own = {tp->mem_policy, tp->mem_node};
  const struct nb_buf_plan *plans[2] = {tp->role == NB_ROLE_FEEDER ? &g->staging : &own, &g->device_buf};
  int want = tp->role == NB_ROLE_FEEDER ? 2 : 1;
  for (int b = 0; t->rc == 0 && b < want; b++) {
    t->rc = nb_buf_alloc(c->topo, &t->bufs[b], c->cfg.buf_bytes, plans[b], il, nil, &t->err);
    t->nbufs += t->rc == 0;
  }
  nb__gate_arrive(&c->start);
  if (t->rc < 0)
    return NULL;

  /* Work on the buffer while sampling where we run. */
  double end = nb__now() + c->cfg.seconds;
  unsigned char *p = t->bufs[0].addr;
  size_t len = t->bufs[0].len, at = 0;
  unsigned long sum = 0;
  do {
    for (int k = 0; k < 4096; k++, at = (at + 4096 + 64) % len)
      sum += p[at]++;
    nb__taudit_sample(&t->audit, c->topo);
  } while (nb__now() < end);
  t->sink = sum;
  return NULL;
}

int nb_check_run(nb_plan_t plan, const struct nb_check_config *cfg, nb_check_t *checkp, nb_error_t *err)
{
  int rc = 0;
  nb_topo_t topo = nb_plan_topo(plan);
  *checkp = NULL;
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "topology %s is not this machine: its plans are never applied",
                   nb_topo_source(topo));
  struct nb_check *c = calloc(1, sizeof *c);
  if (!c)
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  c->plan = plan;
  c->topo = topo;
  c->cfg = cfg ? *cfg : (struct nb_check_config){0, 0, -1};
  if (c->cfg.seconds <= 0)
    c->cfg.seconds = 0.2;
  for (int i = 0; i < nb_plan_ngpus(plan); i++)
    c->nthreads += 1 + nb_plan_gpu(plan, i)->nworkers;
  if (!c->cfg.buf_bytes) {
    /* 8 MiB each, but all of them within an eighth of the free memory. */
    double free_total = 0;
    for (int i = 0; i < nb_topo_nnodes(topo); i++)
      if (nb_topo_node(topo, i)->mem_allowed && nb_topo_node(topo, i)->free_bytes > 0)
        free_total += (double)nb_topo_node(topo, i)->free_bytes;
    double each = free_total / 8 / (c->nthreads + nb_plan_ngpus(plan));
    c->cfg.buf_bytes = each >= (8u << 20) ? (8u << 20) : each <= (64u << 10) ? (64u << 10) : (size_t)each;
  }
  c->threads = calloc((size_t)c->nthreads, sizeof *c->threads);
  if (!c->threads) {
    free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }
  for (int i = 0, k = 0; i < nb_plan_ngpus(plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    for (int w = -1; w < g->nworkers; w++, k++) {
      struct chk_thread *t = &c->threads[k];
      t->chk = c;
      t->gpu = i;
      /* A worker has one buffer (its batch); the feeder two (staging, device). */
      int feeder = w < 0;
      if (nb__taudit_init(&t->audit, topo, feeder ? &g->feeder : &g->workers[w]) < 0 ||
          nb__baudit_init(&t->baudit[0], topo, feeder ? "staging" : "worker", w) < 0 ||
          nb__baudit_init(&t->baudit[1], topo, "device", w) < 0) {
        nb_check_free(c);
        return nb__err(err, NB_ENOMEM, "check: out of memory");
      }
    }
  }
  if (nb_numastat_read(topo, &c->before) < 0) {
    nb_check_free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }

  nb__gate_init(&c->start);
  int started = 0;
  for (int k = 0; k < c->nthreads; k++) {
    int e = pthread_create(&c->threads[k].tid, NULL, check_thread, &c->threads[k]);
    if (e) {
      rc = nb__err_sys(err, NB_EINTERNAL, e, "check: creating thread %d of %d", k + 1, c->nthreads);
      break;
    }
    c->threads[k].started = true;
    started++;
  }
  nb__gate_open(&c->start, started);
  for (int k = 0; k < c->nthreads; k++)
    if (c->threads[k].started)
      pthread_join(c->threads[k].tid, NULL);
  nb__gate_destroy(&c->start);
  for (int k = 0; rc == 0 && k < started; k++)
    if (c->threads[k].rc < 0) {
      rc = c->threads[k].rc;
      if (err)
        *err = c->threads[k].err;
    }
  if (rc < 0) {
    nb_check_free(c);
    return rc;
  }

  /* The audit's self-test: move GPU 0's staging pages away. */
  if (c->cfg.move_staging_to >= 0) {
    if ((rc = nb_buf_move(&c->threads[0].bufs[0], c->cfg.move_staging_to, err)) < 0) {
      nb_check_free(c);
      return rc;
    }
    c->moved = 1;
  }

  const int *il;
  int nil = nb_plan_interleave_nodes(plan, &il);
  c->achieved = true;
  for (int k = 0; k < c->nthreads; k++) {
    struct chk_thread *t = &c->threads[k];
    nb__taudit_judge(&t->audit, topo);
    c->achieved &= t->audit.ok;
    for (int b = 0; b < t->nbufs; b++) {
      if ((rc = nb__baudit_add(&t->baudit[b], topo, &t->bufs[b], err)) < 0) {
        nb_check_free(c);
        return rc;
      }
      nb__baudit_judge(&t->baudit[b], topo, il, nil);
      c->achieved &= t->baudit[b].ok;
      nb_buf_free(&t->bufs[b]);
    }
  }
  if (nb_numastat_read(topo, &c->after) < 0) {
    nb_check_free(c);
    return nb__err(err, NB_ENOMEM, "check: out of memory");
  }
  *checkp = c;
  return 0;
}

void nb_check_free(nb_check_t c)
{
  if (!c)
    return;
  for (int k = 0; k < c->nthreads; k++) {
    struct chk_thread *t = &c->threads[k];
    nb__taudit_free(&t->audit);
    for (int b = 0; b < 2; b++) {
      nb_buf_free(&t->bufs[b]);
      nb__baudit_free(&t->baudit[b]);
    }
  }
  nb_numastat_free(&c->before);
  nb_numastat_free(&c->after);
  free(c->threads);
  free(c);
}

bool nb_check_achieved(nb_check_t c)
{
  return c->achieved;
}
