/* numabench: building the topology model from hwloc, and reading it back. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mempolicy.h"
#include "nodemask.h"
#include "topo-internal.h"

/* ---- ownership of the arrays handed out through const pointers ---- */

int *nb__topo_own(struct nb_topo *topo, int *arr)
{
  return nb__arena_keep(&topo->arena, arr);
}

const char *nb__topo_own_str(struct nb_topo *topo, char *s)
{
  return nb__arena_keep(&topo->arena, s);
}

const char *nb__topo_strdup(struct nb_topo *topo, const char *s)
{
  return nb__topo_own_str(topo, strdup(s ? s : ""));
}

int nb__topo_cpus_of_set(hwloc_const_bitmap_t set, int **out)
{
  int w = hwloc_bitmap_weight(set);
  *out = NULL;
  if (w < 0) /* infinite sets do not occur for CPUs of real nodes */
    return NB_EINTERNAL;
  if (w == 0)
    return 0;
  int *v = malloc((size_t)w * sizeof *v), n = 0;
  if (!v)
    return NB_ENOMEM;
  unsigned id;
  hwloc_bitmap_foreach_begin(id, set) v[n++] = (int)id;
  hwloc_bitmap_foreach_end();
  *out = v;
  return n;
}

/* An int array from a bitmap, owned by the topology. Returns count or <0. */
static int owned_cpus(struct nb_topo *topo, hwloc_const_bitmap_t set, const int **out)
{
  int *v;
  int n = nb__topo_cpus_of_set(set, &v);
  *out = NULL;
  if (n <= 0)
    return n;
  if (!nb__topo_own(topo, v))
    return NB_ENOMEM;
  *out = v;
  return n;
}

/* ---- allowed resources ---- */

/* The live process may use the CPUs of its affinity mask inside its cgroup,
 * and the nodes of its cpuset: intersect hwloc's allowed sets (cgroup) with
 * what the kernel reports for this thread. */
static int restrict_to_process(struct nb_topo *topo, hwloc_bitmap_t cpus, hwloc_bitmap_t nodes,
                               nb_error_t *err)
{
  hwloc_bitmap_t bound = hwloc_bitmap_alloc();
  if (!bound)
    return nb__err(err, NB_ENOMEM, "topology: out of memory");
  if (hwloc_get_cpubind(topo->hw, bound, HWLOC_CPUBIND_THREAD) == 0)
    hwloc_bitmap_and(cpus, cpus, bound);
  hwloc_bitmap_free(bound);
  struct nb__nodemask mems;
  if (nb__mempol_allowed(&mems) == 0) {
    unsigned id;
    hwloc_bitmap_foreach_begin(id, nodes) if (!nb__mask_isset(&mems, (int)id)) hwloc_bitmap_clr(nodes, id);
    hwloc_bitmap_foreach_end();
  }
  return 0;
}

/* ---- which CPUs belong to which node ---- */

/* The kernel's answer, from <root>/sys/devices/system/node/nodeN/cpulist.
 * Returns 1 when every node's list could be read, 0 (sets zeroed) to fall
 * back to hwloc. */
static int node_cpus_from_sysfs(struct nb_topo *topo, hwloc_obj_t *nodes, int n, hwloc_bitmap_t *sets)
{
  char path[128], buf[8192];
  hwloc_const_bitmap_t complete = hwloc_topology_get_complete_cpuset(topo->hw);
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "/sys/devices/system/node/node%u/cpulist", nodes[i]->os_index);
    int *v = NULL;
    int k = nb__read_sysfile(topo->sysroot, path, buf, sizeof buf) < 0
                ? -1
                : nb__parse_cpulist(buf, NB_MAX_CPU_INDEX, &v);
    if (k < 0) {
      for (int j = 0; j < n; j++)
        hwloc_bitmap_zero(sets[j]);
      return 0;
    }
    hwloc_bitmap_zero(sets[i]);
    /* Only CPUs hwloc knows: a recorded tree may be inconsistent. */
    for (int j = 0; j < k; j++)
      if (hwloc_bitmap_isset(complete, (unsigned)v[j]))
        hwloc_bitmap_set(sets[i], (unsigned)v[j]);
    free(v);
  }
  return 1;
}

