/* numabench: the audit of a running job (see job_audit.h): find the
 * processes, sample where their threads run, read where their pages are,
 * judge every GPU rank. The reporters are in report_job_audit.c. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <numabench/exec.h>
#include <numabench/job_audit.h>

#include "job_audit-internal.h"
#include "topo-internal.h"
#include "nvproc.h"
#include "parse.h"

/* Bounds on what one audit holds: far more than one machine's job. */
#define MAX_PROCS 4096
#define MAX_THREADS 65536

const char *nb_job_verdict_name(enum nb_job_verdict v)
{
  static const char *const names[] = {"local", "remote", "split", "unknown"};
  return v <= NB_JOB_UNKNOWN ? names[v] : "unknown";
}

/* ---- --pid PID[:GPU],... ---- */

static int target_parse(const char *item, size_t len, struct nb_job_target *t, nb_error_t *err)
{
  char buf[64], shown[NB__SHOWN_LEN];
  memset(t, 0, sizeof *t);
  if (len == 0 || len >= sizeof buf)
    return nb__err(err, NB_EINVAL, "--pid: '%.*s' is not PID or PID:GPU (e.g. 1234 or 1234:0000:41:00.0)",
                   (int)(len < 40 ? len : 40), item);
  memcpy(buf, item, len);
  buf[len] = '\0';
  char *colon = strchr(buf, ':');
  if (colon)
    *colon = '\0';
  long pid = 0;
  if (nb__parse_long(buf, 1, INT_MAX, &pid) != 0)
    return nb__err(err, NB_EINVAL, "--pid: '%s' is not a process id (a positive integer)",
                   nb__shown(buf, shown, sizeof shown));
  t->pid = (int)pid;
  if (colon) {
    const char *g = colon + 1;
    long idx;
    char bus[NB_BUSID_LEN];
    if (nb__parse_long(g, 0, 4095, &idx) != 0 && nb_parse_bus_id(g, bus) != 0)
      return nb__err(err, NB_EINVAL,
                     "--pid %ld: '%s' is not a GPU index or a PCI bus id (e.g. %ld:1 or %ld:0000:41:00.0)",
                     pid, nb__shown(g, shown, sizeof shown), pid, pid);
    snprintf(t->gpu, sizeof t->gpu, "%s", g);
  }
  return 0;
}

int nb_job_targets_parse(const char *text, struct nb_job_target **out, nb_error_t *err)
{
  *out = NULL;
  int cnt = 1;
  for (const char *c = text; *c; c++)
    cnt += *c == ',';
  if (cnt > MAX_PROCS)
    return nb__err(err, NB_EINVAL, "--pid: %d processes named, at most %d", cnt, MAX_PROCS);
  struct nb_job_target *v = calloc((size_t)cnt, sizeof *v);
  if (!v)
    return nb__err(err, NB_ENOMEM, "--pid: out of memory");
  const char *p = text;
  for (int i = 0; i < cnt; i++) {
    size_t len = strcspn(p, ",");
    int rc = target_parse(p, len, &v[i], err);
    for (int k = 0; rc == 0 && k < i; k++)
      if (v[k].pid == v[i].pid)
        rc = nb__err(err, NB_EINVAL, "--pid: %d is named twice", v[i].pid);
    if (rc) {
      free(v);
      return rc;
    }
    p += len + (p[len] == ',');
  }
  *out = v;
  return cnt;
}

/* ---- the GPUs ---- */

/* The index of the GPU with this bus id in the audit's table, added when
 * new; -1 on OOM. Its node comes from the topology: the GPU's, or the PCI
 * device's (a stand-in GPU of --devices is one of both). */
static int gpu_find_add(struct nb_job_audit *a, const char *bus_id, int minor)
{
  for (int i = 0; i < a->ngpus; i++)
    if (!strcmp(a->gpus[i].bus_id, bus_id))
      return i;
  struct nb__jgpu *nv = realloc(a->gpus, (size_t)(a->ngpus + 1) * sizeof *nv);
  if (!nv)
    return -1;
  a->gpus = nv;
  struct nb__jgpu *g = &a->gpus[a->ngpus];
  snprintf(g->bus_id, sizeof g->bus_id, "%s", bus_id);
  g->minor = minor;
  g->index = -1;
  g->node = -1;
  for (int i = 0; i < nb_topo_ngpus(a->topo); i++)
    if (!strcmp(nb_topo_gpu(a->topo, i)->bus_id, bus_id)) {
      g->index = i;
      g->node = nb_topo_gpu(a->topo, i)->numa_node;
    }
  for (int i = 0; g->index < 0 && i < nb_topo_npci(a->topo); i++)
    if (!strcmp(nb_topo_pci(a->topo, i)->bus_id, bus_id))
      g->node = nb_topo_pci(a->topo, i)->numa_node;
  return a->ngpus++;
}

