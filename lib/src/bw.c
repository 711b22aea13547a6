/* numabench: the copy bandwidth matrices of `numabench bw`: host memory
 * copies (node x node) and pinned CUDA copies (node x GPU, both ways). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numabench/bw.h>
#include <numabench/audit.h>
#include <numabench/bind.h>

#include "bw-internal.h"
#include "cgroup.h"
#include "copy.h"
#include "nb-internal.h"

static struct nb_bw_cell *cell_at(struct nb_bw *bw, int dir, int i, int j, int all)
{
  return &bw->cell[((dir * 2 + all) * bw->nrows + i) * bw->ncols + j];
}

/* A finished job's samples into its cell; the first failure into rc/err. */
static int finish(struct nb_bw *bw, struct nb__bw_job *jb, int all, int rc, nb_error_t *err)
{
  if (rc == 0 && jb->rc < 0) {
    rc = jb->rc;
    if (err)
      *err = jb->err;
  }
  if (rc == 0) {
    struct nb_bw_cell *c = cell_at(bw, jb->dir, jb->row, jb->col_index, all);
    c->samples = jb->samples;
    jb->samples = NULL;
    c->placed = jb->placed;
    rc = nb_stats_compute(c->samples, bw->cfg.repeat, &c->gbps);
  }
  free(jb->samples);
  jb->samples = NULL;
  return rc;
}

/* Run the backend's job for n cells at the same time behind a start line
 * (n = 1: alone). Cell k is (row, col) with whichever of them is -1
 * replaced by k. */
static int run_cells(struct nb_bw *bw, const struct nb__copy_ops *ops, int dir, int row, int col, int n,
                     int all, nb_error_t *err)
{
  struct nb__bw_job *jobs = calloc((size_t)n, sizeof *jobs);
  pthread_t *tids = calloc((size_t)n, sizeof *tids);
  struct nb__gate gate;
  int rc = 0, started = 0;
  if (!jobs || !tids) {
    free(jobs);
    free(tids);
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  }
  nb__gate_init(&gate);
  for (int k = 0; k < n; k++) {
    int i = row < 0 ? k : row, j = col < 0 ? k : col;
    jobs[k] = (struct nb__bw_job){.topo = bw->topo,
                                  .cfg = &bw->cfg,
                                  .ops = ops,
                                  .dir = dir,
                                  .row = i,
                                  .row_node = bw->rows[i],
                                  .col_index = j,
                                  .col = bw->cols[j],
                                  .gate = all ? &gate : NULL,
                                  .samples = malloc((size_t)bw->cfg.repeat * sizeof(double))};
    if (!jobs[k].samples) {
      rc = nb__err(err, NB_ENOMEM, "bw: out of memory");
      break;
    }
    int e = pthread_create(&tids[k], NULL, ops->bw_job, &jobs[k]);
    if (e) {
      free(jobs[k].samples);
      rc = nb__err_sys(err, NB_EINTERNAL, e, "bw: creating a thread");
      break;
    }
    started++;
  }
  if (all)
    nb__gate_open(&gate, started);
  for (int k = 0; k < started; k++)
    pthread_join(tids[k], NULL);
  nb__gate_destroy(&gate);
  for (int k = 0; k < started; k++)
    rc = finish(bw, &jobs[k], all, rc, err);
  free(jobs);
  free(tids);
  return rc;
}

/* --size against the nodes' free memory before anything is allocated, as
 * run's memory guard does: a size the machine cannot hold is bad input
 * (exit 2 naming --size), not an mmap failure after other cells ran. What a
 * node holds at most at once: host (ndirs 1), a column node while every row
 * copies from it (a source per row, and its own row's destination); CUDA,
 * a row node with a pinned buffer per GPU. */
