/* numabench: which GPU a rank of a real job drives (see numabench/exec.h).
 *
 * A launcher (torchrun, srun, mpirun) starts one process per GPU and tells
 * each its local rank; the job then drives cuda:LOCAL_RANK, which is entry
 * LOCAL_RANK of CUDA_VISIBLE_DEVICES, or the LOCAL_RANK-th GPU in CUDA's
 * device order when that is unset. This file finds that GPU's bus id and NUMA
 * node, and the CUDA_VISIBLE_DEVICES that keeps cuda:LOCAL_RANK pointing at
 * it once the command runs with CUDA_DEVICE_ORDER=PCI_BUS_ID. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <numabench/exec.h>

#include "nb-internal.h"
#include "nvproc.h"

extern char **environ;

/* The launchers' variables, in the order they are believed. */
static const char *const rank_vars[] = {"LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK",
                                        "MPI_LOCALRANKID", NULL};
static const char *const size_vars[] = {"LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                        "SLURM_NTASKS_PER_NODE", NULL};

static const char *env_get(const struct nb_rank_config *cfg, const char *name)
{
  const char *const *env = cfg->env ? cfg->env : (const char *const *)environ;
  size_t len = strlen(name);
  for (int i = 0; env && env[i]; i++)
    if (!strncmp(env[i], name, len) && env[i][len] == '=')
      return env[i] + len + 1;
  return NULL;
}

/* A non-negative decimal number below 1 << 20, or -1. */
static long small_number(const char *s)
{
  char *end;
  if (!s || !isdigit((unsigned char)*s))
    return -1;
  long v = strtol(s, &end, 10);
  return *end || v >= 1 << 20 ? -1 : v;
}

static void note(struct nb_rank *r, const char *fmt, ...) NB__PRINTF(2, 3);
static void note(struct nb_rank *r, const char *fmt, ...)
{
  if (r->nnotes >= NB_EXEC_MAX_NOTES)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->notes[r->nnotes++], sizeof r->notes[0], fmt, ap);
  va_end(ap);
}

/* The GPUs of the machine in the order CUDA numbers them under the user's
 * CUDA_DEVICE_ORDER, before CUDA_VISIBLE_DEVICES selects among them. */
struct devlist {
  int n;
  struct nb_rank_gpu d[NB_RANK_MAX_GPUS];
  int pci_pos[NB_RANK_MAX_GPUS]; /* its ordinal under CUDA_DEVICE_ORDER=PCI_BUS_ID */
  char model[NB_RANK_MAX_GPUS][96];
  bool uuids; /* some entry has a UUID */
  const char *source;
};

static void from_topo_gpu(nb_topo_t topo, int i, struct nb_rank_gpu *g)
{
  const struct nb_gpu *t = nb_topo_gpu(topo, i);
  memset(g, 0, sizeof *g);
  g->index = t->index;
  snprintf(g->bus_id, sizeof g->bus_id, "%s", t->bus_id);
  g->numa_node = t->numa_node;
}

/* The topology's GPU with this bus id, -1 when none. */
static int topo_gpu_of(nb_topo_t topo, const char *bus_id)
{
  for (int i = 0; i < nb_topo_ngpus(topo); i++)
    if (!strcmp(nb_topo_gpu(topo, i)->bus_id, bus_id))
      return i;
  return -1;
}

static void add_uuid(struct devlist *L, const struct nb__nvgpu *nv, int nnv)
{
  for (int i = 0; i < L->n; i++)
    for (int k = 0; k < nnv; k++)
      if (!strcmp(L->d[i].bus_id, nv[k].bus_id) && nv[k].uuid[0]) {
        snprintf(L->d[i].uuid, sizeof L->d[i].uuid, "%s", nv[k].uuid);
        snprintf(L->model[i], sizeof L->model[i], "%s", nv[k].model);
        L->uuids = true;
      }
}