/* A PID:GPU's GPU: an index of the topology's GPUs or a bus id. */
static int gpu_given(struct nb_job_audit *a, const char *text, nb_error_t *err)
{
  long idx;
  char bus[NB_BUSID_LEN];
  if (nb__parse_long(text, 0, 4095, &idx) == 0) {
    if (idx >= nb_topo_ngpus(a->topo))
      return nb__err(err, NB_EINVAL,
                     "--pid ...:%ld: this machine has %d GPUs (see numabench topo --no-cuda; --devices names "
                     "PCI devices to use as GPUs)",
                     idx, nb_topo_ngpus(a->topo));
    snprintf(bus, sizeof bus, "%s", nb_topo_gpu(a->topo, (int)idx)->bus_id);
  } else if (nb_parse_bus_id(text, bus) != 0)
    return nb__err(err, NB_EINVAL, "--pid ...:%s: not a GPU index or a PCI bus id", text);
  int g = gpu_find_add(a, bus, -1);
  return g < 0 ? nb__err(err, NB_ENOMEM, "audit: out of memory") : g;
}

/* The GPUs a process holds open, from its fds and the driver's minors.
 * Returns 0 or -errno. */
static int proc_open_gpus(struct nb_job_audit *a, struct nb__jproc *p, const struct nb__nvgpu *nv, int nnv)
{
  int minors[NB__JOB_MAX_GPUS * 2];
  int n = nb__proc_nvidia_minors(p->pid, minors, (int)(sizeof minors / sizeof minors[0]));
  if (n < 0)
    return n;
  for (int i = 0; i < n && p->ngpus < NB__JOB_MAX_GPUS; i++)
    for (int k = 0; k < nnv; k++)
      if (nv[k].minor == minors[i]) {
        int g = gpu_find_add(a, nv[k].bus_id, minors[i]);
        if (g < 0)
          return -ENOMEM;
        p->gpus[p->ngpus++] = g;
        p->gpu_how = "open device";
      }
  return 0;
}

/* ---- the processes ---- */

static int why_refused(int e, char *buf, size_t len)
{
  if (e == EACCES || e == EPERM)
    snprintf(buf, len, "%s (another user's process: run as that user or as root)", strerror(e));
  else
    snprintf(buf, len, "%s", strerror(e));
  return 0;
}

/* Record a problem with a process once: the pages are read twice. */
NB__PRINTF(2, 3) static void problem(struct nb__jproc *p, const char *fmt, ...)
{
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (int i = 0; i < p->problems.n; i++)
    if (!strcmp(p->problems.v[i], text))
      return;
  nb__strv_addf(&p->problems, "%s", text);
}

/* Add pid to the table (once); its index, or a negative code. */
static int proc_add(struct nb_job_audit *a, int pid, int ppid)
{
  for (int i = 0; i < a->nprocs; i++)
    if (a->procs[i].pid == pid)
      return i;
  if (a->nprocs >= MAX_PROCS)
    return NB_EINVAL;
  if (a->nprocs % 64 == 0) {
    struct nb__jproc *nv = realloc(a->procs, (size_t)(a->nprocs + 64) * sizeof *nv);
    if (!nv)
      return NB_ENOMEM;
    a->procs = nv;
  }
  struct nb__jproc *p = &a->procs[a->nprocs];
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->ppid = ppid;
  p->rank = -1;
  p->uid = -1;
  p->ncpus = p->nmems = -1;
  return a->nprocs++;
}

/* Status and command line of a process; false when it is gone. *tgid (when
 * not NULL): the process the pid belongs to, the pid itself unless it is a
 * thread's; -1 when unread. */
static bool proc_read_status(struct nb_job_audit *a, struct nb__jproc *p, int *tgid)
{
  if (tgid)
    *tgid = -1;
  struct nb__pstatus st;
  int rc = nb__pstatus_read(p->pid, 0, &st);
  if (rc == -ENOENT || rc == -ESRCH) {
    p->gone = true;
    return false;
  }
  if (rc < 0) {
    char why[128];
    why_refused(-rc, why, sizeof why);
    problem(p, "status: %s", why);
    a->unreadable += p->requested;
    return true;
  }
  snprintf(p->name, sizeof p->name, "%s", st.name);
  if (tgid)
    *tgid = st.tgid;
  p->ppid = st.ppid;
  p->uid = st.uid;
  p->cpus = st.cpus;
  p->ncpus = st.ncpus;
  p->mems = st.mems;
  p->nmems = st.nmems;
  if (nb__proc_cmdline(p->pid, &p->cmdline) != 0)
    p->cmdline = NULL;
  return true;
}

