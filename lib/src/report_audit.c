/* numabench: the audit records as JSON and text, for the run's and plan
 * --check's reports (the records are measured in audit.c). */
#include <string.h>

#include <numabench/audit.h>

#include "audit-internal.h"
#include "json.h"

json_t *nb__hist_json(const struct nb_hist *h, nb_topo_t topo)
{
  json_t *a = json_array();
  for (int i = 0; a && i < h->nnodes; i++)
    if (h->count[i])
      json_array_append_new(a, json_pack("{s:i, s:I}", "node", nb_topo_node(topo, i)->os_index, "count",
                                         (json_int_t)h->count[i]));
  return json_pack("{s:o, s:I, s:I}", "nodes", a, "other", (json_int_t)h->other, "total",
                   (json_int_t)h->total);
}

static json_t *errno_json(int e)
{
  return e ? json_string(strerror(e)) : json_null();
}

static const char *role_name(enum nb_role r)
{
  return r == NB_ROLE_FEEDER ? "feeder" : r == NB_ROLE_WORKER ? "worker" : "device";
}

json_t *nb__taudit_json(const struct nb__taudit *a, nb_topo_t topo)
{
  json_t *nodes = json_array(), *seen = json_array();
  for (int n = 0; nodes && n < a->bind.nmem_nodes_seen; n++)
    json_array_append_new(nodes, json_integer(a->bind.mem_nodes_seen[n]));
  for (int n = 0; seen && n < a->nseen; n++)
    json_array_append_new(seen, json_integer(a->seen[n]));
  return json_pack(
      "{s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:b, s:b, s:o}", "role",
      role_name(a->tp->role), "worker", a->tp->worker >= 0 ? json_integer(a->tp->worker) : json_null(),
      "planned_cpu_node", a->tp->cpu_node >= 0 ? json_integer(a->tp->cpu_node) : json_null(), "bind_level",
      a->bind.level ? a->bind.level : "none", "cpu_error", errno_json(a->bind.cpu_errno), "mem_error",
      errno_json(a->bind.mem_errno), "cpu_samples", nb__hist_json(&a->cpus, topo), "cpus_seen", seen,
      "mem_policy_seen", nb_mem_seen_name(a->bind.mem_seen), "mem_nodes_seen", nodes, "share_on_planned_node",
      a->tp->cpu_node >= 0 && a->observed ? json_real(a->share) : json_null(), "observed", a->observed, "ok",
      a->ok, "why", a->why ? json_string(a->why) : json_null());
}

json_t *nb__baudit_json(const struct nb__baudit *a, nb_topo_t topo)
{
  return json_pack("{s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:f, s:b, s:o}", "name", a->name, "worker",
                   a->worker >= 0 ? json_integer(a->worker) : json_null(), "planned_policy",
                   nb_mem_policy_name(a->plan.policy), "planned_node",
                   a->plan.node >= 0 ? json_integer(a->plan.node) : json_null(), "policy",
                   nb_mem_seen_name(a->policy), "policy_error", errno_json(a->mbind_errno), "pages",
                   nb__hist_json(&a->pages, topo), "page_query_error", errno_json(a->unverifiable),
                   "share_on_planned_node",
                   a->plan.policy != NB_MEM_DEFAULT ? json_real(a->share) : json_null(), "alloc_s",
                   a->alloc_s, "ok", a->ok, "why", a->why ? json_string(a->why) : json_null());
}

json_t *nb__numastat_json(const struct nb_numastat *b, const struct nb_numastat *a)
{
  json_t *arr = json_array();
  for (int i = 0; arr && i < a->nnodes && i < b->nnodes; i++)
    json_array_append_new(arr, json_pack("{s:i, s:I, s:I, s:I, s:I}", "node", a->node[i], "numa_hit",
                                         (json_int_t)(a->numa_hit[i] - b->numa_hit[i]), "numa_miss",
                                         (json_int_t)(a->numa_miss[i] - b->numa_miss[i]), "numa_foreign",
                                         (json_int_t)(a->numa_foreign[i] - b->numa_foreign[i]), "other_node",
                                         (json_int_t)(a->other_node[i] - b->other_node[i])));
  return arr;
}

const char *nb__hist_text(char *buf, size_t len, const struct nb_hist *h, nb_topo_t topo)
{
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < h->nnodes && used < len; i++) {
    if (!h->count[i])
      continue;
    used += (size_t)snprintf(buf + used, len - used, "%snode %d %.0f%%", used ? ", " : "",
                             nb_topo_node(topo, i)->os_index, 100.0 * (double)h->count[i] / (double)h->total);
  }
  if (h->other && used < len)
    snprintf(buf + used, len - used, "%sno node %.0f%%", used ? ", " : "",
             100.0 * (double)h->other / (double)h->total);
  if (!h->total)
    snprintf(buf, len, "no samples");
  return buf;
}
