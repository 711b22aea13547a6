/* numabench: which devices are the GPUs, and on which NUMA node each sits.
 *
 * Three ways, in order: the user's --devices list; the CUDA runtime on the
 * live machine (ordinals mapped to PCI bus ids); PCI devices of the topology
 * that are NVIDIA display controllers or carry cudaN/nvmlN OS devices. The
 * node comes from hwloc's PCI locality and is cross-checked with sysfs and
 * CUDA where they exist; disagreement becomes a warning on the GPU. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_devices.h"
#include "nvproc.h"
#include "topo-internal.h"

/* What one GPU's discovery knows before it becomes an nb_gpu. */
struct gpu_seed {
  int index;
  int cuda_ordinal;
  char bus_id[NB_BUSID_LEN];
  const char *name; /* NULL: derive from PCI */
  int cuda_numa;    /* CUDA's host NUMA id, -1 when none */
};

static int oom(nb_error_t *err)
{
  return nb__err(err, NB_ENOMEM, "topology: out of memory");
}

static int sysfs_numa_node(struct nb_topo *topo, const char *bus_id, int *node)
{
  char path[96], buf[32];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", bus_id);
  if (!topo->sysroot || nb__read_sysfile(topo->sysroot, path, buf, sizeof buf) < 0)
    return -1;
  char *end;
  long v = strtol(buf, &end, 10);
  if (end == buf || *end)
    return -1;
  *node = (int)v;
  return 0;
}

/* The name of a PCI device: hwloc's GPUModel from an OS device, then the PCI
 * name database, then the ids. */
static const char *pci_name(struct nb_topo *topo, const struct nb_pci_dev *p)
{
  unsigned dom, bus, dev, fn;
  if (sscanf(p->bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) == 4) {
    hwloc_obj_t obj = hwloc_get_pcidev_by_busid(topo->hw, dom, bus, dev, fn);
    for (hwloc_obj_t c = obj ? obj->io_first_child : NULL; c; c = c->next_sibling) {
      const char *m = c->type == HWLOC_OBJ_OS_DEVICE ? hwloc_obj_get_info_by_name(c, "GPUModel") : NULL;
      if (m)
        return nb__topo_strdup(topo, m);
    }
  }
  if (p->name && *p->name)
    return p->name;
  static const struct {
    unsigned cls;
    const char *text;
  } classes[] = {{0x0300, "VGA controller"}, {0x0302, "3D controller"}, {0x0380, "display controller"}};
  const char *cls = "device";
  for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
    if (classes[i].cls == p->class_id)
      cls = classes[i].text;
  char buf[96];
  snprintf(buf, sizeof buf, "%s %04x:%04x %s", p->vendor_id == 0x10de ? "NVIDIA" : "PCI", p->vendor_id,
           p->device_id, cls);
  return nb__topo_strdup(topo, buf);
}

