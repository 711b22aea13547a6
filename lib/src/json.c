/* numabench: small JSON helpers shared by every file that writes JSON. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "nb-internal.h"

/* Length of the valid UTF-8 sequence at p, 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
  if (p[0] < 0x80)
    return 1;
  size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (!n || (p[0] == 0xc0 || p[0] == 0xc1) || p[0] > 0xf4)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

json_t *nb__json_text(const char *text)
{
  if (!text)
    return json_null();
  json_t *s = json_string(text);
  if (s)
    return s;
  char *copy = strdup(text);
  if (!copy)
    return NULL;
  unsigned char *p = (unsigned char *)copy;
  while (*p) {
    size_t n = utf8_len(p);
    if (n) {
      p += n;
    } else {
      *p++ = '?';
    }
  }
  s = json_string(copy);
  free(copy);
  return s;
}

json_t *nb__json_ints(const int *v, int n)
{
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_integer(v[i])) < 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

json_t *nb__json_int_or_null(int v)
{
  return v >= 0 ? json_integer(v) : json_null();
}

json_t *nb__json_num(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

int nb__json_write(json_t *doc, FILE *out, const char *what, nb_error_t *err)
{
  if (!doc)
    return nb__err(err, NB_ENOMEM, "%s: out of memory building JSON", what);
  if (json_dumpf(doc, out, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 || fputc('\n', out) == EOF ||
      fflush(out) == EOF || ferror(out))
    return nb__err_sys(err, NB_EIO, errno, "%s: writing JSON", what);
  return 0;
}

int nb__json_write_new(json_t *doc, FILE *out, const char *what, nb_error_t *err)
{
  int rc = nb__json_write(doc, out, what, err);
  json_decref(doc);
  return rc;
}
