/* numabench: kernel settings of this host (see numabench/host.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/host.h>

#include "nb-internal.h"

/* A small non-negative integer from a /proc or /sys file, -1 when absent or
 * not a number. */
static int read_small_int(const char *path)
{
  char buf[32];
  if (nb__read_sysfile(NULL, path, buf, sizeof buf) != 0)
    return -1;
  char *end;
  long v = strtol(buf, &end, 10);
  return end != buf && *end == '\0' && v >= 0 && v < 1000 ? (int)v : -1;
}

void nb_host_state_read(struct nb_host_state *s)
{
  char buf[128];
  s->numa_balancing = read_small_int("/proc/sys/kernel/numa_balancing");
  s->smt_active = read_small_int("/sys/devices/system/cpu/smt/active");
  if (s->smt_active > 1)
    s->smt_active = -1;
  s->thp[0] = '\0';
  /* "always [madvise] never": the bracketed word is the mode. */
  const char *open, *close;
  if (nb__read_sysfile(NULL, "/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) == 0 &&
      (open = strchr(buf, '[')) && (close = strchr(open, ']')) && close - open - 1 < (int)sizeof s->thp)
    snprintf(s->thp, sizeof s->thp, "%.*s", (int)(close - open - 1), open + 1);
}

/* kernel.numa_balancing is a bit mask (kernel/sched/fair.c): bit 0 (1)
 * migrates pages toward the CPUs that use them, bit 1 (2) promotes and
 * demotes pages between memory tiers; 3 is both. */
#define BALANCING_NORMAL 1
#define BALANCING_TIERING 2

const char *nb_host_state_warning(const struct nb_host_state *s)
{
  if (s->numa_balancing < 0)
    return NULL;
  switch (s->numa_balancing & (BALANCING_NORMAL | BALANCING_TIERING)) {
  case BALANCING_NORMAL:
    return "automatic NUMA balancing is on (kernel.numa_balancing=1): the kernel migrates the pages of "
           "unbound processes while they run, which changes mode none's result; sysctl "
           "kernel.numa_balancing=0 turns it off";
  case BALANCING_TIERING:
    return "NUMA balancing is in memory-tiering mode (kernel.numa_balancing=2): the kernel promotes and "
           "demotes pages between tiers while a job runs";
  case BALANCING_NORMAL | BALANCING_TIERING:
    return "automatic NUMA balancing is on with memory tiering (kernel.numa_balancing=3, bits 1 and 2): the "
           "kernel migrates the pages of unbound processes while they run, which changes mode none's "
           "result, and promotes and demotes pages between tiers; sysctl kernel.numa_balancing=0 turns "
           "both off";
  default:
    return NULL;
  }
}

const char *nb_host_balancing_name(int v)
{
  static const char *const names[] = {"off", "on", "memory tiering", "on and memory tiering"};
  return v >= 0 && v <= 3 ? names[v] : "unknown mode";
}
