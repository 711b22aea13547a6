/* numabench: the host memory-copy bandwidth matrix (`numabench bw`). */
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

#include "nb-internal.h"
#include "report.h"

struct nb_bw {
  nb_topo_t topo;
  struct nb_bw_config cfg;
  int nrows, ncols;
  int *rows, *cols;        /* node OS indexes */
  struct nb_bw_cell *cell; /* [2][nrows][ncols] */
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

/* One copying thread: bound to its row node, its destination there, its
 * source on the column node; copies repeat + 1 times (the first untimed). */
struct job {
  struct nb_bw *bw;
  int row, col;
  struct nb__gate *gate; /* all-at-once: start together */
  double *samples;
  bool placed;
  int rc;
  nb_error_t err;
};

static void *copy_job(void *arg)
{
  struct job *j = arg;
  struct nb_bw *bw = j->bw;
  nb_topo_t topo = bw->topo;
  int rnode = bw->rows[j->row], cnode = bw->cols[j->col];
  const struct nb_node *nd = nb_topo_node(topo, nb_topo_node_index(topo, rnode));
  struct nb_thread_plan tp = {NB_ROLE_WORKER, 0, nd->ncpus, nd->cpus, rnode, NB_MEM_BIND, rnode};
  struct nb_bind_status st;
  struct nb_buf src = {0}, dst = {0};
  struct nb_buf_plan sp = {NB_MEM_BIND, cnode}, dp = {NB_MEM_BIND, rnode};
  j->rc = nb_bind_self(topo, &tp, NULL, 0, &st, &j->err);
  if (j->rc == 0)
    j->rc = nb_buf_alloc(topo, &src, bw->cfg.bytes, &sp, NULL, 0, &j->err);
  if (j->rc == 0)
    j->rc = nb_buf_alloc(topo, &dst, bw->cfg.bytes, &dp, NULL, 0, &j->err);
  if (j->gate)
    nb__gate_arrive(j->gate);
  if (j->rc == 0) {
    for (int k = -1; k < bw->cfg.repeat; k++) {
      double t0 = now_s();
      memcpy(dst.addr, src.addr, bw->cfg.bytes);
      double t = now_s() - t0;
      if (k >= 0)
        j->samples[k] = (double)bw->cfg.bytes / t / 1e9;
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

static struct nb_bw_cell *cell_at(struct nb_bw *bw, int i, int j, int all)
{
  return &bw->cell[(all * bw->nrows + i) * bw->ncols + j];
}

static int finish_cell(struct nb_bw *bw, struct job *jb, int all)
{
  struct nb_bw_cell *c = cell_at(bw, jb->row, jb->col, all);
  c->samples = jb->samples;
  jb->samples = NULL;
  c->placed = jb->placed;
  return nb_stats_compute(c->samples, bw->cfg.repeat, &c->gbps);
}

int nb_bw_host(nb_topo_t topo, const struct nb_bw_config *cfg, nb_bw_t *bwp, nb_error_t *err)
{
  *bwp = NULL;
  if (!nb_topo_is_this_system(topo))
    return nb__err(err, NB_EINVAL, "bw: topology %s is not this machine", nb_topo_source(topo));
  if (cfg->bytes == 0 || cfg->repeat < 1)
    return nb__err(err, NB_EINVAL, "bw: size and repeat must be positive");
  struct nb_bw *bw = calloc(1, sizeof *bw);
  int n = nb_topo_nnodes(topo), rc = 0;
  if (!bw)
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  bw->topo = topo;
  bw->cfg = *cfg;
  bw->rows = calloc((size_t)n, sizeof *bw->rows);
  bw->cols = calloc((size_t)n, sizeof *bw->cols);
  if (!bw->rows || !bw->cols) {
    nb_bw_free(bw);
    return nb__err(err, NB_ENOMEM, "bw: out of memory");
  }
  for (int i = 0; i < n; i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    if (!nd->allowed || !nd->memory_bytes)
      continue;
    bw->cols[bw->ncols++] = nd->os_index;
    if (nd->ncpus)
      bw->rows[bw->nrows++] = nd->os_index;
  }
  bw->cell = calloc((size_t)(2 * bw->nrows * bw->ncols), sizeof *bw->cell);
  if (!bw->cell || !bw->nrows) {
    int rc0 = bw->cell ? nb__err(err, NB_EINVAL, "bw: no allowed node with CPUs and memory")
                       : nb__err(err, NB_ENOMEM, "bw: out of memory");
    nb_bw_free(bw);
    return rc0;
  }
  struct job *jobs = calloc((size_t)bw->nrows, sizeof *jobs);
  pthread_t *tids = calloc((size_t)bw->nrows, sizeof *tids);
  if (!jobs || !tids)
    rc = nb__err(err, NB_ENOMEM, "bw: out of memory");
  /* Each pair alone, one thread at a time. */
  for (int i = 0; rc == 0 && i < bw->nrows; i++)
    for (int j = 0; rc == 0 && j < bw->ncols; j++) {
      struct job jb = {bw, i, j, NULL, malloc((size_t)cfg->repeat * sizeof(double)), false, 0, {0}};
      pthread_t t;
      if (!jb.samples)
        rc = nb__err(err, NB_ENOMEM, "bw: out of memory");
      else if ((rc = pthread_create(&t, NULL, copy_job, &jb)) != 0)
        rc = nb__err_sys(err, NB_EINTERNAL, rc, "bw: creating a thread");
      else {
        pthread_join(t, NULL);
        if ((rc = jb.rc) < 0 && err)
          *err = jb.err;
        else
          rc = finish_cell(bw, &jb, 0);
      }
      free(jb.samples);
    }
  /* Every row at once from the same column: the memory and the link shared. */
  for (int j = 0; rc == 0 && j < bw->ncols; j++) {
    struct nb__gate gate;
    nb__gate_init(&gate);
    int started = 0;
    for (int i = 0; i < bw->nrows; i++) {
      jobs[i] = (struct job){bw, i, j, &gate, malloc((size_t)cfg->repeat * sizeof(double)), false, 0, {0}};
      if (!jobs[i].samples) {
        rc = nb__err(err, NB_ENOMEM, "bw: out of memory");
        break;
      }
      int e = pthread_create(&tids[i], NULL, copy_job, &jobs[i]);
      if (e) {
        rc = nb__err_sys(err, NB_EINTERNAL, e, "bw: creating a thread");
        break;
      }
      started++;
    }
    nb__gate_open(&gate, started);
    for (int i = 0; i < started; i++)
      pthread_join(tids[i], NULL);
    nb__gate_destroy(&gate);
    for (int i = 0; i < started; i++) {
      if (rc == 0 && jobs[i].rc < 0) {
        rc = jobs[i].rc;
        if (err)
          *err = jobs[i].err;
      }
      if (rc == 0)
        rc = finish_cell(bw, &jobs[i], 1);
      free(jobs[i].samples);
    }
  }
  free(jobs);
  free(tids);
  if (rc < 0) {
    nb_bw_free(bw);
    return rc;
  }
  *bwp = bw;
  return 0;
}

void nb_bw_free(nb_bw_t bw)
{
  if (!bw)
    return;
  for (int k = 0; bw->cell && k < 2 * bw->nrows * bw->ncols; k++)
    free(bw->cell[k].samples);
  free(bw->cell);
  free(bw->rows);
  free(bw->cols);
  free(bw);
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
  return bw->cols[j];
}

const struct nb_bw_cell *nb_bw_cell(nb_bw_t bw, int i, int j, int all)
{
  if (i < 0 || j < 0 || i >= bw->nrows || j >= bw->ncols || (all != 0 && all != 1))
    return NULL;
  return cell_at(bw, i, j, all);
}

int nb_bw_write_text(nb_bw_t bw, FILE *out, nb_error_t *err)
{
  fprintf(out, "numabench bw: host backend, %.0f MiB per copy, GB/s as median (min-max) of %d copies\n",
          (double)bw->cfg.bytes / (1 << 20), bw->cfg.repeat);
  static const char *const titles[2] = {"each pair alone", "every row at once from the same memory node"};
  for (int all = 0; all < 2; all++) {
    fprintf(out, "\ncopying thread on node (rows) <- memory on node (columns), %s:\n  %-6s", titles[all],
            "node");
    for (int j = 0; j < bw->ncols; j++)
      fprintf(out, " %22d", bw->cols[j]);
    fputc('\n', out);
    for (int i = 0; i < bw->nrows; i++) {
      fprintf(out, "  %-6d", bw->rows[i]);
      for (int j = 0; j < bw->ncols; j++) {
        const struct nb_bw_cell *c = cell_at(bw, i, j, all);
        char text[64];
        snprintf(text, sizeof text, "%.2f (%.2f-%.2f)%s", c->gbps.median, c->gbps.min, c->gbps.max,
                 c->placed ? "" : "!");
        fprintf(out, " %22s", text);
      }
      fputc('\n', out);
    }
  }
  int misplaced = 0;
  for (int k = 0; k < 2 * bw->nrows * bw->ncols; k++)
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

int nb_bw_write_json(nb_bw_t bw, FILE *out, nb_error_t *err)
{
  json_t *m[2];
  for (int all = 0; all < 2; all++) {
    m[all] = json_array();
    for (int i = 0; m[all] && i < bw->nrows; i++) {
      json_t *row = json_array();
      for (int j = 0; row && j < bw->ncols; j++) {
        const struct nb_bw_cell *c = cell_at(bw, i, j, all);
        json_t *s = json_array();
        for (int k = 0; s && k < bw->cfg.repeat; k++)
          json_array_append_new(s, json_real(c->samples[k]));
        json_array_append_new(row, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "median",
                                             num(c->gbps.median), "mean", num(c->gbps.mean), "min",
                                             num(c->gbps.min), "max", num(c->gbps.max), "cv", num(c->gbps.cv),
                                             "samples", s, "placed", c->placed));
      }
      json_array_append_new(m[all], row);
    }
  }
  json_t *doc =
      json_pack("{s:i, s:s, s:s, s:I, s:i, s:o, s:o, s:s, s:o, s:o}", "schema_version", 1, "command", "bw",
                "backend", "host", "bytes", (json_int_t)bw->cfg.bytes, "repeat", bw->cfg.repeat,
                "rows_cpu_nodes", nb__json_ints(bw->rows, bw->nrows), "cols_memory_nodes",
                nb__json_ints(bw->cols, bw->ncols), "unit", "GB/s", "alone", m[0], "all_at_once", m[1]);
  int rc = nb__json_write(doc, out, "bw", err);
  json_decref(doc);
  return rc;
}