/* /proc/driver/nvidia's GPUs, in bus order: their nodes from the topology. */
static void from_nvproc(nb_topo_t topo, struct devlist *L, const struct nb__nvgpu *nv, int nnv)
{
  for (int k = 0; k < nnv && L->n < NB_RANK_MAX_GPUS; k++) {
    struct nb_rank_gpu *g = &L->d[L->n];
    int t = topo_gpu_of(topo, nv[k].bus_id);
    if (t >= 0) {
      from_topo_gpu(topo, t, g);
    } else {
      memset(g, 0, sizeof *g);
      g->index = -1;
      snprintf(g->bus_id, sizeof g->bus_id, "%s", nv[k].bus_id);
      g->numa_node = -1;
      for (int p = 0; p < nb_topo_npci(topo); p++)
        if (!strcmp(nb_topo_pci(topo, p)->bus_id, nv[k].bus_id))
          g->numa_node = nb_topo_pci(topo, p)->numa_node;
    }
    L->n++;
  }
  add_uuid(L, nv, nnv);
}

static void pci_positions(struct devlist *L, bool list_order)
{
  for (int i = 0; i < L->n; i++) {
    L->pci_pos[i] = 0;
    for (int j = 0; j < L->n; j++)
      L->pci_pos[i] += list_order ? j < i : strcmp(L->d[j].bus_id, L->d[i].bus_id) < 0;
  }
}

/* The machine's GPUs and which source listed them. */
static int build_list(nb_topo_t topo, struct nb_rank *r, const char *order, struct devlist *L,
                      nb_error_t *err)
{
  struct nb__nvgpu *nv = NULL;
  int nnv = nb__nvproc_gpus(&nv, NULL, err);
  if (nnv < 0)
    return nnv;
  enum nb_gpu_origin o = nb_topo_gpu_origin(topo);
  memset(L, 0, sizeof *L);
  if (o == NB_GPUS_DEVICES || o == NB_GPUS_CUDA || (nnv == 0 && o == NB_GPUS_PCI)) {
    /* --devices in the order given; CUDA's ordinals; or PCI order. */
    for (int i = 0; i < nb_topo_ngpus(topo) && L->n < NB_RANK_MAX_GPUS; i++)
      from_topo_gpu(topo, i, &L->d[L->n++]);
    add_uuid(L, nv, nnv);
    L->source = o == NB_GPUS_DEVICES ? "devices" : o == NB_GPUS_CUDA ? "cuda" : "pci";
    if (o == NB_GPUS_PCI)
      note(r, "no CUDA runtime answer and no /proc/driver/nvidia/gpus: GPUs counted in PCI bus order");
  } else if (nnv > 0) {
    from_nvproc(topo, L, nv, nnv);
    L->source = "nvidia-proc";
    bool mixed = false;
    for (int i = 1; i < L->n; i++)
      mixed |= strcmp(L->model[i], L->model[0]) != 0;
    if (mixed && (!order || strcmp(order, "PCI_BUS_ID")))
      note(r, "CUDA_DEVICE_ORDER is FASTEST_FIRST and the GPUs are of different models: without the CUDA "
              "runtime that order is unknown, PCI bus order assumed (set CUDA_DEVICE_ORDER=PCI_BUS_ID)");
  }
  free(nv);
  pci_positions(L, o == NB_GPUS_DEVICES);
  return 0;
}

/* The GPU a UUID entry names ("GPU-" and a prefix of its UUID, as CUDA
 * accepts): its list index, -1 when none or several match. */
static int by_uuid(const struct devlist *L, const char *u, size_t len)
{
  int found = -1;
  for (int i = 0; i < L->n; i++)
    if (L->d[i].uuid[0] && !strncasecmp(L->d[i].uuid, u, len)) {
      if (found >= 0)
        return -1;
      found = i;
    }
  return found;
}

#define UNRESOLVED (-2) /* a valid entry numabench cannot map to a bus id */

/* One CUDA_VISIBLE_DEVICES entry: a list index, UNRESOLVED, or -1 when
 * CUDA would find it invalid. */
