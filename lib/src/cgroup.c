/* numabench: the CPU quota and memory limit of this process's cgroup (v2
 * unified hierarchy, or the v1 cpu and memory controllers), read from
 * /proc/self/cgroup and /sys/fs/cgroup, or from a recorded tree in tests. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <numabench/cgroup.h>

#include "cgroup.h"
#include "nb-internal.h"
#include "topo-internal.h"

/* Limits at or above this are "unlimited": cgroup v1 shows no limit as
 * PAGE_COUNTER_MAX pages in bytes (0x7ffffffffffff000 with 4 KiB pages). */
#define UNLIMITED_BYTES (INT64_C(1) << 62)
/* The kernel allows periods of 1 ms to 1 s and quotas from 1 ms; anything far
 * beyond is not a real setting. */
#define MAX_PERIOD_US INT64_C(1000000000)
#define MAX_QUOTA_US (INT64_C(1) << 50)
/* The most of /proc/self/cgroup that is read. */
#define PROC_CGROUP_MAX (64 * 1024)

/* Where the two trees are: "" for this machine, or a recorded tree. */
struct roots {
  char proc[PATH_MAX / 2];
  char cg[PATH_MAX / 2];
};

/* Control characters as '?', as the library's error messages have them: a
 * recorded tree's paths and file contents are echoed in one-line texts. */
static void scrub(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = '?';
}

static void warn(struct nb_cgroup *cg, const char *fmt, ...) NB__PRINTF(2, 3);
static void warn(struct nb_cgroup *cg, const char *fmt, ...)
{
  if (cg->nwarnings >= NB_CGROUP_MAX_WARNINGS)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cg->warnings[cg->nwarnings], sizeof cg->warnings[0], fmt, ap);
  va_end(ap);
  scrub(cg->warnings[cg->nwarnings++]);
}

/* A decimal count without sign, space or suffix, below 2^63. */
static int parse_count(const char *s, int64_t *v)
{
  uint64_t x = 0;
  if (!*s)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || x > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
      return -1;
    x = x * 10 + (uint64_t)(*s - '0');
  }
  *v = (int64_t)x;
  return 0;
}

/* Paths longer than the struct keeps are cut: they are shown, not used. */
static void keep_path(char *dst, const char *src)
{
  snprintf(dst, NB_CGROUP_PATH_LEN, "%.*s", NB_CGROUP_PATH_LEN - 1, src);
  scrub(dst);
}

static bool is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Read dir/name; 0 and the text, or -1 when absent or unreadable. */
static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return -1;
  return nb__read_sysfile(NULL, path, buf, len) == 0 ? 0 : -1;
}

/* The path shown to the user: without the recorded tree's prefix. */
static const char *shown(const struct roots *r, const char *dir)
{
  size_t n = strlen(r->cg) - strlen("/sys/fs/cgroup");
  return strncmp(dir, r->cg, n) == 0 ? dir + n : dir;
}

/* ---- CPU ---- */

/* One level's quota: 1 with *q, *p set, 0 for none, -1 for nonsense. */
static int level_quota(struct nb_cgroup *cg, const struct roots *r, const char *dir, int v1, int64_t *q,
                       int64_t *p)
{
  char buf[128], pbuf[64];
  const char *file = v1 ? "cpu.cfs_quota_us" : "cpu.max";
  if (read_file(dir, file, buf, sizeof buf) < 0)
    return 0;
  int ok;
  if (v1) {
    if (!strcmp(buf, "-1"))
      return 0;
    ok = parse_count(buf, q) == 0 && read_file(dir, "cpu.cfs_period_us", pbuf, sizeof pbuf) == 0 &&
         parse_count(pbuf, p) == 0;
  } else {
    char *sp = strchr(buf, ' ');
    if (sp)
      *sp = '\0';
    if (sp && !strcmp(buf, "max") && parse_count(sp + 1, p) == 0)
      return 0;
    ok = sp && parse_count(buf, q) == 0 && parse_count(sp + 1, p) == 0;
    if (sp)
      *sp = ' ';
  }
  if (!ok || *q < 1 || *q > MAX_QUOTA_US || *p < 1 || *p > MAX_PERIOD_US) {
    warn(cg, "cgroup: %s/%s '%.40s' is not a CPU quota; CPU quota taken as unknown", shown(r, dir), file,
         buf);
    return -1;
  }
  return 1;
}

