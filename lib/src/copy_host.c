/* numabench: the host copy backend. The host plays the device: the
 * pipeline's completion thread, bound to the device's node, is its copy
 * engine, and its memory is two slots on that node where batches land.
 *
 * What a copy costs the host is what a GPU's DMA costs it: the whole staging
 * batch is read once, from staging's node (across the link when that is not
 * the device's node), and nothing is written to host memory, because a GPU's
 * memory is not the host's. So the engine reads the batch into its slot a
 * piece at a time (NB__HOST_LANDING_BYTES), rewriting the same small slot,
 * which stays in the engine core's cache: writing whole batches into host
 * memory would double the host memory traffic of every copy, which a GPU
 * host does not have. --verify checksums each piece as it lands
 * (nb_checksum_add), so what is checked is what arrived. The device's
 * compute is a timeline: step k's work
 * starts when its data is in and step k-1's work is done, and lasts
 * --gpu-work. Two slots let the copy of k+1 overlap the work of k, as on a
 * GPU with one copy and one compute engine: a slot is rewritten only once
 * the work of the step that used it last is over. Cross-node traffic is
 * real on multi-socket hosts without GPUs.
 *
 * `numabench bw` with this backend: a node x node memory-copy matrix. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench/audit.h>
#include <numabench/gen.h>

#include "copy.h"

struct nb__copy_dev {
  struct nb__copy_dev_config cfg;
  const void **src;   /* per ring entry: the staging batch submitted */
  int *check;         /* per ring entry: checksum what lands (--verify) */
  uint64_t *sum;      /* per ring entry: the checksum of what landed */
  double *copy_t;     /* per ring entry: when its copy ended */
  double *copy_s;     /* per ring entry: how long its copy took */
  double base;        /* the device's start */
  double prev_end;    /* the last step's work end */
  double slot_end[2]; /* work end of the step that used each slot last */
  size_t piece;       /* a batch lands in pieces of this: min(batch, NB__HOST_LANDING_BYTES) */
};

/* Sleep until monotonic time t, in steps of at most a millisecond so that a
 * long --gpu-work never delays a stop. */
static void wait_until(const struct nb__copy_dev *d, double t)
{
  for (double now = nb__now(); now < t && !(d->cfg.stop && atomic_load(d->cfg.stop)); now = nb__now()) {
    double until = t < now + 1e-3 ? t : now + 1e-3;
    struct timespec ts = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  }
}

static void host_close(struct nb__copy_dev *d)
{
  if (!d)
    return;
  free(d->src);
  free(d->check);
  free(d->sum);
  free(d->copy_t);
  free(d->copy_s);
  free(d);
}

static int host_open(struct nb__copy_dev **dp, const struct nb__copy_dev_config *cfg, nb_error_t *err)
{
  struct nb__copy_dev *d = calloc(1, sizeof *d);
  *dp = NULL;
  if (!d)
    return nb__err(err, NB_ENOMEM, "GPU %d: out of memory", cfg->gpu);
  d->cfg = *cfg;
  d->piece = cfg->batch_bytes < NB__HOST_LANDING_BYTES ? cfg->batch_bytes : NB__HOST_LANDING_BYTES;
  d->src = calloc((size_t)cfg->ring, sizeof *d->src);
  d->copy_t = calloc((size_t)cfg->ring, sizeof *d->copy_t);
  d->copy_s = calloc((size_t)cfg->ring, sizeof *d->copy_s);
  d->check = calloc((size_t)cfg->ring, sizeof *d->check);
  d->sum = calloc((size_t)cfg->ring, sizeof *d->sum);
  if (!d->src || !d->copy_t || !d->copy_s || !d->check || !d->sum || !cfg->slots) {
    host_close(d);
    return nb__err(err, cfg->slots ? NB_ENOMEM : NB_EINTERNAL, "GPU %d: %s", cfg->gpu,
                   cfg->slots ? "out of memory" : "the host backend needs device slots");
  }

  *dp = d;
  return 0;
}

/* The slots, allocated by now by the calling completion thread, must hold
 * a piece each. */
static int host_attach(struct nb__copy_dev *d, nb_error_t *err)
{
  size_t have = d->cfg.slots[0].len < d->cfg.slots[1].len ? d->cfg.slots[0].len : d->cfg.slots[1].len;
  if (have < d->piece)
    return nb__err(err, NB_EINTERNAL, "GPU %d: the host backend's slots hold %zu bytes, less than a piece of %zu",
                   d->cfg.gpu, have, d->piece);
  return 0;
}

static int host_start(struct nb__copy_dev *d, nb_error_t *err)
{
  (void)err;
  d->base = d->prev_end = d->slot_end[0] = d->slot_end[1] = nb__now();
  return 0;
}

static int host_submit(struct nb__copy_dev *d, long step, const void *src, int verify, nb_error_t *err)
{
  (void)err;
  d->src[step % d->cfg.ring] = src;
  d->check[step % d->cfg.ring] = verify;
  return 0;
}

