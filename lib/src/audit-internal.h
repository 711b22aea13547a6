/* numabench: audit records shared by plan --check (check.c) and the
 * benchmark run (pipeline.c). Not installed. */
#ifndef NB_AUDIT_INTERNAL_H
#define NB_AUDIT_INTERNAL_H

#include <stdio.h>

#include <jansson.h>

#include <numabench/audit.h>
#include <numabench/bind.h>

#define NB__MAX_SEEN_CPUS 64
#define NB__PAGE_SAMPLES 4096

/* What the kernel said about one thread. */
struct nb__taudit {
  const struct nb_thread_plan *tp;
  struct nb_bind_status bind;
  struct nb_hist cpus; /* sched_getcpu samples by node */
  int seen[NB__MAX_SEEN_CPUS];
  int nseen;
  double share;  /* of samples on the planned node */
  bool observed; /* has CPU samples: a thread that got no work (a worker
                    without a batch in a short run) has none, and its
                    placement is unknown, not wrong */
  bool ok;
  const char *why; /* when not ok: what failed */
};

/* What the kernel said about one kind of buffer (one or several buffers with
 * the same plan, e.g. all staging slots of a GPU). */
struct nb__baudit {
  const char *name;
  int worker; /* -1 unless the buffers are one worker's */
  struct nb_buf_plan plan;
  enum nb_mem_seen policy; /* what mbind achieved (the first buffer's) */
  int mbind_errno;
  double alloc_s; /* summed */
  struct nb_hist pages;
  int unverifiable; /* errno of a refused page query, 0 if none */
  double share;
  bool ok;
  const char *why; /* when not ok: what failed */
};

int nb__taudit_init(struct nb__taudit *a, nb_topo_t topo, const struct nb_thread_plan *tp);
void nb__taudit_sample(struct nb__taudit *a, nb_topo_t topo);
void nb__taudit_judge(struct nb__taudit *a, nb_topo_t topo);
void nb__taudit_free(struct nb__taudit *a);
json_t *nb__taudit_json(const struct nb__taudit *a, nb_topo_t topo);

int nb__baudit_init(struct nb__baudit *a, nb_topo_t topo, const char *name, int worker);
/* Add one buffer's pages (sampled) to the record. */
int nb__baudit_add(struct nb__baudit *a, nb_topo_t topo, const struct nb_buf *b, nb_error_t *err);
/* Judge: BIND >= threshold on the node; INTERLEAVE only and every node. */
void nb__baudit_judge(struct nb__baudit *a, nb_topo_t topo, const int *interleave, int ninterleave);
void nb__baudit_free(struct nb__baudit *a);
json_t *nb__baudit_json(const struct nb__baudit *a, nb_topo_t topo);

json_t *nb__numastat_json(const struct nb_numastat *before, const struct nb_numastat *after);
/* Count one sample on the node with this OS index (negative, or not in the
 * topology: on no node; -EFAULT also counts as a page the kernel cannot
 * query). */
void nb__hist_add(struct nb_hist *h, nb_topo_t topo, int os_node);
/* {"nodes": [{"node", "count"}...], "other", "total"}: a histogram as the
 * audits' JSON writes it. */
json_t *nb__hist_json(const struct nb_hist *h, nb_topo_t topo);
/* "node 0 100%, node 1 2%" into buf. */
const char *nb__hist_text(char *buf, size_t len, const struct nb_hist *h, nb_topo_t topo);

#endif