static void keep_quota(struct nb_cgroup *cg, const struct roots *r, const char *dir, int v1, int64_t q,
                       int64_t p)
{
  /* The tightest is the smallest quota per period: q/p < cq/cp. */
  if (cg->cpu_quota_us >= 0 && (double)q * (double)cg->cpu_period_us >= (double)cg->cpu_quota_us * (double)p)
    return;
  cg->cpu_quota_us = q;
  cg->cpu_period_us = p;
  int64_t n = (q + p - 1) / p;
  cg->cpu_limit = n > INT_MAX ? INT_MAX : (int)n;
  cg->cpu_file = v1 ? "cpu.cfs_quota_us" : "cpu.max";
  cg->cpu_version = v1 ? 1 : 2;
  keep_path(cg->cpu_path, shown(r, dir));
}

/* ---- memory ---- */

/* A byte count or "max" (v2) / a huge value or -1 (v1): 1 with *v, 0 for no
 * limit, -1 for nonsense (warned). */
static int read_bytes(struct nb_cgroup *cg, const struct roots *r, const char *dir, const char *file,
                      int64_t *v)
{
  char buf[64];
  if (read_file(dir, file, buf, sizeof buf) < 0)
    return 0;
  if (!strcmp(buf, "max") || !strcmp(buf, "-1"))
    return 0;
  if (parse_count(buf, v) < 0) {
    warn(cg, "cgroup: %s/%s '%.40s' is not a byte count; taken as unknown", shown(r, dir), file, buf);
    return -1;
  }
  return *v < UNLIMITED_BYTES;
}

/* The usage without the inactive page cache, as kubelet's working set: the
 * kernel reclaims that cache before it reaches the limit, so counting it as
 * used would refuse runs that fit (a container that just read its data set
 * shows it all as usage). From memory.stat's inactive_file (v1:
 * total_inactive_file, which includes the children); never below 0. */
static int64_t working_set(const char *dir, int v1, int64_t used)
{
  char buf[8192], *save = NULL;
  const char *key = v1 ? "total_inactive_file" : "inactive_file";
  if (read_file(dir, "memory.stat", buf, sizeof buf) < 0)
    return used;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *sp = strchr(line, ' ');
    int64_t v;
    if (!sp || (size_t)(sp - line) != strlen(key) || strncmp(line, key, strlen(key)) ||
        parse_count(sp + 1, &v) < 0)
      continue;
    return v >= used ? 0 : used - v;
  }
  return used;
}

static void level_memory(struct nb_cgroup *cg, const struct roots *r, const char *dir, int v1)
{
  int64_t lim = -1, high = -1, used = -1;
  const char *file = v1 ? "memory.limit_in_bytes" : "memory.max";
  if (read_bytes(cg, r, dir, file, &lim) <= 0)
    lim = -1;
  /* Above memory.high the kernel throttles and reclaims hard: a benchmark
   * there measures the reclaim, so it counts as the limit. */
  if (!v1 && read_bytes(cg, r, dir, "memory.high", &high) > 0 && (lim < 0 || high < lim)) {
    lim = high;
    file = "memory.high";
  }
  if (lim < 0)
    return;
  if (read_bytes(cg, r, dir, v1 ? "memory.usage_in_bytes" : "memory.current", &used) <= 0)
    used = -1;
  else
    used = working_set(dir, v1, used);
  int64_t avail = used < 0 ? lim : used >= lim ? 0 : lim - used;
  if (cg->mem_avail >= 0 && avail >= cg->mem_avail)
    return;
  cg->mem_limit = lim;
  cg->mem_used = used;
  cg->mem_avail = avail;
  cg->mem_file = file;
  cg->mem_version = v1 ? 1 : 2;
  keep_path(cg->mem_path, shown(r, dir));
}

