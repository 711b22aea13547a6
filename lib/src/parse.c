/* numabench: the parsers of option values, one per option type that is not
 * a plain integer (opts.c). Their messages name the value and what is wrong
 * with it; opts.c adds the option's name. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/opts.h>

#include "nb-internal.h"
#include "parse.h"

int nb__parse_num(const char **p, long min, long max, long *v)
{
  const char *s = *p;
  bool neg = *s == '-';
  if (neg)
    s++;
  if (*s < '0' || *s > '9')
    return NB__NUM_SYNTAX;
  /* Every digit is consumed even past overflow, so that the caller's "what
   * follows" check sees the end of the number, not its middle. */
  unsigned long acc = 0;
  bool over = false;
  for (; *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (acc > ((unsigned long)LONG_MAX - d) / 10)
      over = true;
    else
      acc = acc * 10 + d;
  }
  if (neg && !over && acc == 0)
    return NB__NUM_SYNTAX; /* "-0": a sign only where it means something */
  *p = s;
  if (over)
    return NB__NUM_RANGE;
  long x = neg ? -(long)acc : (long)acc;
  if (x < min || x > max)
    return NB__NUM_RANGE;
  *v = x;
  return 0;
}

const char *nb__shown(const char *text, char *buf, size_t len)
{
  if (strlen(text) < len)
    return text;
  snprintf(buf, len, "%.*s...", (int)(len - 4), text);
  return buf;
}

int nb__parse_long(const char *text, long min, long max, long *v)
{
  const char *p = text;
  int rc = nb__parse_num(&p, min, max, v);
  if (rc == NB__NUM_SYNTAX || *p)
    return NB__NUM_SYNTAX;
  return rc;
}

int nb__parse_size(const char *text, size_t *bytes, nb_error_t *err)
{
  static const char usage[] = "expected a size of at least 4K, e.g. 64M or 1G";
  /* Decimal digits and a point only: no signs, hex, exponents, inf or nan. */
  size_t digits = strspn(text, "0123456789.");
  if (digits == 0 || (text[0] == '.' && digits == 1))
    return nb__err(err, NB_EINVAL, "%s", usage);
  char *end;
  double v = strtod(text, &end);
  if (end != text + digits || v <= 0)
    return nb__err(err, NB_EINVAL, "%s", usage);
  double mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1024.0;
  else if (*end == 'M' || *end == 'm')
    mult = 1024.0 * 1024;
  else if (*end == 'G' || *end == 'g')
    mult = 1024.0 * 1024 * 1024;
  else if (*end)
    return nb__err(err, NB_EINVAL, "%s", usage);
  if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
    return nb__err(err, NB_EINVAL, "%s", usage);
  v *= mult;
  /* strtod's overflow (inf) is a size too, only too big. */
  if (!isfinite(v) || v > 1e15)
    return nb__err(err, NB_EINVAL, "larger than any machine's memory (at most 1e15 bytes, e.g. 64M or 1G)");
  if (v < 4096)
    return nb__err(err, NB_EINVAL, "%s", usage);
  *bytes = (size_t)v;
  return 0;
}

int nb_parse_size(const char *text, size_t *bytes)
{
  return nb__parse_size(text, bytes, NULL);
}

int nb__parse_choice(const char *text, const char *const *choices, int *index, nb_error_t *err)
{
  int n = 0;
  for (; choices[n]; n++)
    if (!strcmp(text, choices[n])) {
      *index = n;
      return 0;
    }
  /* "expected a, b or c" */
  char list[256] = "";
  size_t used = 0;
  for (int i = 0; i < n && used < sizeof list; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                             i == 0       ? ""
                             : i == n - 1 ? " or "
                                          : ", ",
                             choices[i]);
  return nb__err(err, NB_EINVAL, "expected %s", list);
}

int nb__parse_shape(const char *text, struct nb_shape *shape, nb_error_t *err)
{
  long v[3] = {0, 0, 0};
  const char *p = text;
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; i++) {
    rc = nb__parse_num(&p, 1, 1 << 28, &v[i]);
    if (rc == 0 && *p != (i < 2 ? 'x' : '\0'))
      rc = NB__NUM_SYNTAX;
    p += i < 2;
  }
  if (rc < 0 || (double)v[0] * (double)v[1] * (double)v[2] > (double)(1 << 28))
    return nb__err(err, NB_EINVAL,
                   "expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224");
  *shape = (struct nb_shape){(int)v[0], (int)v[1], (int)v[2]};
  return 0;
}

int nb__parse_modes(const char *text, struct nb_modes *modes, nb_error_t *err)
{
  struct nb_modes m = {0};
  for (const char *p = text;;) {
    size_t len = strcspn(p, ",");
    char name[NB__SHOWN_LEN]; /* longer than any mode: cut and marked, never matched */
    if (len < sizeof name)
      snprintf(name, sizeof name, "%.*s", (int)len, p);
    else
      snprintf(name, sizeof name, "%.*s...", (int)sizeof name - 4, p);
    int k = nb_mode_parse(name);
    if (k < 0) {
      /* The names come from the planner's mode table. */
      char list[160] = "";
      size_t used = 0;
      for (int i = 0; i < NB_NMODES && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 nb_mode_info((enum nb_mode)i)->name);
      return nb__err(err, NB_EINVAL, "unknown mode '%s' (modes: %s)", name, list);
    }
    for (int i = 0; i < m.n; i++)
      if (m.mode[i] == (enum nb_mode)k)
        return nb__err(err, NB_EINVAL, "%s is listed twice", name);
    m.mode[m.n++] = (enum nb_mode)k;
    if (!p[len])
      break;
    p += len + 1;
  }
  *modes = m;
  return 0;
}

