/* numabench: a plan as text, JSON and numactl launch lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/cgroup.h>
#include <numabench/plan.h>

#include "json.h"
#include "nb-internal.h"
#include "report.h"

/* ---- JSON ---- */

static json_t *thread_json(const struct nb_thread_plan *t)
{
  return json_pack("{s:o, s:o, s:o, s:s}", "cpus", nb__json_ints(t->cpus, t->ncpus), "cpu_node",
                   nb__json_int_or_null(t->cpu_node), "mem_node", nb__json_int_or_null(t->mem_node),
                   "mem_policy", nb_mem_policy_name(t->mem_policy));
}

json_t *nb__plan_json(nb_plan_t plan)
{
  json_t *gpus = json_array();
  for (int i = 0; gpus && i < nb_plan_ngpus(plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    json_t *workers = json_array();
    for (int w = 0; workers && w < g->nworkers; w++)
      if (json_array_append_new(workers, thread_json(&g->workers[w])) < 0) {
        json_decref(workers);
        workers = NULL;
      }
    json_t *notes = json_array();
    for (int k = 0; notes && k < g->nnotes; k++)
      json_array_append_new(notes, nb__json_text(g->notes[k]));
    json_t *o = json_pack(
        "{s:i, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:s, s:o, s:s, s:o, s:b, s:o}", "gpu", g->gpu,
        "pci_bus_id", *g->bus_id ? json_string(g->bus_id) : json_null(), "name", nb__json_text(g->name),
        "gpu_node", nb__json_int_or_null(g->gpu_node), "gpu_node_overridden", g->gpu_node_overridden,
        "feeder", thread_json(&g->feeder), "workers", workers, "device_thread", thread_json(&g->device),
        "staging_node", nb__json_int_or_null(g->staging.node), "staging_policy",
        nb_mem_policy_name(g->staging.policy), "device_buffer_node", nb__json_int_or_null(g->device_buf.node),
        "device_buffer_policy", nb_mem_policy_name(g->device_buf.policy), "share_cpus",
        nb__json_ints(g->share, g->nshare), "oversubscribed", g->oversubscribed, "notes", notes);
    if (!o || json_array_append_new(gpus, o) < 0) {
      json_decref(gpus);
      gpus = NULL;
    }
  }
  const int *il;
  int nil = nb_plan_interleave_nodes(plan, &il);
  nb_topo_t topo = nb_plan_topo(plan);
  return json_pack("{s:i, s:s, s:s, s:o, s:b, s:i, s:b, s:b, s:o, s:o}", "schema_version", 1, "mode",
                   nb_mode_name(nb_plan_mode(plan)), "topology", nb_topo_kind_name(nb_topo_kind(topo)),
                   "topology_path",
                   nb_topo_is_this_system(topo) ? json_null() : nb__json_text(nb_topo_source(topo)),
                   "this_system", nb_topo_is_this_system(topo), "workers_per_gpu", nb_plan_workers(plan),
                   "workers_auto", nb_plan_workers_auto(plan), "simulated_devices", nb_plan_simulated(plan),
                   "interleave_nodes", nb__json_ints(il, nil), "gpus", gpus);
}

int nb_plan_write_json(nb_plan_t plan, FILE *out, nb_error_t *err)
{
  return nb__json_write_new(nb__plan_json(plan), out, "plan", err);
}

int nb_plan_write_skip_json(enum nb_mode mode, const char *reason, FILE *out, nb_error_t *err)
{
  json_t *doc = json_pack("{s:i, s:s, s:b, s:o}", "schema_version", 1, "mode", nb_mode_name(mode), "skipped",
                          1, "reason", nb__json_text(reason));
  return nb__json_write_new(doc, out, "plan", err);
}

/* ---- text ---- */

static const char *node_text(char *buf, size_t len, int node)
{
  if (node >= 0)
    snprintf(buf, len, "node %d", node);
  else
    snprintf(buf, len, "unknown");
  return buf;
}

const char *nb__mem_plan_text(char *buf, size_t len, enum nb_mem_policy p, int node)
{
  switch (p) {
  case NB_MEM_BIND:
    snprintf(buf, len, "node %d", node);
    break;
  case NB_MEM_INTERLEAVE:
    snprintf(buf, len, "interleaved");
    break;
  case NB_MEM_DEFAULT:
    snprintf(buf, len, "unbound");
    break;
  }
  return buf;
}

/* "CPUs <list>" padded to a column; lists can be long, so no fixed buffer. */
static void put_cpus(FILE *out, const int *cpus, int n)
{
  char *s = n ? nb__cpulist_dup(cpus, n) : NULL;
  fprintf(out, "CPUs %-20s", s ? s : n ? "?" : "unbound");
  free(s);
}

int nb_plan_write_text(nb_plan_t plan, FILE *out, nb_error_t *err)
{
  char b[64], c[64];
  nb_topo_t topo = nb_plan_topo(plan);
  fprintf(out, "Plan: mode %s, %d %s, %d worker%s each%s\n", nb_mode_name(nb_plan_mode(plan)),
          nb_plan_ngpus(plan),
          nb_plan_simulated(plan) ? "simulated devices (no GPU found: one per node with CPUs)" : "GPU(s)",
          nb_plan_workers(plan), nb_plan_workers(plan) == 1 ? "" : "s",
          !nb_plan_workers_auto(plan) ? ""
          : nb_plan_workers_by_quota(plan)
              ? " (one thread per core of each GPU's share, within the cgroup's CPU quota)"
              : " (one thread per core of each GPU's share)");
  if (!nb_topo_is_this_system(topo))
    fprintf(out, "Topology %s is not this machine: this plan is shown, never applied.\n",
            nb_topo_source(topo));
  for (int i = 0; i < nb_plan_ngpus(plan); i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    fprintf(out, "\nGPU %d%s%s  %s  (%s)\n", g->gpu, *g->bus_id ? "  " : "", g->bus_id,
            node_text(b, sizeof b, g->gpu_node), g->name);
    fprintf(out, "  feeder      ");
    put_cpus(out, g->feeder.cpus, g->feeder.ncpus);
    fprintf(out, " memory %s\n", nb__mem_plan_text(c, sizeof c, g->feeder.mem_policy, g->feeder.mem_node));
    for (int w = 0; w < g->nworkers; w++) {
      fprintf(out, "  worker %-4d ", w);
      put_cpus(out, g->workers[w].cpus, g->workers[w].ncpus);
      fprintf(out, " memory %s\n",
              nb__mem_plan_text(c, sizeof c, g->workers[w].mem_policy, g->workers[w].mem_node));
    }
    fprintf(out, "  staging     %s\n", nb__mem_plan_text(c, sizeof c, g->staging.policy, g->staging.node));
    fprintf(out, "  device buf  %s\n",
            nb__mem_plan_text(c, sizeof c, g->device_buf.policy, g->device_buf.node));
    for (int k = 0; k < g->nnotes; k++)
      fprintf(out, "  note: %s\n", g->notes[k]);
  }
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "plan: writing text");
  return 0;
}

