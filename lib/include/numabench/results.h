/* numabench: reading result files back: tables over one or more files
 * (`numabench report`) and the regression gate (`numabench compare`). */
#ifndef NUMABENCH_RESULTS_H
#define NUMABENCH_RESULTS_H

#include <stdio.h>

#include <numabench/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_results *nb_results_t;

enum nb_table_format { NB_TABLE_TEXT, NB_TABLE_MD, NB_TABLE_CSV };

/** Load and validate a result file (docs/results-schema.md).
 *  - NB_ENOENT: cannot open. - NB_EFORMAT: not JSON, or a field missing or of
 *    the wrong type (the message names it). */
int nb_results_load(nb_results_t *resp, const char *path, nb_error_t *err);
void nb_results_free(nb_results_t res);

/** Per file and mode: steps/s (mean and 95% interval), GB/s, speedup vs
 *  none (with interval), placement achieved. - NB_EIO. */
int nb_results_write_table(const nb_results_t *files, int n, enum nb_table_format fmt, FILE *out,
                           nb_error_t *err);

/** Compare a new result with a baseline, per mode and metric (steps/s, GB/s).
 *  A regression is a drop beyond threshold_pct that is also beyond the noise
 *  (the 95% intervals do not overlap; with single runs, the threshold alone).
 *  *regressed is set when any mode regressed.
 *  - NB_EINVAL: the files are not comparable (the message lists the fields
 *    that differ). - NB_EIO. */
int nb_results_compare(nb_results_t base, nb_results_t cand, double threshold_pct, FILE *out, int *regressed,
                       nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