/* hwloc's answer, for XML: a PU belongs to the nearest NUMA node above it.
 * hwloc attaches memory-only nodes (HBM, CXL, NVDIMM) beside the DRAM node
 * with a subtype, or higher up, so among several nodes at the same level the
 * one without a subtype, then the lowest OS index, has the CPUs. */
static void node_cpus_from_hwloc(struct nb_topo *topo, hwloc_obj_t *nodes, int n, hwloc_bitmap_t *sets)
{
  hwloc_obj_t pu = NULL;
  while ((pu = hwloc_get_next_obj_by_type(topo->hw, HWLOC_OBJ_PU, pu))) {
    hwloc_obj_t best = NULL;
    for (hwloc_obj_t anc = pu->parent; anc && !best; anc = anc->parent) {
      if (!anc->memory_arity)
        continue;
      /* Memory children may be chains through MemCache objects. */
      for (int i = 0; i < n; i++) {
        hwloc_obj_t node = nodes[i], up = node->parent;
        while (up && up->type == HWLOC_OBJ_MEMCACHE)
          up = up->parent;
        if (up != anc)
          continue;
        if (!best || (best->subtype && !node->subtype) ||
            (!best->subtype == !node->subtype && node->os_index < best->os_index))
          best = node;
      }
    }
    if (!best)
      continue;
    for (int i = 0; i < n; i++)
      if (nodes[i] == best)
        hwloc_bitmap_set(sets[i], pu->os_index);
  }
}

static int cmp_node_obj(const void *a, const void *b)
{
  unsigned x = (*(hwloc_obj_t const *)a)->os_index, y = (*(hwloc_obj_t const *)b)->os_index;
  return (x > y) - (x < y);
}

/* The largest node memory the model accepts: 2^52 bytes (4 PiB), what
 * x86-64 and arm64 can address physically; so sums over the 1024 nodes the
 * model holds stay below 2^62 and fit a signed 64-bit integer (JSON's). A
 * recorded file claiming more is damaged. */
#define NB_MAX_NODE_BYTES (UINT64_C(1) << 52)

/* Free memory of a node from <root>/sys/.../nodeN/meminfo; -1 when unknown.
 * *absurd is set when the file names more than the model can hold, which
 * the load reports as an inconsistent topology rather than overflowing. */
static int64_t node_free_bytes(struct nb_topo *topo, unsigned os_index, bool *absurd)
{
  char path[128], buf[8192];
  *absurd = false;
  if (!topo->sysroot)
    return -1;
  snprintf(path, sizeof path, "/sys/devices/system/node/node%u/meminfo", os_index);
  if (nb__read_sysfile(topo->sysroot, path, buf, sizeof buf) < 0)
    return -1;
  const char *p = strstr(buf, "MemFree:");
  unsigned long long kb;
  if (!p || sscanf(p, "MemFree: %llu kB", &kb) != 1)
    return -1;
  if (kb > NB_MAX_NODE_BYTES / 1024) {
    *absurd = true;
    return -1;
  }
  return (int64_t)kb * 1024;
}

/* A recorded tree or file that hwloc accepted but that contradicts itself
 * (two nodes claiming a CPU, a core split over nodes, absurd sizes): one
 * error here, at load, so that nothing later divides by a zero count or
 * overflows. The live machine cannot be wrong this way, so there it is an
 * internal error. */
static int inconsistent(struct nb_topo *topo, nb_error_t *err, const char *fmt, ...) NB__PRINTF(3, 4);
static int inconsistent(struct nb_topo *topo, nb_error_t *err, const char *fmt, ...)
{
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (topo->kind == NB_TOPO_LIVE)
    return nb__err(err, NB_EINTERNAL, "inconsistent topology live: %s", what);
  return nb__err(err, NB_EFORMAT, "inconsistent topology %s: %s; record it again on the machine",
                 topo->source, what);
}

/* Each CPU in at most one node's list: the kernel never puts a CPU in two
 * nodes, a hand-edited or damaged tree may. */
static int check_node_overlap(struct nb_topo *topo, hwloc_obj_t *objs, hwloc_bitmap_t *sets, int n,
                              nb_error_t *err)
{
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (hwloc_bitmap_intersects(sets[i], sets[j])) {
        hwloc_bitmap_t both = hwloc_bitmap_alloc();
        int cpu = both ? (hwloc_bitmap_and(both, sets[i], sets[j]), hwloc_bitmap_first(both)) : -1;
        hwloc_bitmap_free(both);
        return inconsistent(topo, err, "CPU %d is in the CPU lists of both node %u and node %u", cpu,
                            objs[i]->os_index, objs[j]->os_index);
      }
  return 0;
}

