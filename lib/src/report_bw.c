/* numabench: `numabench bw` as text and JSON. The matrices are read through
 * the public accessors (numabench/bw.h), so the measurement may keep its
 * record as it likes; only the settings it ran with (size, repeats, pinning)
 * come from the record itself (bw-internal.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <numabench/bind.h>
#include <numabench/bw.h>

#include "bw-internal.h"
#include "json.h"
#include "nb-internal.h"
#include "probe-internal.h"

/* GPU matrices (columns GPUs, H2D and D2H) rather than node x node. */
static bool gpu_columns(nb_bw_t bw)
{
  return nb_bw_ndirs(bw) == 2;
}

/* CUDA, every GPU at once from row i: the sum of the GPUs' medians. */
static double row_total(nb_bw_t bw, int dir, int i)
{
  double sum = 0;
  for (int j = 0; j < nb_bw_ncols(bw); j++)
    sum += nb_bw_cell(bw, dir, i, j, 1)->gbps.median;
  return sum;
}

/* Whether the kernel failed to confirm any cell's placement. */
static bool any_misplaced(nb_bw_t bw)
{
  bool misplaced = false;
  for (int dir = 0; dir < nb_bw_ndirs(bw); dir++)
    for (int all = 0; all < 2; all++)
      for (int i = 0; i < nb_bw_nrows(bw); i++)
        for (int j = 0; j < nb_bw_ncols(bw); j++)
          misplaced |= !nb_bw_cell(bw, dir, i, j, all)->placed;
  return misplaced;
}

/* ---- text ---- */

