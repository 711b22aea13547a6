/* numabench: memory policies, the one module that sets and queries them
 * (set_mempolicy, mbind, get_mempolicy). bind.c applies plans through it and
 * audit.c asks the kernel back through it, so neither needs the other.
 * Not installed.
 *
 * The fallback ladder, written once: the asked policy; for MPOL_BIND, when
 * refused (a cpuset or seccomp in a container, a node not allowed),
 * MPOL_PREFERRED on the same node; else nothing is changed. Callers record
 * the rung reached and the errno of the first refusal.
 */
#ifndef NB_MEMPOLICY_H
#define NB_MEMPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <numabench/bind.h>
#include <numabench/plan.h>

#include "nodemask.h"

/* Set the calling thread's policy to plan's (NB_MEM_INTERLEAVE: over
 * il[0..nil)) with the ladder. *reached: NB_SEEN_BIND, NB_SEEN_PREFERRED,
 * NB_SEEN_INTERLEAVE, or NB_SEEN_DEFAULT when the plan asks for the default
 * or every rung was refused; then the thread's policy is left unchanged
 * (nb__mempol_reset drops it). Returns 0, or the errno of the refusal of the
 * asked policy. */
int nb__mempol_set_thread(const struct nb_buf_plan *plan, const int *il, int nil, enum nb_mem_seen *reached);

/* The same for the pages of [addr, addr+len) (mbind), before any is
 * touched; where every rung is refused the mapping keeps its policy (the
 * default, for a fresh one). */
int nb__mempol_set_range(void *addr, size_t len, const struct nb_buf_plan *plan, const int *il, int nil,
                         enum nb_mem_seen *reached);

/* Back to the default policy (local allocation): a thread inherits its
 * creator's policy, and an unbound plan must not. */
void nb__mempol_reset(void);

/* The calling thread's policy as the kernel reports it, and its first max
 * nodes (*n of them). NB_SEEN_OTHER with no nodes when the query fails. */
void nb__mempol_get(enum nb_mem_seen *seen, int *nodes, int max, int *n);

/* The nodes this thread may allocate on (its cpuset's Mems_allowed), asked
 * of the kernel directly: libnuma's wrappers print on failure. Returns 0,
 * or the errno of the query (then *mems is empty). */
int nb__mempol_allowed(struct nb__nodemask *mems);

/* A thread's policy, saved to be restored after a temporary change. */
struct nb__mempol_saved {
  int mode; /* MPOL_* as get_mempolicy gave it */
  struct nb__nodemask mask;
  bool valid; /* read back; else nothing is restored */
};

/* Save the calling thread's policy. Returns 0, or the errno of the query
 * (then the caller must not change the policy: it could not restore it). */
int nb__mempol_save(struct nb__mempol_saved *s);

/* Restore a saved policy; the default when the kernel refuses it. */
void nb__mempol_restore(const struct nb__mempol_saved *s);

/* MPOL_PREFERRED on node for the calling thread (exec --mem preferred: a
 * preference is not refused by a cpuset the way a bind is, so it has no
 * ladder). Returns 0 or the errno of the refusal. */
int nb__mempol_set_preferred(int node);

/* MPOL_LOCAL for the calling thread (exec --mem local): pages where the CPU
 * that first touches them is, as with the default policy, but automatic NUMA
 * balancing leaves a task with an explicit policy alone (it migrates only
 * under the default policy or MPOL_F_NUMA_BALANCING), and so do the task's
 * children, which inherit it. Returns 0 or the errno of the refusal. */
int nb__mempol_set_local(void);

#endif