static int check_size(nb_topo_t topo, const struct nb_bw_config *cfg, int ndirs, nb_error_t *err)
{
  int n = nb_topo_nnodes(topo), nrows = 0;
  double total = 0;
  for (int i = 0; i < n; i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    nrows += nd->allowed && nd->memory_bytes && nd->ncpus;
  }
  for (int i = 0; i < n; i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    if (!nd->allowed || !nd->memory_bytes || nd->free_bytes < 0)
      continue;
    int copies = ndirs == 1 ? nrows + (nd->ncpus > 0) : (nd->ncpus ? nb_topo_ngpus(topo) : 0);
    double need = (double)copies * (double)cfg->bytes, avail = 0.9 * (double)nd->free_bytes;
    if (need > avail)
      return nb__err(err, NB_EINVAL,
                     "bw --size %.2f GiB: node %d holds %d such buffers at once (%.2f GiB) but has %.2f GiB "
                     "free (90%% usable); use a smaller --size",
                     (double)cfg->bytes / (1 << 30), nd->os_index, copies, need / (1 << 30),
                     (double)nd->free_bytes / (1 << 30));
    total += need;
  }
  /* All at once, host: the column's source for each row and each row's
   * destination; CUDA: every row node's pinned buffers (the sum above). */
  if (ndirs == 1)
    total = 2.0 * nrows * (double)cfg->bytes;
  /* The nodes may have room that the cgroup's memory limit does not leave:
   * past it the kernel reclaims, then kills the run without a message. */
  double room = nb__cgroup_room(topo);
  if (room >= 0 && total > 0.9 * room) {
    char a[32], limit[NB_CGROUP_PATH_LEN + 160];
    return nb__err(err, NB_EINVAL,
                   "bw --size %.2f GiB: the buffers held at once need %s but %s; use a smaller --size",
                   (double)cfg->bytes / (1 << 30), nb__mib_or_gib(a, sizeof a, total),
                   nb__cgroup_room_text(nb_topo_cgroup(topo), limit, sizeof limit));
  }
  return 0;
}

/* The checks and the record both matrices start with. */
static int bw_new(nb_topo_t topo, const struct nb_bw_config *cfg, int ndirs, struct nb_bw **bwp,
                  nb_error_t *err)
{
  *bwp = NULL;
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "bw: topology %s is not this machine", nb_topo_source(topo));
  if (cfg->bytes == 0 || cfg->repeat < 1)
    return nb__err(err, NB_EINVAL, "bw: size and repeat must be positive");
  int rc = check_size(topo, cfg, ndirs, err);
  if (rc < 0)
    return rc;
  struct nb_bw *bw = calloc(1, sizeof *bw);
  int n = nb_topo_nnodes(topo), ngpus = nb_topo_ngpus(topo);
  if (!bw)
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  bw->topo = topo;
  bw->cfg = *cfg;
  bw->ndirs = ndirs;
  bw->gpu_cols = ndirs == 2;
  bw->rows = calloc((size_t)n, sizeof *bw->rows);
  bw->cols = calloc((size_t)(n > ngpus ? n : ngpus), sizeof *bw->cols);
  bw->col_nodes = calloc((size_t)(ngpus ? ngpus : 1), sizeof *bw->col_nodes);
  if (!bw->rows || !bw->cols || !bw->col_nodes) {
    nb_bw_free(bw);
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  }
  *bwp = bw;
  return 0;
}

/* Cells, once rows and columns are known. */
static int bw_cells(struct nb_bw *bw, nb_error_t *err)
{
  bw->cell = calloc((size_t)(2 * bw->ndirs * bw->nrows * bw->ncols), sizeof *bw->cell);
  if (!bw->cell)
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  if (!bw->nrows)
    return nb__err(err, NB_EINVAL, "bw: no allowed node with CPUs and memory");
  return 0;
}

/* Host memory: node x node, one direction. */
static int bw_nodes(nb_topo_t topo, const struct nb__copy_ops *ops, const struct nb_bw_config *cfg,
                    nb_bw_t *bwp, nb_error_t *err)
{
  struct nb_bw *bw;
  int rc = bw_new(topo, cfg, 1, &bw, err);
  *bwp = NULL;
  if (rc < 0)
    return rc;
  for (int i = 0; i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    if (!nd->mem_allowed || !nd->memory_bytes)
      continue;
    bw->cols[bw->ncols++] = nd->os_index;
    if (nd->ncpus)
      bw->rows[bw->nrows++] = nd->os_index;
  }
  rc = bw_cells(bw, err);
  /* Each pair alone, one thread at a time. */
  for (int i = 0; rc == 0 && i < bw->nrows; i++)
    for (int j = 0; rc == 0 && j < bw->ncols; j++)
      rc = run_cells(bw, ops, 0, i, j, 1, 0, err);
  /* Every row at once from the same column: the memory and the link shared. */
  for (int j = 0; rc == 0 && j < bw->ncols; j++)
    rc = run_cells(bw, ops, 0, -1, j, bw->nrows, 1, err);
  if (rc < 0) {
    nb_bw_free(bw);
    return rc;
  }
  *bwp = bw;
  return 0;
}

