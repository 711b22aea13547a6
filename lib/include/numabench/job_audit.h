/* numabench: the audit of a running job (`numabench audit`): where the
 * processes of a training job, and the dataloader workers they forked,
 * really run and where their pages really are, per GPU rank.
 *
 * It reads what the kernel says about other processes under /proc: allowed
 * CPUs and nodes (status), the CPU each thread last ran on, sampled several
 * times per second while it runs (task stat, field 39), memory policies and
 * resident pages per node (numa_maps), and the NVIDIA devices each holds
 * open (fd entries that are character devices of major 195, matched to a
 * GPU by the driver's /proc information files). Nothing is inferred from a
 * binding that was asked for. The topology gives every CPU and GPU a node;
 * it must be this machine's.
 *
 * A rank is a process that holds a GPU (or was named with one, PID:GPU)
 * plus its descendants that hold no other GPU. Its verdict compares the
 * share of its threads' CPU samples and of its data pages (anonymous and
 * shared memory, and device mappings) on the GPU's node with
 * NB_PLACEMENT_THRESHOLD: local (both at least the threshold), remote (both
 * at most 1 - threshold), split (anything between), unknown (no GPU node, or
 * nothing observed). File-backed pages (libraries, the page cache) are
 * reported but not judged: they are placed by whoever read the file first.
 * The JSON is documented in docs/audit-schema.md.
 */
#ifndef NUMABENCH_JOB_AUDIT_H
#define NUMABENCH_JOB_AUDIT_H

#include <stdbool.h>
#include <stdio.h>

#include <numabench/error.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_job_audit *nb_job_audit_t;

/** A process to audit, and the GPU it feeds when given (PID:GPU). */
struct nb_job_target {
  int pid;
  char gpu[32]; /* "" (found from its open devices), a GPU index of the topology, or a PCI bus id */
};

/** What to audit. Zero-initialise, then set. */
struct nb_job_audit_config {
  const struct nb_job_target *targets; /* --pid */
  int ntargets;
  bool gpu_procs;    /* also every process holding an NVIDIA GPU open */
  bool children;     /* add every descendant of the processes found */
  double duration_s; /* how long to sample CPUs; 0: one sample */
  double interval_s; /* between samples; 0: 0.1 s */
};

enum nb_job_verdict { NB_JOB_LOCAL, NB_JOB_REMOTE, NB_JOB_SPLIT, NB_JOB_UNKNOWN };

/** Parse --pid: PID[:GPU][,PID[:GPU]...], GPU an index or a PCI bus id.
 *  Returns the count (malloc'ed in *out).
 *  - NB_EINVAL: the message names the entry and what is expected.
 *  - NB_ENOMEM. */
int nb_job_targets_parse(const char *text, struct nb_job_target **out, nb_error_t *err);

/** Find the processes, sample them for cfg->duration_s, read their pages,
 *  and judge every rank. Processes that exit meanwhile are kept as seen and
 *  marked gone; what could not be read is recorded (nb_job_audit_unreadable).
 *  - NB_ENOENT: a --pid is not a running process.
 *  - NB_EINVAL: a PID:GPU names a GPU the topology does not have.
 *  - NB_ENOMEM. */
int nb_job_audit_run(nb_topo_t topo, const struct nb_job_audit_config *cfg, nb_job_audit_t *out,
                     nb_error_t *err);
void nb_job_audit_free(nb_job_audit_t a);

/** Ranks found, and how many of them are not local. */
int nb_job_audit_nranks(nb_job_audit_t a);
int nb_job_audit_nnot_local(nb_job_audit_t a);
/** How many things about the named processes could not be read (refused,
 *  missing numa_maps); each is said in the report. */
int nb_job_audit_unreadable(nb_job_audit_t a);

const char *nb_job_verdict_name(enum nb_job_verdict v);

/** Tables: system state, ranks with verdict and fix, processes, threads.
 *  - NB_EIO: writing failed. */
int nb_job_audit_write_text(nb_job_audit_t a, FILE *out, nb_error_t *err);
/** One JSON document (docs/audit-schema.md).
 *  - NB_EIO, NB_ENOMEM. */
int nb_job_audit_write_json(nb_job_audit_t a, FILE *out, nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