static int build_nodes(struct nb_topo *topo, hwloc_bitmap_t allowed_cpus, hwloc_bitmap_t allowed_nodes,
                       hwloc_bitmap_t **node_cpusp, nb_error_t *err)
{
  int n = hwloc_get_nbobjs_by_type(topo->hw, HWLOC_OBJ_NUMANODE);
  if (n <= 0)
    return nb__err(err, NB_EFORMAT, "topology %s: no NUMA node", topo->source);
  hwloc_obj_t *objs = calloc((size_t)n, sizeof *objs);
  hwloc_bitmap_t *sets = calloc((size_t)n, sizeof *sets);
  topo->nodes = calloc((size_t)n, sizeof *topo->nodes);
  hwloc_bitmap_t tmp = hwloc_bitmap_alloc();
  int rc = NB_ENOMEM;
  if (!objs || !sets || !topo->nodes || !tmp)
    goto out;
  for (int i = 0; i < n; i++) {
    objs[i] = hwloc_get_obj_by_type(topo->hw, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (!(sets[i] = hwloc_bitmap_alloc()))
      goto out;
  }
  qsort(objs, (size_t)n, sizeof *objs, cmp_node_obj);
  if (!topo->sysroot || !node_cpus_from_sysfs(topo, objs, n, sets))
    node_cpus_from_hwloc(topo, objs, n, sets);
  if ((rc = check_node_overlap(topo, objs, sets, n, err)) < 0)
    goto out;

  topo->nnodes = n;
  for (int i = 0; i < n; i++) {
    struct nb_node *nd = &topo->nodes[i];
    nd->os_index = (int)objs[i]->os_index;
    nd->has_cpus = !hwloc_bitmap_iszero(sets[i]);
    nd->mem_allowed = hwloc_bitmap_isset(allowed_nodes, objs[i]->os_index);
    nd->memory_bytes = objs[i]->attr ? objs[i]->attr->numanode.local_memory : 0;
    if (nd->memory_bytes > NB_MAX_NODE_BYTES) {
      rc = inconsistent(topo, err, "node %d has an impossible memory size (%" PRIu64 " bytes)", nd->os_index,
                        nd->memory_bytes);
      goto out;
    }
    bool absurd;
    nd->free_bytes = node_free_bytes(topo, objs[i]->os_index, &absurd);
    if (absurd) {
      rc = inconsistent(topo, err, "node %d's meminfo gives an impossible MemFree", nd->os_index);
      goto out;
    }
    hwloc_bitmap_and(tmp, sets[i], allowed_cpus);
    if ((rc = owned_cpus(topo, tmp, &nd->cpus)) < 0)
      goto out;
    nd->ncpus = rc;
    hwloc_bitmap_andnot(tmp, sets[i], allowed_cpus);
    if ((rc = owned_cpus(topo, tmp, &nd->cpus_not_allowed)) < 0)
      goto out;
    nd->ncpus_not_allowed = rc;
    nd->allowed = nd->mem_allowed || nd->ncpus > 0;
    nd->package = -1;
    int npkg = 0;
    hwloc_obj_t pkg = NULL;
    while ((pkg = hwloc_get_next_obj_by_type(topo->hw, HWLOC_OBJ_PACKAGE, pkg)))
      if (hwloc_bitmap_intersects(pkg->cpuset, sets[i])) {
        npkg++;
        nd->package = (int)pkg->os_index;
      }
    if (npkg != 1)
      nd->package = -1;
  }
  /* CPU -> node lookup for the audit's samples. */
  int last = hwloc_bitmap_last(hwloc_topology_get_complete_cpuset(topo->hw));
  topo->ncpu_node = last + 1;
  if (!(topo->cpu_node =
            malloc((size_t)(topo->ncpu_node > 0 ? topo->ncpu_node : 1) * sizeof *topo->cpu_node))) {
    rc = NB_ENOMEM;
    goto out;
  }
  for (int c = 0; c < topo->ncpu_node; c++)
    topo->cpu_node[c] = -1;
  for (int i = 0; i < n; i++) {
    unsigned id;
    hwloc_bitmap_foreach_begin(id, sets[i]) if ((int)id < topo->ncpu_node) topo->cpu_node[id] =
        (int)objs[i]->os_index;
    hwloc_bitmap_foreach_end();
  }
  *node_cpusp = sets;
  sets = NULL;
  rc = 0;
out:
  if (sets)
    for (int i = 0; i < n; i++)
      hwloc_bitmap_free(sets[i]);
  free(sets);
  free(objs);
  hwloc_bitmap_free(tmp);
  if (rc == NB_ENOMEM)
    nb__err(err, rc, "topology: out of memory");
  return rc;
}

/* ---- cores ---- */

static int core_node(struct nb_topo *topo, hwloc_bitmap_t *node_cpus, int first_cpu)
{
  for (int i = 0; i < topo->nnodes; i++)
    if (hwloc_bitmap_isset(node_cpus[i], (unsigned)first_cpu))
      return topo->nodes[i].os_index;
  return -1;
}

static int cmp_core(const void *a, const void *b)
{
  const struct nb_core *x = a, *y = b;
  if (x->node != y->node)
    return (x->node > y->node) - (x->node < y->node);
  return (x->cpus[0] > y->cpus[0]) - (x->cpus[0] < y->cpus[0]);
}

/* A core's hardware threads in one node, and every node with allowed CPUs
 * holding at least one core: the planner divides a node's CPUs by its cores. */
static int check_cores(struct nb_topo *topo, hwloc_bitmap_t *node_cpus, nb_error_t *err)
{
  for (int i = 0; i < topo->ncores; i++) {
    const struct nb_core *c = &topo->cores[i];
    for (int k = 1; k < c->ncpus; k++)
      if (core_node(topo, node_cpus, c->cpus[k]) != c->node)
        return inconsistent(topo, err, "the hardware threads %d and %d of one core are in different nodes",
                            c->cpus[0], c->cpus[k]);
  }
  for (int i = 0; i < topo->nnodes; i++)
    if (topo->nodes[i].ncpus > 0 && topo->nodes[i].ncores == 0)
      return inconsistent(topo, err, "node %d has CPUs but no core", topo->nodes[i].os_index);
  return 0;
}

static int build_cores(struct nb_topo *topo, hwloc_bitmap_t allowed, hwloc_bitmap_t *node_cpus)
{
  int npu = hwloc_get_nbobjs_by_type(topo->hw, HWLOC_OBJ_PU);
  hwloc_bitmap_t tmp = hwloc_bitmap_alloc();
  topo->cores = calloc((size_t)(npu > 0 ? npu : 1), sizeof *topo->cores);
  if (!tmp || !topo->cores) {
    hwloc_bitmap_free(tmp);
    return NB_ENOMEM;
  }
  /* A core is a Core object; a PU without one (some recorded topologies) is
   * its own core. */
  hwloc_obj_t pu = NULL;
  hwloc_bitmap_t seen = hwloc_bitmap_alloc();
  if (!seen) {
    hwloc_bitmap_free(tmp);
    return NB_ENOMEM;
  }
  while ((pu = hwloc_get_next_obj_by_type(topo->hw, HWLOC_OBJ_PU, pu))) {
    if (hwloc_bitmap_isset(seen, pu->os_index))
      continue;
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo->hw, HWLOC_OBJ_CORE, pu);
    hwloc_bitmap_copy(tmp, core ? core->cpuset : pu->cpuset);
    hwloc_bitmap_or(seen, seen, tmp);
    hwloc_bitmap_and(tmp, tmp, allowed);
    if (hwloc_bitmap_iszero(tmp))
      continue;
    struct nb_core *c = &topo->cores[topo->ncores];
    int k = owned_cpus(topo, tmp, &c->cpus);
    if (k < 0) {
      hwloc_bitmap_free(tmp);
      hwloc_bitmap_free(seen);
      return k;
    }
    c->ncpus = k;
    c->node = core_node(topo, node_cpus, c->cpus[0]);
    topo->ncores++;
  }
  hwloc_bitmap_free(tmp);
  hwloc_bitmap_free(seen);
  qsort(topo->cores, (size_t)topo->ncores, sizeof *topo->cores, cmp_core);
  for (int i = 0; i < topo->ncores; i++) {
    int idx = nb_topo_node_index(topo, topo->cores[i].node);
    if (idx >= 0)
      topo->nodes[idx].ncores++;
  }
  return 0;
}

