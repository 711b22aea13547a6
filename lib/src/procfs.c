/* numabench: readers of other processes' /proc entries (see procfs.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "nb-internal.h"
#include "nvproc.h"
#include "procfs.h"

/* The value of "Key:\t..." at the start of a line, or NULL. */
static const char *status_field(const char *text, const char *key)
{
  size_t klen = strlen(key);
  for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (!strncmp(l, key, klen) && l[klen] == ':') {
      l += klen + 1;
      while (*l == ' ' || *l == '\t')
        l++;
      return l;
    }
  return NULL;
}

/* A list field ("0-3,8") into a malloc'ed array; *n -1 when absent. */
static int status_list(const char *text, const char *key, int max, int **v, int *n)
{
  const char *f = status_field(text, key);
  *v = NULL;
  *n = -1;
  if (!f)
    return 0;
  char buf[8192];
  size_t len = strcspn(f, "\n");
  if (len >= sizeof buf)
    return -EINVAL;
  memcpy(buf, f, len);
  buf[len] = '\0';
  int r = len ? nb__parse_cpulist(buf, max, v) : 0;
  if (r < 0)
    return r == NB_ENOMEM ? -ENOMEM : -EINVAL;
  *n = r;
  return 0;
}

static long status_long(const char *text, const char *key, long dflt)
{
  const char *f = status_field(text, key);
  char *end;
  if (!f)
    return dflt;
  errno = 0;
  long v = strtol(f, &end, 10);
  return end == f || errno ? dflt : v;
}

/* Process and thread names are chosen by the process (prctl PR_SET_NAME):
 * control bytes and escape sequences there would break the audit's table or
 * drive the user's terminal, so every byte that is not printable ASCII is
 * shown as '?'. */
static void scrub(char *s)
{
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e)
      *s = '?';
}

int nb__pstatus_parse(const char *text, struct nb__pstatus *st)
{
  memset(st, 0, sizeof *st);
  const char *name = status_field(text, "Name");
  st->ppid = (int)status_long(text, "PPid", -1);
  st->tgid = (int)status_long(text, "Tgid", -1);
  st->uid = status_long(text, "Uid", -1);
  st->ncpus = st->nmems = -1;
  if (!name || st->ppid < 0)
    return -EINVAL;
  size_t n = strcspn(name, "\n");
  snprintf(st->name, sizeof st->name, "%.*s", (int)(n < sizeof st->name ? n : sizeof st->name - 1), name);
  scrub(st->name);
  int rc = status_list(text, "Cpus_allowed_list", NB_MAX_CPU_INDEX, &st->cpus, &st->ncpus);
  if (rc == 0)
    rc = status_list(text, "Mems_allowed_list", NB_MAX_NODE_INDEX, &st->mems, &st->nmems);
  if (rc < 0)
    nb__pstatus_free(st);
  return rc < 0 ? (rc == NB_ENOMEM ? -ENOMEM : -EINVAL) : 0;
}

void nb__pstatus_free(struct nb__pstatus *st)
{
  free(st->cpus);
  free(st->mems);
  st->cpus = st->mems = NULL;
}

