/* numabench: `numabench bw`, the raw copy ceiling the pipeline is compared
 * against.
 *
 * Host backend: a node x node memory-copy matrix. Row i: the copying thread
 * is bound to node i and writes into memory of node i; column j: it reads a
 * buffer bound to node j. Each pair alone, then every row at once from the
 * same column (the link shared). Repeats give median and spread.
 *
 * CUDA backend: pinned H2D and D2H matrices. Row i: the host buffer is bound
 * to node i (pinned as --pin says) and the thread driving the copy is bound
 * there; column j: GPU j. Each GPU alone, then every GPU at once from the
 * same node. Copies are queued behind a spin kernel and timed with events.
 */
#ifndef NUMABENCH_BW_H
#define NUMABENCH_BW_H

#include <stddef.h>
#include <stdio.h>

#include <numabench/bind.h>
#include <numabench/error.h>
#include <numabench/run.h>
#include <numabench/stats.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nb_bw_config {
  enum nb_backend backend; /* resolved: HOST (node x node) or CUDA (node x GPU, both ways) */
  size_t bytes;    /* per copy */
  int repeat;      /* timed copies per cell (one untimed copy first) */
  enum nb_pin pin; /* CUDA: how the host buffer is page-locked (REGISTER or HOSTALLOC) */
};

/** Directions: the host matrix has one (NB_BW_COPY); the CUDA one two. */
enum nb_bw_dir { NB_BW_COPY = 0, NB_BW_H2D = 0, NB_BW_D2H = 1 };

/** One cell: GB/s over the repeats (median, spread), and whether the kernel
 *  confirmed the placement (thread's CPUs, both buffers' pages). */
struct nb_bw_cell {
  struct nb_stats gbps;
  double *samples; /* repeat values, GB/s */
  bool placed;
};

typedef struct nb_bw *nb_bw_t;

/** Measure the backend's matrices on this machine: host, the node x node
 *  matrix; CUDA, the node x GPU matrices (every GPU of the topology, which
 *  must come from the CUDA runtime).
 *  - NB_EINVAL: not this machine, size 0, repeat < 1, backend not resolved,
 *    GPUs not from CUDA.
 *  - NB_ENOMEM, NB_EINTERNAL (threads).
 *  - NB_ENOTSUP: built without CUDA. - NB_ECUDA: a CUDA call failed (named,
 *    with the GPU). */
int nb_bw_measure(nb_topo_t topo, const struct nb_bw_config *cfg, nb_bw_t *bwp, nb_error_t *err);
void nb_bw_free(nb_bw_t bw);

int nb_bw_ndirs(nb_bw_t bw); /* 1 host, 2 CUDA (H2D, D2H) */
int nb_bw_nrows(nb_bw_t bw); /* CPU nodes */
int nb_bw_ncols(nb_bw_t bw); /* host: memory nodes; CUDA: GPUs */
int nb_bw_row_node(nb_bw_t bw, int i);
/** Host: the column's node; CUDA: the column GPU's node (-1 unknown). */
int nb_bw_col_node(nb_bw_t bw, int j);
/** CUDA: the column's GPU index; host: -1. */
int nb_bw_col_gpu(nb_bw_t bw, int j);
/** all = 0: the pair alone; 1: every row at once from column j (host), or
 *  every GPU at once from row i (CUDA). */
const struct nb_bw_cell *nb_bw_cell(nb_bw_t bw, int dir, int i, int j, int all);

/** - NB_EIO. */
int nb_bw_write_text(nb_bw_t bw, FILE *out, nb_error_t *err);
/** One JSON object (docs/bw-schema.md). - NB_EIO, NB_ENOMEM. */
int nb_bw_write_json(nb_bw_t bw, FILE *out, nb_error_t *err);

/* nb_parse_size (a --size value) is declared in opts.h. */

#ifdef __cplusplus
}
#endif
#endif
