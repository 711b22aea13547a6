/* numabench: the result of `numabench bw`, shared by the measurement (bw.c)
 * and its text and JSON writers (report_bw.c). Not installed. */
#ifndef NB_BW_INTERNAL_H
#define NB_BW_INTERNAL_H

#include <numabench/bw.h>
#include <numabench/topo.h>

/* The matrices and what they were measured with. The writers read only cfg
 * here and the rest through the accessors of numabench/bw.h. */
struct nb_bw {
  nb_topo_t topo;          /* this machine */
  struct nb_bw_config cfg; /* size, repeats and pinning the cells were measured with */
  int gpu_cols;            /* columns are GPUs (CUDA), not memory nodes (host) */
  int ndirs;               /* 1 host, 2 CUDA */
  int nrows, ncols;
  int *rows, *cols;        /* node OS indexes (CUDA columns: GPU indexes) */
  int *col_nodes;          /* CUDA: each column GPU's node */
  struct nb_bw_cell *cell; /* [ndirs][2][nrows][ncols] */
};

#endif