static int proc_path(char *buf, size_t len, int pid, int tid, const char *file)
{
  int n = tid > 0 ? snprintf(buf, len, "/proc/%d/task/%d/%s", pid, tid, file)
                  : snprintf(buf, len, "/proc/%d/%s", pid, file);
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int nb__pstatus_read(int pid, int tid, struct nb__pstatus *st)
{
  char path[96], text[16384];
  memset(st, 0, sizeof *st);
  int rc = proc_path(path, sizeof path, pid, tid, "status");
  if (rc == 0)
    rc = nb__read_sysfile(nb__proc_root(), path, text, sizeof text);
  return rc < 0 ? rc : nb__pstatus_parse(text, st);
}

int nb__tstat_parse(const char *text, struct nb__tstat *t)
{
  memset(t, 0, sizeof *t);
  const char *open = strchr(text, '('), *close = strrchr(text, ')');
  if (!open || !close || close < open)
    return NB_EFORMAT;
  size_t n = (size_t)(close - open - 1);
  snprintf(t->comm, sizeof t->comm, "%.*s", (int)(n < sizeof t->comm ? n : sizeof t->comm - 1), open + 1);
  scrub(t->comm);
  /* Fields from 3 on, after the name: field k is token k - 3. */
  const char *p = close + 1;
  unsigned long long utime = 0, stime = 0;
  int got = 0;
  for (int field = 3; field <= 39; field++) {
    while (*p == ' ')
      p++;
    if (!*p || *p == '\n')
      return NB_EFORMAT;
    const char *tok = p;
    p += strcspn(p, " \n");
    char *end;
    errno = 0;
    if (field == 3) {
      t->state = *tok;
      got++;
    } else if (field == 4 || field == 14 || field == 15 || field == 39) {
      long long v = strtoll(tok, &end, 10);
      if (end != p || errno || v < 0)
        return NB_EFORMAT;
      if (field == 4)
        t->ppid = v > INT_MAX ? -1 : (int)v;
      else if (field == 14)
        utime = (unsigned long long)v;
      else if (field == 15)
        stime = (unsigned long long)v;
      else
        t->processor = v > NB_MAX_CPU_INDEX ? -1 : (int)v;
      got++;
    }
  }
  t->ticks = utime + stime;
  return got == 5 ? 0 : NB_EFORMAT;
}

int nb__tstat_read(int pid, int tid, struct nb__tstat *t)
{
  char path[96], text[2048];
  int rc = proc_path(path, sizeof path, pid, tid, "stat");
  if (rc == 0)
    rc = nb__read_sysfile(nb__proc_root(), path, text, sizeof text);
  return rc < 0 ? rc : nb__tstat_parse(text, t) == 0 ? 0 : -EINVAL;
}

/* Far more than a machine runs; bounds what a recorded tree costs. */
#define MAX_IDS (1 << 22)

int nb__proc_ids(int pid, int **ids)
{
  char dir[PATH_MAX];
  *ids = NULL;
  int n = pid > 0 ? snprintf(dir, sizeof dir, "%s/proc/%d/task", nb__proc_root(), pid)
                  : snprintf(dir, sizeof dir, "%s/proc", nb__proc_root());
  if (n < 0 || (size_t)n >= sizeof dir)
    return -ENAMETOOLONG;
  DIR *d = opendir(dir);
  if (!d)
    return -errno;
  int *v = NULL, cnt = 0, cap = 0, rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) && cnt < MAX_IDS) {
    char *end;
    long id = strtol(e->d_name, &end, 10);
    if (!isdigit((unsigned char)e->d_name[0]) || *end || id <= 0 || id > INT_MAX)
      continue;
    if (cnt == cap) {
      int ncap = cap ? 2 * cap : 64;
      int *nv = realloc(v, (size_t)ncap * sizeof *nv);
      if (!nv) {
        rc = -ENOMEM;
        break;
      }
      v = nv;
      cap = ncap;
    }
    v[cnt++] = (int)id;
  }
  closedir(d);
  if (rc) {
    free(v);
    return rc;
  }
  qsort(v, (size_t)cnt, sizeof *v, nb__cmp_int);
  *ids = v;
  return cnt;
}

/* Append s to the growing string, quoted for a POSIX shell when it holds
 * anything but safe characters. */
static void shell_word(char *out, size_t len, size_t *used, const char *s)
{
  bool plain = *s != '\0';
  for (const char *c = s; *c; c++)
    if (!isalnum((unsigned char)*c) && !strchr("@%+=:,./_-", *c))
      plain = false;
  if (*used && *used < len)
    out[(*used)++] = ' ';
  if (plain) {
    for (const char *c = s; *c && *used < len; c++)
      out[(*used)++] = isprint((unsigned char)*c) ? *c : '?';
    return;
  }
  if (*used < len)
    out[(*used)++] = '\'';
  for (const char *c = s; *c && *used + 4 < len; c++) {
    if (*c == '\'') {
      memcpy(out + *used, "'\\''", 4);
      *used += 4;
    } else
      out[(*used)++] = isprint((unsigned char)*c) ? *c : '?';
  }
  if (*used < len)
    out[(*used)++] = '\'';
}

/* Open <proc root>/proc/PID/FILE for reading: a descriptor, or -errno
 * (-EINVAL for what is not a regular file: a recorded tree is untrusted,
 * and a FIFO there must not block the audit). */
static int open_proc_file(int pid, int tid, const char *file)
{
  char rel[128], path[PATH_MAX];
  if (proc_path(rel, sizeof rel, pid, tid, file) != 0 ||
      snprintf(path, sizeof path, "%s%s", nb__proc_root(), rel) >= (int)sizeof path)
    return -ENAMETOOLONG;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -EINVAL;
  }
  return fd;
}

