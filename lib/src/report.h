/* numabench: what the reporters share: the JSON documents one embeds in
 * another (a run's result holds its topology and plans) and the text of a
 * memory plan. Not installed. */
#ifndef NB_REPORT_H
#define NB_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include <numabench/error.h>

#include <jansson.h>

#include <numabench/plan.h>
#include <numabench/topo.h>

/* opts.c and report_run.c still reach the JSON helpers through this header;
 * drop this include once they include json.h themselves. */
#include "json.h"

/* The topology as a JSON object (docs/topo-schema.md); NULL on OOM. */
json_t *nb__topo_json(nb_topo_t topo);

/* A plan as a JSON object (docs/plan-schema.md); NULL on OOM. */
struct nb_plan;
json_t *nb__plan_json(struct nb_plan *plan);

/* Where memory is planned, as the plan and check tables show it ("node 1",
 * "interleaved", "unbound"), into buf. */
const char *nb__mem_plan_text(char *buf, size_t len, enum nb_mem_policy p, int node);

/* The option table's values ({"name": value}) and the names the user set. */
struct nb_config;
json_t *nb__config_json(const struct nb_config *cfg);
json_t *nb__config_set_json(const struct nb_config *cfg);

/* A run report as the result document (docs/results-schema.md). */
struct nb_report;
json_t *nb__report_json(const struct nb_report *r);

/* What every result document shares (report_run.c), for the other kinds
 * (launch): the host and its settings, the CUDA runtime, a summary of
 * samples, the UTC time (ISO 8601, or compact for file names). */
struct nb_stats;
json_t *nb__host_json(nb_topo_t topo);
json_t *nb__cuda_json(nb_topo_t topo);
json_t *nb__stats_json(const struct nb_stats *s);
void nb__iso_time(char *buf, size_t len, int compact);
/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
 * break, quotes doubled; NULL is empty. after follows it (",", "\n"). */
void nb__csv_field(FILE *out, const char *s, const char *after);
/* Text from a file for a text or markdown table cell: control characters
 * become '?', and in markdown '|' is escaped. Returns buf. */
const char *nb__table_cell(char *buf, size_t len, const char *s, int md);

/* Publish a result pair in dir: base.json and base.csv (or base-2.*, ...),
 * each filled by its function into a temporary file and linked into place,
 * complete or absent, never overwriting. path receives the JSON's path.
 * - NB_EIO. */
int nb__results_save_pair(const char *dir, const char *base, int (*fill_doc)(const void *, FILE *),
                          int (*fill_csv)(const void *, FILE *), const void *arg, char *path, size_t len,
                          nb_error_t *err);

/* Publish one file in dir: base.json (or base-2.json, ...), filled by its
 * function into a temporary file and linked into place, complete or absent,
 * never overwriting (the probe file). path receives its name. - NB_EIO. */
int nb__results_save_one(const char *dir, const char *base, int (*fill_doc)(const void *, FILE *),
                         const void *arg, char *path, size_t len, nb_error_t *err);

#endif
