/* numabench exec: bind this rank (CPUs and memory) to its GPU's node, say
 * so in one line, and become the command (execvp), whose children inherit
 * the binding. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Whether execvp would find an executable file: a name with a slash as a
 * path, else in every directory of PATH (execvp's default when unset; an
 * empty entry is the current directory). 0, or the errno execvp would
 * report. */
static int find_command(const char *name, char *found, size_t len)
{
  struct stat st;
  if (!*name)
    return ENOENT;
  if (strchr(name, '/')) {
    snprintf(found, len, "%s", name);
    if (stat(name, &st) < 0)
      return errno;
    return S_ISREG(st.st_mode) && access(name, X_OK) == 0 ? 0 : EACCES;
  }
  const char *path = getenv("PATH");
  int why = ENOENT;
  if (!path)
    path = "/bin:/usr/bin";
  for (const char *p = path;; p += strcspn(p, ":") + 1) {
    int dlen = (int)strcspn(p, ":");
    snprintf(found, len, "%.*s%s%s", dlen, dlen ? p : ".", "/", name);
    if (stat(found, &st) == 0) {
      if (S_ISREG(st.st_mode) && access(found, X_OK) == 0)
        return 0;
      why = EACCES;
    }
    if (!p[dlen])
      break;
  }
  return why;
}

/* The line goes to stderr in one write: the ranks of a launcher share its
 * stderr, and a line written in pieces interleaves with the others'. */
static int write_line_whole(const struct nb_exec_report *rep, bool json, nb_error_t *err)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m)
    return nb_exec_write_line(rep, json, stderr, err);
  int rc = nb_exec_write_line(rep, json, m, err);
  if (fclose(m) != 0 && rc == 0)
    rc = nb_exec_write_line(rep, json, stderr, err);
  else if (rc == 0)
    fwrite(buf, 1, len, stderr);
  free(buf);
  return rc;
}

/* The topology as the CUDA runtime sees every GPU: CUDA_VISIBLE_DEVICES is
 * hidden while it enumerates (it reads the variable once, at its start), so
 * that its ordinals number all GPUs in the user's CUDA_DEVICE_ORDER and the
 * rank's entry can be looked up among them. */
static int load_topology(const struct nb_config *cfg, nb_topo_t *topo, nb_error_t *err)
{
  const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
  char *saved = cvd ? strdup(cvd) : NULL;
  if (cvd && !saved)
    return nb_input_error(err, NB_ENOMEM, "exec: out of memory");
  unsetenv("CUDA_VISIBLE_DEVICES");
  struct nb_topo_config tc = {.source = NULL, .devices = cfg->devices, .no_cuda = cfg->no_cuda};
  int rc = nb_topo_load(topo, &tc, err);
  if (saved)
    setenv("CUDA_VISIBLE_DEVICES", saved, 1);
  free(saved);
  return rc;
}

/* Refuse combinations that would silently mean nothing. */
static int check_options(const struct nb_config *cfg, int argc)
{
  if (argc < 1)
    return cli_usage(
        "numabench exec: give the command to run after --, e.g. numabench exec -- python train.py");
  if (cfg->modes.n != 1)
    return cli_usage("numabench exec: --mode takes one mode for a rank, not '%s'",
                     cfg->mode ? cfg->mode : "");
  enum nb_mode m = cfg->modes.mode[0];
  const struct nb_option *mem = nb_option_find("mem"), *policy = nb_option_find("policy");
  if ((m == NB_MODE_NONE || m == NB_MODE_INTERLEAVE) && nb_config_is_set(cfg, mem))
    return cli_usage("numabench exec: --mem %s has no effect with --mode %s (%s); drop one of them", cfg->mem,
                     nb_mode_name(m), m == NB_MODE_NONE ? "nothing is bound" : "memory is interleaved");
  if ((m == NB_MODE_NONE || m == NB_MODE_INTERLEAVE) && nb_config_is_set(cfg, policy))
    return cli_usage(
        "numabench exec: --policy %s has no effect with --mode %s (CPUs are not bound); drop one "
        "of them",
        cfg->policy, nb_mode_name(m));
  return 0;
}

/* Resolve and place the rank; on failure err says why and *refused is set
 * when the mode cannot exist here. */
static int decide(const struct nb_config *cfg, nb_topo_t topo, struct nb_rank *rank,
                  struct nb_exec_place *place, bool *have_rank, nb_error_t *err)
{
  struct nb_rank_config rc = {.gpu = cfg->gpu, .gpu_node = cfg->gpu_node ? &cfg->gpu_nodes : NULL};
  if (nb_rank_resolve(topo, &rc, rank, err) < 0)
    return -1;
  *have_rank = true;
  struct nb_exec_config ec = {.mode = cfg->modes.mode[0],
                              .policy = (enum nb_exec_policy)cfg->policy_kind,
                              .mem = (enum nb_exec_mem)cfg->mem_kind};
  return nb_exec_place(topo, rank, &ec, place, err) < 0 ? -1 : 0;
}