struct ptree {
  int *pid, *ppid;
  int n;
};

/* Every process of /proc with its parent, for --children and --gpu-procs. */
static int ptree_read(struct ptree *t)
{
  memset(t, 0, sizeof *t);
  int n = nb__proc_ids(0, &t->pid);
  if (n < 0)
    return n; /* -errno */
  t->ppid = malloc(((size_t)n + 1) * sizeof *t->ppid);
  if (!t->ppid) {
    free(t->pid);
    return -ENOMEM;
  }
  t->n = n;
  for (int i = 0; i < n; i++) {
    struct nb__tstat ts;
    t->ppid[i] = nb__tstat_read(t->pid[i], 0, &ts) == 0 ? ts.ppid : -1;
  }
  return 0;
}

static void ptree_free(struct ptree *t)
{
  free(t->pid);
  free(t->ppid);
}

/* Add the descendants of every process in the table (breadth first: the
 * table grows while it is walked). */
static int add_children(struct nb_job_audit *a, const struct ptree *t)
{
  for (int i = 0; i < a->nprocs; i++)
    for (int k = 0; k < t->n; k++)
      /* Not the audit itself, when it is a descendant (of PID 1, say). */
      if (t->ppid[k] == a->procs[i].pid && (nb__proc_root()[0] || t->pid[k] != getpid())) {
        int rc = proc_add(a, t->pid[k], a->procs[i].pid);
        if (rc < 0)
          return rc;
      }
  return 0;
}

/* Every process holding an NVIDIA GPU open. */
static int add_gpu_procs(struct nb_job_audit *a, const struct ptree *t, const struct nb__nvgpu *nv, int nnv)
{
  for (int k = 0; k < t->n; k++) {
    int minors[4];
    /* Not the audit itself (a library that opened a GPU in this process). */
    if (!nb__proc_root()[0] && t->pid[k] == getpid())
      continue;
    int n = nb__proc_nvidia_minors(t->pid[k], minors, 4);
    if (n == -EACCES || n == -EPERM)
      a->refused_scan++;
    bool gpu = false;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < nnv; j++)
        gpu |= nv[j].minor == minors[i];
    if (gpu) {
      int rc = proc_add(a, t->pid[k], t->ppid[k]);
      if (rc < 0)
        return rc;
    }
  }
  return 0;
}

static int find_procs(struct nb_job_audit *a, const struct nb_job_audit_config *cfg, nb_error_t *err)
{
  for (int i = 0; i < cfg->ntargets; i++) {
    int idx = proc_add(a, cfg->targets[i].pid, -1);
    if (idx < 0)
      return nb__err(err, NB_ENOMEM, "audit: out of memory");
    a->procs[idx].requested = true;
    int tgid;
    if (!proc_read_status(a, &a->procs[idx], &tgid))
      return nb__err(err, NB_ENOENT, "--pid %d: no such process (see ps)", cfg->targets[i].pid);
    /* /proc/TID exists for every thread, though ps lists only processes:
     * audited as a process, a thread would report its process's memory as
     * its own and lose its siblings. */
    if (tgid > 0 && tgid != cfg->targets[i].pid)
      return nb__err(err, NB_EINVAL, "--pid %d is a thread of process %d: give --pid %d", cfg->targets[i].pid,
                     tgid, tgid);
  }
  struct nb__nvgpu *nv = NULL;
  int nnv = nb__nvproc_gpus(&nv, &a->warnings, err), rc = nnv < 0 ? nnv : 0;
  struct ptree t = {0};
  if (rc == 0 && (cfg->gpu_procs || cfg->children) && (rc = ptree_read(&t)) < 0)
    rc = nb__err_sys(err, NB_EIO, -rc, "audit: reading %s/proc", nb__proc_root());
  if (rc == 0 && cfg->gpu_procs && (rc = add_gpu_procs(a, &t, nv, nnv)) < 0)
    nb__err(err, rc, "audit: %s", rc == NB_ENOMEM ? "out of memory" : "too many GPU processes");
  if (rc == 0 && cfg->children && (rc = add_children(a, &t)) < 0)
    nb__err(err, rc, "audit: %s", rc == NB_ENOMEM ? "out of memory" : "more than 4096 processes");
  for (int i = 0; rc == 0 && i < a->nprocs; i++) {
    struct nb__jproc *p = &a->procs[i];
    if (!p->requested && !proc_read_status(a, p, NULL))
      continue;
    const char *given = NULL;
    for (int k = 0; k < cfg->ntargets; k++)
      if (cfg->targets[k].pid == p->pid && cfg->targets[k].gpu[0])
        given = cfg->targets[k].gpu;
    if (given) {
      int g = gpu_given(a, given, err);
      if (g < 0)
        rc = g;
      else {
        p->gpus[p->ngpus++] = g;
        p->gpu_how = "given";
      }
    } else if (nnv > 0) {
      int r = proc_open_gpus(a, p, nv, nnv);
      if (r == -ENOMEM)
        rc = nb__err(err, NB_ENOMEM, "audit: out of memory");
      else if (r < 0 && r != -ENOENT) {
        char why[128];
        why_refused(-r, why, sizeof why);
        problem(p, "fd: %s; the GPUs it holds are not known", why);
        a->unreadable += p->requested;
      }
    }
  }
  if (rc == 0 && cfg->gpu_procs && nnv == 0)
    nb__strv_addf(&a->warnings,
                  "--gpu-procs: %s/proc/driver/nvidia/gpus lists no GPU (no NVIDIA driver loaded): "
                  "no process can hold one; name processes with --pid PID:GPU",
                  nb__proc_root());
  if (rc == 0 && cfg->gpu_procs && a->refused_scan)
    nb__strv_addf(&a->warnings,
                  "--gpu-procs: the open files of %d processes could not be read (other users': "
                  "run as root to see them all)",
                  a->refused_scan);
  ptree_free(&t);
  free(nv);
  return rc;
}