static int entry_gpu(const struct devlist *L, const char *e)
{
  long k = small_number(e);
  if (k >= 0)
    return k < L->n ? (int)k : -1;
  if (!strncmp(e, "MIG-GPU-", 8)) {
    size_t len = strcspn(e + 4, "/");
    return L->uuids ? by_uuid(L, e + 4, len) : UNRESOLVED;
  }
  if (!strncmp(e, "MIG-", 4))
    return UNRESOLVED; /* a MIG instance's own UUID: only NVML knows its GPU */
  if (!strncmp(e, "GPU-", 4) && e[4])
    return L->uuids ? by_uuid(L, e, strlen(e)) : UNRESOLVED;
  return -1;
}

/* Append an entry to the command's CUDA_VISIBLE_DEVICES. */
static void cvd_add(struct nb_rank *r, const char *word)
{
  size_t used = strlen(r->cvd);
  snprintf(r->cvd + used, sizeof r->cvd - used, "%s%s", used ? "," : "", word);
}

static void cvd_add_ordinal(struct nb_rank *r, int n)
{
  char word[16];
  snprintf(word, sizeof word, "%d", n);
  cvd_add(r, word);
}

static void set_visible(struct nb_rank *r, const struct devlist *L, int gi, const char *text)
{
  struct nb_rank_gpu *v = &r->visible[r->nvisible++];
  if (gi >= 0) {
    *v = L->d[gi];
  } else {
    memset(v, 0, sizeof *v);
    v->index = -1;
    v->numa_node = -1;
    snprintf(v->uuid, sizeof v->uuid, "%.*s", (int)sizeof v->uuid - 1, text);
  }
}

/* The GPUs the command's CUDA sees, in its order, and the
 * CUDA_VISIBLE_DEVICES that gives the same list once ordinals count in PCI
 * order: ordinal entries renumbered, UUID and MIG entries kept. CUDA stops
 * at the first invalid entry; so does this, keeping the rest as given. */
static void visible_list(struct nb_rank *r, const struct devlist *L, const char *cvd)
{
  if (!cvd) {
    bool same = true;
    for (int i = 0; i < L->n; i++) {
      set_visible(r, L, i, "");
      same &= L->pci_pos[i] == i;
    }
    if (!same) {
      for (int i = 0; i < L->n; i++)
        cvd_add_ordinal(r, L->pci_pos[i]);
      r->cvd_set = r->cvd_rewritten = true;
    }
    return;
  }
  r->cvd_set = true;
  const char *p = cvd;
  for (int k = 0; *p && r->nvisible < NB_RANK_MAX_GPUS; k++) {
    char e[64];
    size_t len = strcspn(p, ",");
    while (len && isspace((unsigned char)*p))
      p++, len--;
    snprintf(e, sizeof e, "%.*s", (int)(len < sizeof e ? len : sizeof e - 1), p);
    for (size_t n = strlen(e); n && isspace((unsigned char)e[n - 1]);)
      e[--n] = '\0';
    int gi = entry_gpu(L, e);
    if (gi == -1) {
      note(r,
           "CUDA_VISIBLE_DEVICES entry %d '%s' names no GPU here: CUDA ignores it and every entry after it",
           k, e);
      size_t used = strlen(r->cvd);
      snprintf(r->cvd + used, sizeof r->cvd - used, "%s%s", used ? "," : "", p);
      break;
    }
    set_visible(r, L, gi, e);
    if (small_number(e) >= 0)
      cvd_add_ordinal(r, L->pci_pos[gi]);
    else
      cvd_add(r, e);
    p += len;
    if (*p == ',')
      p++;
  }
  r->cvd_rewritten = strcmp(r->cvd, cvd) != 0;
}

