/* numabench: exec's one line per rank, as text or JSON (docs/exec-json.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/exec.h>

#include "json.h"
#include "nb-internal.h"

static const char *source_text(const char *source)
{
  if (!source)
    return "none";
  if (!strcmp(source, "cuda"))
    return "the CUDA runtime";
  if (!strcmp(source, "nvidia-proc"))
    return "/proc/driver/nvidia";
  if (!strcmp(source, "devices"))
    return "--devices";
  if (!strcmp(source, "pci"))
    return "PCI bus order";
  return "--gpu";
}

/* "bind 0", "interleave 0,1", "default" as the kernel reports it. */
static void mem_text(const struct nb_exec_bound *b, char *buf, size_t len)
{
  if (!b) {
    snprintf(buf, len, "not set");
    return;
  }
  size_t used = (size_t)snprintf(buf, len, "%s", nb_mem_seen_name(b->st.mem_seen));
  for (int i = 0; i < b->st.nmem_nodes_seen && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? "," : " ", b->st.mem_nodes_seen[i]);
}

static int write_text(const struct nb_exec_report *rep, FILE *out)
{
  const struct nb_rank *r = rep->rank;
  const struct nb_exec_place *p = rep->place;
  const struct nb_exec_bound *b = rep->bound;
  char *cpus = b ? nb__cpulist_dup(b->cpus_seen, b->ncpus_seen) : NULL;
  char mem[96];
  mem_text(b, mem, sizeof mem);
  int rc = fprintf(out, "numabench exec: ");
  if (r && r->local_rank >= 0)
    rc = fprintf(out, "rank %d -> ", r->local_rank);
  if (r && r->gpu.bus_id[0])
    rc = fprintf(out, "GPU %d %s node %d", r->gpu.index, r->gpu.bus_id, r->gpu.numa_node);
  if (rep->unbound_reason) {
    rc = fprintf(out, "%sUNBOUND (--allow-unbound): %s", r ? ": " : "", rep->unbound_reason);
  } else {
    rc = fprintf(out, ": CPUs %s%s, memory %s", cpus ? cpus : "?", p && p->ncpus ? "" : " (unbound)", mem);
    if (p && p->cpu_node >= 0 && p->cpu_node != r->gpu.numa_node)
      rc = fprintf(out, " (CPUs on node %d)", p->cpu_node);
  }
  if (r && !strcmp(r->rank_from, "--gpu"))
    rc = fprintf(out, " [--gpu");
  else if (r)
    rc = fprintf(out, " [%s=%d", r->rank_from, r->local_rank);
  if (r && r->entry[0])
    rc = fprintf(out, ", CUDA_VISIBLE_DEVICES entry %s", r->entry);
  if (r)
    rc = fprintf(out, ", GPU list from %s", source_text(r->source));
  if (p)
    rc = fprintf(out, "; mode %s, policy %s, mem %s", nb_mode_name(p->mode), nb_exec_policy_name(p->policy),
                 nb_exec_mem_name(p->mem));
  if (r)
    rc = fprintf(out, "]");
  for (int i = 0; r && i < r->nnotes; i++)
    rc = fprintf(out, "; %s", r->notes[i]);
  for (int i = 0; p && i < p->nnotes; i++)
    rc = fprintf(out, "; %s", p->notes[i]);
  if (b && !b->achieved && !rep->unbound_reason)
    rc = fprintf(out, "; NOT ACHIEVED (bind level %s)", b->st.level ? b->st.level : "none");
  if (rc >= 0)
    rc = fputc('\n', out);
  free(cpus);
  return rc < 0 ? -1 : 0;
}

static json_t *gpu_json(const struct nb_rank *r)
{
  json_t *g = json_object();
  json_object_set_new(g, "index", nb__json_int_or_null(r->gpu.index));
  json_object_set_new(g, "bus_id", r->gpu.bus_id[0] ? json_string(r->gpu.bus_id) : json_null());
  json_object_set_new(g, "numa_node", nb__json_int_or_null(r->gpu.numa_node));
  json_object_set_new(g, "node_overridden", json_boolean(r->gpu.node_overridden));
  json_object_set_new(g, "uuid", r->gpu.uuid[0] ? nb__json_text(r->gpu.uuid) : json_null());
  json_object_set_new(g, "source", json_string(r->source ? r->source : "none"));
  json_object_set_new(g, "entry", r->entry[0] ? nb__json_text(r->entry) : json_null());
  return g;
}