/* What the planner will do with nodes lacking memory, said where the
 * topology is shown. */
static void memory_warnings(struct nb_topo *topo)
{
  int with_memory = 0;
  for (int i = 0; i < topo->nnodes; i++)
    with_memory += topo->nodes[i].memory_bytes > 0;
  if (!with_memory) {
    nb__strv_addf(&topo->warnings, "no NUMA node records any memory%s: plans cannot place memory",
                  topo->kind == NB_TOPO_XML ? " (the XML lacks local_memory)" : "");
    return;
  }
  for (int i = 0; i < topo->nnodes; i++)
    if (topo->nodes[i].ncpus > 0 && !topo->nodes[i].memory_bytes)
      nb__strv_addf(&topo->warnings,
                    "node %d has CPUs and no memory (memoryless): memory of threads on its CPUs goes to the "
                    "nearest node with memory",
                    topo->nodes[i].os_index);
}

/* ---- distances ---- */

static int build_distances(struct nb_topo *topo, nb_error_t *err)
{
  int n = topo->nnodes;
  topo->dist = calloc((size_t)n * (size_t)n, sizeof *topo->dist);
  if (!topo->dist)
    return nb__err(err, NB_ENOMEM, "topology: out of memory");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      topo->dist[i * n + j] = i == j ? 10 : 20;
  topo->dist_origin = NB_DIST_DEFAULT;

  /* hwloc may hold several latency matrices (firmware's, a user's): take
   * the firmware's (FROM_OS) that covers every node, else any that does. */
  unsigned nr = 0;
  struct hwloc_distances_s **all = NULL;
  int *best = NULL, best_os = 0;
  if (hwloc_distances_get_by_type(topo->hw, HWLOC_OBJ_NUMANODE, &nr, NULL, HWLOC_DISTANCES_KIND_MEANS_LATENCY,
                                  0) == 0 &&
      nr > 0 && (all = calloc(nr, sizeof *all)) &&
      hwloc_distances_get_by_type(topo->hw, HWLOC_OBJ_NUMANODE, &nr, all, HWLOC_DISTANCES_KIND_MEANS_LATENCY,
                                  0) == 0) {
    for (unsigned k = 0; k < nr; k++) {
      int *m = malloc((size_t)n * (size_t)n * sizeof *m), complete = m != NULL;
      for (int i = 0; complete && i < n; i++)
        for (int j = 0; j < n && complete; j++) {
          hwloc_obj_t a = hwloc_get_numanode_obj_by_os_index(topo->hw, (unsigned)topo->nodes[i].os_index);
          hwloc_obj_t b = hwloc_get_numanode_obj_by_os_index(topo->hw, (unsigned)topo->nodes[j].os_index);
          hwloc_uint64_t ab, ba;
          if (!a || !b || hwloc_distances_obj_pair_values(all[k], a, b, &ab, &ba) < 0 || ab > 1000000)
            complete = 0;
          else
            m[i * n + j] = (int)ab;
        }
      int from_os = (all[k]->kind & HWLOC_DISTANCES_KIND_FROM_OS) != 0;
      if (complete && (!best || (from_os && !best_os))) {
        free(best);
        best = m;
        best_os = from_os;
      } else {
        free(m);
      }
      hwloc_distances_release(topo->hw, all[k]);
    }
  }
  free(all);
  if (best) {
    free(topo->dist);
    topo->dist = best;
    topo->dist_origin = NB_DIST_FIRMWARE;
  } else if (n > 1 && nr > 0) {
    nb__strv_addf(&topo->warnings,
                  "the firmware's distance matrix does not cover every node: using 10 local / 20 remote");
  } else if (n > 1) {
    nb__strv_addf(&topo->warnings, "the firmware gives no NUMA distance matrix: using 10 local / 20 remote");
  }
  return 0;
}

