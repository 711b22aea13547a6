/* numabench: the parsers of option values, one per option type that is not
 * a plain integer (opts.c). Their messages name the value and what is wrong
 * with it; opts.c adds the option's name. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/opts.h>

#include "nb-internal.h"
#include "parse.h"

int nb_parse_size(const char *text, size_t *bytes)
{
  /* Decimal digits and a point only: no signs, hex, exponents, inf or nan. */
  size_t digits = strspn(text, "0123456789.");
  if (digits == 0 || (text[0] == '.' && digits == 1))
    return NB_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end != text + digits || errno || !isfinite(v) || v <= 0)
    return NB_EINVAL;
  double mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1024.0;
  else if (*end == 'M' || *end == 'm')
    mult = 1024.0 * 1024;
  else if (*end == 'G' || *end == 'g')
    mult = 1024.0 * 1024 * 1024;
  else if (*end)
    return NB_EINVAL;
  if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
    return NB_EINVAL;
  v *= mult;
  if (v < 4096 || v > 1e15)
    return NB_EINVAL;
  *bytes = (size_t)v;
  return 0;
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
  char tail;
  struct nb_shape s;
  if (sscanf(text, "%dx%dx%d%c", &s.c, &s.h, &s.w, &tail) != 3 || s.c <= 0 || s.h <= 0 || s.w <= 0 ||
      (double)s.c * s.h * s.w > (double)(1 << 28))
    return nb__err(err, NB_EINVAL,
                   "expected CxHxW with positive sizes and at most 2^28 values, e.g. 3x224x224");
  *shape = s;
  return 0;
}

int nb__parse_modes(const char *text, struct nb_modes *modes, nb_error_t *err)
{
  struct nb_modes m = {0};
  for (const char *p = text;;) {
    size_t len = strcspn(p, ",");
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
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
    char *end;
    if (!strncmp(text, stages[i].name, n) && text[n] == ':') {
      long b = strtol(text + n + 1, &end, 10);
      if (end != text + n + 1 && !*end && b >= 0) {
        *fault = (struct nb_fault){stages[i].stage, b};
        return 0;
      }
    }
  }
  return nb__err(err, NB_EINVAL, "expected worker:N, feeder:N, device:N or corrupt:N");
}