/* numactl's interleave set: always the plan's nodes, never "all". numactl's
 * "all" is the memory set (Mems_allowed), which holds a GPU's own memory
 * nodes (on a Grace Hopper machine, or a GPU with NUMA memory), including
 * those hwloc hides by default, so the model cannot tell that "all" would
 * be the plan's set. */
static int emit_interleave(nb_plan_t plan, FILE *out)
{
  const int *nodes;
  int n = nb_plan_interleave_nodes(plan, &nodes);
  if (n == 0)
    return fprintf(out, "numactl --interleave=all env");
  char *list = nb__cpulist_dup(nodes, n);
  int rc = list ? fprintf(out, "numactl --interleave=%s env", list) : -1;
  free(list);
  return rc;
}

/* ---- numactl launch lines ---- */

int nb_shell_quote(char *buf, size_t len, const char *word)
{
  static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%";
  size_t need = 0;
  int plain = *word && strspn(word, safe) == strlen(word);
#define PUT(ch)                                                                                              \
  do {                                                                                                       \
    if (need + 1 < len)                                                                                      \
      buf[need] = (ch);                                                                                      \
    need++;                                                                                                  \
  } while (0)
  if (plain) {
    for (const char *p = word; *p; p++)
      PUT(*p);
  } else {
    /* '...' with each ' written as '\'' */
    PUT('\'');
    for (const char *p = word; *p; p++) {
      if (*p == '\'') {
        PUT('\'');
        PUT('\\');
        PUT('\'');
        PUT('\'');
      } else {
        PUT(*p);
      }
    }
    PUT('\'');
  }
#undef PUT
  if (len)
    buf[need < len ? need : len - 1] = '\0';
  return (int)need;
}