/* ---- PCI devices ---- */

static int cmp_pci(const void *a, const void *b)
{
  return strcmp(((const struct nb_pci_dev *)a)->bus_id, ((const struct nb_pci_dev *)b)->bus_id);
}

/* The node of a PCI device from hwloc's locality: the nodes with CPUs under
 * its first non-I/O ancestor. One such node: that node. A one-node machine:
 * that node. Otherwise the locality is unknown (the device hangs from the
 * machine or from an object spanning several nodes). */
static void pci_locality(struct nb_topo *topo, hwloc_obj_t obj, struct nb_pci_dev *p)
{
  p->numa_node = -1;
  p->node_origin = NB_NODE_UNKNOWN;
  if (topo->nnodes == 1) {
    p->numa_node = topo->nodes[0].os_index;
    p->node_origin = NB_NODE_ONLY_NODE;
    return;
  }
  hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo->hw, obj);
  if (!anc || !anc->nodeset)
    return;
  int found = -1, count = 0;
  for (int i = 0; i < topo->nnodes; i++) {
    if (hwloc_bitmap_isset(anc->nodeset, (unsigned)topo->nodes[i].os_index) && topo->nodes[i].has_cpus) {
      found = topo->nodes[i].os_index;
      count++;
    }
  }
  if (count == 1 && anc->type != HWLOC_OBJ_MACHINE) {
    p->numa_node = found;
    p->node_origin = NB_NODE_HWLOC;
  }
}

