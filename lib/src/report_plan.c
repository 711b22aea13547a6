/* numabench: a plan as text, JSON and numactl launch lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/cgroup.h>
#include <numabench/exec.h>
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

/* ---- launchers through numabench exec (torchrun, a bash script) ---- */

/* What every rank's `numabench exec` needs to decide as this plan did: the
 * mode, the exclusive share of the node's cores (the plan's split), the
 * stand-in devices or the GPUs' PCI ordinals, the --gpu-node overrides. */
struct launch {
  char visible[1024]; /* CUDA_VISIBLE_DEVICES in PCI ordinals, "" when every GPU in PCI order */
  char *exec_args;    /* " --mode bind --policy exclusive ..." */
};

/* A GPU's ordinal under CUDA_DEVICE_ORDER=PCI_BUS_ID: its rank in bus id order. */
static int pci_ordinal(nb_topo_t topo, const char *bus_id)
{
  int k = 0;
  for (int i = 0; i < nb_topo_ngpus(topo); i++)
    k += strcmp(nb_topo_gpu(topo, i)->bus_id, bus_id) < 0;
  return k;
}

static int launch_make(nb_plan_t plan, const char *what, int argc, struct launch *l, nb_error_t *err)
{
  nb_topo_t topo = nb_plan_topo(plan);
  const struct nb_mode_info *mi = nb_mode_info(nb_plan_mode(plan));
  int n = nb_plan_ngpus(plan);
  bool devices = nb_topo_gpu_origin(topo) == NB_GPUS_DEVICES, all = n == nb_topo_ngpus(topo);
  memset(l, 0, sizeof *l);
  if (nb_plan_simulated(plan))
    return nb__err(err, NB_ENOTSUP,
                   "--emit %s: this topology has no GPU (the plan's devices are simulated); name the devices "
                   "with --devices",
                   what);
  if (argc < 1)
    return nb__err(err, NB_EINVAL, "--emit %s: give the command to launch after --, e.g. -- python train.py",
                   what);
  size_t cap = 4096 + (size_t)n * 64, used;
  if (!(l->exec_args = malloc(cap)))
    return nb__err(err, NB_ENOMEM, "plan: out of memory");
  used = (size_t)snprintf(
      l->exec_args, cap, " --mode %s%s", mi->name,
      mi->workers == NB_PLACE_GPU_NODE || mi->workers == NB_PLACE_FAR_NODE ? " --policy exclusive" : "");
  for (int i = 0; i < n && devices; i++)
    used += (size_t)snprintf(l->exec_args + used, cap - used, "%s%s", i ? "," : " --devices ",
                             nb_plan_gpu(plan, i)->bus_id);
  for (int i = 0, k = 0; i < n; i++) {
    const struct nb_gpu_plan *g = nb_plan_gpu(plan, i);
    all = all && g->gpu == i && pci_ordinal(topo, g->bus_id) == i;
    if (g->gpu_node_overridden)
      used += (size_t)snprintf(l->exec_args + used, cap - used, "%s%d=%d", k++ ? "," : " --gpu-node ",
                               devices ? i : g->gpu, g->gpu_node);
  }
  /* On this machine under a scheduler's CUDA_VISIBLE_DEVICES, the runtime
   * saw only its entries: a selected GPU is its entry, as given. */
  const char *inherited = nb_topo_is_this_system(topo) && nb_topo_gpu_origin(topo) == NB_GPUS_CUDA
                              ? getenv("CUDA_VISIBLE_DEVICES")
                              : NULL;
  for (int i = 0; i < n && !devices && !all; i++) {
    size_t v = strlen(l->visible);
    const char *entry = inherited;
    for (int k = 0; entry && k < nb_plan_gpu(plan, i)->gpu; k++)
      entry = (entry = strchr(entry, ',')) ? entry + 1 : NULL;
    if (entry && *entry)
      snprintf(l->visible + v, sizeof l->visible - v, "%s%.*s", i ? "," : "", (int)strcspn(entry, ","),
               entry);
    else
      snprintf(l->visible + v, sizeof l->visible - v, "%s%d", i ? "," : "",
               pci_ordinal(topo, nb_plan_gpu(plan, i)->bus_id));
  }
  return 0;
}

static int launch_words(FILE *out, int argc, const char *const *argv)
{
  int rc = fprintf(out, " --");
  for (int a = 0; rc >= 0 && a < argc; a++)
    rc = put_word(out, argv[a]);
  return rc < 0 ? -1 : 0;
}

int nb_plan_write_torchrun(nb_plan_t plan, int argc, const char *const *argv, FILE *out, nb_error_t *err)
{
  struct launch l;
  int rc = launch_make(plan, "torchrun", argc, &l, err);
  if (rc < 0)
    return rc;
  rc = fprintf(out, "CUDA_DEVICE_ORDER=PCI_BUS_ID ");
  if (rc >= 0 && l.visible[0])
    rc = fprintf(out, "CUDA_VISIBLE_DEVICES=%s ", l.visible);
  if (rc >= 0)
    rc = fprintf(out, "torchrun --nproc-per-node %d --no-python numabench exec%s", nb_plan_ngpus(plan),
                 l.exec_args);
  if (rc >= 0)
    rc = launch_words(out, argc, argv);
  free(l.exec_args);
  if (rc < 0 || fputc('\n', out) == EOF || fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "plan: writing the torchrun line");
  return 0;
}

