/* numabench audit: where a running job's processes, threads and pages
 * really are, per GPU rank (the library's job_audit.h). Exit status: 0, 1
 * when something about a named process could not be read (said in the
 * report), 2 bad input (a PID that is not running, a malformed --pid or
 * --duration), 3 with --expect-local when a rank is not local. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <numabench/job_audit.h>

#include "cli.h"

/* Bounds --duration: an audit samples while the user waits. */
#define MAX_DURATION_S 3600.0

static int parse_duration(const char *text, double *s)
{
  char *end, shown[CLI_SHOWN];
  errno = 0;
  *s = text ? strtod(text, &end) : 1.0;
  if (text && (end == text || *end || errno || !isfinite(*s) || *s < 0 || *s > MAX_DURATION_S))
    return cli_usage("numabench audit: --duration '%s': expected seconds from 0 to %.0f (e.g. 2 or 0.5)",
                     cli_shown(text, shown), MAX_DURATION_S);
  return 0;
}

int cmd_audit(const struct nb_config *cfg, int argc, char **argv)
{
  (void)argc;
  (void)argv;
  nb_error_t err = {0};
  struct nb_job_audit_config ac = {.gpu_procs = cfg->gpu_procs, .children = cfg->children};
  if (parse_duration(cfg->duration, &ac.duration_s) != 0)
    return CLI_EXIT_USAGE;
  if (!cfg->pid && !cfg->gpu_procs)
    return cli_usage("numabench audit: nothing to audit: give --pid PID[,PID...] or --gpu-procs");
  struct nb_job_target *targets = NULL;
  if (cfg->pid) {
    int n = nb_job_targets_parse(cfg->pid, &targets, &err);
    if (n < 0)
      return cli_fail(&err);
    ac.targets = targets;
    ac.ntargets = n;
  }
  /* The audit is of this machine only: its GPUs and nodes must be the ones
   * the processes run on, so there is no --topology. It never asks the CUDA
   * runtime: that would create a context on every GPU of the running job
   * (memory on each, and a failure under exclusive-process compute mode);
   * the GPUs are the PCI devices, in bus order, as with --no-cuda. */
  nb_topo_t topo;
  struct nb_topo_config tc = {.devices = cfg->devices, .no_cuda = true};
  if (nb_topo_load(&topo, &tc, &err) < 0) {
    free(targets);
    return cli_fail(&err);
  }
  nb_job_audit_t a;
  int rc = nb_job_audit_run(topo, &ac, &a, &err);
  free(targets);
  if (rc < 0) {
    nb_topo_free(topo);
    return cli_fail(&err);
  }
  rc = cfg->json ? nb_job_audit_write_json(a, stdout, &err) : nb_job_audit_write_text(a, stdout, &err);
  int status = rc < 0 ? cli_fail(&err) : 0;
  if (status == 0 && nb_job_audit_unreadable(a) > 0) {
    int n = nb_job_audit_unreadable(a);
    fprintf(stderr,
            "numabench audit: %d thing%s about the named processes could not be read (see the report)\n", n,
            n == 1 ? "" : "s");
    status = EXIT_FAILURE;
  }
  if (status == 0 && cfg->expect_local && nb_job_audit_nranks(a) == 0) {
    fprintf(stderr,
            "numabench audit: no rank found: no process holds a GPU (give PID:GPU) (--expect-local)\n");
    status = CLI_EXIT_MISPLACED;
  }
  if (status == 0 && cfg->expect_local && nb_job_audit_nnot_local(a) > 0) {
    fprintf(stderr, "numabench audit: %d of %d ranks not local to their GPU's node (--expect-local)\n",
            nb_job_audit_nnot_local(a), nb_job_audit_nranks(a));
    status = CLI_EXIT_MISPLACED;
  }
  nb_job_audit_free(a);
  nb_topo_free(topo);
  return status;
}