int nb__proc_environ(int pid, char ***out)
{
  enum { cap = 256 * 1024 };
  *out = NULL;
  int fd = open_proc_file(pid, 0, "environ");
  if (fd < 0)
    return fd;
  char *raw = malloc(cap + 1);
  if (!raw) {
    close(fd);
    return -ENOMEM;
  }
  size_t got = 0;
  for (ssize_t n; got < cap && (n = read(fd, raw + got, cap - got)) != 0; got += (size_t)n)
    if (n < 0) {
      int e = errno;
      close(fd);
      free(raw);
      return -e;
    }
  close(fd);
  raw[got] = '\0';
  size_t count = 0;
  for (size_t i = 0; i < got; i += strlen(raw + i) + 1)
    count++;
  /* The pointers first, then the strings, in one block. */
  char **v = malloc((count + 1) * sizeof *v + got + 1);
  if (!v) {
    free(raw);
    return -ENOMEM;
  }
  char *text = (char *)(v + count + 1);
  memcpy(text, raw, got + 1);
  free(raw);
  size_t k = 0;
  for (size_t i = 0; i < got; i += strlen(text + i) + 1)
    v[k++] = text + i;
  v[k] = NULL;
  *out = v;
  return 0;
}

int nb__proc_cmdline(int pid, char **out)
{
  char raw[4096];
  *out = NULL;
  int fd = open_proc_file(pid, 0, "cmdline");
  if (fd < 0)
    return fd;
  ssize_t got = read(fd, raw, sizeof raw - 1);
  int e = errno;
  close(fd);
  if (got < 0)
    return -e;
  raw[got] = '\0';
  size_t cap = 3 * (size_t)got + 16, used = 0;
  char *s = malloc(cap + 1);
  if (!s)
    return -ENOMEM;
  /* Arguments are NUL-separated; a long command line is cut at 4 KiB. */
  for (ssize_t i = 0; i < got; i += (ssize_t)strlen(raw + i) + 1)
    shell_word(s, cap, &used, raw + i);
  s[used] = '\0';
  *out = s;
  return 0;
}

int nb__proc_nvidia_minors(int pid, int *minors, int max)
{
  char dir[PATH_MAX];
  int n = snprintf(dir, sizeof dir, "%s/proc/%d/fd", nb__proc_root(), pid);
  if (n < 0 || (size_t)n >= sizeof dir)
    return -ENAMETOOLONG;
  DIR *d = opendir(dir);
  if (!d)
    return -errno;
  int cnt = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[PATH_MAX];
    struct stat st;
    /* stat follows the fd's link to the inode it holds open: the device
     * numbers say what it is, whatever the node was called. */
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path || stat(path, &st) != 0 ||
        !S_ISCHR(st.st_mode) || major(st.st_rdev) != NB_NVIDIA_MAJOR)
      continue;
    int m = (int)minor(st.st_rdev), k = 0;
    while (k < cnt && minors[k] != m)
      k++;
    if (k == cnt && cnt < max)
      minors[cnt++] = m;
  }
  closedir(d);
  qsort(minors, (size_t)cnt, sizeof *minors, nb__cmp_int);
  return cnt;
}

const char *nb__mem_kind_name(enum nb__mem_kind k)
{
  static const char *const names[] = {"anon", "file", "shm", "device"};
  return k < NB__MEM_NKINDS ? names[k] : "?";
}

static enum nb__mem_kind file_kind(const char *path, size_t len)
{
  if ((len >= 9 && !strncmp(path, "/dev/shm/", 9)) || (len >= 5 && !strncmp(path, "/SYSV", 5)) ||
      (len >= 7 && !strncmp(path, "/memfd:", 7)))
    return NB__MEM_SHM;
  if (len >= 5 && !strncmp(path, "/dev/", 5))
    return NB__MEM_DEVICE;
  return NB__MEM_FILE;
}

/* One "N<node>=<pages>" token into v (pages, scaled later). */
static int node_token(const char *tok, size_t len, struct nb__vma *v)
{
  char buf[64], *end;
  if (len >= sizeof buf)
    return NB_EFORMAT;
  memcpy(buf, tok, len);
  buf[len] = '\0';
  errno = 0;
  long node = strtol(buf + 1, &end, 10);
  if (end == buf + 1 || *end != '=' || node < 0 || node > NB_MAX_NODE_INDEX)
    return NB_EFORMAT;
  const char *num = end + 1;
  unsigned long long pages = strtoull(num, &end, 10);
  /* 2^32 pages of at most 1 GiB: no product overflows 64 bits. */
  if (end == num || *end || errno || pages > (1ULL << 32))
    return NB_EFORMAT;
  if (v->nnodes < NB__VMA_NODES) {
    v->node[v->nnodes] = (int)node;
    v->bytes[v->nnodes++] = pages;
  } else
    v->other_bytes += pages;
  return 0;
}