static json_t *line_json(const struct nb_exec_report *rep)
{
  const struct nb_rank *r = rep->rank;
  const struct nb_exec_place *p = rep->place;
  const struct nb_exec_bound *b = rep->bound;
  json_t *o = json_object(), *notes = json_array();
  json_object_set_new(o, "schema_version", json_integer(1));
  json_object_set_new(o, "local_rank", r ? nb__json_int_or_null(r->local_rank) : json_null());
  json_object_set_new(o, "rank_from", r ? json_string(r->rank_from) : json_null());
  json_object_set_new(o, "local_world_size",
                      r && r->local_world_size ? json_integer(r->local_world_size) : json_null());
  json_object_set_new(o, "gpu", r ? gpu_json(r) : json_null());
  json_object_set_new(o, "mode", p ? json_string(nb_mode_name(p->mode)) : json_null());
  json_object_set_new(o, "policy", p ? json_string(nb_exec_policy_name(p->policy)) : json_null());
  json_object_set_new(o, "mem", p ? json_string(nb_exec_mem_name(p->mem)) : json_null());
  json_object_set_new(o, "cpu_node", p ? nb__json_int_or_null(p->cpu_node) : json_null());
  json_object_set_new(o, "cpus_planned", p ? nb__json_ints(p->cpus, p->ncpus) : json_null());
  json_object_set_new(o, "mem_node", p ? nb__json_int_or_null(p->mem_node) : json_null());
  json_object_set_new(o, "cpus_seen", b ? nb__json_ints(b->cpus_seen, b->ncpus_seen) : json_null());
  json_object_set_new(o, "mem_policy_seen", b ? json_string(nb_mem_seen_name(b->st.mem_seen)) : json_null());
  json_object_set_new(o, "mem_nodes_seen",
                      b ? nb__json_ints(b->st.mem_nodes_seen, b->st.nmem_nodes_seen) : json_null());
  json_object_set_new(o, "bind_level", b && b->st.level ? json_string(b->st.level) : json_null());
  json_object_set_new(o, "achieved", b ? json_boolean(b->achieved) : json_false());
  json_object_set_new(o, "unbound_reason",
                      rep->unbound_reason ? nb__json_text(rep->unbound_reason) : json_null());
  json_object_set_new(o, "cuda_device_order", r ? json_string("PCI_BUS_ID") : json_null());
  json_object_set_new(o, "cuda_visible_devices",
                      rep->cuda_visible_devices ? nb__json_text(rep->cuda_visible_devices) : json_null());
  json_object_set_new(o, "cuda_visible_devices_rewritten", json_boolean(r && r->cvd_rewritten));
  for (int i = 0; r && i < r->nnotes; i++)
    json_array_append_new(notes, nb__json_text(r->notes[i]));
  for (int i = 0; p && i < p->nnotes; i++)
    json_array_append_new(notes, nb__json_text(p->notes[i]));
  json_object_set_new(o, "notes", notes);
  json_object_set_new(o, "command", nb__json_text(rep->command ? rep->command : ""));
  return o;
}

int nb_exec_write_line(const struct nb_exec_report *rep, bool json, FILE *out, nb_error_t *err)
{
  if (json) {
    json_t *o = line_json(rep);
    if (!o)
      return nb__err(err, NB_ENOMEM, "exec: out of memory");
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
      return nb__err(err, NB_ENOMEM, "exec: out of memory");
    int rc = fprintf(out, "%s\n", text);
    free(text);
    if (rc < 0 || fflush(out) == EOF)
      return nb__err_sys(err, NB_EIO, errno, "exec: writing the JSON line");
    return 0;
  }
  if (write_text(rep, out) < 0 || fflush(out) == EOF)
    return nb__err_sys(err, NB_EIO, errno, "exec: writing the line");
  return 0;
}