static int put_word(FILE *out, const char *word)
{
  size_t len = strlen(word) * 4 + 3;
  char *q = malloc(len);
  if (!q)
    return -1;
  nb_shell_quote(q, len, word);
  int rc = fprintf(out, " %s", q);
  free(q);
  return rc < 0 ? -1 : 0;
}

int nb_plan_write_numactl(nb_plan_t plan, int argc, const char *const *argv, FILE *out, nb_error_t *err)
{
  const struct nb_mode_info *mi = nb_mode_info(nb_plan_mode(plan));
  nb_topo_t topo = nb_plan_topo(plan);
  /* A rank is one process: its threads inherit one binding. */
  if (mi->feeder != mi->workers)
    return nb__err(
        err, NB_ENOTSUP,
        "--emit numactl: mode %s puts a rank's feeder and its workers on different nodes, which "
        "one numactl line cannot express (workers inherit the launcher's binding); use bind, remote, "
        "interleave or none",
        mi->name);
  if (argc < 1)
    return nb__err(err, NB_EINVAL,
                   "--emit numactl: give the command to launch after --, e.g. -- python train.py");
  int n = nb_plan_ngpus(plan);
  /* CUDA numbers devices by its own order; name them as the topology knows
   * them so that LOCAL_RANK i drives the planned GPU. On this machine, an
   * inherited CUDA_VISIBLE_DEVICES (a scheduler's) renumbers CUDA's
   * ordinals: map each ordinal back to the entry it stands for. */
  char visible[1024] = "";
  int cuda = nb_topo_ngpus(topo) > 0 && nb_topo_gpu_origin(topo) != NB_GPUS_DEVICES;
  int pci_order = cuda && nb_topo_gpu_origin(topo) == NB_GPUS_PCI;
  const char *inherited = nb_topo_is_this_system(topo) && nb_topo_gpu_origin(topo) == NB_GPUS_CUDA
                              ? getenv("CUDA_VISIBLE_DEVICES")
                              : NULL;
  for (int i = 0; cuda && i < n; i++) {
    int idx = nb_plan_gpu(plan, i)->gpu;
    for (int k = 0; k < nb_topo_ngpus(topo); k++)
      if (nb_topo_gpu(topo, k)->index == idx && nb_topo_gpu(topo, k)->cuda_ordinal >= 0)
        pci_order = 0;
    size_t used = strlen(visible);
    const char *entry = inherited;
    for (int k = 0; entry && k < idx; k++)
      entry = (entry = strchr(entry, ',')) ? entry + 1 : NULL;
    if (entry && *entry)
      snprintf(visible + used, sizeof visible - used, "%s%.*s", i ? "," : "", (int)strcspn(entry, ","),
               entry);
    else
      snprintf(visible + used, sizeof visible - used, "%s%d", i ? "," : "", idx);
  }
  for (int i = 0; i < n; i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    char *cpus = nb__cpulist_dup(g->share, g->nshare);
    int rc = cpus ? 0 : -1;
    switch (rc < 0 ? NB_PLACE_UNBOUND : mi->workers) {
    case NB_PLACE_GPU_NODE:
    case NB_PLACE_FAR_NODE:
      rc = fprintf(out, "numactl --physcpubind=%s --membind=%d env", cpus, g->feeder.mem_node);
      break;
    case NB_PLACE_INTERLEAVE:
      rc = emit_interleave(plan, out);
      break;
    case NB_PLACE_UNBOUND:
      rc = rc < 0 ? rc : fprintf(out, "env");
      break;
    }
    free(cpus);
    if (rc >= 0 && pci_order)
      rc = fprintf(out, " CUDA_DEVICE_ORDER=PCI_BUS_ID");
    if (rc >= 0 && cuda)
      rc = fprintf(out, " CUDA_VISIBLE_DEVICES=%s", visible);
    if (rc >= 0)
      rc = fprintf(out, " LOCAL_RANK=%d RANK=%d WORLD_SIZE=%d LOCAL_WORLD_SIZE=%d", i, i, n, n);
    for (int a = 0; rc >= 0 && a < argc; a++)
      rc = put_word(out, argv[a]);
    if (rc < 0 || fputc('\n', out) == EOF)
      return nb__err_sys(err, NB_EIO, errno, "plan: writing numactl lines");
  }
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "plan: writing numactl lines");
  return 0;
}
