/* numabench: the probe record (see numabench/probe.h, docs/probe-schema.md). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include <numabench/probe.h>
#include <numabench/version.h>

#include "input.h"
#include "json.h"
#include "nvproc.h"
#include "nb-internal.h"
#include "probe-internal.h"
#include "report.h"
#include "topo-internal.h"

struct nb_probe {
  json_t *doc;                          /* the probe file's document */
  char fingerprint[NB_FINGERPRINT_LEN]; /* of doc.probe.facts */
  char hostname[256];                   /* doc.probe.hostname */
};

static int oom(nb_error_t *err)
{
  return nb__err(err, NB_ENOMEM, "probe: out of memory");
}

/* ---- facts ---- */

long nb__probe_memory_gib(unsigned long long bytes)
{
  if (bytes == 0)
    return 0;
  /* The step is a power of two between 1/32 and 1/16 of the value: a node
   * of 512 GiB whose kernel reports 503 GiB (the memory map, crash kernel
   * and firmware take a few GiB) rounds up to 512 as its twin that reports
   * 505 does, while a node with half its DIMMs (256 GiB) stays apart.
   * Reservations only ever lower the value, so rounding up finds the
   * installed size. */
  int top = 63 - __builtin_clzll(bytes);
  unsigned long long step = 1ull << (top - 4 > 30 ? top - 4 : 30);
  unsigned long long up = (bytes + step - 1) / step * step;
  return (long)(up >> 30);
}

/* All the node's CPUs, allowed or not: the machine's, whatever cgroup the
 * probe runs in. Sorted; NULL on OOM (or no CPUs: *n is 0). */
static int *node_all_cpus(const struct nb_node *nd, int *n)
{
  *n = nd->ncpus + nd->ncpus_not_allowed;
  if (*n == 0)
    return NULL;
  int *all = malloc((size_t)*n * sizeof *all);
  if (!all)
    return NULL;
  /* Either list may be NULL when empty: memcpy must not see it. */
  if (nd->ncpus)
    memcpy(all, nd->cpus, (size_t)nd->ncpus * sizeof *all);
  if (nd->ncpus_not_allowed)
    memcpy(all + nd->ncpus, nd->cpus_not_allowed, (size_t)nd->ncpus_not_allowed * sizeof *all);
  qsort(all, (size_t)*n, sizeof *all, nb__cmp_int);
  return all;
}

static json_t *node_fact(const struct nb_node *nd)
{
  int n;
  int *cpus = node_all_cpus(nd, &n);
  if (n && !cpus)
    return NULL;
  char *list = nb__cpulist_dup(cpus, n);
  free(cpus);
  if (!list)
    return NULL;
  json_t *o = json_pack("{s:i, s:i, s:s, s:I, s:b, s:b, s:b}", "node", nd->os_index, "cpus", n, "cpuset",
                        list, "memory_gib", (json_int_t)nb__probe_memory_gib(nd->memory_bytes), "has_cpus",
                        nd->has_cpus, "has_memory", nd->memory_bytes > 0, "gpu_memory", nd->gpu_memory);
  free(list);
  return o;
}

static json_t *distances_fact(nb_topo_t topo)
{
  int n = nb_topo_nnodes(topo);
  json_t *m = json_array();
  for (int i = 0; m && i < n; i++) {
    json_t *row = json_array();
    for (int j = 0; row && j < n; j++)
      json_array_append_new(row, json_integer(nb_topo_distance(topo, i, j)));
    json_array_append_new(m, row);
  }
  return m;
}

/* Whether a PCI device is an NVIDIA GPU: NVIDIA's vendor id and the display
 * base class (VGA 0x0300, 3D 0x0302). The PCI bus shows every GPU of the
 * machine, whatever CUDA_VISIBLE_DEVICES, the device cgroup of a Slurm job
 * or a container, --no-cuda or a build without CUDA hide from the runtime. */