static void write_matrix(nb_bw_t bw, FILE *out, int dir, int all)
{
  bool cuda = gpu_columns(bw);
  int nrows = nb_bw_nrows(bw), ncols = nb_bw_ncols(bw);
  bool total = cuda && all && ncols > 1;
  for (int j = 0; j < ncols; j++) {
    char head[32];
    if (cuda)
      snprintf(head, sizeof head, "GPU %d", nb_bw_col_gpu(bw, j));
    else
      snprintf(head, sizeof head, "%d", nb_bw_col_node(bw, j));
    fprintf(out, " %22s", head);
  }
  if (total)
    fprintf(out, " %10s", "total");
  fputc('\n', out);
  for (int i = 0; i < nrows; i++) {
    fprintf(out, "  %-6d", nb_bw_row_node(bw, i));
    for (int j = 0; j < ncols; j++) {
      const struct nb_bw_cell *c = nb_bw_cell(bw, dir, i, j, all);
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

static void write_host_text(nb_bw_t bw, FILE *out)
{
  fprintf(out, "numabench bw: host backend, %.0f MiB per copy, GB/s as median (min-max) of %d copies\n",
          (double)bw->cfg.bytes / (1 << 20), bw->cfg.repeat);
  static const char *const titles[2] = {"each pair alone", "every row at once from the same memory node"};
  for (int all = 0; all < 2; all++) {
    fprintf(out, "\ncopying thread on node (rows) <- memory on node (columns), %s:\n  %-6s", titles[all],
            "node");
    write_matrix(bw, out, NB_BW_COPY, all);
  }
}

static void write_cuda_text(nb_bw_t bw, FILE *out)
{
  fprintf(out,
          "numabench bw: CUDA backend, %.0f MiB per copy, pinned (%s), GB/s as median (min-max) of %d "
          "copies timed with CUDA events\n",
          (double)bw->cfg.bytes / (1 << 20), nb_pin_name(bw->cfg.pin), bw->cfg.repeat);
  fprintf(out, "GPU nodes:");
  for (int j = 0; j < nb_bw_ncols(bw); j++) {
    if (nb_bw_col_node(bw, j) >= 0)
      fprintf(out, "%s GPU %d on node %d", j ? "," : "", nb_bw_col_gpu(bw, j), nb_bw_col_node(bw, j));
    else
      fprintf(out, "%s GPU %d on an unknown node", j ? "," : "", nb_bw_col_gpu(bw, j));
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

int nb_bw_write_text(nb_bw_t bw, FILE *out, nb_error_t *err)
{
  if (gpu_columns(bw))
    write_cuda_text(bw, out);
  else
    write_host_text(bw, out);
  if (any_misplaced(bw))
    fprintf(out, "\n! the kernel did not confirm this cell's placement (thread or pages elsewhere)\n");
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "bw: writing");
  return 0;
}

/* ---- JSON ---- */

/* The n row or column labels at(bw, 0..n-1) as a JSON array; NULL on OOM. */
static json_t *axis_json(nb_bw_t bw, int n, int (*at)(nb_bw_t, int))
{
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_integer(at(bw, i))) < 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *totals_json(nb_bw_t bw, int dir)
{
  json_t *a = json_array();
  for (int i = 0; a && i < nb_bw_nrows(bw); i++)
    json_array_append_new(a, json_real(row_total(bw, dir, i)));
  return a;
}

static json_t *matrix_json(nb_bw_t bw, int dir, int all)
{
  json_t *m = json_array();
  for (int i = 0; m && i < nb_bw_nrows(bw); i++) {
    json_t *row = json_array();
    for (int j = 0; row && j < nb_bw_ncols(bw); j++) {
      const struct nb_bw_cell *c = nb_bw_cell(bw, dir, i, j, all);
      json_t *s = json_array();
      for (int k = 0; s && k < bw->cfg.repeat; k++)
        json_array_append_new(s, json_real(c->samples[k]));
      json_array_append_new(row,
                            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "median",
                                      nb__json_num(c->gbps.median), "mean", nb__json_num(c->gbps.mean), "min",
                                      nb__json_num(c->gbps.min), "max", nb__json_num(c->gbps.max), "cv",
                                      nb__json_num(c->gbps.cv), "samples", s, "placed", c->placed));
    }
    json_array_append_new(m, row);
  }
  return m;
}

int nb_bw_write_json(nb_bw_t bw, FILE *out, nb_error_t *err)
{
  json_t *doc;
  int nrows = nb_bw_nrows(bw), ncols = nb_bw_ncols(bw);
  if (!gpu_columns(bw))
    doc = json_pack("{s:i, s:s, s:s, s:I, s:i, s:o, s:o, s:s, s:o, s:o}", "schema_version", 1, "command",
                    "bw", "backend", nb_backend_name(bw->cfg.backend), "bytes", (json_int_t)bw->cfg.bytes,
                    "repeat", bw->cfg.repeat, "rows_cpu_nodes", axis_json(bw, nrows, nb_bw_row_node),
                    "cols_memory_nodes", axis_json(bw, ncols, nb_bw_col_node), "unit", "GB/s", "alone",
                    matrix_json(bw, NB_BW_COPY, 0), "all_at_once", matrix_json(bw, NB_BW_COPY, 1));
  else
    doc = json_pack(
        "{s:i, s:s, s:s, s:s, s:I, s:i, s:o, s:o, s:o, s:s, s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o}}",
        "schema_version", 1, "command", "bw", "backend", nb_backend_name(bw->cfg.backend), "pin",
        nb_pin_name(bw->cfg.pin), "bytes", (json_int_t)bw->cfg.bytes, "repeat", bw->cfg.repeat,
        "rows_cpu_nodes", axis_json(bw, nrows, nb_bw_row_node), "cols_gpus",
        axis_json(bw, ncols, nb_bw_col_gpu), "gpu_nodes", axis_json(bw, ncols, nb_bw_col_node), "unit",
        "GB/s", "h2d", "alone", matrix_json(bw, NB_BW_H2D, 0), "all_at_once", matrix_json(bw, NB_BW_H2D, 1),
        "all_at_once_total", totals_json(bw, NB_BW_H2D), "d2h", "alone", matrix_json(bw, NB_BW_D2H, 0),
        "all_at_once", matrix_json(bw, NB_BW_D2H, 1), "all_at_once_total", totals_json(bw, NB_BW_D2H));
  /* The machine's probe record, as in run's result files: fleet reads a
   * saved `bw --json` beside them. */
  if (doc && json_object_set_new(doc, "probe", nb__probe_json(bw->topo)) < 0) {
    json_decref(doc);
    doc = NULL;
  }
  return nb__json_write_new(doc, out, "bw", err);
}
