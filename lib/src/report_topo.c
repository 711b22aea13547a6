/* numabench: the topology as text (like the affinity columns of
 * `nvidia-smi topo -m`) and as JSON. Reporters only read the model. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/host.h>

#include "json.h"
#include "cgroup.h"
#include "report.h"
#include "topo-internal.h"

/* ---- JSON ---- */

static json_t *str_array(const char *const *v, int n)
{
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, nb__json_text(v[i])) < 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *hex4(unsigned v)
{
  char buf[8];
  snprintf(buf, sizeof buf, "%04x", v & 0xffff);
  return json_string(buf);
}

/* The JSON array of item(topo, i) for i in [0, n); NULL when an item could
 * not be built (out of memory). */
static json_t *topo_array(nb_topo_t topo, int n, json_t *(*item)(nb_topo_t, int))
{
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, item(topo, i)) < 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* Whose memory a GPU-memory node is: {"gpu", "pci_bus_id"} with what is
 * known; null for any other node. */
static json_t *gpu_memory_json(const struct nb_node *n)
{
  if (!n->gpu_memory)
    return json_null();
  return json_pack("{s:o, s:o}", "gpu", nb__json_int_or_null(n->gpu), "pci_bus_id",
                   n->gpu_bus_id[0] ? json_string(n->gpu_bus_id) : json_null());
}

static json_t *node_json(nb_topo_t topo, int i)
{
  const struct nb_node *n = &topo->nodes[i];
  return json_pack("{s:i, s:o, s:o, s:i, s:I, s:o, s:b, s:b, s:o, s:b, s:o}", "os_index", n->os_index, "cpus",
                   nb__json_ints(n->cpus, n->ncpus), "cpus_not_allowed",
                   nb__json_ints(n->cpus_not_allowed, n->ncpus_not_allowed), "cores", n->ncores,
                   "memory_bytes", (json_int_t)n->memory_bytes, "free_bytes",
                   n->free_bytes >= 0 ? json_integer(n->free_bytes) : json_null(), "has_cpus", n->has_cpus,
                   "allowed", n->allowed, "package", nb__json_int_or_null(n->package), "gpu_memory",
                   n->gpu_memory, "gpu_memory_of", gpu_memory_json(n));
}

/* Row i of the distance matrix. */
static json_t *distances_json(nb_topo_t topo, int i)
{
  return nb__json_ints(&topo->dist[i * topo->nnodes], topo->nnodes);
}

static json_t *gpu_json(nb_topo_t topo, int i)
{
  const struct nb_gpu *g = &topo->gpus[i];
  return json_pack("{s:i, s:o, s:s, s:o, s:s, s:o, s:o, s:o}", "index", g->index, "cuda_ordinal",
                   nb__json_int_or_null(g->cuda_ordinal), "pci_bus_id", g->bus_id, "numa_node",
                   nb__json_int_or_null(g->numa_node), "numa_node_source",
                   nb_node_origin_name(g->node_origin), "cpus", nb__json_ints(g->cpus, g->ncpus), "name",
                   nb__json_text(g->name), "warnings", str_array(g->warnings, g->nwarnings));
}

static json_t *pci_json(nb_topo_t topo, int i)
{
  const struct nb_pci_dev *p = &topo->pci[i];
  return json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:o}", "pci_bus_id", p->bus_id, "vendor_id",
                   hex4(p->vendor_id), "device_id", hex4(p->device_id), "class_id", hex4(p->class_id),
                   "numa_node", nb__json_int_or_null(p->numa_node), "numa_node_source",
                   nb_node_origin_name(p->node_origin), "name", nb__json_text(p->name ? p->name : ""));
}

