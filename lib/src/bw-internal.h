/* numabench: the result of `numabench bw`, shared by the measurement (bw.c)
 * and its text and JSON writers (report_bw.c). Not installed. */
#ifndef NB_BW_INTERNAL_H
#define NB_BW_INTERNAL_H

#include <numabench/bw.h>
#include <numabench/topo.h>

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

#endif