static int is_pci_gpu(const struct nb_pci_dev *p)
{
  return p->vendor_id == 0x10de && (p->class_id >> 8) == 0x03;
}

/* The GPU's node as the topology places it (hwloc's locality, else the live
 * machine's sysfs numa_node), never CUDA's; -1 when unknown or when it
 * names a node the topology does not have. The same rule as the GPU list's
 * without CUDA (topo_gpu.c), so that both agree where CUDA is not used. */
static int pci_gpu_node(nb_topo_t topo, const struct nb_pci_dev *p)
{
  int node = p->node_origin != NB_NODE_UNKNOWN ? p->numa_node : -1;
  char path[96], buf[32];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", p->bus_id);
  if (node < 0 && topo->sysroot && nb__read_sysfile(topo->sysroot, path, buf, sizeof buf) == 0) {
    char *end;
    long v = strtol(buf, &end, 10);
    if (end != buf && !*end && v >= 0 && v < 1 << 20)
      node = (int)v;
  }
  return node >= 0 && nb_topo_node_index(topo, node) >= 0 ? node : -1;
}

/* hwloc's GPUModel of a PCI device (from its NVML or CUDA OS device: what a
 * recorded topology keeps), or NULL. */
static const char *hwloc_gpu_model(nb_topo_t topo, const struct nb_pci_dev *p)
{
  unsigned dom, bus, dev, fn;
  if (sscanf(p->bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
    return NULL;
  hwloc_obj_t obj = hwloc_get_pcidev_by_busid(topo->hw, dom, bus, dev, fn);
  for (hwloc_obj_t c = obj ? obj->io_first_child : NULL; c; c = c->next_sibling) {
    const char *m = c->type == HWLOC_OBJ_OS_DEVICE ? hwloc_obj_get_info_by_name(c, "GPUModel") : NULL;
    if (m && *m)
      return m;
  }
  return NULL;
}

/* The name the NVIDIA driver gives a GPU (own: this one; else another GPU
 * with the same PCI device id), from its /proc files or else from hwloc's
 * OS devices; NULL when neither names it. */
static const char *named_model(nb_topo_t topo, const struct nb_pci_dev *p, const struct nb__nvgpu *nv,
                               int nnv, int own)
{
  for (int i = 0; i < nnv; i++) {
    const struct nb_pci_dev *q = own ? p : nb__topo_find_pci(topo, nv[i].bus_id);
    if (*nv[i].model && q && (own ? !strcmp(nv[i].bus_id, p->bus_id) : q->device_id == p->device_id))
      return nv[i].model;
  }
  for (int i = 0; i < topo->npci; i++) {
    const struct nb_pci_dev *q = &topo->pci[i];
    const char *m = (own ? q == p : q->vendor_id == p->vendor_id && q->device_id == p->device_id)
                        ? hwloc_gpu_model(topo, q)
                        : NULL;
    if (m)
      return m;
  }
  return NULL;
}

/* The GPU's model, from sources CUDA's view does not change: the NVIDIA
 * driver's name for it (its /proc file, there whenever the driver is
 * loaded, even without the CUDA runtime; NVML, which hwloc asks, reads the
 * same name from the driver), or that of another GPU with the same PCI
 * device id (a container's /proc, a device cgroup may show only some);
 * else the PCI ids, which no software version changes (the PCI name
 * database would). */
static void pci_gpu_model(nb_topo_t topo, const struct nb_pci_dev *p, const struct nb__nvgpu *nv, int nnv,
                          char *buf, size_t len)
{
  const char *m = named_model(topo, p, nv, nnv, 1);
  if (!m)
    m = named_model(topo, p, nv, nnv, 0);
  if (m)
    snprintf(buf, len, "%s", m);
  else
    snprintf(buf, len, "NVIDIA %04x:%04x", p->vendor_id, p->device_id);
}

/* The machine's GPUs for the facts: the NVIDIA GPUs on its PCI bus, in bus
 * order (index 0 is the lowest bus id), with node and model taken from
 * sources CUDA's view does not change. What CUDA enumerated is in extra. */
static json_t *gpus_fact(nb_topo_t topo)
{
  struct nb__nvgpu *nv = NULL;
  int nnv = 0;
  if (nb_topo_is_this_system(topo)) {
    nb_error_t err = {0};
    nnv = nb__nvproc_gpus(&nv, NULL, &err);
    if (nnv < 0)
      return NULL;
  }
  json_t *a = json_array();
  int index = 0;
  for (int i = 0; a && i < topo->npci; i++) {
    const struct nb_pci_dev *p = &topo->pci[i];
    if (!is_pci_gpu(p))
      continue;
    char model[128];
    pci_gpu_model(topo, p, nv, nnv, model, sizeof model);
    json_t *g = json_pack("{s:i, s:s, s:o, s:o}", "index", index++, "bus_id", p->bus_id, "node",
                          nb__json_int_or_null(pci_gpu_node(topo, p)), "model", nb__json_text(model));
    if (!g || json_array_append_new(a, g) < 0) {
      json_decref(a);
      a = NULL;
    }
  }
  free(nv);
  return a;
}

/* NUMA nodes per socket (AMD NPS, Intel sub-NUMA clustering): the nodes
 * with CPUs (not memory-only, not a GPU's memory) per package, when every
 * package holds the same number of them; 0 when one node spans several
 * packages (AMD NPS0); -1 when it cannot be told (no packages known, an
 * uneven split). */
static int nps_fact(nb_topo_t topo)
{
  int npkg = hwloc_get_nbobjs_by_type(topo->hw, HWLOC_OBJ_PACKAGE);
  if (npkg <= 0)
    return -1;
  int *per = calloc((size_t)npkg, sizeof *per);
  if (!per)
    return -1;
  int spanning = 0, cpu_nodes = 0, bad = 0;
  for (int i = 0; i < topo->nnodes; i++) {
    const struct nb_node *nd = &topo->nodes[i];
    if (!nd->has_cpus || nd->gpu_memory)
      continue;
    cpu_nodes++;
    if (nd->package < 0) {
      spanning++;
      continue;
    }
    /* The model keeps the package's OS index; count by logical index. */
    hwloc_obj_t p = NULL;
    while ((p = hwloc_get_next_obj_by_type(topo->hw, HWLOC_OBJ_PACKAGE, p)))
      if ((int)p->os_index == nd->package)
        break;
    if (!p || p->logical_index >= (unsigned)npkg)
      bad = 1;
    else
      per[p->logical_index]++;
  }
  int nps = -1;
  if (!bad && cpu_nodes > 0 && spanning == cpu_nodes && npkg > 1)
    nps = 0;
  else if (!bad && spanning == 0 && cpu_nodes > 0) {
    nps = per[0];
    for (int k = 1; k < npkg; k++)
      if (per[k] != nps)
        nps = -1;
  }
  free(per);
  return nps;
}

/* SMT: the kernel's word for this machine when it says; else whether some
 * core of the topology has more than one hardware thread. */
static json_t *smt_fact(nb_topo_t topo, const struct nb__probe_host *h)
{
  if (h->state.smt_active >= 0)
    return json_boolean(h->state.smt_active);
  int ncores = hwloc_get_nbobjs_by_type(topo->hw, HWLOC_OBJ_CORE);
  int npus = hwloc_get_nbobjs_by_type(topo->hw, HWLOC_OBJ_PU);
  if (ncores <= 0 || npus <= 0)
    return json_null();
  return json_boolean(npus > ncores);
}

/* The CUDA driver's version ("12.4") from what the runtime said, or NULL. */
static json_t *cuda_fact(nb_topo_t topo)
{
  const char *s = strstr(nb_topo_cuda_status(topo), "driver ");
  int major, minor;
  if (nb_topo_gpu_origin(topo) != NB_GPUS_CUDA || !s || sscanf(s, "driver %d.%d", &major, &minor) != 2)
    return json_null();
  char v[32];
  snprintf(v, sizeof v, "%d.%d", major, minor);
  return json_string(v);
}

static json_t *text_or_null(const char *s)
{
  return *s ? nb__json_text(s) : json_null();
}

static json_t *facts_json(nb_topo_t topo, const struct nb__probe_host *h)
{
  json_t *gpus = gpus_fact(topo);
  if (!gpus)
    return NULL;
  json_t *nodes = json_array();
  for (int i = 0; nodes && i < nb_topo_nnodes(topo); i++) {
    json_t *n = node_fact(nb_topo_node(topo, i));
    if (!n || json_array_append_new(nodes, n) < 0) {
      json_decref(nodes);
      json_decref(gpus);
      return NULL;
    }
  }
  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "nodes", nodes, "distances",
                   distances_fact(topo), "gpus", gpus, "nps", nb__json_int_or_null(nps_fact(topo)), "smt",
                   smt_fact(topo, h), "numa_balancing", nb__json_int_or_null(h->state.numa_balancing),
                   "transparent_hugepages", text_or_null(h->state.thp), "kernel", text_or_null(h->kernel),
                   "driver", text_or_null(h->driver));
}

/* ---- the group and extra ---- */

static const char *root_info(nb_topo_t topo, const char *name)
{
  return hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo->hw), name);
}