/* GPUs: pinned copies, node x GPU, both ways. */
static int bw_gpus(nb_topo_t topo, const struct nb__copy_ops *ops, const struct nb_bw_config *cfg,
                   nb_bw_t *bwp, nb_error_t *err)
{
  *bwp = NULL;
  if (cfg->pin != NB_PIN_REGISTER && cfg->pin != NB_PIN_HOSTALLOC)
    return nb__err(err, NB_EINVAL, "bw: the CUDA backend needs --pin register or hostalloc");
  if (nb_topo_gpu_origin(topo) != NB_GPUS_CUDA || nb_topo_ngpus(topo) == 0)
    return nb__err(
        err, NB_EINVAL,
        "bw: --backend cuda needs the GPUs from the CUDA runtime (%s); drop --devices and --no-cuda, or "
        "use --backend host",
        nb_topo_cuda_status(topo));
  struct nb_bw *bw;
  int rc = bw_new(topo, cfg, 2, &bw, err);
  if (rc < 0)
    return rc;
  for (int i = 0; i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    if (nd->mem_allowed && nd->memory_bytes && nd->ncpus)
      bw->rows[bw->nrows++] = nd->os_index;
  }
  for (int j = 0; j < nb_topo_ngpus(topo); j++) {
    const struct nb_gpu *g = nb_topo_gpu(topo, j);
    bw->cols[bw->ncols] = g->index;
    bw->col_nodes[bw->ncols++] = g->numa_node;
  }
  rc = bw_cells(bw, err);
  for (int dir = 0; rc == 0 && dir < 2; dir++) {
    /* Each node and GPU alone. */
    for (int i = 0; rc == 0 && i < bw->nrows; i++)
      for (int j = 0; rc == 0 && j < bw->ncols; j++)
        rc = run_cells(bw, ops, dir, i, j, 1, 0, err);
    /* Every GPU at once from the same node: the node's memory and links shared. */
    for (int i = 0; rc == 0 && i < bw->nrows; i++)
      rc = run_cells(bw, ops, dir, i, -1, bw->ncols, 1, err);
  }
  if (rc < 0) {
    nb_bw_free(bw);
    return rc;
  }
  *bwp = bw;
  return 0;
}

int nb_bw_measure(nb_topo_t topo, const struct nb_bw_config *cfg, nb_bw_t *bwp, nb_error_t *err)
{
  const struct nb__copy_ops *ops = nb__copy_ops_for(cfg->backend);
  *bwp = NULL;
  if (cfg->backend != NB_BACKEND_HOST && cfg->backend != NB_BACKEND_CUDA)
    return nb__err(err, NB_EINVAL, "bw: the backend must be resolved to host or cuda");
  return ops->flags & NB__COPY_GPUS ? bw_gpus(topo, ops, cfg, bwp, err) : bw_nodes(topo, ops, cfg, bwp, err);
}

void nb_bw_free(nb_bw_t bw)
{
  if (!bw)
    return;
  for (int k = 0; bw->cell && k < 2 * bw->ndirs * bw->nrows * bw->ncols; k++)
    free(bw->cell[k].samples);
  free(bw->cell);
  free(bw->rows);
  free(bw->cols);
  free(bw->col_nodes);
  free(bw);
}

int nb_bw_ndirs(nb_bw_t bw)
{
  return bw->ndirs;
}
int nb_bw_nrows(nb_bw_t bw)
{
  return bw->nrows;
}
int nb_bw_ncols(nb_bw_t bw)
{
  return bw->ncols;
}
int nb_bw_row_node(nb_bw_t bw, int i)
{
  return bw->rows[i];
}
int nb_bw_col_node(nb_bw_t bw, int j)
{
  return bw->gpu_cols ? bw->col_nodes[j] : bw->cols[j];
}
int nb_bw_col_gpu(nb_bw_t bw, int j)
{
  return bw->gpu_cols ? bw->cols[j] : -1;
}

const struct nb_bw_cell *nb_bw_cell(nb_bw_t bw, int dir, int i, int j, int all)
{
  if (dir < 0 || dir >= bw->ndirs || i < 0 || j < 0 || i >= bw->nrows || j >= bw->ncols ||
      (all != 0 && all != 1))
    return NULL;
  return cell_at(bw, dir, i, j, all);
}