static int add_gpu(struct nb_topo *topo, const struct gpu_seed *s, nb_error_t *err)
{
  struct nb_gpu *g = &topo->gpus[topo->ngpus];
  struct nb__strv *w = &topo->gpu_warnings[topo->ngpus];
  const struct nb_pci_dev *p = nb__topo_find_pci(topo, s->bus_id);
  memset(g, 0, sizeof *g);
  g->index = s->index;
  g->cuda_ordinal = s->cuda_ordinal;
  memcpy(g->bus_id, s->bus_id, sizeof g->bus_id);
  g->numa_node = p ? p->numa_node : -1;
  g->node_origin = p ? p->node_origin : NB_NODE_UNKNOWN;
  if (!p)
    nb__strv_addf(w, "not in hwloc's PCI tree: its NUMA node comes from sysfs or CUDA only");

  int sys = -2;
  if (sysfs_numa_node(topo, g->bus_id, &sys) == 0 && sys >= 0) {
    if (g->node_origin == NB_NODE_UNKNOWN) {
      g->numa_node = sys;
      g->node_origin = NB_NODE_SYSFS;
    } else if (g->numa_node != sys && g->node_origin != NB_NODE_ONLY_NODE) {
      nb__strv_addf(w, "hwloc places it on node %d but sysfs numa_node says %d; using hwloc's", g->numa_node,
                    sys);
    }
  }
  if (s->cuda_numa >= 0) {
    if (g->node_origin == NB_NODE_UNKNOWN) {
      g->numa_node = s->cuda_numa;
      g->node_origin = NB_NODE_CUDA;
    } else if (g->numa_node != s->cuda_numa) {
      nb__strv_addf(w, "CUDA reports host NUMA node %d but hwloc says %d; using hwloc's", s->cuda_numa,
                    g->numa_node);
    }
  }
  if (g->node_origin == NB_NODE_UNKNOWN) {
    if (sys == -1)
      nb__strv_addf(w, "NUMA node unknown: sysfs numa_node is -1 (the firmware gives no locality for "
                       "this device)");
    else
      nb__strv_addf(w, "NUMA node unknown: the topology gives no locality for this device");
  }
  int idx = nb_topo_node_index(topo, g->numa_node);
  if (g->numa_node >= 0 && idx < 0) {
    nb__strv_addf(w, "NUMA node unknown: %s names node %d, which this topology does not have",
                  nb_node_origin_name(g->node_origin), g->numa_node);
    g->numa_node = -1;
    g->node_origin = NB_NODE_UNKNOWN;
  } else if (idx >= 0) {
    g->ncpus = topo->nodes[idx].ncpus;
    g->cpus = topo->nodes[idx].cpus;
    if (!topo->nodes[idx].allowed)
      nb__strv_addf(w, "its NUMA node %d is outside this process's allowed nodes", g->numa_node);
  }
  g->name = s->name ? nb__topo_strdup(topo, s->name) : p ? pci_name(topo, p) : nb__topo_strdup(topo, "");
  if (!g->name)
    return oom(err);
  topo->ngpus++;
  return 0;
}

static int alloc_gpus(struct nb_topo *topo, int n)
{
  topo->gpus = calloc((size_t)(n ? n : 1), sizeof *topo->gpus);
  topo->gpu_warnings = calloc((size_t)(n ? n : 1), sizeof *topo->gpu_warnings);
  return topo->gpus && topo->gpu_warnings ? 0 : NB_ENOMEM;
}

/* Hand the per-GPU warning lists out through the public structs. */
static void publish_warnings(struct nb_topo *topo)
{
  for (int i = 0; i < topo->ngpus; i++) {
    topo->gpus[i].nwarnings = topo->gpu_warnings[i].n;
    topo->gpus[i].warnings = (const char *const *)topo->gpu_warnings[i].v;
  }
}

static int gpus_from_devices(struct nb_topo *topo, const char *list, nb_error_t *err)
{
  int n = 1, rc = 0;
  for (const char *c = list; *c; c++)
    n += *c == ',';
  if (alloc_gpus(topo, n) < 0)
    return oom(err);
  topo->gpu_origin = NB_GPUS_DEVICES;
  if (!*list || strspn(list, ",") == strlen(list))
    return nb__err(err, NB_EINVAL, "--devices: empty list; give PCI bus ids separated by commas");
  /* Every comma-separated item must be a bus id: "a,,b" and "a," are
   * mistakes, not shorter lists. */
  for (const char *item = list; rc == 0; item += strcspn(item, ",") + 1) {
    char tok[64];
    size_t len = strcspn(item, ",");
    snprintf(tok, sizeof tok, "%.*s", (int)(len < sizeof tok ? len : sizeof tok - 1), item);
    struct gpu_seed s = {.index = topo->ngpus, .cuda_ordinal = -1, .cuda_numa = -1};
    if (len >= sizeof tok || nb_parse_bus_id(tok, s.bus_id) < 0)
      return nb__err(
          err, NB_EINVAL,
          "--devices: '%s' is not a PCI bus id (expected dddd:bb:dd.f or bb:dd.f, e.g. 0000:3b:00.0)", tok);
    for (int j = 0; j < topo->ngpus; j++)
      if (!strcmp(topo->gpus[j].bus_id, s.bus_id))
        return nb__err(err, NB_EINVAL, "--devices: %s is listed twice; give each device once", s.bus_id);
    if (!nb__topo_find_pci(topo, s.bus_id))
      return nb__err(err, NB_ENOENT,
                     "--devices: no PCI device %s in topology %s (`numabench topo --json` lists them under "
                     "pci_devices)",
                     s.bus_id, topo->source);
    rc = add_gpu(topo, &s, err);
    if (!item[len])
      break;
  }
  return rc;
}