static const char *cpu_model(nb_topo_t topo, const struct nb__probe_host *h)
{
  hwloc_obj_t pkg = hwloc_get_obj_by_type(topo->hw, HWLOC_OBJ_PACKAGE, 0);
  const char *m = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
  if (m && *m)
    return m;
  return *h->cpu_model ? h->cpu_model : "unknown";
}

/* The GPUs' model from the facts: GPU 0's, or every distinct model joined
 * with " + " when they differ; null without GPUs. */
static json_t *gpu_model(const json_t *gpus)
{
  size_t n = json_array_size(gpus);
  if (n == 0)
    return json_null();
  char buf[512] = "";
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_object_get(json_array_get(gpus, i), "model"));
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = !strcmp(json_string_value(json_object_get(json_array_get(gpus, j), "model")), name);
    if (!seen)
      snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " + " : "", name);
  }
  return nb__json_text(buf);
}

/* The grouping keys; the GPU model and count are the facts' (the PCI bus's),
 * so that hosts of one type fall in one group whatever CUDA saw on each. */
static json_t *group_json(nb_topo_t topo, const struct nb__probe_host *h, const json_t *facts)
{
  const json_t *gpus = json_object_get(facts, "gpus");
  return json_pack("{s:o, s:o, s:i, s:i}", "cpu_model", nb__json_text(cpu_model(topo, h)), "gpu_model",
                   gpu_model(gpus), "gpus", (int)json_array_size(gpus), "nodes", nb_topo_nnodes(topo));
}