/* --gpu INDEX (the topology's) or BUSID (a topology GPU or any PCI device). */
static int from_option(nb_topo_t topo, const char *text, struct nb_rank_gpu *g, nb_error_t *err)
{
  char bus[NB_BUSID_LEN];
  long idx = small_number(text);
  memset(g, 0, sizeof *g);
  for (int i = 0; i < nb_topo_ngpus(topo); i++)
    if ((idx >= 0 && nb_topo_gpu(topo, i)->index == idx) ||
        (idx < 0 && nb_parse_bus_id(text, bus) == 0 && !strcmp(bus, nb_topo_gpu(topo, i)->bus_id))) {
      from_topo_gpu(topo, i, g);
      return 0;
    }
  if (idx < 0 && nb_parse_bus_id(text, bus) == 0)
    for (int p = 0; p < nb_topo_npci(topo); p++)
      if (!strcmp(nb_topo_pci(topo, p)->bus_id, bus)) {
        g->index = -1;
        snprintf(g->bus_id, sizeof g->bus_id, "%s", bus);
        g->numa_node = nb_topo_pci(topo, p)->numa_node;
        return 0;
      }
  if (idx < 0 && nb_parse_bus_id(text, bus) != 0)
    return nb__err(err, NB_EINVAL,
                   "--gpu '%s': expected a GPU index (numabench topo lists them) or a PCI "
                   "bus id such as 0000:41:00.0",
                   text);
  return nb__err(err, NB_EINVAL,
                 "--gpu %s: this machine has no such %s (%d GPU%s; numabench topo lists them)", text,
                 idx >= 0 ? "GPU" : "PCI device", nb_topo_ngpus(topo), nb_topo_ngpus(topo) == 1 ? "" : "s");
}

static void apply_override(const struct nb_gpu_nodes *o, struct nb_rank_gpu *g)
{
  for (int k = 0; o && g->index >= 0 && k < o->n; k++)
    if (o->item[k].gpu == g->index) {
      g->numa_node = (int)o->item[k].node;
      g->node_overridden = true;
    }
}

/* The local rank and the local world size from the launcher's variables. */
static int rank_vars_read(const struct nb_rank_config *cfg, struct nb_rank *r, nb_error_t *err)
{
  r->local_rank = -1;
  for (int i = 0; rank_vars[i] && r->local_rank < 0; i++) {
    const char *v = env_get(cfg, rank_vars[i]);
    if (!v)
      continue;
    if ((r->local_rank = (int)small_number(v)) < 0)
      return nb__err(err, NB_EINVAL, "%s='%.40s': not a local rank (expected 0, 1, ...)", rank_vars[i], v);
    snprintf(r->rank_from, sizeof r->rank_from, "%s", rank_vars[i]);
  }
  for (int i = 0; size_vars[i] && !r->local_world_size; i++) {
    const char *v = env_get(cfg, size_vars[i]);
    long n = small_number(v);
    if (v && n <= 0 && strcmp(size_vars[i], "SLURM_NTASKS_PER_NODE"))
      return nb__err(err, NB_EINVAL, "%s='%.40s': not a number of ranks (expected 1, 2, ...)", size_vars[i],
                     v);
    if (n > 0) {
      r->local_world_size = (int)n;
      snprintf(r->size_from, sizeof r->size_from, "%s", size_vars[i]);
    }
  }
  return 0;
}

/* The error for a machine where no list has a GPU. */
static int no_gpu_info(nb_topo_t topo, const struct nb_rank *r, nb_error_t *err)
{
  return nb__err(err, NB_EINVAL,
                 "rank %d: no GPU information: CUDA runtime %s, no %s/proc/driver/nvidia/gpus, no NVIDIA PCI "
                 "device; give --devices BUSID,... or --gpu BUSID",
                 r->local_rank, nb_topo_cuda_status(topo), nb__proc_root());
}

/* A local rank past the visible GPUs: the range there is, none when none, and
 * the entry CUDA ignored (and every one after it) when that is why. */
static int beyond_visible(const struct nb_rank *r, const char *cvd, nb_error_t *err)
{
  const char *why = "";
  for (int i = 0; i < r->nnotes; i++)
    if (!strncmp(r->notes[i], "CUDA_VISIBLE_DEVICES entry ", 27))
      why = r->notes[i];
  char range[48] = "";
  if (r->nvisible > 0)
    snprintf(range, sizeof range, " (cuda:0 to cuda:%d)", r->nvisible - 1);
  if (r->nvisible == 0)
    return nb__err(err, NB_EINVAL, "%s=%d, but %s no GPU%s%s: no GPU to bind to; %s", r->rank_from,
                   r->local_rank, cvd ? "CUDA_VISIBLE_DEVICES leaves" : "this machine has", *why ? ": " : "",
                   why,
                   cvd ? "set CUDA_VISIBLE_DEVICES to this rank's GPUs or give --gpu INDEX|BUSID"
                       : "give --gpu INDEX|BUSID");
  return nb__err(err, NB_EINVAL, "%s=%d, but %s %d GPU%s%s%s%s", r->rank_from, r->local_rank,
                 cvd ? "CUDA_VISIBLE_DEVICES leaves" : "this machine has", r->nvisible,
                 r->nvisible == 1 ? "" : "s", range, *why ? "; " : "", why);
}

