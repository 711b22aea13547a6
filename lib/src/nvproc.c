/* numabench: the NVIDIA driver's /proc view of its GPUs (see nvproc.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb-internal.h"
#include "nvproc.h"

static const char *test_root(const char *var)
{
  const char *r = getenv(var);
  return r && *r ? r : "";
}

const char *nb__proc_root(void)
{
  return test_root("NB_TEST_PROC_ROOT");
}

const char *nb__dev_root(void)
{
  return test_root("NB_TEST_DEV_ROOT");
}

/* The value of "Key:<spaces/tabs>value" on a line of text, copied to out;
 * false when the key is not there. */
static bool field(const char *text, const char *key, char *out, size_t len)
{
  size_t klen = strlen(key);
  for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, key, klen) != 0 || line[klen] != ':')
      continue;
    const char *v = line + klen + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    size_t n = strcspn(v, "\r\n");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
      n--;
    if (n >= len)
      n = len - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
  }
  return false;
}

int nb__nvproc_parse(const char *text, struct nb__nvgpu *g)
{
  char buf[128];
  memset(g, 0, sizeof *g);
  g->minor = -1;
  if (!field(text, "Bus Location", buf, sizeof buf) || nb_parse_bus_id(buf, g->bus_id) != 0)
    return NB_EFORMAT;
  if (field(text, "Device Minor", buf, sizeof buf)) {
    char *end;
    errno = 0;
    long m = strtol(buf, &end, 10);
    if (end != buf && *end == '\0' && errno == 0 && m >= 0 && m < 1 << 20)
      g->minor = (int)m;
  }
  if (field(text, "GPU UUID", buf, sizeof buf) && strlen(buf) < sizeof g->uuid)
    snprintf(g->uuid, sizeof g->uuid, "%s", buf);
  if (field(text, "Model", buf, sizeof buf))
    snprintf(g->model, sizeof g->model, "%.*s", (int)sizeof g->model - 1, buf);
  return 0;
}

static int by_bus_id(const void *a, const void *b)
{
  return strcmp(((const struct nb__nvgpu *)a)->bus_id, ((const struct nb__nvgpu *)b)->bus_id);
}

/* Far more than any machine has: a bound on what an untrusted tree costs. */
#define MAX_GPUS 1024

int nb__nvproc_gpus(struct nb__nvgpu **out, struct nb__strv *warnings, nb_error_t *err)
{
  char dir[PATH_MAX];
  *out = NULL;
  if (snprintf(dir, sizeof dir, "%s/proc/driver/nvidia/gpus", nb__proc_root()) >= (int)sizeof dir)
    return 0;
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  struct nb__nvgpu *v = NULL;
  int n = 0, cap = 0, rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < MAX_GPUS) {
    if (e->d_name[0] == '.')
      continue;
    char path[PATH_MAX], text[4096];
    if (snprintf(path, sizeof path, "/proc/driver/nvidia/gpus/%s/information", e->d_name) >= (int)sizeof path)
      continue;
    struct nb__nvgpu g;
    int r = nb__read_sysfile(nb__proc_root(), path, text, sizeof text);
    if (r != 0 || nb__nvproc_parse(text, &g) != 0) {
      if (warnings)
        nb__strv_addf(warnings, "%s/information: %s; GPU skipped", e->d_name,
                      r != 0 ? strerror(-r) : "no valid \"Bus Location\" line");
      continue;
    }
    if (n == cap) {
      int ncap = cap ? 2 * cap : 8;
      struct nb__nvgpu *nv = realloc(v, (size_t)ncap * sizeof *nv);
      if (!nv) {
        rc = nb__err(err, NB_ENOMEM, "out of memory reading %s", dir);
        break;
      }
      v = nv;
      cap = ncap;
    }
    v[n++] = g;
  }
  closedir(d);
  if (rc) {
    free(v);
    return rc;
  }
  qsort(v, (size_t)n, sizeof *v, by_bus_id);
  *out = v;
  return n;
}