/* The GPUs this process enumerated (CUDA's ordinals and names when CUDA
 * enumerated them): what results index GPUs by, but not the machine's facts,
 * since CUDA_VISIBLE_DEVICES, cgroups and --no-cuda change it. */
static json_t *enumerated_json(nb_topo_t topo)
{
  json_t *a = json_array();
  for (int i = 0; a && i < nb_topo_ngpus(topo); i++) {
    const struct nb_gpu *g = nb_topo_gpu(topo, i);
    json_array_append_new(a, json_pack("{s:i, s:s, s:o, s:o}", "index", g->index, "bus_id", g->bus_id, "node",
                                       nb__json_int_or_null(g->numa_node), "model", nb__json_text(g->name)));
  }
  return json_pack("{s:s, s:o}", "origin", nb_gpu_origin_name(nb_topo_gpu_origin(topo)), "gpus",
                   a ? a : json_null());
}

static json_t *extra_json(nb_topo_t topo, const struct nb__probe_host *h)
{
  json_t *mem = json_array(), *free_b = json_array();
  for (int i = 0; mem && free_b && i < nb_topo_nnodes(topo); i++) {
    const struct nb_node *nd = nb_topo_node(topo, i);
    json_array_append_new(mem, json_integer((json_int_t)nd->memory_bytes));
    json_array_append_new(free_b, nd->free_bytes >= 0 ? json_integer(nd->free_bytes) : json_null());
  }
  const int *allowed;
  int nallowed = nb_topo_allowed_cpus(topo, &allowed);
  return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o}", "source",
                   nb_topo_kind_name(nb_topo_kind(topo)), "source_path",
                   nb_topo_is_this_system(topo) ? json_null() : nb__json_text(nb_topo_source(topo)),
                   "memory_bytes", mem, "free_bytes", free_b, "cuda_status",
                   nb__json_text(nb_topo_cuda_status(topo)), "cuda", cuda_fact(topo), "gpus_enumerated",
                   enumerated_json(topo), "allowed_cpus", nallowed, "kernel_version",
                   text_or_null(h->kernel_version), "cmdline", text_or_null(h->cmdline), "uptime_s",
                   h->uptime_s >= 0 ? json_integer((json_int_t)h->uptime_s) : json_null());
}