/* The script's fixed parts: waiting for the ranks, forwarding signals, the
 * exit status of the first rank that failed. */
static const char script_wait[] =
    "\n"
    "# Wait for the ranks. The first one to fail gives the exit status and the\n"
    "# others are stopped (a job whose rank died would hang in its collectives).\n"
    "status=0\n"
    "left=${#pids[@]}\n"
    "while [ \"$left\" -gt 0 ]; do\n"
    "  finished=\n"
    "  wait -n -p finished\n"
    "  rc=$?\n"
    "  if [ -z \"${finished:-}\" ]; then\n"
    "    # A signal interrupted wait (and unset finished): wait again, unless no\n"
    "    # rank is left (127): one ended while the trap ran, its status unseen.\n"
    "    [ \"$rc\" -eq 127 ] && break\n"
    "    continue\n"
    "  fi\n"
    "  left=$((left - 1))\n"
    "  if [ \"$rc\" -ne 0 ] && [ \"$status\" -eq 0 ]; then\n"
    "    if [ -n \"${signalled:-}\" ]; then\n"
    "      # Ended by the signal forwarded to it: the launcher's status is the signal's.\n"
    "      status=$signalled\n"
    "    else\n"
    "      status=$rc\n"
    "      echo \"numabench launcher: rank with pid $finished exited $rc; stopping the others\" >&2\n"
    "      kill -TERM \"${pids[@]}\" 2>/dev/null\n"
    "    fi\n"
    "  fi\n"
    "done\n"
    "# Interrupted (even if every rank then ended cleanly): the signal's status,\n"
    "# 130 or 143, as an interrupted command has. Otherwise a rank whose status\n"
    "# was lost counts as a failure.\n"
    "if [ -n \"${signalled:-}\" ]; then\n"
    "  [ \"$status\" -eq 0 ] && status=$signalled\n"
    "elif [ \"$status\" -eq 0 ] && [ \"$left\" -gt 0 ]; then\n"
    "  status=1\n"
    "fi\n"
    "exit \"$status\"\n";

int nb_plan_write_script(nb_plan_t plan, int argc, const char *const *argv, FILE *out, nb_error_t *err)
{
  struct launch l;
  int rc = launch_make(plan, "script", argc, &l, err), n = nb_plan_ngpus(plan);
  if (rc < 0)
    return rc;
  rc = fprintf(out,
               "#!/bin/bash\n"
               "# Made by numabench plan --emit script: mode %s, %d local rank%s (topology %s).\n"
               "# Each rank runs under numabench exec, which binds it and its children (CPUs and\n"
               "# memory) to its GPU's node, says so on stderr and runs the command. NUMABENCH names\n"
               "# the numabench binary (default: numabench in PATH). Needs bash 5.1 (wait -p).\n"
               "set -u\n"
               "numabench=${NUMABENCH:-numabench}\n"
               "# cuda:LOCAL_RANK of each rank is then the GPU numabench exec bound it to.\n"
               "export CUDA_DEVICE_ORDER=PCI_BUS_ID\n",
               nb_mode_name(nb_plan_mode(plan)), n, n == 1 ? "" : "s", nb_topo_source(nb_plan_topo(plan)));
  if (rc >= 0 && l.visible[0])
    rc = fprintf(out, "export CUDA_VISIBLE_DEVICES=%s\n", l.visible);
  if (rc >= 0)
    rc = fprintf(out,
                 "export LOCAL_WORLD_SIZE=%d WORLD_SIZE=%d\n"
                 "pids=()\n"
                 "# TERM and INT go to every rank; the loop below then collects them. A\n"
                 "# script's background jobs start with INT and QUIT ignored, and exec keeps\n"
                 "# that, so each rank's subshell restores them first: Ctrl-C reaches the ranks.\n"
                 "trap 'signalled=143; kill -TERM \"${pids[@]}\" 2>/dev/null' TERM\n"
                 "trap 'signalled=130; kill -INT \"${pids[@]}\" 2>/dev/null' INT\n\n",
                 n, n);
  for (int i = 0; rc >= 0 && i < n; i++) {
    rc = fprintf(out, "(\n  trap - INT QUIT\n  LOCAL_RANK=%d RANK=%d exec \"$numabench\" exec%s", i, i,
                 l.exec_args);
    if (rc >= 0)
      rc = launch_words(out, argc, argv);
    if (rc >= 0)
      rc = fprintf(out, "\n) &\npids+=($!)\n");
  }
  if (rc >= 0)
    rc = fputs(script_wait, out);
  free(l.exec_args);
  if (rc < 0 || fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "plan: writing the launch script");
  return 0;
}
