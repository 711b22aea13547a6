/* numabench: the probe record's internals, shared by probe.c, the result
 * writers that embed it (run, bw, launch) and the tests. Not installed. */
#ifndef NB_PROBE_INTERNAL_H
#define NB_PROBE_INTERNAL_H

#include <jansson.h>

#include <numabench/host.h>
#include <numabench/probe.h>
#include <numabench/topo.h>

/* The facts only the running machine can give. A recorded topology has
 * none of them: every field is unknown. Tests set them to see what each
 * changes in the fingerprint. */
struct nb__probe_host {
  char hostname[256];         /* "" unknown: then the topology's recorded HostName */
  char kernel[128];           /* uname release, "" unknown */
  char kernel_version[256];   /* uname version (extra), "" unknown */
  char driver[64];            /* NVIDIA driver version (/sys/module/nvidia/version), "" unknown */
  char cpu_model[256];        /* /proc/cpuinfo model name, where hwloc names no CPUModel; "" unknown */
  char cmdline[512];          /* /proc/cmdline, cut (extra), "" unknown */
  double uptime_s;            /* /proc/uptime (extra), negative unknown */
  struct nb_host_state state; /* numa_balancing, THP, SMT */
};

/* Read this machine's facts when topo is this machine; otherwise mark all of
 * them unknown. */
void nb__probe_host_read(nb_topo_t topo, struct nb__probe_host *h);

/* The "probe" object (docs/probe-schema.md) of topo with these host facts;
 * NULL on OOM. */
json_t *nb__probe_object(nb_topo_t topo, const struct nb__probe_host *h);

/* The "probe" object of topo, host facts read now: what every result file
 * (run, bw, launch) carries. NULL on OOM. */
json_t *nb__probe_json(nb_topo_t topo);

/* SHA-256 (hex) of the canonical serialization of a facts object: compact,
 * keys sorted, ASCII only. 0, or -1 on OOM. */
int nb__probe_fingerprint(const json_t *facts, char out[NB_FINGERPRINT_LEN]);

/* A node's memory as the fingerprint keeps it: GiB rounded up to a step of
 * 1/32 to 1/16 of the value (at least 1 GiB), so that the few GiB the kernel
 * and firmware reserve do not tell identical hosts apart. */
long nb__probe_memory_gib(unsigned long long bytes);

#endif