static int build_pci(struct nb_topo *topo, nb_error_t *err)
{
  int n = 0;
  hwloc_obj_t obj = NULL;
  while ((obj = hwloc_get_next_pcidev(topo->hw, obj)))
    n++;
  topo->pci = calloc((size_t)(n ? n : 1), sizeof *topo->pci);
  if (!topo->pci)
    return nb__err(err, NB_ENOMEM, "topology: out of memory");
  obj = NULL;
  while ((obj = hwloc_get_next_pcidev(topo->hw, obj))) {
    struct nb_pci_dev *p = &topo->pci[topo->npci++];
    const struct hwloc_pcidev_attr_s *a = &obj->attr->pcidev;
    char id[32];
    snprintf(id, sizeof id, "%04x:%02x:%02x.%x", (unsigned)a->domain & 0xffff, a->bus, a->dev, a->func);
    snprintf(p->bus_id, sizeof p->bus_id, "%.12s", id);
    p->vendor_id = a->vendor_id;
    p->device_id = a->device_id;
    p->class_id = a->class_id;
    pci_locality(topo, obj, p);
    const char *name = hwloc_obj_get_info_by_name(obj, "PCIDevice");
    if (!name)
      name = obj->name;
    p->name = nb__topo_strdup(topo, name);
    if (!p->name)
      return nb__err(err, NB_ENOMEM, "topology: out of memory");
  }
  qsort(topo->pci, (size_t)topo->npci, sizeof *topo->pci, cmp_pci);
  return 0;
}

const struct nb_pci_dev *nb__topo_find_pci(const struct nb_topo *topo, const char *bus_id)
{
  for (int i = 0; i < topo->npci; i++)
    if (!strcmp(topo->pci[i].bus_id, bus_id))
      return &topo->pci[i];
  return NULL;
}

/* ---- load and free ---- */

int nb_topo_load(nb_topo_t *topop, const struct nb_topo_config *cfg, nb_error_t *err)
{
  return nb__topo_load_with_cuda(topop, cfg, NULL, err);
}