int nb__vma_parse(const char *line, struct nb__vma *v)
{
  memset(v, 0, sizeof *v);
  char *end;
  errno = 0;
  v->start = strtoul(line, &end, 16);
  if (end == line || *end != ' ' || errno)
    return NB_EFORMAT;
  const char *p = end + 1;
  /* Two policy names hold a space ("prefer (many):0-1", "weighted
   * interleave:0-1"): the policy runs on to the space after them. */
  static const char *const spaced[] = {"prefer (many)", "weighted interleave"};
  size_t skip = 0;
  for (size_t i = 0; i < sizeof spaced / sizeof spaced[0]; i++)
    if (!strncmp(p, spaced[i], strlen(spaced[i])))
      skip = strlen(spaced[i]);
  size_t plen = skip + strcspn(p + skip, " \n");
  if (plen == 0 || plen >= sizeof v->policy)
    return NB_EFORMAT;
  memcpy(v->policy, p, plen);
  v->policy[plen] = '\0';
  p += plen;
  unsigned long long page_kb = 4;
  v->kind = NB__MEM_ANON;
  while (*p == ' ') {
    p++;
    size_t len = strcspn(p, " \n");
    if (len > 5 && !strncmp(p, "file=", 5))
      v->kind = file_kind(p + 5, len - 5);
    else if (len == 4 && !strncmp(p, "huge", 4))
      v->huge = true;
    else if (len == 5 && !strncmp(p, "stack", 5))
      v->stack = true;
    else if (len == 4 && !strncmp(p, "heap", 4))
      v->heap = true;
    else if (len > 17 && !strncmp(p, "kernelpagesize_kB=", 18)) {
      page_kb = strtoull(p + 18, &end, 10);
      if (end != p + len || page_kb == 0 || page_kb > (1ULL << 20))
        return NB_EFORMAT;
    } else if (len > 1 && p[0] == 'N' && isdigit((unsigned char)p[1]) && node_token(p, len, v) != 0)
      return NB_EFORMAT;
    p += len;
  }
  if (*p && *p != '\n')
    return NB_EFORMAT;
  /* Node counts are pages of the mapping's page size, which the line
   * gives after them. */
  for (int i = 0; i < v->nnodes; i++)
    v->bytes[i] *= page_kb * 1024;
  v->other_bytes *= page_kb * 1024;
  return 0;
}

int nb__numa_maps_each(int pid, int tid, int (*each)(void *arg, const struct nb__vma *v), void *arg, int *bad)
{
  *bad = 0;
  int fd = open_proc_file(pid, tid, "numa_maps");
  if (fd < 0)
    return fd;
  FILE *f = fdopen(fd, "r");
  if (!f) {
    int e = errno;
    close(fd);
    return -e;
  }
  char *line = NULL;
  size_t cap = 0;
  int rc = 0;
  struct nb__vma v;
  errno = 0;
  while (getline(&line, &cap, f) >= 0) {
    if (nb__vma_parse(line, &v) != 0) {
      (*bad)++;
      continue;
    }
    if ((rc = each(arg, &v)) != 0)
      break;
  }
  /* /proc refuses at the first read, not at open, for another user's
   * process (the ptrace check runs when the file is read). */
  if (rc == 0 && ferror(f))
    rc = -(errno ? errno : EIO);
  free(line);
  fclose(f);
  return rc;
}

/* The private writable areas of pid. Returns their count (*out malloc'ed)
 * or -errno. */
int nb__proc_private_areas(int pid, struct nb__area **out)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", pid);
  FILE *f = fopen(path, "re");
  *out = NULL;
  if (!f)
    return -errno;
  struct nb__area *v = NULL;
  int n = 0, cap = 0;
  bool keep = false; /* the last header's area is kept */
  char *line = NULL;
  size_t len = 0;
  while (getline(&line, &len, f) >= 0) {
    unsigned long s, e, kb;
    char perms[8];
    int used = 0;
    if (sscanf(line, "%lx-%lx %7s %n", &s, &e, perms, &used) == 3 && used > 0) {
      keep = perms[1] == 'w' && perms[3] == 'p';
      if (!keep)
        continue;
      if (n == cap) {
        struct nb__area *g = realloc(v, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *v);
        if (!g) {
          n = -ENOMEM;
          break;
        }
        v = g;
      }
      v[n++] = (struct nb__area){s, e, false};
    } else if (keep && ((sscanf(line, "THPeligible: %lu", &kb) == 1 && kb) ||
                        (sscanf(line, "AnonHugePages: %lu", &kb) == 1 && kb))) {
      v[n - 1].thp = true;
    }
  }
  free(line);
  fclose(f);
  if (n < 0)
    free(v);
  else
    *out = v;
  return n;
}
