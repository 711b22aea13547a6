/* numabench: the fleet report (`numabench fleet`). Result files (run, bw,
 * launch) and probe records of many hosts, grouped by machine type; within a
 * group, the hosts whose placement-relevant facts differ from the reference
 * (the majority, or a golden probe record) and the hosts whose metrics lie
 * outside the group's robust band (median +- k MADs). docs/fleet-schema.md. */
#ifndef NUMABENCH_FLEET_H
#define NUMABENCH_FLEET_H

#include <stdio.h>

#include <numabench/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_fleet *nb_fleet_t;

/** How the fleet is judged. */
struct nb_fleet_opts {
  const char *group;    /* grouping keys, comma-separated ("cpu_model,gpu_model,gpus,nodes"); "none": one
                           group; NULL: the default */
  double k;             /* band half-width in MADs (MAD scaled by 1.4826), > 0 */
  int min_hosts;        /* fewest hosts a metric is judged on, >= 3 */
  const char *baseline; /* a golden probe record, or NULL */
};

enum nb_fleet_format { NB_FLEET_TEXT, NB_FLEET_MD, NB_FLEET_CSV, NB_FLEET_JSON };

/** A fleet to fill with nb_fleet_add.
 *  - NB_EINVAL: an unknown group key, k not a positive finite number,
 *    min_hosts below 3, a baseline that is not a probe record (the message
 *    names it). - NB_ENOENT, NB_EFORMAT: the baseline cannot be read.
 *  - NB_ENOMEM. */
int nb_fleet_new(nb_fleet_t *fleetp, const struct nb_fleet_opts *opts, nb_error_t *err);
void nb_fleet_free(nb_fleet_t fleet);

/** Read one file, or every *.json file under a directory (recursively, not
 *  following symbolic links to directories; links to files are read). Other files in a directory,
 *  and JSON documents there that are no result or probe, are counted and
 *  named in one warning. A result written before results carried a probe is
 *  skipped with a warning; a duplicate (same host, kind and timestamp) is
 *  counted once, with a warning. A file found in a directory that cannot
 *  be read or parsed is named in a warning and skipped (nb_fleet_rejected);
 *  the errors below are those of a named file.
 *  - NB_ENOENT: no such file. - NB_EINVAL: not a regular file or directory,
 *    a named file that is no result or probe. - NB_EFORMAT: not JSON
 *    (truncated), another schema version, a field missing or of the wrong
 *    type. - NB_EIO, NB_ENOMEM. */
int nb_fleet_add(nb_fleet_t fleet, const char *path, nb_error_t *err);

/** Files found in a directory that could not be read or parsed (not JSON,
 *  another schema version, a damaged probe, unreadable): each was named in
 *  a warning and skipped; the report covers the rest. */
long nb_fleet_rejected(nb_fleet_t fleet);

/** Group the hosts and judge them; after this, nb_fleet_drift and
 *  nb_fleet_write.
 *  - NB_EINVAL: nothing to judge (no host, or every group too small for
 *    both the topology and the metrics: the message says what is needed),
 *    or --baseline matches no group. - NB_ENOMEM. */
int nb_fleet_judge(nb_fleet_t fleet, nb_error_t *err);

/** Hosts flagged (topology or performance); 0 when all are consistent. */
int nb_fleet_drift(nb_fleet_t fleet);

/** Warnings about the input (skipped files, duplicates, ignored files), one
 *  line each, in the order met; NULL past the last. */
const char *nb_fleet_warning(nb_fleet_t fleet, int i);

/** The report: text (a table sorted by severity), markdown, CSV (one row per
 *  finding, then every judged host value) or JSON (docs/fleet-schema.md).
 *  - NB_EIO: writing failed. */
int nb_fleet_write(nb_fleet_t fleet, enum nb_fleet_format fmt, FILE *out, nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
