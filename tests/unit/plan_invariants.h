/* numabench tests: invariants every plan must satisfy, on any topology:
 * threads stay on their node's allowed CPUs, never share a CPU unless the
 * plan says it is oversubscribed, never land on memory-only nodes, and
 * buffers and bound memory only go to nodes with memory this process may
 * use (for threads on a memoryless node: the nearest such node). */
#ifndef PLAN_INVARIANTS_H
#define PLAN_INVARIANTS_H

#include <stdlib.h>

#include "nbtest.h"

/* A bound thread's memory: its CPUs' node when that node has memory this
 * process may use, else (memoryless) a nearest node with usable memory. */
static void check_mem_node(nb_topo_t topo, int cpu_node, int mem_node)
{
  int ci = nb_topo_node_index(topo, cpu_node), mi = nb_topo_node_index(topo, mem_node);
  const struct nb_node *c = nb_topo_node(topo, ci), *m = nb_topo_node(topo, mi);
  assert_non_null(m);
  assert_true(m->mem_allowed && m->memory_bytes > 0);
  if (c->mem_allowed && c->memory_bytes > 0) {
    assert_int_equal(mem_node, cpu_node);
    return;
  }
  for (int i = 0; i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    if (n->mem_allowed && n->memory_bytes > 0 &&
        nb_topo_distance(topo, ci, i) < nb_topo_distance(topo, ci, mi))
      fail_msg("memory of threads on node %d is on node %d, but node %d is nearer", cpu_node, mem_node,
               n->os_index);
  }
}

static void check_invariants(nb_topo_t topo, nb_plan_t plan)
{
  const int *allowed;
  int nallowed = nb_topo_allowed_cpus(topo, &allowed);
  int maxcpu = nallowed ? allowed[nallowed - 1] + 1 : 1;
  int *owner = malloc((size_t)maxcpu * sizeof *owner); /* GPU plan index using the CPU, -1 free */
  for (int c = 0; c < maxcpu; c++)
    owner[c] = -1;
  int *thread_of = calloc((size_t)maxcpu, sizeof *thread_of);
  int tid = 0;
  for (int i = 0; i < nb_plan_ngpus(plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    assert_int_equal(g->nworkers, nb_plan_workers(plan));
    for (int w = -1; w < g->nworkers; w++, tid++) {
      const struct nb_thread_plan *t = w < 0 ? &g->feeder : &g->workers[w];
      if (t->ncpus == 0) {
        assert_int_equal(t->cpu_node, -1);
        continue;
      }
      const struct nb_node *node = nb_topo_node(topo, nb_topo_node_index(topo, t->cpu_node));
      assert_non_null(node);
      assert_true(node->has_cpus && node->allowed);
      if (t->mem_policy == NB_MEM_BIND)
        check_mem_node(topo, t->cpu_node, t->mem_node);
      for (int c = 0; c < t->ncpus; c++) {
        int cpu = t->cpus[c], found = 0;
        for (int k = 0; k < node->ncpus; k++)
          found |= node->cpus[k] == cpu;
        if (!found)
          fail_msg("GPU %d thread %d: CPU %d is not an allowed CPU of node %d", g->gpu, w, cpu, t->cpu_node);
        if (owner[cpu] >= 0 && thread_of[cpu] != tid) {
          const struct nb_gpu_plan *other = nb_plan_gpu(plan, owner[cpu]);
          if (!g->oversubscribed || !other->oversubscribed)
            fail_msg("CPU %d is used by two threads (GPUs %d and %d) without oversubscription", cpu,
                     other->gpu, g->gpu);
        }
        owner[cpu] = i;
        thread_of[cpu] = tid;
      }
    }
    /* Buffers only on allowed nodes with memory. */
    const struct nb_buf_plan *bufs[] = {&g->staging, &g->device_buf};
    for (int b = 0; b < 2; b++)
      if (bufs[b]->policy == NB_MEM_BIND) {
        const struct nb_node *n = nb_topo_node(topo, nb_topo_node_index(topo, bufs[b]->node));
        assert_non_null(n);
        assert_true(n->allowed && n->mem_allowed);
        assert_true(n->memory_bytes > 0);
      }
  }
  free(owner);
  free(thread_of);
}

#endif