json_t *nb__topo_json(nb_topo_t topo)
{
  return json_pack(
      "{s:i, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "schema_version", 1, "source",
      nb_topo_kind_name(topo->kind), "source_path",
      topo->kind == NB_TOPO_LIVE ? json_null() : nb__json_text(topo->source), "this_system",
      topo->kind == NB_TOPO_LIVE, "hwloc_version",
      *topo->hwloc_version ? nb__json_text(topo->hwloc_version) : json_null(), "allowed_cpus",
      nb__json_ints(topo->allowed, topo->nallowed), "nodes", topo_array(topo, topo->nnodes, node_json),
      "distances", topo_array(topo, topo->nnodes, distances_json), "distances_source",
      topo->dist_origin == NB_DIST_FIRMWARE ? "firmware" : "default", "gpu_source",
      nb_gpu_origin_name(topo->gpu_origin), "cuda", nb__json_text(nb_topo_cuda_status(topo)), "gpus",
      topo_array(topo, topo->ngpus, gpu_json), "pci_devices", topo_array(topo, topo->npci, pci_json),
      "warnings", str_array((const char *const *)topo->warnings.v, topo->warnings.n));
}

/* Add "host", the kernel settings that change a NUMA result, for the live
 * machine only: a recorded topology is another machine, whose settings were
 * not recorded, so it has no key (as "cgroup"). Added here rather than in
 * nb__topo_json, which result files embed beside their own host object.
 * 0, or -1 on OOM. */
static int host_json_add(nb_topo_t topo, json_t *obj)
{
  if (!obj)
    return -1;
  if (topo->kind != NB_TOPO_LIVE)
    return 0;
  struct nb_host_state h;
  nb_host_state_read(&h);
  const char *warning = nb_host_state_warning(&h);
  json_t *host = json_pack("{s:o, s:o, s:o, s:o}", "numa_balancing",
                           h.numa_balancing >= 0 ? json_integer(h.numa_balancing) : json_null(),
                           "transparent_hugepages", h.thp[0] ? json_string(h.thp) : json_null(), "smt_active",
                           h.smt_active >= 0 ? json_boolean(h.smt_active) : json_null(), "warning",
                           warning ? json_string(warning) : json_null());
  return host && json_object_set_new(obj, "host", host) == 0 ? 0 : -1;
}

int nb_topo_write_json(nb_topo_t topo, FILE *out, nb_error_t *err)
{
  json_t *j = nb__topo_json(topo);
  if (nb__cgroup_json_add(topo, j) < 0 || host_json_add(topo, j) < 0) {
    json_decref(j);
    j = NULL;
  }
  return nb__json_write_new(j, out, "topology", err);
}

/* ---- text ---- */