int nb__topo_load_with_cuda(nb_topo_t *topop, const struct nb_topo_config *cfg,
                            const struct nb__cuda_info *cuda, nb_error_t *err)
{
  static const struct nb_topo_config defaults;
  if (!cfg)
    cfg = &defaults;
  *topop = NULL;
  struct nb_topo *topo = calloc(1, sizeof *topo);
  if (!topo)
    return nb__err(err, NB_ENOMEM, "topology: out of memory");
  hwloc_bitmap_t cpus = NULL, nodes = NULL, *node_cpus = NULL;
  int nnode_cpus = 0;
  int rc = nb__topo_load_hwloc(topo, cfg->source, err);
  if (rc < 0)
    goto fail;

  cpus = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo->hw));
  nodes = hwloc_bitmap_dup(hwloc_topology_get_allowed_nodeset(topo->hw));
  if (!cpus || !nodes) {
    rc = nb__err(err, NB_ENOMEM, "topology: out of memory");
    goto fail;
  }
  if (topo->kind == NB_TOPO_LIVE && (rc = restrict_to_process(topo, cpus, nodes, err)) < 0)
    goto fail;
  if (topo->kind == NB_TOPO_LIVE && (rc = nb__topo_read_cgroup(topo)) < 0) {
    nb__err(err, rc, "topology: out of memory");
    goto fail;
  }
  int *allowed;
  if ((rc = nb__topo_cpus_of_set(cpus, &allowed)) < 0 || (rc > 0 && !nb__topo_own(topo, allowed))) {
    rc = nb__err(err, NB_ENOMEM, "topology: out of memory");
    goto fail;
  }
  topo->nallowed = rc;
  topo->allowed = rc > 0 ? allowed : NULL;

  if ((rc = build_nodes(topo, cpus, nodes, &node_cpus, err)) < 0)
    goto fail;
  nnode_cpus = topo->nnodes;
  if ((rc = build_cores(topo, cpus, node_cpus)) < 0) {
    nb__err(err, rc, "topology: out of memory");
    goto fail;
  }
  if ((rc = check_cores(topo, node_cpus, err)) < 0)
    goto fail;
  memory_warnings(topo);
  if ((rc = build_distances(topo, err)) < 0 || (rc = build_pci(topo, err)) < 0 ||
      (rc = nb__topo_find_gpus(topo, cfg, cuda, err)) < 0)
    goto fail;
  if ((rc = nb__topo_gpu_memory(topo)) < 0) {
    nb__err(err, rc, "topology: out of memory");
    goto fail;
  }
  rc = 0;
  *topop = topo;
  topo = NULL;
fail:
  if (node_cpus) {
    for (int i = 0; i < nnode_cpus; i++)
      hwloc_bitmap_free(node_cpus[i]);
    free(node_cpus);
  }
  hwloc_bitmap_free(cpus);
  hwloc_bitmap_free(nodes);
  nb_topo_free(topo);
  return rc;
}

void nb_topo_free(nb_topo_t topo)
{
  if (!topo)
    return;
  if (topo->hw)
    hwloc_topology_destroy(topo->hw);
  nb__arena_free(&topo->arena);
  if (topo->gpu_warnings)
    for (int i = 0; i < topo->ngpus; i++)
      nb__strv_free(&topo->gpu_warnings[i]);
  free(topo->gpu_warnings);
  nb__strv_free(&topo->warnings);
  free(topo->nodes);
  free(topo->dist);
  free(topo->cpu_node);
  free(topo->cores);
  free(topo->pci);
  free(topo->gpus);
  free(topo->cuda_status);
  free(topo->source);
  free(topo->sysroot);
  free(topo);
}

/* ---- accessors ---- */

enum nb_topo_kind nb_topo_kind(nb_topo_t topo)
{
  return topo->kind;
}
const char *nb_topo_source(nb_topo_t topo)
{
  return topo->source;
}
bool nb_topo_is_this_system(nb_topo_t topo)
{
  return topo->kind == NB_TOPO_LIVE;
}
const char *nb_topo_hwloc_version(nb_topo_t topo)
{
  return topo->hwloc_version;
}
int nb_topo_nnodes(nb_topo_t topo)
{
  return topo->nnodes;
}

const struct nb_node *nb_topo_node(nb_topo_t topo, int i)
{
  return i >= 0 && i < topo->nnodes ? &topo->nodes[i] : NULL;
}

int nb_topo_node_index(nb_topo_t topo, int os_index)
{
  for (int i = 0; i < topo->nnodes; i++)
    if (topo->nodes[i].os_index == os_index)
      return i;
  return -1;
}

int nb_topo_distance(nb_topo_t topo, int i, int j)
{
  if (i < 0 || j < 0 || i >= topo->nnodes || j >= topo->nnodes)
    return -1;
  return topo->dist[i * topo->nnodes + j];
}

enum nb_dist_origin nb_topo_distance_origin(nb_topo_t topo)
{
  return topo->dist_origin;
}

int nb_topo_cpu_node(nb_topo_t topo, int cpu)
{
  return cpu >= 0 && cpu < topo->ncpu_node ? topo->cpu_node[cpu] : -1;
}

int nb_topo_allowed_cpus(nb_topo_t topo, const int **cpus)
{
  *cpus = topo->allowed;
  return topo->nallowed;
}

int nb_topo_ncores(nb_topo_t topo)
{
  return topo->ncores;
}

const struct nb_core *nb_topo_core(nb_topo_t topo, int i)
{
  return i >= 0 && i < topo->ncores ? &topo->cores[i] : NULL;
}