/* The index hwloc's OS device name gives ("cuda3" -> 3), or -1. */
static int osdev_index(hwloc_obj_t pcidev, const char *prefix)
{
  size_t pl = strlen(prefix);
  for (hwloc_obj_t c = pcidev->io_first_child; c; c = c->next_sibling) {
    if (c->type != HWLOC_OBJ_OS_DEVICE || !c->name || strncmp(c->name, prefix, pl))
      continue;
    char *end;
    long v = strtol(c->name + pl, &end, 10);
    if (end != c->name + pl && !*end && v >= 0 && v < 1 << 20)
      return (int)v;
  }
  return -1;
}

static int indexes_usable(const int *idx, int n)
{
  for (int i = 0; i < n; i++) {
    if (idx[i] < 0)
      return 0;
    for (int j = 0; j < i; j++)
      if (idx[i] == idx[j])
        return 0;
  }
  return 1;
}

static int cmp_seed_index(const void *a, const void *b)
{
  int x = ((const struct gpu_seed *)a)->index, y = ((const struct gpu_seed *)b)->index;
  return (x > y) - (x < y);
}

static int gpus_from_pci(struct nb_topo *topo, nb_error_t *err)
{
  int n = 0, rc = 0;
  struct gpu_seed *seeds = calloc((size_t)(topo->npci ? topo->npci : 1), sizeof *seeds);
  int *cuda = calloc((size_t)(topo->npci ? topo->npci : 1), sizeof *cuda);
  int *nvml = calloc((size_t)(topo->npci ? topo->npci : 1), sizeof *nvml);
  if (!seeds || !cuda || !nvml) {
    rc = oom(err);
    goto out;
  }
  /* topo->pci is in bus order, so n counts GPUs in bus order. */
  for (int i = 0; i < topo->npci; i++) {
    const struct nb_pci_dev *p = &topo->pci[i];
    unsigned dom, bus, dev, fn;
    sscanf(p->bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn);
    hwloc_obj_t obj = hwloc_get_pcidev_by_busid(topo->hw, dom, bus, dev, fn);
    int ci = obj ? osdev_index(obj, "cuda") : -1, ni = obj ? osdev_index(obj, "nvml") : -1;
    int nvidia_display = p->vendor_id == 0x10de && (p->class_id >> 8) == 0x03;
    if (ci < 0 && ni < 0 && !nvidia_display)
      continue;
    seeds[n] = (struct gpu_seed){.index = n, .cuda_ordinal = -1, .cuda_numa = -1};
    memcpy(seeds[n].bus_id, p->bus_id, NB_BUSID_LEN);
    cuda[n] = ci;
    nvml[n] = ni;
    n++;
  }
  const int *use = indexes_usable(cuda, n) ? cuda : indexes_usable(nvml, n) ? nvml : NULL;
  for (int i = 0; i < n; i++) {
    if (use)
      seeds[i].index = use[i];
    if (use == cuda)
      seeds[i].cuda_ordinal = cuda[i];
  }
  if (!use && n > 1) {
    int named = 0;
    for (int i = 0; i < n; i++)
      named |= cuda[i] >= 0 || nvml[i] >= 0;
    if (named)
      nb__strv_addf(&topo->warnings, "GPU indexes follow PCI bus order: the topology's cudaN/nvmlN names do "
                                     "not cover every GPU once");
  }
  qsort(seeds, (size_t)n, sizeof *seeds, cmp_seed_index);
  if (alloc_gpus(topo, n) < 0) {
    rc = oom(err);
    goto out;
  }
  for (int i = 0; i < n && rc == 0; i++)
    rc = add_gpu(topo, &seeds[i], err);
  topo->gpu_origin = n ? NB_GPUS_PCI : NB_GPUS_NONE;
out:
  free(seeds);
  free(cuda);
  free(nvml);
  return rc;
}

/* The GPUs as the CUDA runtime enumerated them (info). Returns 1 when they
 * were taken, 0 when CUDA has none (its status is kept), <0 on error. */