/* The copy: once the slot's previous step's work is over. */
static int host_poll_copy(struct nb__copy_dev *d, long step, nb_error_t *err)
{
  (void)err;
  int slot = (int)(step % 2);
  long e = step % d->cfg.ring;
  if (d->slot_end[slot] > nb__now())
    wait_until(d, d->slot_end[slot]);
  if (d->cfg.stop && atomic_load(d->cfg.stop))
    return 0;
  double t0 = nb__now();
  const unsigned char *src = d->src[e];
  unsigned char *land = d->cfg.slots[slot].addr;
  size_t n = d->cfg.batch_bytes, piece = d->piece;
  struct nb_checksum_sums sums = {0, 0};
  double sum_s = 0;
  /* Pieces of NB__HOST_LANDING_BYTES (a multiple of 8, as nb_checksum_add
   * needs) and the rest; host_attach checked that the slots hold one. The
   * checksum's time is the verification's, not the copy's. */
  for (size_t off = 0; off < n; off += piece) {
    size_t k = n - off < piece ? n - off : piece;
    memcpy(land, src + off, k);
    if (d->check[e]) {
      double c0 = nb__now();
      nb_checksum_add(&sums, land, k);
      sum_s += nb__now() - c0;
    }
  }
  d->sum[e] = nb_checksum_end(&sums);
  d->copy_t[e] = nb__now();
  d->copy_s[e] = d->copy_t[e] - t0 - sum_s;
  return 1;
}

/* The compute timeline: the work starts when the data is in and the
 * previous step is done; the wait for data is starvation. */
static int host_poll_step(struct nb__copy_dev *d, long step, struct nb__copy_step *t, nb_error_t *err)
{
  (void)err;
  long e = step % d->cfg.ring;
  double in = d->copy_t[e], start = in > d->prev_end ? in : d->prev_end, end = start + d->cfg.work_us * 1e-6;
  *t = (struct nb__copy_step){.copy_s = d->copy_s[e],
                              .work_s = d->cfg.work_us * 1e-6,
                              .idle_s = start - d->prev_end,
                              .step_s = end - d->prev_end};
  d->prev_end = d->slot_end[step % 2] = end;
  return 1;
}

static uint64_t host_verify_sum(struct nb__copy_dev *d, long step)
{
  return d->sum[step % d->cfg.ring];
}

/* The modelled work of the last steps ends before the device does. */
static void host_drain(struct nb__copy_dev *d)
{
  if (d->prev_end > nb__now())
    wait_until(d, d->prev_end);
}

/* bw: a thread bound to its row node copies from a buffer on the column
 * node into one on its own node, repeat + 1 times (the first untimed). */
static void *host_bw_job(void *arg)
{
  struct nb__bw_job *j = arg;
  nb_topo_t topo = j->topo;
  size_t bytes = j->cfg->bytes;
  int rnode = j->row_node, cnode = j->col;
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, rnode));
  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, nd->ncpus, nd->cpus, rnode, NB_MEM_BIND, rnode};
  struct nb_bind_status st;
  struct nb_buf src = {0}, dst = {0};
  struct nb_buf_plan sp = {NB_MEM_BIND, cnode}, dp = {NB_MEM_BIND, rnode};
  j->rc = nb_bind_self(topo, &tp, NULL, 0, &st, &j->err);
  if (j->rc == 0)
    j->rc = nb_buf_alloc(topo, &src, bytes, &sp, NULL, 0, &j->err);
  if (j->rc == 0)
    j->rc = nb_buf_alloc(topo, &dst, bytes, &dp, NULL, 0, &j->err);
  if (j->gate)
    nb__gate_arrive(j->gate);
  if (j->rc == 0) {
    for (int k = -1; k < j->cfg->repeat; k++) {
      double t0 = nb__now();
      memcpy(dst.addr, src.addr, bytes);
      double t = nb__now() - t0;
      if (k >= 0)
        j->samples[k] = (double)bytes / t / 1e9;
    }
    /* Where were we, really? */
    struct nb_hist hs, hd;
    j->placed = st.cpu_bound && nb_hist_init(&hs, topo) == 0 && nb_hist_init(&hd, topo) == 0 &&
                nb_audit_pages(topo, src.addr, src.len, 256, &hs, NULL) == 0 &&
                nb_audit_pages(topo, dst.addr, dst.len, 256, &hd, NULL) == 0 &&
                nb_hist_share(&hs, topo, cnode) >= NB_PLACEMENT_THRESHOLD &&
                nb_hist_share(&hd, topo, rnode) >= NB_PLACEMENT_THRESHOLD;
    nb_hist_free(&hs);
    nb_hist_free(&hd);
  }
  nb_buf_free(&src);
  nb_buf_free(&dst);
  return NULL;
}

const struct nb__copy_ops nb__copy_host = {
    .name = "host",
    .devices_text = "the GPUs' nodes; the host backend copies in their place",
    .flags = NB__COPY_HOST_MEMORY | NB__COPY_MODELLED_WORK,
    .verify_every = 1,
    .verify_inflight = 0,
    .verified_how = "arrived",
    .open = host_open,
    .attach = host_attach,
    .start = host_start,
    .submit = host_submit,
    .poll_copy = host_poll_copy,
    .poll_step = host_poll_step,
    .verify_sum = host_verify_sum,
    .drain = host_drain,
    .close = host_close,
    .bw_job = host_bw_job,
};