/* ---- CPU samples ---- */

static int thread_find_add(struct nb_job_audit *a, struct nb__jproc *p, int tid)
{
  for (int i = 0; i < p->nthreads; i++)
    if (p->threads[i].tid == tid)
      return i;
  if (p->nthreads >= MAX_THREADS)
    return -1;
  if (p->nthreads % 16 == 0) {
    struct nb__jthread *nv = realloc(p->threads, (size_t)(p->nthreads + 16) * sizeof *nv);
    if (!nv)
      return -1;
    p->threads = nv;
  }
  struct nb__jthread *t = &p->threads[p->nthreads];
  memset(t, 0, sizeof *t);
  t->tid = tid;
  if (nb_hist_init(&t->cpus, a->topo) != 0)
    return -1;
  return p->nthreads++;
}

/* One read of a thread: a sample when it is running now or has run since
 * the last read (its CPU time grew); field 39 is then where it ran last.
 * A thread asleep throughout gets no sample: not observed, not misplaced. */
static void thread_sample(struct nb_job_audit *a, struct nb__jthread *t, const struct nb__tstat *s)
{
  snprintf(t->name, sizeof t->name, "%s", s->comm);
  bool ran = s->state == 'R' || (t->have_last && s->ticks != t->last_ticks);
  t->last_ticks = s->ticks;
  t->have_last = true;
  if (!ran || s->processor < 0)
    return;
  nb__hist_add(&t->cpus, a->topo, nb_topo_cpu_node(a->topo, s->processor));
  for (int k = 0; k < t->nseen; k++)
    if (t->seen[k] == s->processor)
      return;
  if (t->nseen < NB__MAX_SEEN_CPUS)
    t->seen[t->nseen++] = s->processor;
}

static int sample_proc(struct nb_job_audit *a, struct nb__jproc *p)
{
  int *tids;
  int n = nb__proc_ids(p->pid, &tids);
  if (n == -ENOENT || n == -ESRCH) {
    p->gone = true;
    return 0;
  }
  if (n < 0)
    return n == -ENOMEM ? NB_ENOMEM : 0;
  for (int i = 0; i < p->nthreads; i++)
    p->threads[i].gone = true;
  for (int i = 0; i < n; i++) {
    struct nb__tstat s;
    int k = thread_find_add(a, p, tids[i]);
    if (k < 0) {
      free(tids);
      return NB_ENOMEM;
    }
    if (nb__tstat_read(p->pid, tids[i], &s) != 0)
      continue;
    p->threads[k].gone = false;
    thread_sample(a, &p->threads[k], &s);
  }
  free(tids);
  return 0;
}

