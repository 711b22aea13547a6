/* numabench: the CUDA copy backend, a table over the CUDA engine
 * (cuda_engine.cu; cuda_stub.c in builds without CUDA, which answers every
 * call with the reason). Staging is page-locked (cudaHostRegister or
 * cudaHostAlloc); per GPU the feeder queues each batch's copy and the step's
 * kernels, and the completion thread reads every step's times from events.
 * `numabench bw` with this backend: pinned H2D and D2H copies, node x GPU. */
#include <stdio.h>
#include <string.h>

#include <numabench/audit.h>

#include "copy.h"
#include "cuda_engine.h"

/* "1.50 GiB", "73.5 MiB" below a GiB, "48 KiB" below a MiB. */
static const char *size_text(char *buf, size_t len, double bytes)
{
  if (bytes >= 1024.0 * 1024 * 1024)
    snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  else if (bytes >= 1024.0 * 1024)
    snprintf(buf, len, "%.1f MiB", bytes / (1024.0 * 1024));
  else
    snprintf(buf, len, "%.0f KiB", bytes / 1024.0);
  return buf;
}

void nb__cuda_slots_oom(nb_error_t *err, int batch, size_t slot_bytes, size_t out_bytes, size_t avail,
                        size_t total)
{
  if (!err)
    return;
  char a[32], b[32], c[32], d[32], fit[64];
  /* Every device buffer grows with the batch: the batch that fits is the
   * memory there is over what one sample takes (slots and output). */
  double per_sample = batch > 0 ? (2.0 * (double)slot_bytes + (double)out_bytes) / batch : 0;
  long fits = per_sample > 0 ? (long)((double)avail / per_sample) : 0;
  if (fits >= batch)
    fits = batch - 1; /* the driver's own needs took the rest: ask for less than now */
  if (fits >= 1)
    snprintf(fit, sizeof fit, "lower --batch (about %ld fits)", fits);
  else
    snprintf(fit, sizeof fit, "not even --batch 1 fits: use a smaller --sample");
  size_t used = strlen(err->msg);
  snprintf(
      err->msg + used, sizeof err->msg - used,
      ": the device slots need 2 x %s and the resize output %s at --batch %d, and the GPU has %s free of "
      "%s; %s",
      size_text(a, sizeof a, (double)slot_bytes), size_text(b, sizeof b, (double)out_bytes), batch,
      size_text(c, sizeof c, (double)avail), size_text(d, sizeof d, (double)total), fit);
}

/* The engine's GPU is the device: the pointer is converted back and forth,
 * never dereferenced as the other type. */
static struct nb__cuda_gpu *gpu_of(struct nb__copy_dev *d)
{
  return (struct nb__cuda_gpu *)d;
}

static int cuda_open(struct nb__copy_dev **dp, const struct nb__copy_dev_config *c, nb_error_t *err)
{
  *dp = NULL;
  if (c->ordinal < 0)
    return nb__err(err, NB_EINVAL, "GPU %d (%s) is not a CUDA device: use --backend host", c->gpu,
                   c->bus_id ? c->bus_id : "");
  struct nb__cuda_gpu_config cc = {.ordinal = c->ordinal,
                                   .gpu = c->gpu,
                                   .batch_bytes = c->batch_bytes,
                                   .batch = c->batch,
                                   .channels = c->channels,
                                   .height = c->height,
                                   .width = c->width,
                                   .out_size = c->out_size,
                                   .work_us = c->work_us,
                                   .ring = c->ring,
                                   .verify = c->verify};
  struct nb__cuda_gpu *g = NULL;
  int rc = nb__cuda_gpu_open(&g, &cc, err);
  *dp = (struct nb__copy_dev *)g;
  return rc;
}

static int cuda_attach(struct nb__copy_dev *d, nb_error_t *err)
{
  return nb__cuda_gpu_use(gpu_of(d), err);
}

static int cuda_start(struct nb__copy_dev *d, nb_error_t *err)
{
  return nb__cuda_gpu_start(gpu_of(d), err);
}

static int cuda_submit(struct nb__copy_dev *d, long step, const void *src, int verify, nb_error_t *err)
{
  return nb__cuda_gpu_submit(gpu_of(d), step, src, verify, err);
}

static int cuda_poll_copy(struct nb__copy_dev *d, long step, nb_error_t *err)
{
  return nb__cuda_gpu_poll_copy(gpu_of(d), step, err);
}

