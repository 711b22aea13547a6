/* numabench: the probe record, the placement-relevant facts of one machine.
 *
 * A fleet of hosts of one type should be alike: the same NUMA nodes with the
 * same CPUs and memory, the same distances, every GPU on the same node, the
 * same kernel settings. The probe gathers those facts into one small JSON
 * object with a stable key order (docs/probe-schema.md), and a fingerprint,
 * the SHA-256 of their canonical serialization: hosts with equal facts get
 * equal fingerprints, so a host that drifted (a BIOS update that changed NPS,
 * a GPU whose slot reports no node, numa_balancing left on) stands out by its
 * fingerprint alone. Things that differ per host by right (free memory,
 * uptime, the kernel command line) are kept apart, in "extra", outside the
 * fingerprint.
 *
 * The same "probe" object is written by `numabench probe` and into every
 * result file of run, bw and launch.
 */
#ifndef NUMABENCH_PROBE_H
#define NUMABENCH_PROBE_H

#include <stddef.h>
#include <stdio.h>

#include <numabench/error.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_probe *nb_probe_t;

/** SHA-256 in hex, plus NUL. */
#define NB_FINGERPRINT_LEN 65

/** Gather the probe record of topo. Facts only the running machine can give
 *  (kernel settings, driver, hostname) are read only when topo is this
 *  machine (nb_topo_is_this_system); for a recorded topology they are null.
 *  - NB_ENOMEM: out of memory. */
int nb_probe_collect(nb_probe_t *probep, nb_topo_t topo, nb_error_t *err);

/** Free a probe; NULL is accepted. */
void nb_probe_free(nb_probe_t probe);

/** The fingerprint: SHA-256 (hex) of the canonical facts. */
const char *nb_probe_fingerprint(nb_probe_t probe);

/** The host name the record names. */
const char *nb_probe_hostname(nb_probe_t probe);

/** The probe file's document (schema in docs/probe-schema.md) on out.
 *  - NB_EIO: writing failed. - NB_ENOMEM. */
int nb_probe_write_json(nb_probe_t probe, FILE *out, nb_error_t *err);

/** A short human-readable summary: group, fingerprint, facts.
 *  - NB_EIO: writing failed. */
int nb_probe_write_text(nb_probe_t probe, FILE *out, nb_error_t *err);

/** Write the probe file into dir (created with its missing parents) as
 *  <time>-<host>-probe.json, through a temporary file linked into place:
 *  complete or absent, never overwriting (-2, -3... is added). path receives
 *  its name.
 *  - NB_EINVAL: dir cannot receive files (the message says why).
 *  - NB_EIO: writing failed. */
int nb_probe_save(nb_probe_t probe, const char *dir, char *path, size_t len, nb_error_t *err);

/** The fingerprint of a facts object given as JSON text (a probe file's
 *  "probe"."facts", as read back): the same hash nb_probe_fingerprint gives
 *  for the same facts, whatever the key order or spacing of the text.
 *  - NB_EFORMAT: the text is not a JSON object. */
int nb_probe_fingerprint_text(const char *facts_json, char out[NB_FINGERPRINT_LEN], nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