static void sleep_until(double t)
{
  double d = t - nb__now();
  if (d <= 0)
    return;
  struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int sample_all(struct nb_job_audit *a, nb_error_t *err)
{
  int n = a->duration_s > 0 ? (int)(a->duration_s / a->interval_s + 0.5) + 1 : 1;
  double t0 = nb__now();
  for (int s = 0; s < n; s++) {
    sleep_until(t0 + s * a->interval_s);
    for (int i = 0; i < a->nprocs; i++)
      if (!a->procs[i].gone && sample_proc(a, &a->procs[i]) == NB_ENOMEM)
        return nb__err(err, NB_ENOMEM, "audit: out of memory");
    a->nsamples++;
  }
  return 0;
}

/* ---- pages and policies (numa_maps) ---- */

static int mem_add(struct nb_job_audit *a, struct nb__jproc *p, const struct nb__vma *v)
{
  struct nb__jmem *m = &p->mem[v->kind];
  uint64_t sum = v->other_bytes;
  m->other += v->other_bytes;
  for (int i = 0; i < v->nnodes; i++) {
    int k = nb_topo_node_index(a->topo, v->node[i]);
    if (k >= 0)
      m->bytes[k] += v->bytes[i];
    else
      m->other += v->bytes[i];
    sum += v->bytes[i];
  }
  m->total += sum;
  return (int)(sum > 0);
}

static int vma_each(void *arg, const struct nb__vma *v)
{
  void **ctx = arg;
  struct nb_job_audit *a = ctx[0];
  struct nb__jproc *p = ctx[1];
  uint64_t before = p->mem[v->kind].total;
  mem_add(a, p, v);
  uint64_t bytes = p->mem[v->kind].total - before;
  if (v->stack && !p->policy_from) {
    snprintf(p->policy, sizeof p->policy, "%s", v->policy);
    p->policy_from = "numa_maps";
  }
  for (int i = 0; i < p->npols; i++)
    if (!strcmp(p->pols[i].text, v->policy)) {
      p->pols[i].vmas++;
      p->pols[i].bytes += bytes;
      return 0;
    }
  struct nb__jpolicy *nv = realloc(p->pols, (size_t)(p->npols + 1) * sizeof *nv);
  if (!nv)
    return -ENOMEM;
  p->pols = nv;
  snprintf(nv[p->npols].text, sizeof nv[p->npols].text, "%s", v->policy);
  nv[p->npols].vmas = 1;
  nv[p->npols++].bytes = bytes;
  return 0;
}

/* The calling process's own policy, from the kernel directly. */
static void own_policy(struct nb__jproc *p)
{
  enum nb_mem_seen seen;
  int nodes[64], n = 0;
  nb_audit_mempolicy(&seen, nodes, 64, &n);
  static const char *const kernel_names[] = {"default", "bind", "prefer", "interleave", "local", "other"};
  char list[256] = "";
  if (n > 0)
    nb_format_cpulist(list, sizeof list, nodes, n);
  snprintf(p->policy, sizeof p->policy, "%s%s%s", kernel_names[seen], n > 0 ? ":" : "", list);
  p->policy_from = "get_mempolicy";
}

/* Whether the process is still there (its numa_maps missing then means a
 * kernel without them, not a process that exited). */
static bool proc_exists(int pid)
{
  char path[PATH_MAX];
  return snprintf(path, sizeof path, "%s/proc/%d/status", nb__proc_root(), pid) < (int)sizeof path &&
         access(path, F_OK) == 0;
}

static int read_pages(struct nb_job_audit *a, struct nb__jproc *p)
{
  for (int k = 0; k < NB__MEM_NKINDS; k++) {
    free(p->mem[k].bytes);
    p->mem[k] = (struct nb__jmem){calloc((size_t)nb_topo_nnodes(a->topo) + 1, sizeof(uint64_t)), 0, 0};
    if (!p->mem[k].bytes)
      return NB_ENOMEM;
  }
  free(p->pols);
  p->pols = NULL;
  p->npols = 0;
  p->policy_from = NULL;
  if (!nb__proc_root()[0] && p->pid == getpid())
    own_policy(p);
  int bad = 0;
  void *ctx[2] = {a, p};
  int rc = nb__numa_maps_each(p->pid, 0, vma_each, ctx, &bad);
  if (rc == -ENOMEM)
    return NB_ENOMEM;
  p->pages_read = rc == 0;
  if (rc == -ENOENT && proc_exists(p->pid))
    problem(p, "numa_maps: this kernel has none (built without CONFIG_NUMA): pages per node "
               "unknown");
  else if (rc == -ENOENT || rc == -ESRCH)
    p->gone = true;
  else if (rc < 0) {
    char why[128];
    why_refused(-rc, why, sizeof why);
    problem(p, "numa_maps: %s", why);
  }
  if (rc < 0 && !p->gone)
    a->unreadable += p->requested;
  if (bad)
    problem(p, "numa_maps: %d malformed lines skipped", bad);
  return 0;
}

/* A thread's own policy: the first heap or stack mapping of its numa_maps,
 * which has no policy of its own and so shows the thread's. */
static int task_policy(void *arg, const struct nb__vma *v)
{
  if (!v->heap && !v->stack)
    return 0;
  snprintf(arg, sizeof((struct nb__jthread *)0)->policy, "%s", v->policy);
  return 1;
}

static void read_thread_policies(struct nb__jproc *p)
{
  int bad;
  for (int t = 0; t < p->nthreads; t++)
    if (!p->threads[t].gone)
      nb__numa_maps_each(p->pid, p->threads[t].tid, task_policy, p->threads[t].policy, &bad);
}

/* ---- ranks ---- */

static int proc_index(const struct nb_job_audit *a, int pid)
{
  for (int k = 0; k < a->nprocs; k++)
    if (a->procs[k].pid == pid)
      return k;
  return -1;
}

static bool gpus_subset(const struct nb__jproc *p, const struct nb__jproc *q)
{
  for (int i = 0; i < p->ngpus; i++) {
    bool found = false;
    for (int k = 0; k < q->ngpus && !found; k++)
      found = p->gpus[i] == q->gpus[k];
    if (!found)
      return false;
  }
  return true;
}

/* Whether a process is a rank of its own. PyTorch forks dataloader workers
 * after CUDA is initialised, so they inherit the rank's /dev/nvidiaN
 * descriptors: a process whose GPUs are all held by an ancestor (in the
 * audited trees) is a worker of that ancestor's rank, not a rank. */
static bool owns_rank(const struct nb_job_audit *a, int i)
{
  const struct nb__jproc *p = &a->procs[i];
  if (p->ngpus == 0)
    return false;
  int k = proc_index(a, p->ppid);
  for (int depth = 0; k >= 0 && k != i && depth < a->nprocs; depth++) {
    if (a->procs[k].ngpus > 0 && gpus_subset(p, &a->procs[k]))
      return false;
    k = proc_index(a, a->procs[k].ppid);
  }
  return true;
}

/* The rank a process belongs to: its own when it owns one, else its nearest
 * ancestor's in the table. */
static int rank_of(const struct nb_job_audit *a, int i, int depth)
{
  if (owns_rank(a, i))
    return i;
  int k = proc_index(a, a->procs[i].ppid);
  return k >= 0 && k != i && depth <= a->nprocs ? rank_of(a, k, depth + 1) : -1;
}

/* Adds p's CPU samples on the GPU's node and data pages on the rank's
 * memory node to r. */
static void proc_tally(const struct nb_job_audit *a, const struct nb__jproc *p, struct nb__jrank *r)
{
  bool known = r->gpu >= 0 && r->node >= 0;
  int ni = known ? nb_topo_node_index(a->topo, r->node) : -1;
  int mi = known ? nb_topo_node_index(a->topo, r->mem_node) : -1;
  for (int t = 0; t < p->nthreads; t++) {
    r->samples += p->threads[t].cpus.total;
    if (ni >= 0)
      r->samples_on += p->threads[t].cpus.count[ni];
  }
  static const enum nb__mem_kind data[] = {NB__MEM_ANON, NB__MEM_SHM, NB__MEM_DEVICE};
  for (size_t k = 0; k < sizeof data / sizeof data[0]; k++) {
    const struct nb__jmem *m = &p->mem[data[k]];
    if (!m->bytes)
      continue;
    r->bytes += m->total;
    if (mi >= 0)
      r->bytes_on += m->bytes[mi];
  }
}

static void rank_judge(struct nb_job_audit *a, struct nb__jrank *r)
{
  const struct nb__jproc *p = &a->procs[r->proc];
  r->cpu_share = r->samples ? (double)r->samples_on / (double)r->samples : -1;
  r->page_share = r->bytes ? (double)r->bytes_on / (double)r->bytes : -1;
  const double hi = NB_PLACEMENT_THRESHOLD, lo = 1 - NB_PLACEMENT_THRESHOLD;
  bool seen_any = r->cpu_share >= 0 || r->page_share >= 0;
  bool all_hi = (r->cpu_share < 0 || r->cpu_share >= hi) && (r->page_share < 0 || r->page_share >= hi);
  bool all_lo = (r->cpu_share < 0 || r->cpu_share <= lo) && (r->page_share < 0 || r->page_share <= lo);
  if (r->gpu < 0) {
    r->verdict = NB_JOB_UNKNOWN;
    snprintf(r->why, sizeof r->why,
             "its GPUs are on different nodes and its environment (LOCAL_RANK, CUDA_VISIBLE_DEVICES) "
             "names none of them");
  } else if (r->node < 0) {
    r->verdict = NB_JOB_UNKNOWN;
    snprintf(r->why, sizeof r->why, "GPU %s: NUMA node unknown to the topology (see numabench topo)",
             a->gpus[r->gpu].bus_id);
  } else if (!seen_any) {
    r->verdict = NB_JOB_UNKNOWN;
    snprintf(r->why, sizeof r->why, "no thread ran while sampled and no data pages were read");
  } else {
    r->verdict = all_hi ? NB_JOB_LOCAL : all_lo ? NB_JOB_REMOTE : NB_JOB_SPLIT;
    char mem[64] = "";
    if (r->mem_node != r->node)
      snprintf(mem, sizeof mem, " (memory: node %d, the nearest with memory)", r->mem_node);
    snprintf(r->why, sizeof r->why, "%s on node %d%s: CPU samples %s, data pages %s",
             r->verdict == NB_JOB_LOCAL    ? "everything observed"
             : r->verdict == NB_JOB_REMOTE ? "nothing observed"
                                           : "part",
             r->node, mem,
             r->cpu_share < 0     ? "none"
             : r->cpu_share >= hi ? "on"
             : r->cpu_share <= lo ? "off"
                                  : "split",
             r->page_share < 0     ? "none"
             : r->page_share >= hi ? "on"
             : r->page_share <= lo ? "off"
                                   : "split");
  }
  if (r->verdict == NB_JOB_LOCAL || r->gpu < 0)
    return;
  /* The fix: start the rank again under numabench exec, which binds it and
   * the workers it forks to the GPU's node. */
  const char *cmd = p->cmdline && *p->cmdline ? p->cmdline : p->name;
  size_t len = strlen(cmd) + 96;
  r->fix = malloc(len);
  if (r->fix)
    snprintf(r->fix, len, "numabench exec --gpu %s -- %s", a->gpus[r->gpu].bus_id, cmd);
}

/* A process holding several GPUs (the CUDA driver and NCCL open the peers'
 * device files too) drives the one its launcher gave it: the local rank,
 * CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER of its environment, resolved by
 * the code numabench exec uses. False when the environment is unreadable or
 * does not name one of the GPUs it holds. */
static bool gpu_from_environ(struct nb_job_audit *a, const struct nb__jproc *p, struct nb__jrank *r)
{
  char **env;
  if (nb__proc_environ(p->pid, &env) != 0)
    return false;
  struct nb_rank_config cfg = {.env = (const char *const *)env};
  struct nb_rank *rr = malloc(sizeof *rr);
  nb_error_t err = {0};
  bool found = false;
  if (rr && nb_rank_resolve(a->topo, &cfg, rr, &err) == 0)
    for (int k = 0; k < p->ngpus && !found; k++)
      if (!strcasecmp(a->gpus[p->gpus[k]].bus_id, rr->gpu.bus_id)) {
        r->gpu = p->gpus[k];
        r->node = a->gpus[r->gpu].node;
        r->gpu_from = "environ";
        found = true;
      }
  free(rr);
  free(env);
  return found;
}

static int make_ranks(struct nb_job_audit *a)
{
  a->ranks = calloc((size_t)a->nprocs + 1, sizeof *a->ranks);
  if (!a->ranks)
    return NB_ENOMEM;
  for (int i = 0; i < a->nprocs; i++) {
    if (!owns_rank(a, i))
      continue;
    struct nb__jrank *r = &a->ranks[a->nranks];
    const struct nb__jproc *p = &a->procs[i];
    r->proc = i;
    r->gpu = p->gpus[0];
    r->node = a->gpus[r->gpu].node;
    r->gpu_from = p->gpu_how;
    if (p->ngpus > 1 && !gpu_from_environ(a, p, r))
      for (int k = 1; k < p->ngpus; k++)
        if (a->gpus[p->gpus[k]].node != r->node)
          r->gpu = -1;
    /* Judged against where the planner puts a rank's memory: for a
     * memoryless GPU node, the nearest node with memory (else the GPU's). */
    int mem = nb__topo_mem_node(a->topo, r->node);
    r->mem_node = mem >= 0 ? mem : r->node;
    a->procs[i].rank = a->nranks++;
  }
  for (int i = 0; i < a->nprocs; i++) {
    int owner = rank_of(a, i, 0);
    if (owner >= 0)
      a->procs[i].rank = a->procs[owner].rank;
  }
  for (int k = 0; k < a->nranks; k++) {
    struct nb__jrank *r = &a->ranks[k];
    for (int i = 0; i < a->nprocs; i++)
      if (a->procs[i].rank == k) {
        r->nprocs++;
        proc_tally(a, &a->procs[i], r);
      }
    rank_judge(a, r);
  }
  return 0;
}

/* ---- the audit ---- */

static int by_tid(const void *x, const void *y)
{
  return nb__cmp_int(&((const struct nb__jthread *)x)->tid, &((const struct nb__jthread *)y)->tid);
}

int nb_job_audit_run(nb_topo_t topo, const struct nb_job_audit_config *cfg, nb_job_audit_t *out,
                     nb_error_t *err)
{
  *out = NULL;
  struct nb_job_audit *a = calloc(1, sizeof *a);
  if (!a)
    return nb__err(err, NB_ENOMEM, "audit: out of memory");
  a->topo = topo;
  a->duration_s = cfg->duration_s > 0 ? cfg->duration_s : 0;
  a->interval_s = cfg->interval_s > 0 ? cfg->interval_s : 0.1;
  a->gpu_procs = cfg->gpu_procs;
  a->children = cfg->children;
  nb_host_state_read(&a->host);
  int rc = find_procs(a, cfg, err);
  /* Pages are read before sampling too, so that a process that exits
   * meanwhile is reported as it was; and again after, for the rest. */
  for (int i = 0; rc == 0 && i < a->nprocs; i++)
    if (!a->procs[i].gone && read_pages(a, &a->procs[i]) == NB_ENOMEM)
      rc = nb__err(err, NB_ENOMEM, "audit: out of memory");
  if (rc == 0)
    rc = sample_all(a, err);
  for (int i = 0; rc == 0 && i < a->nprocs; i++) {
    struct nb__jproc *p = &a->procs[i];
    if (p->gone || !p->pages_read)
      continue;
    if (read_pages(a, p) == NB_ENOMEM)
      rc = nb__err(err, NB_ENOMEM, "audit: out of memory");
    else if (p->pages_read)
      read_thread_policies(p);
  }
  /* A process that exited before its threads were read has none (and no
   * array: qsort must not be given NULL). */
  for (int i = 0; rc == 0 && i < a->nprocs; i++) {
    if (a->procs[i].nthreads > 1)
      qsort(a->procs[i].threads, (size_t)a->procs[i].nthreads, sizeof *a->procs[i].threads, by_tid);
    for (int t = 0; t < a->procs[i].nthreads; t++)
      if (a->procs[i].threads[t].nseen > 1)
        qsort(a->procs[i].threads[t].seen, (size_t)a->procs[i].threads[t].nseen, sizeof(int), nb__cmp_int);
  }
  if (rc == 0 && (rc = make_ranks(a)) < 0)
    nb__err(err, rc, "audit: out of memory");
  if (rc < 0) {
    nb_job_audit_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

void nb_job_audit_free(nb_job_audit_t a)
{
  if (!a)
    return;
  for (int i = 0; i < a->nprocs; i++) {
    struct nb__jproc *p = &a->procs[i];
    free(p->cmdline);
    free(p->cpus);
    free(p->mems);
    free(p->pols);
    for (int k = 0; k < NB__MEM_NKINDS; k++)
      free(p->mem[k].bytes);
    for (int t = 0; t < p->nthreads; t++)
      nb_hist_free(&p->threads[t].cpus);
    free(p->threads);
    nb__strv_free(&p->problems);
  }
  for (int k = 0; a->ranks && k < a->nranks; k++)
    free(a->ranks[k].fix);
  free(a->ranks);
  free(a->procs);
  free(a->gpus);
  nb__strv_free(&a->warnings);
  free(a);
}

int nb_job_audit_nranks(nb_job_audit_t a)
{
  return a->nranks;
}

int nb_job_audit_nnot_local(nb_job_audit_t a)
{
  int n = 0;
  for (int k = 0; k < a->nranks; k++)
    n += a->ranks[k].verdict != NB_JOB_LOCAL;
  return n;
}

int nb_job_audit_unreadable(nb_job_audit_t a)
{
  return a->unreadable;
}
