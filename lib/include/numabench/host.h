/* numabench: kernel settings of this host that change what a NUMA
 * measurement or an audit means.
 *
 * Automatic NUMA balancing migrates the pages of unbound processes while they
 * run (so mode none's result, or an audit of a job, moves with it);
 * transparent huge pages change how buffers are backed; SMT decides how many
 * cores a share of a node has. Every command that reports placement shows
 * them: topo, the result files of run, audit.
 */
#ifndef NUMABENCH_HOST_H
#define NUMABENCH_HOST_H

#ifdef __cplusplus
extern "C" {
#endif

struct nb_host_state {
  int numa_balancing; /* kernel.numa_balancing, a bit mask: 0 off, 1 normal balancing, 2 memory
                         tiering, 3 both; -1 unknown */
  char thp[16];       /* transparent_hugepage/enabled: "always", "madvise" or "never"; "" unknown */
  int smt_active;     /* devices/system/cpu/smt/active: 0 or 1; -1 unknown */
};

/** Read this host's settings. Never fails: what the kernel does not say is
 *  left unknown. */
void nb_host_state_read(struct nb_host_state *s);

/** One line warning about the settings, or NULL when there is nothing to
 *  say (today: automatic NUMA balancing on, each of its bits named). */
const char *nb_host_state_warning(const struct nb_host_state *s);

/** What a kernel.numa_balancing value means: "off", "on", "memory tiering",
 *  "on and memory tiering", or "unknown mode" for other bits. */
const char *nb_host_balancing_name(int numa_balancing);

#ifdef __cplusplus
}
#endif
#endif
