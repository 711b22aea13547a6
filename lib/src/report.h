/* numabench: JSON pieces shared by the reporters. Not installed. */
#ifndef NB_REPORT_H
#define NB_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include <numabench/topo.h>

/* The topology as a JSON object (docs/topo-schema.md); NULL on OOM. */
json_t *nb__topo_json(nb_topo_t topo);

/* A plan as a JSON object (docs/plan-schema.md); NULL on OOM. */
struct nb_plan;
json_t *nb__plan_json(struct nb_plan *plan);

/* A JSON array of ints; NULL on OOM. */
json_t *nb__json_ints(const int *v, int n);

/* A JSON string of text that came from outside (paths, names from files):
 * bytes that are not UTF-8 become '?', so the document stays valid. */
json_t *nb__json_text(const char *text);

/* The option table's values ({"name": value}) and the names the user set. */
struct nb_config;
json_t *nb__config_json(const struct nb_config *cfg);
json_t *nb__config_set_json(const struct nb_config *cfg);

/* A run report as the result document (docs/results-schema.md). */
struct nb_report;
json_t *nb__report_json(const struct nb_report *r);

/* Write a JSON document and a newline to out. Returns 0 or NB_EIO/NB_ENOMEM. */
int nb__json_write(json_t *doc, FILE *out, const char *what, nb_error_t *err);

#endif
