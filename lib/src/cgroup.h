/* numabench: the cgroup limits as the reporters show them (report_cgroup.c),
 * shared by the topology and run reports. Not installed. */
#ifndef NB_CGROUP_INTERNAL_H
#define NB_CGROUP_INTERNAL_H

#include <stdio.h>

#include <jansson.h>

#include <numabench/cgroup.h>

/* The limits of a live topology as a JSON object (docs/topo-schema.md,
 * "cgroup"); JSON null for a topology that is not this machine (or NULL),
 * NULL on OOM. */
json_t *nb__cgroup_json(nb_topo_t topo);

/* Add "cgroup" to a topology's JSON object, for the live machine only (a
 * recorded topology has no key). 0, or -1 on OOM. */
int nb__cgroup_json_add(nb_topo_t topo, json_t *obj);

/* The "cgroup: ..." line and a blank line, for the live machine only. */
void nb__cgroup_write_text(nb_topo_t topo, FILE *out);

/* Give a topology these limits (NULL: none), as if read from its machine:
 * tests only, to plan a recorded topology under a limit. */
void nb__topo_set_cgroup(nb_topo_t topo, const struct nb_cgroup *cg);

#endif