/* ---- host facts ---- */

static void cpuinfo_model(char *buf, size_t len)
{
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(buf, len, "%s", strchr(line, ':') + 2);
      buf[strcspn(buf, "\n")] = '\0';
      break;
    }
  if (f)
    fclose(f);
}

void nb__probe_host_read(nb_topo_t topo, struct nb__probe_host *h)
{
  memset(h, 0, sizeof *h);
  h->uptime_s = -1;
  h->state.numa_balancing = -1;
  h->state.smt_active = -1;
  if (!nb_topo_is_this_system(topo))
    return;
  gethostname(h->hostname, sizeof h->hostname - 1);
  struct utsname u;
  if (uname(&u) == 0) {
    snprintf(h->kernel, sizeof h->kernel, "%s", u.release);
    snprintf(h->kernel_version, sizeof h->kernel_version, "%s", u.version);
  }
  nb_host_state_read(&h->state);
  if (nb__read_sysfile(NULL, "/sys/module/nvidia/version", h->driver, sizeof h->driver) != 0)
    h->driver[0] = '\0';
  if (nb__read_sysfile(NULL, "/proc/cmdline", h->cmdline, sizeof h->cmdline) != 0)
    h->cmdline[0] = '\0';
  char up[64];
  if (nb__read_sysfile(NULL, "/proc/uptime", up, sizeof up) == 0)
    h->uptime_s = strtod(up, NULL);
  cpuinfo_model(h->cpu_model, sizeof h->cpu_model);
}

/* ---- the object, the fingerprint ---- */

int nb__probe_fingerprint(const json_t *facts, char out[NB_FINGERPRINT_LEN])
{
  /* Sorted keys and no spaces: the hash depends on the facts, never on the
   * order they were added in or read back. */
  char *text = json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
  if (!text)
    return -1;
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, strlen(text), (const uint8_t *)text);
  sha256_digest(&ctx, sizeof digest, digest);
  free(text);
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
    snprintf(out + 2 * i, 3, "%02x", digest[i]);
  return 0;
}

json_t *nb__probe_object(nb_topo_t topo, const struct nb__probe_host *h)
{
  json_t *facts = facts_json(topo, h);
  char fp[NB_FINGERPRINT_LEN];
  if (!facts || nb__probe_fingerprint(facts, fp) < 0) {
    json_decref(facts);
    return NULL;
  }
  const char *host = h->hostname;
  if (!*host)
    host = root_info(topo, "HostName");
  return json_pack("{s:o, s:o, s:s, s:o, s:o}", "hostname", nb__json_text(host && *host ? host : "unknown"),
                   "group", group_json(topo, h, facts), "fingerprint", fp, "facts", facts, "extra",
                   extra_json(topo, h));
}

