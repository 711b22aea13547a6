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

#include "copy.h"
#include "nb-internal.h"
#include "report.h"

struct nb_bw {
  nb_topo_t topo;
  struct nb_bw_config cfg;
  int cuda;  /* the CUDA matrices */
  int ndirs; /* 1 host, 2 CUDA */
  int nrows, ncols;
  int *rows, *cols;        /* node OS indexes (CUDA columns: GPU indexes) */
  int *col_nodes;          /* CUDA: each column GPU's node */
  struct nb_bw_cell *cell; /* [ndirs][2][nrows][ncols] */
};

int nb_parse_size(const char *text, size_t *bytes)
{
  /* Decimal digits and a point only: no signs, hex, exponents, inf or nan. */
  size_t digits = strspn(text, "0123456789.");
  if (digits == 0 || (text[0] == '.' && digits == 1))
    return NB_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end != text + digits || errno || !isfinite(v) || v <= 0)
    return NB_EINVAL;
  double mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1024.0;
  else if (*end == 'M' || *end == 'm')
    mult = 1024.0 * 1024;
  else if (*end == 'G' || *end == 'g')
    mult = 1024.0 * 1024 * 1024;
  else if (*end)
    return NB_EINVAL;
  if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
    return NB_EINVAL;
  v *= mult;
  if (v < 4096 || v > 1e15)
    return NB_EINVAL;
  *bytes = (size_t)v;
  return 0;
}

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
static int run_cells(struct nb_bw *bw, const struct nb__copy_ops *ops, int dir, int row, int col, int n, int all,
                     nb_error_t *err)
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

/* The checks and the record both matrices start with. */
static int bw_new(nb_topo_t topo, const struct nb_bw_config *cfg, int ndirs, struct nb_bw **bwp,
                  nb_error_t *err)
{
  *bwp = NULL;
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "bw: topology %s is not this machine", nb_topo_source(topo));
  if (cfg->bytes == 0 || cfg->repeat < 1)
    return nb__err(err, NB_EINVAL, "bw: size and repeat must be positive");
  struct nb_bw *bw = calloc(1, sizeof *bw);
  int n = nb_topo_nnodes(topo), ngpus = nb_topo_ngpus(topo);
  if (!bw)
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  bw->topo = topo;
  bw->cfg = *cfg;
  bw->ndirs = ndirs;
  bw->cuda = ndirs == 2;
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
    if (!nd->allowed || !nd->memory_bytes)
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
    if (nd->allowed && nd->memory_bytes && nd->ncpus)
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
  return ops->flags & NB__COPY_BW_GPUS ? bw_gpus(topo, ops, cfg, bwp, err) : bw_nodes(topo, ops, cfg, bwp, err);
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
  return bw->cuda ? bw->col_nodes[j] : bw->cols[j];
}
int nb_bw_col_gpu(nb_bw_t bw, int j)
{
  return bw->cuda ? bw->cols[j] : -1;
}

const struct nb_bw_cell *nb_bw_cell(nb_bw_t bw, int dir, int i, int j, int all)
{
  if (dir < 0 || dir >= bw->ndirs || i < 0 || j < 0 || i >= bw->nrows || j >= bw->ncols ||
      (all != 0 && all != 1))
    return NULL;
  return cell_at(bw, dir, i, j, all);
}

/* CUDA, every GPU at once from row i: the sum of the GPUs' medians. */
static double row_total(nb_bw_t bw, int dir, int i)
{
  double sum = 0;
  for (int j = 0; j < bw->ncols; j++)
    sum += cell_at(bw, dir, i, j, 1)->gbps.median;
  return sum;
}

static void write_matrix(nb_bw_t bw, FILE *out, int dir, int all)
{
  int total = bw->cuda && all && bw->ncols > 1;
  for (int j = 0; j < bw->ncols; j++) {
    char head[32];
    if (bw->cuda)
      snprintf(head, sizeof head, "GPU %d", bw->cols[j]);
    else
      snprintf(head, sizeof head, "%d", bw->cols[j]);
    fprintf(out, " %22s", head);
  }
  if (total)
    fprintf(out, " %10s", "total");
  fputc('\n', out);
  for (int i = 0; i < bw->nrows; i++) {
    fprintf(out, "  %-6d", bw->rows[i]);
    for (int j = 0; j < bw->ncols; j++) {
      const struct nb_bw_cell *c = cell_at(bw, dir, i, j, all);
      char text[64];
      snprintf(text, sizeof text, "%.2f (%.2f-%.2f)%s", c->gbps.median, c->gbps.min, c->gbps.max,
               c->placed ? "" : "!");
      fprintf(out, " %22s", text);
    }
    if (total)
      fprintf(out, " %10.2f", row_total(bw, dir, i));
    fputc('\n', out);
  }
}