/* ---- the hierarchy ---- */

enum what { CPU = 1, MEMORY = 2 };

/* Read every level from mount + path up to mount. A path the mount does not
 * hold (a container without a cgroup namespace sees the host's path) starts
 * at the mount, which is then the container's own cgroup. */
static void walk(struct nb_cgroup *cg, const struct roots *r, const char *mount, const char *path, int v1,
                 int what)
{
  char dir[PATH_MAX];
  if (path[0] != '/' || strstr(path, "/..") ||
      snprintf(dir, sizeof dir, "%s%s", mount, strcmp(path, "/") ? path : "") >= (int)sizeof dir ||
      !is_dir(dir))
    snprintf(dir, sizeof dir, "%s", mount);
  if (!*cg->path)
    keep_path(cg->path, shown(r, dir));
  size_t base = strlen(mount);
  for (;;) {
    int64_t q, p;
    if ((what & CPU) && level_quota(cg, r, dir, v1, &q, &p) > 0)
      keep_quota(cg, r, dir, v1, q, p);
    if (what & MEMORY)
      level_memory(cg, r, dir, v1);
    char *slash = strrchr(dir, '/');
    if (strlen(dir) <= base || !slash || (size_t)(slash - dir) < base)
      break;
    *slash = '\0';
  }
}

/* The v1 mount of a controller: the directory named after the hierarchy's
 * controller list ("cpu,cpuacct"), else after the controller alone. */
static int v1_mount(const struct roots *r, const char *list, const char *ctl, char *out, size_t len)
{
  if (snprintf(out, len, "%s/%s", r->cg, list) < (int)len && is_dir(out))
    return 0;
  if (snprintf(out, len, "%s/%s", r->cg, ctl) < (int)len && is_dir(out))
    return 0;
  return -1;
}

static bool has_controller(const char *list, const char *ctl)
{
  size_t n = strlen(ctl);
  for (const char *s = list; s && *s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
    if (!strncmp(s, ctl, n) && (s[n] == ',' || s[n] == '\0'))
      return true;
  return false;
}

/* The lines of /proc/self/cgroup ("ID:CONTROLLERS:PATH"): the v1 cpu and
 * memory hierarchies first, then the unified one for what they lack. */
static void read_hierarchies(struct nb_cgroup *cg, const struct roots *r, char *text)
{
  char mount[PATH_MAX], *v2path = NULL, *save = NULL;
  int left = CPU | MEMORY;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) {
      warn(cg, "cgroup: %s/self/cgroup: line '%.40s' is not ID:CONTROLLERS:PATH; limits may be missed",
           r->proc[0] ? "(recorded)/proc" : "/proc", line);
      continue;
    }
    *c1 = *c2 = '\0';
    const char *list = c1 + 1;
    if (!strcmp(line, "0") && !*list) {
      v2path = c2 + 1;
      continue;
    }
    int what = (has_controller(list, "cpu") ? CPU : 0) | (has_controller(list, "memory") ? MEMORY : 0);
    if ((what & left) && v1_mount(r, list, what & CPU ? "cpu" : "memory", mount, sizeof mount) == 0) {
      cg->version = 1;
      walk(cg, r, mount, c2 + 1, 1, what & left);
      left &= ~what;
    }
  }
  if (!v2path || !left)
    return;
  /* Pure v2 mounts the hierarchy at /sys/fs/cgroup; hybrid at .../unified. */
  snprintf(mount, sizeof mount, "%s/cgroup.controllers", r->cg);
  struct stat st;
  if (stat(mount, &st) != 0)
    snprintf(mount, sizeof mount, "%s/unified", r->cg);
  else
    snprintf(mount, sizeof mount, "%s", r->cg);
  if (!is_dir(mount))
    return;
  if (!cg->version)
    cg->version = 2;
  walk(cg, r, mount, v2path, 0, left);
}