int cmd_exec(const struct nb_config *cfg, int argc, char **argv)
{
  int rc = check_options(cfg, argc);
  if (rc)
    return rc;
  char path[PATH_MAX + 256], shown[CLI_SHOWN];
  int why = find_command(argv[0], path, sizeof path);
  if (why)
    return cli_usage("numabench exec: cannot run '%s': %s%s", cli_shown(argv[0], shown), strerror(why),
                     strchr(argv[0], '/') ? "" : " (searched PATH)");

  nb_error_t err = {0};
  nb_topo_t topo;
  if (load_topology(cfg, &topo, &err) < 0)
    return cli_fail(&err);
  struct nb_rank *rank = calloc(1, sizeof *rank);
  struct nb_exec_place place = {0};
  struct nb_exec_bound bound = {0};
  bool have_rank = false, bound_ok = false;
  const char *unbound = NULL;
  char reason[sizeof err.msg];
  if (!rank) {
    nb_topo_free(topo);
    fprintf(stderr, "numabench: out of memory\n");
    return EXIT_FAILURE;
  }
  if (decide(cfg, topo, rank, &place, &have_rank, &err) < 0) {
    if (err.code == NB_ENOMEM || !cfg->allow_unbound) {
      fprintf(stderr, "numabench exec: %s%s\n", err.msg,
              err.code == NB_ENOMEM ? "" : " (--allow-unbound runs the command unbound)");
      rc = err.code == NB_ENOMEM ? EXIT_FAILURE : CLI_EXIT_USAGE;
      goto out;
    }
    snprintf(reason, sizeof reason, "%s", err.msg);
    unbound = reason;
  } else {
    /* Mode none binds nothing: the affinity stays as inherited, the
     * memory policy is the default; both are read back for the line. */
    if (nb_exec_bind(topo, &place, &bound, &err) < 0) {
      rc = cli_fail(&err);
      goto out;
    }
    bound_ok = true;
  }

  /* The command numbers GPUs in PCI order, with the list that keeps its
   * cuda:LOCAL_RANK on the GPU bound here. A rank whose GPU was not resolved
   * (--allow-unbound) keeps the user's order: changing it would silently move
   * its cuda:N to another GPU on a machine of mixed models. */
  if (have_rank)
    setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
  if (have_rank && rank->cvd_rewritten)
    setenv("CUDA_VISIBLE_DEVICES", rank->cvd, 1);
  struct nb_exec_report rep = {.rank = have_rank ? rank : NULL,
                               .place = unbound ? NULL : &place,
                               .bound = bound_ok ? &bound : NULL,
                               .unbound_reason = unbound,
                               .cuda_visible_devices = getenv("CUDA_VISIBLE_DEVICES"),
                               .command = argv[0]};
  bool misplaced = bound_ok && !bound.achieved && place.mode != NB_MODE_NONE;
  if (misplaced && !cfg->allow_unbound) {
    char mem[64];
    snprintf(mem, sizeof mem, "%s", nb_mem_seen_name(bound.st.mem_seen));
    fprintf(
        stderr,
        "numabench exec: placement not achieved: the kernel %s CPUs and reports memory policy %s (bind level "
        "%s%s%s); --allow-unbound runs the command anyway\n",
        bound.st.cpu_bound || !bound.st.cpu_asked ? "kept the" : "refused the", mem,
        bound.st.level ? bound.st.level : "none", bound.st.mem_errno ? ", memory: " : "",
        bound.st.mem_errno ? strerror(bound.st.mem_errno) : "");
    rc = CLI_EXIT_MISPLACED;
    goto out;
  }
  if ((!cfg->quiet || misplaced || unbound) && write_line_whole(&rep, cfg->json, &err) < 0) {
    rc = cli_fail(&err);
    goto out;
  }
  nb_exec_place_free(&place);
  nb_exec_bound_free(&bound);
  free(rank);
  nb_topo_free(topo);
  fflush(stdout);
  execvp(argv[0], argv);
  why = errno;
  fprintf(stderr, "numabench exec: cannot run '%s': %s\n", cli_shown(argv[0], shown), strerror(why));
  return why == ENOENT || why == EACCES ? CLI_EXIT_USAGE : EXIT_FAILURE;

out:
  nb_exec_place_free(&place);
  nb_exec_bound_free(&bound);
  free(rank);
  nb_topo_free(topo);
  return rc;
}
