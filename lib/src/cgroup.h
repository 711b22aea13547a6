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

/* What the process may still take under its cgroup's memory limit in bytes,
 * -1 when it has none (or the topology is not this machine). */
double nb__cgroup_room(nb_topo_t topo);

/* "the cgroup memory limit leaves 10 MiB (memory.max 64 MiB, 54 MiB used, at
 * PATH; 90% usable)" in buf, for the memory guards of run and bw; cg has a
 * memory limit. Returns buf. */
const char *nb__cgroup_room_text(const struct nb_cgroup *cg, char *buf, size_t len);

/* A size in MiB below a GiB, else in GiB (cgroup limits are often small). */
const char *nb__mib_or_gib(char *buf, size_t len, double bytes);

/* A count of CPUs with up to two decimals, trailing zeros cut ("150",
 * "12.5", "0.25"). Returns buf. */
const char *nb__cpus_text(char *buf, size_t len, double cpus);

#endif