static int gpus_from_cuda(struct nb_topo *topo, const struct nb__cuda_info *info, nb_error_t *err)
{
  char status[400];
  if (info->error[0])
    snprintf(status, sizeof status, "%s", info->error);
  else
    snprintf(status, sizeof status, "%d device%s (runtime %d.%d, driver %d.%d)", info->count,
             info->count == 1 ? "" : "s", info->runtime_version / 1000, info->runtime_version % 1000 / 10,
             info->driver_version / 1000, info->driver_version % 1000 / 10);
  if (!(topo->cuda_status = strdup(status)))
    return oom(err);
  if (info->count <= 0)
    return 0;
  if (alloc_gpus(topo, info->count) < 0)
    return oom(err);
  for (int i = 0; i < info->count; i++) {
    struct gpu_seed s = {
        .index = i, .cuda_ordinal = i, .name = info->devs[i].name, .cuda_numa = info->devs[i].host_numa_id};
    if (nb_parse_bus_id(info->devs[i].bus_id, s.bus_id) < 0)
      return nb__err(err, NB_EINTERNAL, "CUDA device %d: unexpected PCI bus id '%s'", i,
                     info->devs[i].bus_id);
    int rc = add_gpu(topo, &s, err);
    if (rc < 0)
      return rc;
  }
  /* CUDA's default order is "fastest first"; it is PCI order only when the
   * user asks for it. Programs then see other ordinals than nvidia-smi. */
  const char *order = getenv("CUDA_DEVICE_ORDER");
  int pci_order = 1;
  for (int i = 1; i < topo->ngpus; i++)
    pci_order &= strcmp(topo->gpus[i - 1].bus_id, topo->gpus[i].bus_id) < 0;
  if (!pci_order && !(order && !strcmp(order, "PCI_BUS_ID")))
    nb__strv_addf(&topo->warnings, "CUDA's device order is not PCI bus order here (CUDA_DEVICE_ORDER is not "
                                   "PCI_BUS_ID): match GPUs by bus id, not by ordinal");
  topo->gpu_origin = NB_GPUS_CUDA;
  return 1;
}

int nb__topo_find_gpus(struct nb_topo *topo, const struct nb_topo_config *cfg,
                       const struct nb__cuda_info *cuda, nb_error_t *err)
{
  int rc;
  if (cfg->devices) {
    topo->cuda_status = strdup("not asked (--devices given)");
    if (!topo->cuda_status)
      return oom(err);
    rc = gpus_from_devices(topo, cfg->devices, err);
    publish_warnings(topo);
    return rc;
  }
  int ask_cuda = cuda || (topo->kind == NB_TOPO_LIVE && !cfg->no_cuda);
  /* The CUDA runtime enumerates (none in a build without CUDA). */
  struct nb__cuda_info real = {0};
  if (ask_cuda && !cuda) {
    int got = nb__gpus_enumerate(&real);
    if (got < 0)
      return oom(err);
    if (got)
      cuda = &real;
  }
  if (cuda) {
    rc = gpus_from_cuda(topo, cuda, err);
    free(real.devs);
    if (rc != 0) {
      publish_warnings(topo);
      return rc < 0 ? rc : 0;
    }
  } else {
    topo->cuda_status = strdup(ask_cuda ? "not built (this numabench was built without CUDA)"
                               : topo->kind == NB_TOPO_LIVE ? "not asked (--no-cuda)"
                                                            : "not asked (recorded topology)");
    if (!topo->cuda_status)
      return oom(err);
  }
  if ((rc = gpus_from_pci(topo, err)) < 0)
    return rc;
  if (ask_cuda && topo->ngpus > 0)
    nb__strv_addf(&topo->warnings,
                  "GPUs listed from PCI because CUDA is unusable (%s): CUDA ordinals may differ "
                  "from these indexes",
                  topo->cuda_status);
  publish_warnings(topo);
  return 0;
}

/* ---- GPU memory exposed as NUMA nodes ---- */

/* The node the NVIDIA driver names in one GPU's numa_status ("Node: 1"),
 * -1 when the file is absent or names none (the GPU's memory is not a node). */
static int driver_gpu_node(const char *root, const char *bus_dir)
{
  char path[PATH_MAX], text[1024];
  if (snprintf(path, sizeof path, "/proc/driver/nvidia/gpus/%s/numa_status", bus_dir) >= (int)sizeof path ||
      nb__read_sysfile(root, path, text, sizeof text) != 0)
    return -1;
  const char *p = strstr(text, "Node:");
  if (!p)
    return -1;
  char *end;
  long v = strtol(p + 5, &end, 10);
  return end != p + 5 && v >= 0 && v <= NB_MAX_NODE_INDEX ? (int)v : -1;
}