int nb_rank_resolve(nb_topo_t topo, const struct nb_rank_config *cfg, struct nb_rank *r, nb_error_t *err)
{
  memset(r, 0, sizeof *r);
  int rc = rank_vars_read(cfg, r, err);
  if (rc < 0)
    return rc;
  const char *cvd = env_get(cfg, "CUDA_VISIBLE_DEVICES"), *order = env_get(cfg, "CUDA_DEVICE_ORDER");
  int sel = r->local_rank; /* the CUDA_VISIBLE_DEVICES entry that is this rank's */
  struct devlist *L = calloc(1, sizeof *L);
  if (!L)
    return nb__err(err, NB_ENOMEM, "exec: out of memory");
  if ((rc = build_list(topo, r, order, L, err)) < 0)
    goto out;
  visible_list(r, L, cvd);
  for (int i = 0; i < r->nvisible; i++)
    apply_override(cfg->gpu_node, &r->visible[i]);
  r->source = L->source;
  if (cfg->gpu) {
    if ((rc = from_option(topo, cfg->gpu, &r->gpu, err)) < 0)
      goto out;
    apply_override(cfg->gpu_node, &r->gpu);
    snprintf(r->rank_from, sizeof r->rank_from, "--gpu");
    r->source = "option";
  } else if (r->local_rank < 0) {
    rc = nb__err(err, NB_EINVAL,
                 "no local rank: none of LOCAL_RANK, SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK, "
                 "MPI_LOCALRANKID is set; give --gpu INDEX|BUSID or start it from torchrun, srun or mpirun");
  } else if (L->n == 0) {
    rc = no_gpu_info(topo, r, err);
  } else if (r->local_rank >= r->nvisible && !(cvd && r->nvisible == 1 && !strchr(cvd, ','))) {
    rc = beyond_visible(r, cvd, err);
  } else {
    /* srun --gpus-per-task=1 gives each task one GPU and SLURM_LOCALID counts
     * the tasks on the node, so rank 1 sees one entry: that GPU is its own. A
     * longer list that CUDA cuts to one (an entry it ignores) is not that case:
     * its one GPU is rank 0's. */
    sel = r->local_rank < r->nvisible ? r->local_rank : 0;
    if (sel != r->local_rank)
      note(r, "one visible GPU: cuda:0 is this rank's (%s=%d, CUDA_VISIBLE_DEVICES=%s)", r->rank_from,
           r->local_rank, cvd);
    r->gpu = r->visible[sel];
    if (!r->gpu.bus_id[0])
      rc = nb__err(err, NB_EINVAL,
                   "%s=%d: CUDA_VISIBLE_DEVICES entry '%s' cannot be mapped to a PCI bus id (%s); give --gpu "
                   "BUSID (nvidia-smi -L names its GPU)",
                   r->rank_from, r->local_rank, r->gpu.uuid,
                   strncmp(r->gpu.uuid, "MIG-GPU-", 8) && !strncmp(r->gpu.uuid, "MIG-", 4)
                       ? "a MIG instance's own UUID; only NVML knows its GPU"
                       : "no GPU UUIDs: no /proc/driver/nvidia/gpus here");
  }
  /* The entry as given, for the line: an ordinal or a UUID. */
  if (rc == 0 && cvd && !cfg->gpu) {
    const char *p = cvd;
    for (int k = 0; p && k < sel; k++)
      p = (p = strchr(p, ',')) ? p + 1 : NULL;
    while (p && isspace((unsigned char)*p))
      p++;
    if (p)
      snprintf(r->entry, sizeof r->entry, "%.*s", (int)strcspn(p, ", \t"), p);
  }
out:
  free(L);
  return rc;
}