static int cuda_poll_step(struct nb__copy_dev *d, long step, struct nb__copy_step *t, nb_error_t *err)
{
  struct nb__cuda_step s;
  int rc = nb__cuda_gpu_poll_step(gpu_of(d), step, &s, err);
  if (rc == 1)
    *t = (struct nb__copy_step){s.copy_s, s.work_s, s.idle_s, s.step_s};
  return rc;
}

static const void *cuda_verify_buf(struct nb__copy_dev *d, long step)
{
  (void)step;
  return nb__cuda_gpu_verify_buf(gpu_of(d));
}

static double cuda_spin_scale(struct nb__copy_dev *d)
{
  return nb__cuda_gpu_spin_scale(gpu_of(d));
}

static void cuda_close(struct nb__copy_dev *d)
{
  nb__cuda_gpu_close(gpu_of(d));
}

static void arrive(void *gate)
{
  nb__gate_arrive(gate);
}

/* bw: one GPU's copies from (to) a pinned buffer on the row node, driven by
 * a thread bound to that node. Shared with the stand-in, whose table has
 * the same shape: only the engine's calls differ. */
void *nb__cuda_bw_job(void *arg)
{
  struct nb__bw_job *j = arg;
  const struct nb__copy_ops *ops = j->ops;
  nb_topo_t topo = j->topo;
  int rnode = j->row_node, gpu = j->col;
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, rnode));
  const struct nb_gpu *g = nb_topo_gpu(topo, gpu);
  struct nb_thread_plan tp = {NB_ROLE_FEEDER, -1, nd->ncpus, nd->cpus, rnode, NB_MEM_BIND, rnode};
  struct nb_bind_status st;
  struct nb_buf host = {0};
  struct nb_buf_plan hp = {NB_MEM_BIND, rnode};
  int arrived = 0;
  nb_error_t e = {0};
  j->rc = nb_bind_self(topo, &tp, NULL, 0, &st, &e);
  /* The GPU first: pinning then happens in its context, and a GPU that
   * cannot be used is named. */
  if (j->rc == 0)
    j->rc = ops->select(g->cuda_ordinal, gpu, &e);
  if (j->rc == 0)
    j->rc = nb_buf_alloc_pinned(topo, &host, j->cfg->bytes, &hp, NULL, 0, ops->pinner, j->cfg->pin, &e);
  if (j->rc == 0) {
    j->rc = ops->bw_copy(g->cuda_ordinal, gpu, host.addr, j->cfg->bytes, j->dir == NB_BW_H2D, j->cfg->repeat,
                         j->samples, j->gate ? arrive : NULL, j->gate, &e);
    arrived = 1; /* bw_copy arrives at the gate in every case */
  }
  if (j->rc < 0)
    nb__err(&j->err, j->rc, "bw: node %d -> GPU %d (%s): %s", rnode, gpu, j->dir == NB_BW_H2D ? "H2D" : "D2H",
            e.msg);
  if (j->gate && !arrived)
    nb__gate_arrive(j->gate);
  if (j->rc == 0) {
    struct nb_hist h;
    j->placed = st.cpu_bound && nb_hist_init(&h, topo) == 0 &&
                nb_audit_pages(topo, host.addr, host.len, 256, &h, NULL) == 0 &&
                nb_hist_share(&h, topo, rnode) >= NB_PLACEMENT_THRESHOLD;
    nb_hist_free(&h);
  }
  nb_buf_free(&host);
  return NULL;
}

static const struct nb_pinner cuda_pinner = {
    .register_mem = nb__cuda_register,
    .unregister_mem = nb__cuda_unregister,
    .host_alloc = nb__cuda_host_alloc,
    .free_host = nb__cuda_free_host,
};

const struct nb__copy_ops nb__copy_cuda = {
    .name = "cuda",
    .devices_text = "CUDA GPUs; staging pinned with",
    .flags = NB__COPY_GPUS,
    .verify_every = NB_CUDA_VERIFY_EVERY,
    .verify_inflight = 1, /* one pinned copy-back buffer per GPU */
    .verified_how = "came back from the GPU",
    .usable = nb__cuda_usable,
    .pinner = &cuda_pinner,
    .select = nb__cuda_select,
    .open = cuda_open,
    .attach = cuda_attach,
    .start = cuda_start,
    .submit = cuda_submit,
    .poll_copy = cuda_poll_copy,
    .poll_step = cuda_poll_step,
    .verify_buf = cuda_verify_buf,
    .spin_scale = cuda_spin_scale,
    .close = cuda_close,
    .bw_job = nb__cuda_bw_job,
    .bw_copy = nb__cuda_bw_copy,
};
