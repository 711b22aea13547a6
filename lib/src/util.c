/* numabench: small helpers: string lists, sysfs files, CPU lists, bus ids. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <numabench/topo.h>

#include "nb-internal.h"

int nb__strv_addf(struct nb__strv *sv, const char *fmt, ...)
{
  if (sv->n == sv->cap) {
    int cap = sv->cap ? 2 * sv->cap : 4;
    char **v = realloc(sv->v, (size_t)cap * sizeof *v);
    if (!v)
      return NB_ENOMEM;
    sv->v = v;
    sv->cap = cap;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NB_EINTERNAL;
  char *s = malloc((size_t)n + 1);
  if (!s)
    return NB_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sv->v[sv->n++] = s;
  return 0;
}

void *nb__arena_keep(struct nb__arena *a, void *ptr)
{
  if (!ptr)
    return NULL;
  void **v = realloc(a->p, (size_t)(a->n + 1) * sizeof *v);
  if (!v) {
    free(ptr);
    return NULL;
  }
  a->p = v;
  v[a->n++] = ptr;
  return ptr;
}

void nb__arena_free(struct nb__arena *a)
{
  for (int i = 0; i < a->n; i++)
    free(a->p[i]);
  free(a->p);
  a->p = NULL;
  a->n = 0;
}

void nb__strv_free(struct nb__strv *sv)
{
  for (int i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = sv->cap = 0;
}

int nb__read_sysfile(const char *root, const char *path, char *buf, size_t len)
{
  char full[PATH_MAX];
  int n = snprintf(full, sizeof full, "%s%s", root && *root ? root : "", path);
  if (n < 0 || (size_t)n >= sizeof full)
    return -ENAMETOOLONG;
  /* Recorded trees are untrusted: never block on a FIFO or a device. */
  int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -EINVAL;
  }
  ssize_t got = read(fd, buf, len - 1);
  int saved = errno;
  close(fd);
  if (got < 0)
    return -saved;
  buf[got] = '\0';
  while (got > 0 && isspace((unsigned char)buf[got - 1]))
    buf[--got] = '\0';
  return 0;
}

int nb__cmp_int(const void *a, const void *b)
{
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int nb__parse_cpulist(const char *text, int max, int **out)
{
  int *v = NULL, n = 0, cap = 0;
  const char *p = text;
  *out = NULL;
  while (*p) {
    char *end;
    errno = 0;
    long lo = strtol(p, &end, 10);
    if (end == p || errno || lo < 0 || lo > max)
      goto bad;
    long hi = lo;
    p = end;
    if (*p == '-') {
      p++;
      hi = strtol(p, &end, 10);
      if (end == p || errno || hi < lo || hi > max)
        goto bad;
      p = end;
    }
    /* Each value at most once: a list longer than max + 1 entries is bad. */
    if (n + (hi - lo) >= (long)max + 1)
      goto bad;
    for (long c = lo; c <= hi; c++) {
      if (n == cap) {
        cap = cap ? 2 * cap : 16;
        int *nv = realloc(v, (size_t)cap * sizeof *v);
        if (!nv) {
          free(v);
          return NB_ENOMEM;
        }
        v = nv;
      }
      v[n++] = (int)c;
    }
    if (*p == ',')
      p++;
    else if (*p)
      goto bad;
  }
  if (n)
    qsort(v, (size_t)n, sizeof *v, nb__cmp_int);
  /* A value listed twice ("0-1,1-2") is counted once: the list is a set. */
  int k = 0;
  for (int i = 0; i < n; i++)
    if (k == 0 || v[i] != v[k - 1])
      v[k++] = v[i];
  *out = v;
  return k;
bad:
  free(v);
  return NB_EFORMAT;
}

int nb_format_cpulist(char *buf, size_t len, const int *cpus, int n)
{
  size_t need = 0;
  if (len)
    buf[0] = '\0';
  for (int i = 0; i < n;) {
    int j = i;
    while (j + 1 < n && cpus[j + 1] == cpus[j] + 1)
      j++;
    char part[32];
    int w = (j == i) ? snprintf(part, sizeof part, "%s%d", i ? "," : "", cpus[i])
                     : snprintf(part, sizeof part, "%s%d-%d", i ? "," : "", cpus[i], cpus[j]);
    if (need + (size_t)w < len)
      memcpy(buf + need, part, (size_t)w + 1);
    else if (need < len)
      buf[need] = '\0';
    need += (size_t)w;
    i = j + 1;
  }
  return (int)need;
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Parse exactly `digits` hex digits (1..maxdigits when digits is 0). */
static const char *parse_hex(const char *p, int mindigits, int maxdigits, unsigned *val)
{
  unsigned v = 0;
  int d = 0;
  while (d < maxdigits && hexval((unsigned char)p[d]) >= 0) {
    v = v * 16 + (unsigned)hexval((unsigned char)p[d]);
    d++;
  }
  if (d < mindigits || hexval((unsigned char)p[d]) >= 0)
    return NULL;
  *val = v;
  return p + d;
}

int nb_parse_bus_id(const char *text, char out[NB_BUSID_LEN])
{
  unsigned dom = 0, bus, dev, fn;
  const char *p = text;
  if (!p)
    return NB_EINVAL;
  /* Domain is optional; CUDA and nvidia-smi write it with 8 digits. */
  const char *colon1 = strchr(p, ':');
  if (!colon1)
    return NB_EINVAL;
  if (strchr(colon1 + 1, ':')) {
    if (!(p = parse_hex(p, 1, 8, &dom)) || *p++ != ':' || dom > 0xffff)
      return NB_EINVAL;
  }
  if (!(p = parse_hex(p, 1, 2, &bus)) || *p++ != ':')
    return NB_EINVAL;
  if (!(p = parse_hex(p, 1, 2, &dev)) || *p++ != '.' || dev > 0x1f)
    return NB_EINVAL;
  if (!(p = parse_hex(p, 1, 1, &fn)) || *p != '\0' || fn > 7)
    return NB_EINVAL;
  snprintf(out, NB_BUSID_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
  return 0;
}

char *nb__cpulist_dup(const int *cpus, int n)
{
  int need = nb_format_cpulist(NULL, 0, cpus, n);
  char *s = malloc((size_t)need + 1);
  if (s)
    nb_format_cpulist(s, (size_t)need + 1, cpus, n);
  return s;
}

void nb__gate_init(struct nb__gate *g)
{
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->arrived = g->open = 0;
}

void nb__gate_destroy(struct nb__gate *g)
{
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

void nb__gate_arrive(struct nb__gate *g)
{
  pthread_mutex_lock(&g->mu);
  g->arrived++;
  pthread_cond_broadcast(&g->cv);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

void nb__gate_open(struct nb__gate *g, int expected)
{
  pthread_mutex_lock(&g->mu);
  while (g->arrived < expected)
    pthread_cond_wait(&g->cv, &g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

double nb__now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