int nb_bw_write_text(nb_bw_t bw, FILE *out, nb_error_t *err)
{
  if (!bw->cuda) {
    fprintf(out, "numabench bw: host backend, %.0f MiB per copy, GB/s as median (min-max) of %d copies\n",
            (double)bw->cfg.bytes / (1 << 20), bw->cfg.repeat);
    static const char *const titles[2] = {"each pair alone", "every row at once from the same memory node"};
    for (int all = 0; all < 2; all++) {
      fprintf(out, "\ncopying thread on node (rows) <- memory on node (columns), %s:\n  %-6s", titles[all],
              "node");
      write_matrix(bw, out, 0, all);
    }
  } else {
    fprintf(out,
            "numabench bw: CUDA backend, %.0f MiB per copy, pinned (%s), GB/s as median (min-max) of %d "
            "copies timed with CUDA events\n",
            (double)bw->cfg.bytes / (1 << 20), nb_pin_name(bw->cfg.pin), bw->cfg.repeat);
    fprintf(out, "GPU nodes:");
    for (int j = 0; j < bw->ncols; j++) {
      if (bw->col_nodes[j] >= 0)
        fprintf(out, "%s GPU %d on node %d", j ? "," : "", bw->cols[j], bw->col_nodes[j]);
      else
        fprintf(out, "%s GPU %d on an unknown node", j ? "," : "", bw->cols[j]);
    }
    fputc('\n', out);
    static const char *const dirs[2] = {"host to device (H2D)", "device to host (D2H)"};
    static const char *const titles[2] = {"each GPU alone", "every GPU at once from the same node"};
    for (int d = 0; d < 2; d++)
      for (int all = 0; all < 2; all++) {
        fprintf(out, "\n%s, pinned buffer on node (rows), GPU (columns), %s:\n  %-6s", dirs[d], titles[all],
                "node");
        write_matrix(bw, out, d, all);
      }
  }
  int misplaced = 0;
  for (int k = 0; k < 2 * bw->ndirs * bw->nrows * bw->ncols; k++)
    misplaced |= !bw->cell[k].placed;
  if (misplaced)
    fprintf(out, "\n! the kernel did not confirm this cell's placement (thread or pages elsewhere)\n");
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "bw: writing");
  return 0;
}

static json_t *num(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

static json_t *totals_json(nb_bw_t bw, int dir)
{
  json_t *a = json_array();
  for (int i = 0; a && i < bw->nrows; i++)
    json_array_append_new(a, json_real(row_total(bw, dir, i)));
  return a;
}

static json_t *matrix_json(nb_bw_t bw, int dir, int all)
{
  json_t *m = json_array();
  for (int i = 0; m && i < bw->nrows; i++) {
    json_t *row = json_array();
    for (int j = 0; row && j < bw->ncols; j++) {
      const struct nb_bw_cell *c = cell_at(bw, dir, i, j, all);
      json_t *s = json_array();
      for (int k = 0; s && k < bw->cfg.repeat; k++)
        json_array_append_new(s, json_real(c->samples[k]));
      json_array_append_new(row, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "median",
                                           num(c->gbps.median), "mean", num(c->gbps.mean), "min",
                                           num(c->gbps.min), "max", num(c->gbps.max), "cv", num(c->gbps.cv),
                                           "samples", s, "placed", c->placed));
    }
    json_array_append_new(m, row);
  }
  return m;
}

int nb_bw_write_json(nb_bw_t bw, FILE *out, nb_error_t *err)
{
  json_t *doc;
  if (!bw->cuda)
    doc = json_pack("{s:i, s:s, s:s, s:I, s:i, s:o, s:o, s:s, s:o, s:o}", "schema_version", 1, "command",
                    "bw", "backend", "host", "bytes", (json_int_t)bw->cfg.bytes, "repeat", bw->cfg.repeat,
                    "rows_cpu_nodes", nb__json_ints(bw->rows, bw->nrows), "cols_memory_nodes",
                    nb__json_ints(bw->cols, bw->ncols), "unit", "GB/s", "alone", matrix_json(bw, 0, 0),
                    "all_at_once", matrix_json(bw, 0, 1));
  else
    doc = json_pack(
        "{s:i, s:s, s:s, s:s, s:I, s:i, s:o, s:o, s:o, s:s, s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o}}",
        "schema_version", 1, "command", "bw", "backend", "cuda", "pin", nb_pin_name(bw->cfg.pin), "bytes",
        (json_int_t)bw->cfg.bytes, "repeat", bw->cfg.repeat, "rows_cpu_nodes",
        nb__json_ints(bw->rows, bw->nrows), "cols_gpus", nb__json_ints(bw->cols, bw->ncols), "gpu_nodes",
        nb__json_ints(bw->col_nodes, bw->ncols), "unit", "GB/s", "h2d", "alone",
        matrix_json(bw, NB_BW_H2D, 0), "all_at_once", matrix_json(bw, NB_BW_H2D, 1), "all_at_once_total",
        totals_json(bw, NB_BW_H2D), "d2h", "alone", matrix_json(bw, NB_BW_D2H, 0), "all_at_once",
        matrix_json(bw, NB_BW_D2H, 1), "all_at_once_total", totals_json(bw, NB_BW_D2H));
  int rc = nb__json_write(doc, out, "bw", err);
  json_decref(doc);
  return rc;
}
