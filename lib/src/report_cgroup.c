/* numabench: the cgroup limits in the topology and run reports. */
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "json.h"

static json_t *count_or_null(int64_t v)
{
  return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *text_or_null(const char *s)
{
  return s && *s ? nb__json_text(s) : json_null();
}

json_t *nb__cgroup_json(nb_topo_t topo)
{
  const struct nb_cgroup *cg = nb_topo_cgroup(topo);
  if (!cg)
    return json_null();
  json_t *warnings = json_array();
  for (int i = 0; warnings && i < cg->nwarnings; i++)
    json_array_append_new(warnings, nb__json_text(cg->warnings[i]));
  return json_pack(
      "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version",
      cg->version ? json_integer(cg->version) : json_null(), "path", text_or_null(cg->path), "cpu_quota_us",
      count_or_null(cg->cpu_quota_us), "cpu_period_us", count_or_null(cg->cpu_period_us), "cpu_quota_cpus",
      cg->cpu_limit > 0 ? json_real((double)cg->cpu_quota_us / (double)cg->cpu_period_us) : json_null(),
      "cpu_limit", count_or_null(cg->cpu_limit), "cpu_file", text_or_null(cg->cpu_file), "cpu_path",
      text_or_null(cg->cpu_limit > 0 ? cg->cpu_path : ""), "memory_limit_bytes", count_or_null(cg->mem_limit),
      "memory_used_bytes", count_or_null(cg->mem_used), "memory_available_bytes",
      count_or_null(cg->mem_avail), "memory_file", text_or_null(cg->mem_file), "memory_path",
      text_or_null(cg->mem_limit >= 0 ? cg->mem_path : ""), "cpu_version",
      cg->cpu_version ? json_integer(cg->cpu_version) : json_null(), "memory_version",
      cg->mem_version ? json_integer(cg->mem_version) : json_null(), "warnings", warnings);
}

int nb__cgroup_json_add(nb_topo_t topo, json_t *obj)
{
  if (!obj || !nb_topo_cgroup(topo))
    return 0;
  json_t *j = nb__cgroup_json(topo);
  return j && json_object_set_new(obj, "cgroup", j) == 0 ? 0 : -1;
}

static const char *gib(char *buf, size_t len, double bytes)
{
  if (bytes >= 1024.0 * 1024 * 1024)
    snprintf(buf, len, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
  else
    snprintf(buf, len, "%.0f MiB", bytes / (1024.0 * 1024));
  return buf;
}

/* A count of CPUs with up to two decimals, trailing zeros cut: 150, 12.5,
 * 0.25 (%g would print 1.5e+02 and round 12.5 to 12). */
const char *nb__cpus_text(char *buf, size_t len, double cpus)
{
  snprintf(buf, len, "%.2f", cpus);
  char *dot = strchr(buf, '.');
  if (dot) {
    char *end = buf + strlen(buf);
    while (end > dot + 1 && end[-1] == '0')
      *--end = '\0';
    if (end == dot + 1)
      *dot = '\0';
  }
  return buf;
}

/* "cgroup v2", or which controller came from which version on a host that
 * mounts both (a hybrid tree's memory limit may come from unified/). */
static void write_version(const struct nb_cgroup *cg, FILE *out)
{
  if (cg->cpu_version && cg->mem_version && cg->cpu_version != cg->mem_version)
    fprintf(out, "cgroup v%d (cpu) and v%d (memory)", cg->cpu_version, cg->mem_version);
  else
    fprintf(out, "cgroup v%d",
            cg->cpu_version   ? cg->cpu_version
            : cg->mem_version ? cg->mem_version
                              : cg->version);
}

void nb__cgroup_write_text(nb_topo_t topo, FILE *out)
{
  const struct nb_cgroup *cg = nb_topo_cgroup(topo);
  if (!cg)
    return;
  if (!cg->version) {
    fprintf(out, "cgroup: none found (no CPU quota or memory limit read)\n\n");
    return;
  }
  char q[32];
  fprintf(out, "cgroup: ");
  if (cg->cpu_limit > 0)
    fprintf(out, "CPU quota %s CPUs (%s %lld %lld at %s)",
            nb__cpus_text(q, sizeof q, (double)cg->cpu_quota_us / (double)cg->cpu_period_us), cg->cpu_file,
            (long long)cg->cpu_quota_us, (long long)cg->cpu_period_us, cg->cpu_path);
  else
    fprintf(out, "CPU quota none");
  char a[32], b[32] = "unknown";
  if (cg->mem_limit >= 0) {
    if (cg->mem_used >= 0)
      gib(b, sizeof b, (double)cg->mem_used);
    fprintf(out, ", memory limit %s (%s, %s used, at %s)", gib(a, sizeof a, (double)cg->mem_limit),
            cg->mem_file, b, cg->mem_path);
  } else {
    fprintf(out, ", memory limit none");
  }
  fprintf(out, "; ");
  write_version(cg, out);
  fprintf(out, " %s\n\n", cg->path);
}