int nb_topo_npci(nb_topo_t topo)
{
  return topo->npci;
}

const struct nb_pci_dev *nb_topo_pci(nb_topo_t topo, int i)
{
  return i >= 0 && i < topo->npci ? &topo->pci[i] : NULL;
}

int nb_topo_ngpus(nb_topo_t topo)
{
  return topo->ngpus;
}

const struct nb_gpu *nb_topo_gpu(nb_topo_t topo, int i)
{
  return i >= 0 && i < topo->ngpus ? &topo->gpus[i] : NULL;
}

enum nb_gpu_origin nb_topo_gpu_origin(nb_topo_t topo)
{
  return topo->gpu_origin;
}
const char *nb_topo_cuda_status(nb_topo_t topo)
{
  return topo->cuda_status ? topo->cuda_status : "";
}
int nb_topo_nwarnings(nb_topo_t topo)
{
  return topo->warnings.n;
}

const char *nb_topo_warning(nb_topo_t topo, int i)
{
  return i >= 0 && i < topo->warnings.n ? topo->warnings.v[i] : NULL;
}

const char *nb_gpu_origin_name(enum nb_gpu_origin o)
{
  switch (o) {
  case NB_GPUS_NONE:
    return "none";
  case NB_GPUS_CUDA:
    return "cuda";
  case NB_GPUS_PCI:
    return "pci";
  case NB_GPUS_DEVICES:
    return "devices";
  }
  return "?";
}

const char *nb_node_origin_name(enum nb_node_origin o)
{
  switch (o) {
  case NB_NODE_UNKNOWN:
    return "unknown";
  case NB_NODE_HWLOC:
    return "hwloc";
  case NB_NODE_SYSFS:
    return "sysfs";
  case NB_NODE_CUDA:
    return "cuda";
  case NB_NODE_ONLY_NODE:
    return "only_node";
  }
  return "?";
}

const char *nb_topo_kind_name(enum nb_topo_kind k)
{
  switch (k) {
  case NB_TOPO_LIVE:
    return "live";
  case NB_TOPO_XML:
    return "xml";
  case NB_TOPO_FSROOT:
    return "fsroot";
  }
  return "?";
}

/* exec --policy core-complex gives each rank one L3 domain (an AMD CCX, an
 * Intel sub-NUMA cluster's L3): hwloc's tree knows which L3 sits above a CPU. */
int nb__topo_cpu_l3(nb_topo_t topo, int cpu)
{
  hwloc_obj_t pu = cpu >= 0 ? hwloc_get_pu_obj_by_os_index(topo->hw, (unsigned)cpu) : NULL;
  hwloc_obj_t l3 = pu ? hwloc_get_ancestor_obj_by_type(topo->hw, HWLOC_OBJ_L3CACHE, pu) : NULL;
  return l3 ? (int)l3->logical_index : -1;
}

/* A node whose memory this process may allocate: in its memory set, with
 * memory at all, and not a GPU's own memory (Grace Hopper's HBM as a node):
 * host buffers placed there would measure the GPU's memory, not the host's,
 * and take what the GPU's kernels need, so no automatic choice (interleave,
 * staging, workers, feeder, the nearest node with memory) ever takes it. */
bool nb__topo_mem_usable(nb_topo_t topo, int os)
{
  const struct nb_node *n = nb_topo_node(topo, nb_topo_node_index(topo, os));
  return n && n->mem_allowed && n->memory_bytes > 0 && !n->gpu_memory;
}

/* Where the memory of threads on node os's CPUs goes: the node itself when
 * its memory is usable, else (a memoryless node, or one outside the memory
 * set) the nearest node with usable memory, ties to the lowest OS index, as
 * the kernel itself falls back. -1 when no node has usable memory. */
int nb__topo_mem_node(nb_topo_t topo, int os)
{
  if (nb__topo_mem_usable(topo, os))
    return os;
  int fi = nb_topo_node_index(topo, os), best = -1, bestd = INT_MAX;
  if (fi < 0)
    return -1;
  for (int i = 0; i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *n = nb_topo_node(topo, i);
    int d = nb_topo_distance(topo, fi, i);
    if (i != fi && nb__topo_mem_usable(topo, n->os_index) && d < bestd) {
      bestd = d;
      best = n->os_index;
    }
  }
  return best;
}
