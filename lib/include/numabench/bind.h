/* numabench: binding threads and placing buffers. The only code that changes
 * CPU affinity or memory policy.
 *
 * Per thread, in this order: CPU affinity, memory policy, allocate, first
 * touch from that thread (pinning comes later, in the copy backend). Where the
 * kernel refuses (containers: cpuset limits, seccomp), binding degrades in a
 * known order — membind, preferred, CPU only, none — and records the level it
 * reached, confirmed by asking the kernel back (sched_getaffinity,
 * get_mempolicy). Nothing is claimed that the kernel did not confirm.
 */
#ifndef NUMABENCH_BIND_H
#define NUMABENCH_BIND_H

#include <stdbool.h>
#include <stddef.h>

#include <numabench/error.h>
#include <numabench/plan.h>
#include <numabench/topo.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The memory policy the kernel reports for a thread or a buffer. */
enum nb_mem_seen {
  NB_SEEN_DEFAULT,
  NB_SEEN_BIND,
  NB_SEEN_PREFERRED,
  NB_SEEN_INTERLEAVE,
  NB_SEEN_LOCAL,
  NB_SEEN_OTHER,
};

/** What binding a thread achieved, as the kernel confirms it. */
struct nb_bind_status {
  bool cpu_asked; /* the plan names CPUs */
  bool cpu_bound; /* sched_getaffinity now equals the planned CPUs */
  int cpu_errno;  /* why sched_setaffinity failed, 0 if it did not */
  enum nb_mem_policy mem_asked;
  enum nb_mem_seen mem_seen; /* get_mempolicy after binding */
  int mem_nodes_seen[8];     /* the policy's nodes (first 8) */
  int nmem_nodes_seen;
  int mem_errno;     /* why the asked policy was refused, 0 if it was not */
  const char *level; /* "membind", "preferred", "interleave", "cpu-only", "mem-only" (policy set, affinity
                        refused), "none" or "unbound" (nothing asked) */
};

/** Bind the calling thread as tp says: CPUs, then memory policy (MPOL_BIND to
 *  tp->mem_node, or MPOL_INTERLEAVE over interleave[0..ninterleave)). On
 *  refusal, degrade and record the level reached in st.
 *  - NB_EINVAL: the topology is not this machine (plans from elsewhere are
 *    never applied). */
int nb_bind_self(nb_topo_t topo, const struct nb_thread_plan *tp, const int *interleave, int ninterleave,
                 struct nb_bind_status *st, nb_error_t *err);

/** How a buffer is page-locked for the GPU's DMA (CUDA backend). */
enum nb_pin {
  NB_PIN_NONE,
  NB_PIN_REGISTER,  /* node-local pages first-touched by bound threads, then cudaHostRegister */
  NB_PIN_HOSTALLOC, /* cudaHostAlloc from a thread on the buffer's node, under its policy (not
                       interleaved) */
};

/** How a copy backend page-locks host memory (the CUDA backend's, for its
 *  GPUs' DMA): for NB_PIN_REGISTER and NB_PIN_HOSTALLOC. */
struct nb_pinner {
  int (*register_mem)(void *addr, size_t len, double *seconds, nb_error_t *err);
  void (*unregister_mem)(void *addr);
  int (*host_alloc)(void **addr, size_t len, double *seconds, nb_error_t *err);
  void (*free_host)(void *addr);
};

/** A node-local buffer. */
struct nb_buf {
  void *addr;
  size_t len;
  struct nb_buf_plan plan;        /* what was asked */
  enum nb_mem_seen policy;        /* what mbind achieved (NB_SEEN_BIND, _PREFERRED, _INTERLEAVE, _DEFAULT) */
  int mbind_errno;                /* why the asked policy was refused, 0 if it was not */
  double alloc_s;                 /* seconds to map, bind and first-touch */
  enum nb_pin pinned;             /* how it is page-locked */
  const struct nb_pinner *pinner; /* who page-locked it, to unpin */
  double pin_s;                   /* seconds to page-lock it */
};

/** Map len bytes, apply the buffer's policy with mbind (degrading BIND to
 *  PREFERRED to none if refused), and first-touch every page from the calling
 *  thread. Pages land where the policy and the toucher put them; the audit
 *  says where they really are.
 *  - NB_EINVAL: len 0, or the topology is not this machine.
 *  - NB_ENOMEM: the mapping or the first touch failed. */
int nb_buf_alloc(nb_topo_t topo, struct nb_buf *b, size_t len, const struct nb_buf_plan *plan,
                 const int *interleave, int ninterleave, nb_error_t *err);

/** The same, then page-locked by pinner as how says (NB_PIN_NONE:
 *  nb_buf_alloc). NB_PIN_REGISTER: nb_buf_alloc, then register (CUDA:
 *  cudaHostRegister). NB_PIN_HOSTALLOC: the calling thread runs on the
 *  plan's node's CPUs (NB_MEM_BIND to a node with CPUs: the driver serves
 *  cudaHostAlloc from the calling CPU's node first) with the plan's policy,
 *  both restored after; then the pinner allocates (CUDA: cudaHostAlloc) and
 *  every page is touched; policy records the thread's policy the pages were
 *  allocated under.
 *  - NB_EINVAL: a pinning asked of no pinner; NB_PIN_HOSTALLOC with an
 *    interleaved plan (unsupported).
 *  - NB_ENOTSUP: built without CUDA. - NB_ECUDA: the CUDA call failed. */
int nb_buf_alloc_pinned(nb_topo_t topo, struct nb_buf *b, size_t len, const struct nb_buf_plan *plan,
                        const int *interleave, int ninterleave, const struct nb_pinner *pinner,
                        enum nb_pin how, nb_error_t *err);

const char *nb_pin_name(enum nb_pin p);

/** Unpin and unmap (or free the driver's memory); a zeroed or already freed
 *  buffer is accepted. */
void nb_buf_free(struct nb_buf *b);

/** Move all pages of the buffer to node (move_pages). Used to test that the
 *  audit catches misplacement.
 *  - NB_EPERM / NB_EINVAL / NB_EIO: the kernel refused, with its reason. */
int nb_buf_move(struct nb_buf *b, int node, nb_error_t *err);

const char *nb_mem_seen_name(enum nb_mem_seen s);

#ifdef __cplusplus
}
#endif
#endif
