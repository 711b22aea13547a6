/* numabench: what the reporters share: the JSON documents one embeds in
 * another (a run's result holds its topology and plans) and the text of a
 * memory plan. Not installed. */
#ifndef NB_REPORT_H
#define NB_REPORT_H

#include <stddef.h>

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

#endif