static const char *human_bytes(char *buf, size_t len, double bytes)
{
  if (bytes < 0)
    snprintf(buf, len, "-");
  else if (bytes >= 1024.0 * 1024 * 1024)
    snprintf(buf, len, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
  else
    snprintf(buf, len, "%.0f MiB", bytes / (1024.0 * 1024));
  return buf;
}

/* A node's CPUs for the table, malloc'ed (lists can be long). */
static char *node_cpus_text(const struct nb_node *n)
{
  char *gm;
  if (n->ncpus == 0 && n->ncpus_not_allowed == 0 && n->gpu_memory) {
    if (n->gpu >= 0)
      return asprintf(&gm, "(none: GPU %d's memory)", n->gpu) < 0 ? NULL : gm;
    return strdup("(none: GPU memory)");
  }
  if (n->ncpus == 0 && n->ncpus_not_allowed == 0)
    return strdup("(none: memory only)");
  char *allowed = n->ncpus ? nb__cpulist_dup(n->cpus, n->ncpus) : strdup("(none allowed)");
  if (!allowed || !n->ncpus_not_allowed)
    return allowed;
  char *na = nb__cpulist_dup(n->cpus_not_allowed, n->ncpus_not_allowed), *both = NULL;
  if (na && asprintf(&both, "%s (+%s not allowed)", allowed, na) < 0)
    both = NULL;
  free(allowed);
  free(na);
  return both;
}

/* The CPU lists the tables show, built before anything is written so that
 * running out of memory leaves no half-written table. */
struct cpu_texts {
  char *allowed; /* the CPUs this process may use */
  char **nodes;  /* per node: node_cpus_text */
  char **gpus;   /* per GPU: its local CPUs, or "-" */
};

static void cpu_texts_free(nb_topo_t topo, struct cpu_texts *t)
{
  for (int i = 0; t->nodes && i < topo->nnodes; i++)
    free(t->nodes[i]);
  for (int i = 0; t->gpus && i < topo->ngpus; i++)
    free(t->gpus[i]);
  free(t->nodes);
  free(t->gpus);
  free(t->allowed);
  *t = (struct cpu_texts){0};
}

/* Returns 0, or NB_ENOMEM with nothing to free. */
static int cpu_texts_make(nb_topo_t topo, struct cpu_texts *t, nb_error_t *err)
{
  t->nodes = calloc((size_t)topo->nnodes, sizeof *t->nodes);
  /* + 1: with no GPU, calloc(0) may return NULL, which is not running out. */
  t->gpus = calloc((size_t)topo->ngpus + 1, sizeof *t->gpus);
  t->allowed = nb__cpulist_dup(topo->allowed, topo->nallowed);
  if (!t->nodes || !t->gpus || !t->allowed)
    goto oom;
  for (int i = 0; i < topo->nnodes; i++)
    if (!(t->nodes[i] = node_cpus_text(&topo->nodes[i])))
      goto oom;
  for (int i = 0; i < topo->ngpus; i++) {
    const struct nb_gpu *g = &topo->gpus[i];
    if (!(t->gpus[i] = g->ncpus ? nb__cpulist_dup(g->cpus, g->ncpus) : strdup("-")))
      goto oom;
  }
  return 0;
oom:
  cpu_texts_free(topo, t);
  return nb__err(err, NB_ENOMEM, "topology: out of memory");
}

/* The width of the longest of v[0..n-1], at least min. */
static int widest(char *const *v, int n, int min)
{
  int w = min;
  for (int i = 0; i < n; i++)
    w = (int)strlen(v[i]) > w ? (int)strlen(v[i]) : w;
  return w;
}

/* The kernel settings that change a NUMA result, for the live machine only
 * (a recorded topology's were not recorded). */
static void write_host(nb_topo_t topo, FILE *out)
{
  if (topo->kind != NB_TOPO_LIVE)
    return;
  struct nb_host_state h;
  nb_host_state_read(&h);
  char nb[48] = "unknown";
  if (h.numa_balancing >= 0)
    snprintf(nb, sizeof nb, "%d (%s)", h.numa_balancing, nb_host_balancing_name(h.numa_balancing));
  fprintf(out, "Kernel: numa_balancing %s, transparent hugepages %s, SMT %s\n", nb,
          h.thp[0] ? h.thp : "unknown",
          h.smt_active < 0 ? "unknown"
          : h.smt_active   ? "on"
                           : "off");
  const char *warning = nb_host_state_warning(&h);
  if (warning)
    fprintf(out, "Warning: %s\n", warning);
}

static void write_source(nb_topo_t topo, const struct cpu_texts *t, FILE *out)
{
  if (topo->kind == NB_TOPO_LIVE)
    fprintf(out, "Topology: this machine (hwloc %s)\n", topo->hwloc_version);
  else
    fprintf(out, "Topology: %s %s (not this machine: shown, never used for binding)\n",
            topo->kind == NB_TOPO_XML ? "XML file" : "recorded /sys tree", topo->source);
  fprintf(out, "Allowed CPUs: %s (%d)\n", t->allowed, topo->nallowed);
  write_host(topo, out);
  fputc('\n', out);
}

/* CPUs are allowed by the CPU set, memory by the memory set: say which
 * when only one of them is. */
static const char *allowed_text(const struct nb_node *n)
{
  if (!n->allowed)
    return "no";
  if (n->ncpus > 0 && !n->memory_bytes)
    return "yes (CPUs; no memory)";
  if (n->ncpus > 0 && !n->mem_allowed)
    return "CPUs only";
  if (n->has_cpus && !n->ncpus)
    return "memory only";
  return "yes";
}

static void write_nodes(nb_topo_t topo, const struct cpu_texts *t, FILE *out)
{
  char mem[32], fr[32];
  int nallowed_nodes = 0;
  for (int i = 0; i < topo->nnodes; i++)
    nallowed_nodes += topo->nodes[i].allowed;
  int w = widest(t->nodes, topo->nnodes, 4);
  fprintf(out, "NUMA nodes: %d (%d allowed)\n", topo->nnodes, nallowed_nodes);
  fprintf(out, "  %-4s  %-*s  %5s  %10s  %10s  %s\n", "node", w, "CPUs", "cores", "memory",
          topo->kind == NB_TOPO_FSROOT ? "free (rec.)" : "free", "allowed");
  for (int i = 0; i < topo->nnodes; i++) {
    const struct nb_node *n = &topo->nodes[i];
    fprintf(out, "  %-4d  %-*s  %5d  %10s  %10s  %s\n", n->os_index, w, t->nodes[i], n->ncores,
            human_bytes(mem, sizeof mem, (double)n->memory_bytes),
            human_bytes(fr, sizeof fr, (double)n->free_bytes), allowed_text(n));
  }
}

static void write_distances(nb_topo_t topo, FILE *out)
{
  fprintf(out, "\nDistances (%s):\n  %4s",
          topo->dist_origin == NB_DIST_FIRMWARE ? "from firmware"
          : topo->nnodes == 1                   ? "single node"
                                                : "none from firmware: 10 local, 20 remote",
          "node");
  for (int j = 0; j < topo->nnodes; j++)
    fprintf(out, " %4d", topo->nodes[j].os_index);
  fputc('\n', out);
  for (int i = 0; i < topo->nnodes; i++) {
    fprintf(out, "  %4d", topo->nodes[i].os_index);
    for (int j = 0; j < topo->nnodes; j++)
      fprintf(out, " %4d", topo->dist[i * topo->nnodes + j]);
    fputc('\n', out);
  }
}

static void write_gpus(nb_topo_t topo, const struct cpu_texts *t, FILE *out)
{
  static const char *const origin_text[] = {
      [NB_GPUS_NONE] = "none found",
      [NB_GPUS_CUDA] = "from the CUDA runtime; GPU = CUDA ordinal",
      [NB_GPUS_PCI] = "from PCI devices",
      [NB_GPUS_DEVICES] = "the PCI devices given with --devices",
  };
  fprintf(out, "\nGPUs: %d, %s (CUDA: %s)\n", topo->ngpus, origin_text[topo->gpu_origin],
          nb_topo_cuda_status(topo));
  if (!topo->ngpus)
    return;
  int w = widest(t->gpus, topo->ngpus, 12);
  fprintf(out, "  %-4s  %-12s  %-4s  %-*s  %s\n", "GPU", "bus id", "NUMA", w, "CPU affinity", "name");
  for (int i = 0; i < topo->ngpus; i++) {
    const struct nb_gpu *g = &topo->gpus[i];
    char node[16];
    if (g->numa_node >= 0)
      snprintf(node, sizeof node, "%d", g->numa_node);
    else
      snprintf(node, sizeof node, "?");
    fprintf(out, "  %-4d  %-12s  %-4s  %-*s  %s\n", g->index, g->bus_id, node, w, t->gpus[i], g->name);
  }
}

/* The topology's warnings, then each GPU's. */
static void write_warnings(nb_topo_t topo, FILE *out)
{
  int nw = topo->warnings.n;
  for (int i = 0; i < topo->ngpus; i++)
    nw += topo->gpus[i].nwarnings;
  if (!nw)
    return;
  fprintf(out, "\nWarnings:\n");
  for (int i = 0; i < topo->warnings.n; i++)
    fprintf(out, "  %s\n", topo->warnings.v[i]);
  for (int i = 0; i < topo->ngpus; i++)
    for (int j = 0; j < topo->gpus[i].nwarnings; j++)
      fprintf(out, "  GPU %d (%s): %s\n", topo->gpus[i].index, topo->gpus[i].bus_id,
              topo->gpus[i].warnings[j]);
}

int nb_topo_write_text(nb_topo_t topo, FILE *out, nb_error_t *err)
{
  struct cpu_texts t = {0};
  int rc = cpu_texts_make(topo, &t, err);
  if (rc < 0)
    return rc;
  write_source(topo, &t, out);
  nb__cgroup_write_text(topo, out);
  write_nodes(topo, &t, out);
  write_distances(topo, out);
  write_gpus(topo, &t, out);
  write_warnings(topo, out);
  if (fflush(out) == EOF || ferror(out))
    rc = nb__err_sys(err, NB_EIO, errno, "topology: writing text");
  cpu_texts_free(topo, &t);
  return rc;
}
