/* numabench plan: print the plan of every mode, emit numactl launch lines,
 * or apply the plan here and audit it (--check). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_plan(const struct nb_config *cfg, int argc, char **argv)
{
  const enum nb_mode *modes = cfg->modes.mode;
  int nmodes = cfg->modes.n, rc;
  nb_error_t err = {0};
  if (cfg->emit && (cfg->json || cfg->check)) {
    fprintf(stderr, "numabench plan: --emit cannot be combined with %s\n", cfg->json ? "--json" : "--check");
    return CLI_EXIT_USAGE;
  }
  if (cfg->emit && nmodes != 1) {
    return cli_usage("numabench plan: --emit needs a single --mode, not '%s'", cfg->mode ? cfg->mode : "");
  }
  if (!cfg->emit && argc > 0) {
    fprintf(stderr, "numabench plan: a command after -- is only used with --emit numactl, torchrun or script\n");
    return CLI_EXIT_USAGE;
  }
  if (cfg->check_move_staging >= 0 && !cfg->check) {
    fprintf(stderr, "numabench plan: --check-move-staging only works with --check\n");
    return CLI_EXIT_USAGE;
  }

  nb_topo_t topo;
  struct nb_topo_config tc = {.source = cfg->topology, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  if (nb_topo_load(&topo, &tc, &err) < 0)
    return cli_fail(&err);
  if (cfg->check && !nb_topo_is_this_system(topo)) {
    rc = cli_usage("numabench plan: --check applies plans to this machine only; topology %s is not this "
                   "machine (drop --topology)",
                   nb_topo_source(topo));
    nb_topo_free(topo);
    return rc;
  }

  rc = 0;
  int misplaced = 0;
  for (int i = 0; i < nmodes && rc == 0; i++) {
    struct nb_plan_config pc = {.mode = modes[i],
                                .gpus = cfg->gpus ? &cfg->gpu_select : NULL,
                                .workers = cfg->workers,
                                .gpu_node = cfg->gpu_node ? &cfg->gpu_nodes : NULL};
    nb_plan_t plan;
    if (nb_plan_make(&plan, topo, &pc, &err) < 0) {
      if (err.code == NB_ENOTSUP && nmodes > 1) {
        /* Inside a list, a mode this machine cannot have is a recorded skip. */
        if (cfg->json)
          rc = nb_plan_write_skip_json(modes[i], err.msg, stdout, &err) < 0 ? cli_fail(&err) : 0;
        else
          printf("%sskipped mode %s: %s\n", i ? "\n" : "", nb_mode_name(modes[i]), err.msg);
        continue;
      }
      rc = err.code == NB_ENOTSUP ? cli_refuse(&err) : cli_fail(&err);
      break;
    }
    if (cfg->check) {
      struct nb_check_config cc = {.move_staging_to = cfg->check_move_staging};
      nb_check_t chk;
      if (nb_check_run(plan, &cc, &chk, &err) < 0) {
        rc = cli_fail(&err);
      } else {
        if ((cfg->json ? nb_check_write_json(chk, stdout, &err)
                       : (i ? fputc('\n', stdout) : 0, nb_check_write_text(chk, stdout, &err))) < 0)
          rc = cli_fail(&err);
        else if (!nb_check_achieved(chk) && !cfg->allow_misplacement)
          misplaced = 1;
        nb_check_free(chk);
      }
    } else if (cfg->emit) {
      const char *const *av = (const char *const *)argv;
      if ((cfg->emit_kind == NB_OPT_EMIT_TORCHRUN ? nb_plan_write_torchrun(plan, argc, av, stdout, &err)
           : cfg->emit_kind == NB_OPT_EMIT_SCRIPT ? nb_plan_write_script(plan, argc, av, stdout, &err)
                                                  : nb_plan_write_numactl(plan, argc, av, stdout, &err)) < 0)
        rc = err.code == NB_ENOTSUP ? cli_refuse(&err) : cli_fail(&err);
    } else if (cfg->json) {
      if (nb_plan_write_json(plan, stdout, &err) < 0)
        rc = cli_fail(&err);
    } else {
      if (i)
        fputc('\n', stdout);
      if (nb_plan_write_text(plan, stdout, &err) < 0)
        rc = cli_fail(&err);
    }
    nb_plan_free(plan);
  }
  nb_topo_free(topo);
  if (rc == 0 && misplaced) {
    fprintf(stderr,
            "numabench: placement not achieved (see the rows marked NO); --allow-misplacement exits 0\n");
    rc = CLI_EXIT_MISPLACED;
  }
  return rc;
}