void nb_cgroup_read(struct nb_cgroup *cg, const char *root)
{
  memset(cg, 0, sizeof *cg);
  cg->cpu_quota_us = cg->cpu_period_us = cg->mem_limit = cg->mem_used = cg->mem_avail = -1;
  cg->cpu_limit = -1;
  cg->mem_file = cg->cpu_file = "";
  struct roots r;
  if (!root)
    root = "";
  if (snprintf(r.proc, sizeof r.proc, "%s", root) >= (int)sizeof r.proc ||
      snprintf(r.cg, sizeof r.cg, "%s/sys/fs/cgroup", root) >= (int)sizeof r.cg) {
    warn(cg, "cgroup: %.200s: path too long; no cgroup limits read", root);
    return;
  }
  /* A v1 host lists a dozen hierarchies, each with the whole path (long
   * under Kubernetes): 64 KiB holds any real one; a longer file is read up
   * to its last whole line, with a warning. +2: room to see that it is
   * longer. */
  char *text = malloc(PROC_CGROUP_MAX + 2);
  if (!text) {
    warn(cg, "cgroup: out of memory reading /proc/self/cgroup; no cgroup limits read");
    return;
  }
  if (nb__read_sysfile(r.proc, "/proc/self/cgroup", text, PROC_CGROUP_MAX + 2) == 0) {
    if (strlen(text) > PROC_CGROUP_MAX) {
      text[PROC_CGROUP_MAX] = '\0';
      char *nl = strrchr(text, '\n');
      *(nl ? nl : text) = '\0';
      warn(cg,
           "cgroup: %s/self/cgroup is longer than %d KiB; only its first lines were read, limits may "
           "be missed",
           r.proc[0] ? "(recorded)/proc" : "/proc", PROC_CGROUP_MAX / 1024);
    }
    read_hierarchies(cg, &r, text);
  }
  free(text);
}

double nb__cgroup_room(nb_topo_t topo)
{
  const struct nb_cgroup *cg = nb_topo_cgroup(topo);
  return cg && cg->mem_avail >= 0 ? (double)cg->mem_avail : -1;
}

const char *nb__mib_or_gib(char *buf, size_t len, double bytes)
{
  if (bytes < 1024.0 * 1024 * 1024)
    snprintf(buf, len, "%.0f MiB", bytes / (1024.0 * 1024));
  else
    snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  return buf;
}

const char *nb__cgroup_room_text(const struct nb_cgroup *cg, char *buf, size_t len)
{
  char a[32], b[32], c[32] = "unknown";
  if (cg->mem_used >= 0)
    nb__mib_or_gib(c, sizeof c, (double)cg->mem_used);
  snprintf(buf, len, "the cgroup memory limit leaves %s (%s %s, %s used, at %s; 90%% usable)",
           nb__mib_or_gib(a, sizeof a, (double)cg->mem_avail), cg->mem_file,
           nb__mib_or_gib(b, sizeof b, (double)cg->mem_limit), c, cg->mem_path);
  return buf;
}

const struct nb_cgroup *nb_topo_cgroup(nb_topo_t topo)
{
  return topo && topo->have_cgroup ? &topo->cgroup : NULL;
}

void nb__topo_set_cgroup(nb_topo_t topo, const struct nb_cgroup *cg)
{
  topo->have_cgroup = cg != NULL;
  if (cg)
    topo->cgroup = *cg;
}

/* Read this machine's limits into a live topology, with their warnings. */
int nb__topo_read_cgroup(struct nb_topo *topo)
{
  nb_cgroup_read(&topo->cgroup, getenv(NB_CGROUP_TEST_ROOT_ENV));
  topo->have_cgroup = true;
  for (int i = 0; i < topo->cgroup.nwarnings; i++)
    if (nb__strv_addf(&topo->warnings, "%s", topo->cgroup.warnings[i]) < 0)
      return NB_ENOMEM;
  return 0;
}