json_t *nb__probe_json(nb_topo_t topo)
{
  if (!topo)
    return json_null();
  struct nb__probe_host h;
  nb__probe_host_read(topo, &h);
  return nb__probe_object(topo, &h);
}

/* ---- the public interface ---- */

int nb_probe_collect(nb_probe_t *probep, nb_topo_t topo, nb_error_t *err)
{
  *probep = NULL;
  struct nb_probe *p = calloc(1, sizeof *p);
  json_t *obj = p ? nb__probe_json(topo) : NULL;
  char ts[32];
  nb__iso_time(ts, sizeof ts, 0);
  if (obj)
    p->doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:O}", "schema_version", 1, "tool", "numabench", "kind",
                       "probe", "version", nb_version(), "timestamp", ts, "probe", obj);
  if (!p || !obj || !p->doc) {
    json_decref(obj);
    free(p);
    return oom(err);
  }
  snprintf(p->fingerprint, sizeof p->fingerprint, "%s",
           json_string_value(json_object_get(obj, "fingerprint")));
  snprintf(p->hostname, sizeof p->hostname, "%s", json_string_value(json_object_get(obj, "hostname")));
  json_decref(obj);
  *probep = p;
  return 0;
}

void nb_probe_free(nb_probe_t p)
{
  if (!p)
    return;
  json_decref(p->doc);
  free(p);
}

const char *nb_probe_fingerprint(nb_probe_t p)
{
  return p->fingerprint;
}

const char *nb_probe_hostname(nb_probe_t p)
{
  return p->hostname;
}

int nb_probe_write_json(nb_probe_t p, FILE *out, nb_error_t *err)
{
  return nb__json_write(p->doc, out, "probe", err);
}

int nb_probe_fingerprint_text(const char *facts_json, char out[NB_FINGERPRINT_LEN], nb_error_t *err)
{
  json_error_t je;
  json_t *facts = json_loads(facts_json, JSON_REJECT_DUPLICATES, &je);
  if (!facts || !json_is_object(facts)) {
    json_decref(facts);
    return nb__err(err, NB_EFORMAT,
                   "probe facts: not a JSON object (%s); give the \"facts\" object of a probe",
                   facts ? "another JSON type" : je.text);
  }
  int rc = nb__probe_fingerprint(facts, out);
  json_decref(facts);
  return rc < 0 ? oom(err) : 0;
}

/* ---- text and the probe file ---- */

/* A fact as text: its string or number, "unknown" for null. */
static const char *fact_text(const json_t *v, char *buf, size_t len)
{
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_integer(v))
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_boolean(v))
    snprintf(buf, len, "%s", json_is_true(v) ? "on" : "off");
  else
    snprintf(buf, len, "unknown");
  return buf;
}

static void write_nodes_text(const json_t *facts, FILE *out)
{
  fprintf(out, "\n%-5s %5s  %-24s %10s  %s\n", "node", "cpus", "cpuset", "memory_gib", "kind");
  size_t i;
  json_t *n;
  json_array_foreach(json_object_get(facts, "nodes"), i, n)
  {
    int has_cpus = json_is_true(json_object_get(n, "has_cpus"));
    int has_mem = json_is_true(json_object_get(n, "has_memory"));
    const char *kind = json_is_true(json_object_get(n, "gpu_memory")) ? "GPU memory"
                       : has_cpus && has_mem                          ? "CPUs and memory"
                       : has_cpus                                     ? "CPUs, no memory"
                                                                      : "memory only";
    fprintf(out, "%-5lld %5lld  %-24s %10lld  %s\n",
            (long long)json_integer_value(json_object_get(n, "node")),
            (long long)json_integer_value(json_object_get(n, "cpus")),
            *json_string_value(json_object_get(n, "cpuset")) ? json_string_value(json_object_get(n, "cpuset"))
                                                             : "-",
            (long long)json_integer_value(json_object_get(n, "memory_gib")), kind);
  }
  fprintf(out, "\ndistances:\n");
  json_t *row, *d;
  json_array_foreach(json_object_get(facts, "distances"), i, row)
  {
    size_t j;
    json_array_foreach(row, j, d) fprintf(out, "%s%3lld", j ? " " : "  ", (long long)json_integer_value(d));
    fprintf(out, "\n");
  }
}