int nb_parse_fault(const char *text, struct nb_fault *fault, nb_error_t *err)
{
  static const struct {
    const char *name;
    enum nb_fault_stage stage;
  } stages[] = {{"worker", NB_FAULT_WORKER},
                {"feeder", NB_FAULT_FEEDER},
                {"device", NB_FAULT_DEVICE},
                {"corrupt", NB_FAULT_CORRUPT}};
  for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
    size_t n = strlen(stages[i].name);
    if (strncmp(text, stages[i].name, n) || text[n] != ':')
      continue;
    long b;
    int rc = text[n + 1] == '-' ? NB__NUM_SYNTAX : nb__parse_long(text + n + 1, 0, NB_FAULT_MAX_BATCH, &b);
    /* A batch no run reaches would never fire: the test it is for would
     * pass without testing anything. */
    char shown[NB__SHOWN_LEN];
    if (rc == NB__NUM_RANGE)
      return nb__err(err, NB_EINVAL, "batch '%s' is out of range: a run has at most %ld batches (0 to %ld)",
                     nb__shown(text + n + 1, shown, sizeof shown), (long)NB_FAULT_MAX_BATCH + 1,
                     (long)NB_FAULT_MAX_BATCH);
    if (rc == 0) {
      *fault = (struct nb_fault){stages[i].stage, b};
      return 0;
    }
  }
  return nb__err(err, NB_EINVAL, "expected worker:N, feeder:N, device:N or corrupt:N");
}

/* The syntax of --gpus; which GPUs exist, and duplicates, are checked by the
 * planner against the topology, in the order the items are given. */
int nb_parse_gpus(const char *text, struct nb_gpu_select *sel, nb_error_t *err)
{
  static const char usage[] = "give a count (e.g. 8) or a list of GPU indexes (e.g. 0,2,5 or 4-7)";
  struct nb_gpu_select s = {0};
  if (strlen(text) >= sizeof s.text)
    return nb__err(err, NB_EINVAL, "longer than %zu characters", sizeof s.text - 1);
  snprintf(s.text, sizeof s.text, "%s", text);
  for (const char *c = text; *c; c++)
    if (!((*c >= '0' && *c <= '9') || *c == ',' || *c == '-'))
      return nb__err(err, NB_EINVAL, "%s", usage);
  if (!strpbrk(text, ",-")) {
    int rc = nb__parse_long(text, 1, INT_MAX, &s.count);
    if (rc == NB__NUM_RANGE && strspn(text, "0") != strlen(text))
      return nb__err(err, NB_EINVAL, "count out of range (1 to %d)", INT_MAX);
    if (rc < 0)
      return nb__err(err, NB_EINVAL, "%s", usage);
    *sel = s;
    return 0;
  }
  for (const char *p = text;;) {
    long lo, hi;
    int rc = *p == '-' ? NB__NUM_SYNTAX : nb__parse_num(&p, 0, INT_MAX, &lo);
    if (rc == NB__NUM_RANGE)
      return nb__err(err, NB_EINVAL, "GPU index out of range (0 to %d) before '%s'", INT_MAX, p);
    if (rc < 0)
      return nb__err(err, NB_EINVAL, "'%s' is not a GPU index or range", p);
    hi = lo;
    if (*p == '-') {
      const char *dash = p++;
      rc = *p == '-' ? NB__NUM_SYNTAX : nb__parse_num(&p, 0, INT_MAX, &hi);
      if (rc == NB__NUM_RANGE)
        return nb__err(err, NB_EINVAL, "GPU index out of range (0 to %d) after '%.*s'", INT_MAX,
                       (int)(dash - text + 1), text);
      if (rc < 0 || hi < lo)
        return nb__err(err, NB_EINVAL, "bad range before '%s'", dash);
    }
    if (*p && *p != ',')
      return nb__err(err, NB_EINVAL, "unexpected '%s'", p);
    if (s.n == NB_MAX_GPU_ITEMS)
      return nb__err(err, NB_EINVAL, "more than %d items", NB_MAX_GPU_ITEMS);
    s.range[s.n].lo = lo;
    s.range[s.n++].hi = hi;
    if (!*p)
      break;
    p++;
  }
  *sel = s;
  return 0;
}

/* The syntax of --gpu-node; the planner checks the GPUs and nodes. */
int nb_parse_gpu_nodes(const char *text, struct nb_gpu_nodes *o, nb_error_t *err)
{
  static const char usage[] = "expected GPU=NODE[,GPU=NODE...], e.g. 3=1";
  struct nb_gpu_nodes s = {0};
  if (strlen(text) >= sizeof s.text)
    return nb__err(err, NB_EINVAL, "longer than %zu characters", sizeof s.text - 1);
  snprintf(s.text, sizeof s.text, "%s", text);
  for (const char *p = text; *p;) {
    long g, node;
    int rc = nb__parse_num(&p, 0, INT_MAX, &g);
    if (rc == 0 && *p != '=')
      rc = NB__NUM_SYNTAX;
    if (rc == 0) {
      p++;
      rc = nb__parse_num(&p, 0, INT_MAX, &node);
    }
    if (rc == 0 && (*p && (*p != ',' || !p[1])))
      rc = NB__NUM_SYNTAX;
    if (rc == NB__NUM_RANGE)
      return nb__err(err, NB_EINVAL, "GPU or node out of range (0 to %d) before '%s'", INT_MAX, p);
    if (rc < 0)
      return nb__err(err, NB_EINVAL, "%s", usage);
    p += *p == ',';
    if (s.n == NB_MAX_GPU_ITEMS)
      return nb__err(err, NB_EINVAL, "more than %d items", NB_MAX_GPU_ITEMS);
    s.item[s.n].gpu = g;
    s.item[s.n++].node = node;
  }
  *o = s;
  return 0;
}