/* Mark node os as the memory of the GPU at bus_id (canonical or "").
 * Returns false when the model has no such node. A node with CPUs is never
 * a GPU's memory, whatever a damaged XML or driver file says: marking it
 * would take the host memory of its CPUs away from every plan. */
static bool mark_gpu_memory(struct nb_topo *topo, int os, const char *bus_id, const char *source)
{
  int i = nb_topo_node_index(topo, os);
  if (i < 0)
    return false;
  struct nb_node *nd = &topo->nodes[i];
  if (nd->has_cpus) {
    nb__strv_addf(&topo->warnings, "%s gives node %d, which has CPUs, as GPU memory: ignored", source, os);
    return true;
  }
  nd->gpu_memory = true;
  if (!nd->gpu_bus_id[0] && bus_id)
    snprintf(nd->gpu_bus_id, sizeof nd->gpu_bus_id, "%s", bus_id);
  return true;
}

/* What the NVIDIA driver says, on the live machine and in a recorded tree
 * that kept /proc/driver/nvidia. hwloc reads the same files and, unless
 * HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES=1, drops the node from its topology: then
 * the node is not in the model (so nothing can choose it) and a warning
 * says why it is missing. */
static void gpu_memory_from_driver(struct nb_topo *topo)
{
  const char *root = topo->kind == NB_TOPO_LIVE ? nb__proc_root() : topo->sysroot;
  char dir[PATH_MAX];
  if (!root || snprintf(dir, sizeof dir, "%s/proc/driver/nvidia/gpus", root) >= (int)sizeof dir)
    return;
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    char bus_id[NB_BUSID_LEN];
    int os;
    if (e->d_name[0] == '.' || nb_parse_bus_id(e->d_name, bus_id) != 0 ||
        (os = driver_gpu_node(root, e->d_name)) < 0)
      continue;
    if (!mark_gpu_memory(topo, os, bus_id, "the NVIDIA driver's numa_status"))
      nb__strv_addf(&topo->warnings,
                    "the NVIDIA driver gives GPU %s's memory as NUMA node %d, which hwloc hides "
                    "(HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES=1 shows it); plans never use it",
                    bus_id, os);
  }
  closedir(d);
}

int nb__topo_gpu_memory(struct nb_topo *topo)
{
  /* hwloc's mark: subtype GPUMemory with the GPU's PCIBusID info (an XML
   * file, or a live machine with HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES=1). */
  for (int i = 0; i < topo->nnodes; i++) {
    struct nb_node *nd = &topo->nodes[i];
    nd->gpu = -1;
    hwloc_obj_t obj = hwloc_get_numanode_obj_by_os_index(topo->hw, (unsigned)nd->os_index);
    if (!obj || !obj->subtype || strcmp(obj->subtype, "GPUMemory") != 0)
      continue;
    const char *info = hwloc_obj_get_info_by_name(obj, "PCIBusID");
    char bus_id[NB_BUSID_LEN] = "";
    if (info && nb_parse_bus_id(info, bus_id) != 0)
      bus_id[0] = '\0';
    mark_gpu_memory(topo, nd->os_index, bus_id, "hwloc's subtype GPUMemory");
  }
  if (topo->kind != NB_TOPO_XML)
    gpu_memory_from_driver(topo);
  for (int i = 0; i < topo->nnodes; i++) {
    struct nb_node *nd = &topo->nodes[i];
    if (!nd->gpu_memory)
      continue;
    for (int g = 0; g < topo->ngpus && nd->gpu_bus_id[0]; g++)
      if (!strcmp(topo->gpus[g].bus_id, nd->gpu_bus_id))
        nd->gpu = topo->gpus[g].index;
    char whose[64] = "an unknown GPU";
    if (nd->gpu >= 0)
      snprintf(whose, sizeof whose, "GPU %d (%s)", nd->gpu, nd->gpu_bus_id);
    else if (nd->gpu_bus_id[0])
      snprintf(whose, sizeof whose, "the GPU at %s", nd->gpu_bus_id);
    if (nb__strv_addf(&topo->warnings,
                      "node %d is the memory of %s: plans never put host memory there (interleave, "
                      "staging, workers, feeder)",
                      nd->os_index, whose) < 0)
      return NB_ENOMEM;
  }
  return 0;
}