static void write_gpus_text(const json_t *facts, FILE *out)
{
  json_t *gpus = json_object_get(facts, "gpus");
  if (json_array_size(gpus) == 0) {
    fprintf(out, "\nno GPUs\n");
    return;
  }
  fprintf(out, "\n%-4s %-13s %-7s %s\n", "gpu", "bus_id", "node", "model");
  size_t i;
  json_t *g;
  json_array_foreach(gpus, i, g)
  {
    char node[32];
    fprintf(out, "%-4lld %-13s %-7s %s\n", (long long)json_integer_value(json_object_get(g, "index")),
            json_string_value(json_object_get(g, "bus_id")), fact_text(json_object_get(g, "node"), node, 32),
            json_string_value(json_object_get(g, "model")));
  }
}

int nb_probe_write_text(nb_probe_t p, FILE *out, nb_error_t *err)
{
  const json_t *o = json_object_get(p->doc, "probe");
  const json_t *g = json_object_get(o, "group"), *f = json_object_get(o, "facts");
  char b[32];
  fprintf(out, "%-22s %s\n", "hostname", json_string_value(json_object_get(o, "hostname")));
  fprintf(out, "%-22s %s; ", "group", json_string_value(json_object_get(g, "cpu_model")));
  if (json_integer_value(json_object_get(g, "gpus")))
    fprintf(out, "%lld x %s; ", (long long)json_integer_value(json_object_get(g, "gpus")),
            json_string_value(json_object_get(g, "gpu_model")));
  else
    fprintf(out, "no GPUs; ");
  fprintf(out, "%lld NUMA nodes\n", (long long)json_integer_value(json_object_get(g, "nodes")));
  fprintf(out, "%-22s %s\n", "fingerprint", p->fingerprint);
  static const char *const scalars[] = {"nps",    "smt",   "numa_balancing", "transparent_hugepages",
                                        "kernel", "driver"};
  for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++)
    fprintf(out, "%-22s %s\n", scalars[k], fact_text(json_object_get(f, scalars[k]), b, sizeof b));
  /* Not a fact (CUDA's view depends on the process), but worth showing. */
  fprintf(out, "%-22s %s\n", "cuda",
          fact_text(json_object_get(json_object_get(o, "extra"), "cuda"), b, sizeof b));
  write_nodes_text(f, out);
  write_gpus_text(f, out);
  if (fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "probe: writing the summary failed");
  return 0;
}

static int fill_probe(const void *arg, FILE *f)
{
  const struct nb_probe *p = arg;
  return json_dumpf(p->doc, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', f) != EOF ? 0 : -1;
}

int nb_probe_save(nb_probe_t p, const char *dir, char *path, size_t len, nb_error_t *err)
{
  int rc = nb__output_dir("--output", dir, err);
  if (rc < 0)
    return rc;
  /* Named as run names its files: the time, then the short host name. */
  char host[64], ts[32], base[128];
  snprintf(host, sizeof host, "%.63s", p->hostname);
  host[strcspn(host, ".")] = '\0';
  for (char *c = host; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-'))
      *c = '_';
  nb__iso_time(ts, sizeof ts, 1);
  snprintf(base, sizeof base, "%s-%s-probe", ts, *host ? host : "host");
  return nb__results_save_one(dir, base, fill_probe, p, path, len, err);
}
