/* numabench: the option table and setting options from text. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/opts.h>

#include "nb-internal.h"
#include "input.h"
#include "parse.h"
#include "report.h"

#include <ini.h>
#include <stdio.h>

#define NB_OFF(field) offsetof(struct nb_config, field)

#define TP (NB_CMD_TOPO | NB_CMD_PLAN | NB_CMD_PROBE)
#define TPR (NB_CMD_TOPO | NB_CMD_PLAN | NB_CMD_RUN | NB_CMD_BW | NB_CMD_EXEC | NB_CMD_LAUNCH | NB_CMD_PROBE)
#define PR (NB_CMD_PLAN | NB_CMD_RUN)
#define RL (NB_CMD_RUN | NB_CMD_LAUNCH)
#define NB_VAL(field) .value_offset = offsetof(struct nb_config, field)

static const char *const pipelines[] = {"torch", "direct", NULL};
static const char *const backends[] = {"auto", "host", "cuda", NULL};
static const char *const sources[] = {"randn", "replay", NULL};
static const char *const pins[] = {"register", "hostalloc", NULL};
static const char *const formats[] = {"text", "md", "csv", "json", NULL};
static const char *const emits[] = {"numactl", "torchrun", "script", NULL};
static const char *const exec_policies[] = {"node", "socket", "exclusive", "core-complex", NULL};
static const char *const exec_mems[] = {"bind", "preferred", "interleave", "none", "local", NULL};
static const struct nb_opt_default mode_defaults[] = {{NB_CMD_PLAN, "bind"},
                                                      {NB_CMD_RUN, "none,bind,adversarial"},
                                                      {NB_CMD_EXEC, "bind"},
                                                      {NB_CMD_LAUNCH, "none,bind,adversarial"},
                                                      {0, NULL}};
static const struct nb_opt_default repeat_defaults[] = {{NB_CMD_BW, "5"}, {0, NULL}};

static const struct nb_option options[] = {
    {"topology", 't', NB_OPT_STRING, NB_OFF(topology), "live", TP, "SRC",
     "topology to read: 'live' (this machine), an hwloc XML file (lstopo --of xml) or a recorded /sys tree "
     "(hwloc-gather-topology)",
     0, 0, .flags = 0},
    {"devices", 'd', NB_OPT_STRING, NB_OFF(devices), NULL, TPR | NB_CMD_AUDIT, "BUSID[,BUSID...]",
     "treat these PCI devices as the GPUs, in this order (any device class; e.g. 0000:41:00.0,0000:81:00.0)",
     0, 0, .flags = 0},
    {"no-cuda", 0, NB_OPT_BOOL, NB_OFF(no_cuda), NULL, TPR, NULL,
     "do not ask the CUDA runtime; find GPUs from PCI devices", 0, 0, .flags = 0},
    {"gpus", 'g', NB_OPT_GPUS, NB_OFF(gpus), NULL, PR, "N|LIST",
     "GPUs to use: a count (the first N by index) or indexes and ranges (0,2,5 or 4-7; one GPU: 5-5); "
     "default all",
     0, 0, NB_VAL(gpu_select), .flags = NB_OPT_SWEEPABLE},
    {"workers", 'w', NB_OPT_INT, NB_OFF(workers), "0", PR, "W",
     "worker threads per GPU; 0 = one thread per core of each GPU's share of its node", 0, 4096,
     .flags = NB_OPT_SWEEPABLE},
    {"mode", 'm', NB_OPT_MODES, NB_OFF(mode), NULL, PR | NB_CMD_EXEC | NB_CMD_LAUNCH, "MODE[,MODE...]",
     "placement: none, bind, adversarial, remote, interleave; a list runs each in turn [default: plan and "
     "exec bind, run and launch none,bind,adversarial]",
     0, 0, NB_VAL(modes), .cdefs = mode_defaults, .flags = 0},
    {"gpu-node", 0, NB_OPT_GPU_NODES, NB_OFF(gpu_node), NULL, PR | NB_CMD_EXEC | NB_CMD_LAUNCH,
     "GPU=NODE[,...]", "take this NUMA node for a GPU (firmware that gives none, or to experiment)", 0, 0,
     NB_VAL(gpu_nodes), .flags = 0},
    {"emit", 0, NB_OPT_ENUM, NB_OFF(emit), NULL, NB_CMD_PLAN, NULL,
     "launch the command after --: numactl (one line per GPU rank), torchrun (one torchrun line through "
     "numabench exec), script (a bash launcher: one numabench exec per rank), e.g. --emit script -- python "
     "train.py",
     0, 0, NB_VAL(emit_kind), emits, "expected numactl, torchrun or script", .flags = NB_OPT_CMD_ERRORS},
    {"check", 'c', NB_OPT_BOOL, NB_OFF(check), NULL, NB_CMD_PLAN, NULL,
     "apply the plan on this machine to real threads and small buffers, ask the kernel where they are, "
     "exit 0 only if the placement was achieved",
     0, 0, .flags = 0},
    {"allow-misplacement", 0, NB_OPT_BOOL, NB_OFF(allow_misplacement), NULL, PR | NB_CMD_LAUNCH, NULL,
     "exit 0 even when the audit finds placement not achieved (it is still reported)", 0, 0, .flags = 0},
    {"check-move-staging", 0, NB_OPT_INT, NB_OFF(check_move_staging), "-1", NB_CMD_PLAN, "NODE",
     "with --check: move GPU 0's staging pages to NODE before the audit, to see the audit catch it", -1, 4095,
     .flags = 0},
    {"sample", 's', NB_OPT_SHAPE, NB_OFF(sample), "3x1024x1024", NB_CMD_RUN, "CxHxW",
     "sample shape, float32 values (3x1024x1024 = 12 MiB)", 0, 0, NB_VAL(shape), .flags = NB_OPT_SWEEPABLE},
    {"batch", 'b', NB_OPT_INT, NB_OFF(batch), "0", NB_CMD_RUN, "B",
     "samples per batch; 0 = the largest (at most 128) whose buffers fit in half the free memory", 0, 1 << 20,
     .flags = NB_OPT_SWEEPABLE},
    {"warmup", 0, NB_OPT_INT, NB_OFF(warmup), "10", NB_CMD_RUN, "N", "untimed steps before timing", 0,
     1 << 24, .flags = 0},
    {"steps", 0, NB_OPT_INT, NB_OFF(steps), "100", NB_CMD_RUN, "N", "timed steps", 1, 1 << 24,
     .flags = NB_OPT_SWEEPABLE},
    {"seed", 0, NB_OPT_INT, NB_OFF(seed), "1", NB_CMD_RUN, "N", "seed of the generated data", 0, 2147483647,
     .flags = 0},
    {"pipeline", 'p', NB_OPT_ENUM, NB_OFF(pipeline), "torch", NB_CMD_RUN, NULL,
     "torch: workers build batches in their memory, the feeder copies each to pinned staging (PyTorch's "
     "DataLoader); direct: workers write into staging",
     0, 0, NB_VAL(pipeline_kind), pipelines, .flags = NB_OPT_SWEEPABLE},
    {"backend", 0, NB_OPT_ENUM, NB_OFF(backend), "auto", NB_CMD_RUN | NB_CMD_BW, NULL,
     "copy backend: cuda when GPUs are usable, host otherwise (a buffer and a copy thread on the device's "
     "node)",
     0, 0, NB_VAL(backend_kind), backends, .flags = 0},
    {"pin", 0, NB_OPT_ENUM, NB_OFF(pin), "register", NB_CMD_RUN | NB_CMD_BW, NULL,
     "CUDA backend: page-lock node-local buffers with cudaHostRegister, or allocate them with cudaHostAlloc "
     "under the node's memory policy",
     0, 0, NB_VAL(pin_kind), pins, .flags = 0},
    {"gpu-work", 0, NB_OPT_INT, NB_OFF(gpu_work), "0", NB_CMD_RUN, "USEC",
     "device work per step in microseconds (moves the run from input-bound to compute-bound; CUDA: a "
     "calibrated spin kernel after the resize to 224x224)",
     0, 60000000, .flags = NB_OPT_SWEEPABLE},
    {"source", 0, NB_OPT_ENUM, NB_OFF(source), "randn", NB_CMD_RUN, NULL,
     "randn: workers generate N(0,1) samples; replay: workers copy samples from a pool in their own node's "
     "memory, generated before timing (decoded data in the page cache: the copy runs at memory speed)",
     0, 0, NB_VAL(source_kind), sources, .flags = NB_OPT_SWEEPABLE},
    {"pool-size", 0, NB_OPT_SIZE, NB_OFF(pool_size), "256M", NB_CMD_RUN, "BYTES",
     "--source replay: each worker's pool (K, M, G), in whole samples, raised above two batches to a prime "
     "number of samples (so every worker reads all of it); refused with --source randn",
     0, 0, NB_VAL(pool_bytes), .flags = 0},
    {"cpu-work", 0, NB_OPT_INT, NB_OFF(cpu_work), "0", NB_CMD_RUN, "USEC",
     "worker CPU work per sample in microseconds (decode, augmentation: a calibrated spin on the worker's "
     "core); match it to your DataLoader's per-sample time (bench/pytorch-match.sh)",
     0, 60000000, .flags = NB_OPT_SWEEPABLE},
    {"verify", 0, NB_OPT_BOOL, NB_OFF(verify), NULL, NB_CMD_RUN, NULL,
     "check delivered batches against the checksum of what their worker generated (host: every batch; CUDA: "
     "every 4th, copied back from the GPU)",
     0, 0, .flags = 0},
    {"quiet", 'q', NB_OPT_BOOL, NB_OFF(quiet), NULL, RL | NB_CMD_EXEC, NULL,
     "no progress line (run, launch) or placement line (exec) on stderr", 0, 0, .flags = 0},
    {"fail-at", 0, NB_OPT_FAULT, NB_OFF(fail_at), NULL, NB_CMD_RUN, "STAGE:BATCH",
     "inject a failure in worker, feeder or device at a batch, or corrupt a batch in staging, to test error "
     "handling "
     "and --verify (e.g. worker:3, corrupt:5)",
     0, 0, NB_VAL(fault), .flags = 0},
    {"repeat", 'r', NB_OPT_INT, NB_OFF(repeat), "1", RL | NB_CMD_BW, "R",
     "run and launch: each mode R times, interleaved (none, bind, ..., none, bind, ...), for statistics; bw: "
     "timed "
     "copies per "
     "cell (bw's default is 5)",
     1, 100000, .cdefs = repeat_defaults, .flags = 0},
    {"size", 0, NB_OPT_SIZE, NB_OFF(size), "64M", NB_CMD_BW, "BYTES",
     "bytes per copy (K, M, G: powers of 1024)", 0, 0, NB_VAL(size_bytes), .flags = 0},
    {"output", 'o', NB_OPT_STRING, NB_OFF(output), "results", RL | NB_CMD_PROBE, "DIR",
     "directory for result files (<time>-<host>-<config>.json and .csv); probe: saves "
     "<time>-<host>-probe.json "
     "there only when given",
     0, 0, .flags = 0},
    {"no-save", 0, NB_OPT_BOOL, NB_OFF(no_save), NULL, RL, NULL, "write no result files", 0, 0, .flags = 0},
    {"sweep", 0, NB_OPT_STRING, NB_OFF(sweep), NULL, NB_CMD_RUN, "OPTION=V1,V2,...",
     "run everything once per value of an option (e.g. gpu-work=0,2000,10000), one result file each", 0, 0,
     .flags = 0},
    /* launch: a user's command under each placement. */
    {"nproc", 0, NB_OPT_INT, NB_OFF(nproc), "0", NB_CMD_LAUNCH, "N",
     "local ranks to start; 0 = one per GPU (numabench topo, or --devices)", 0, 4096, .flags = 0},
    {"nnodes", 0, NB_OPT_INT, NB_OFF(nnodes), "1", NB_CMD_LAUNCH, "N",
     "hosts of the job (WORLD_SIZE = nnodes x nproc); numabench starts only this host's ranks", 1, 1 << 20,
     .flags = 0},
    {"node-rank", 0, NB_OPT_INT, NB_OFF(node_rank), "0", NB_CMD_LAUNCH, "K",
     "this host's index among --nnodes (RANK = node-rank x nproc + LOCAL_RANK)", 0, (1 << 20) - 1,
     .flags = 0},
    {"master-addr", 0, NB_OPT_STRING, NB_OFF(master_addr), "127.0.0.1", NB_CMD_LAUNCH, "HOST",
     "MASTER_ADDR given to every rank", 0, 0, .flags = 0},
    {"master-port", 0, NB_OPT_INT, NB_OFF(master_port), "0", NB_CMD_LAUNCH, "PORT",
     "MASTER_PORT given to every rank; 0 = a free port chosen for each run", 0, 65535, .flags = 0},
    {"metric", 0, NB_OPT_STRING, NB_OFF(metric), NULL, NB_CMD_LAUNCH, "REGEX",
     "POSIX extended regex whose first group (or whole match) is a number: the last value each rank prints "
     "is the run's result, the slowest rank's for the job (higher is better, e.g. 'throughput: ([0-9.]+)'); "
     "without it, runs per second of wall time",
     0, 0, .flags = 0},
    {"timeout", 0, NB_OPT_INT, NB_OFF(timeout), "0", NB_CMD_LAUNCH, "S",
     "stop a run after S seconds (recorded as failed: timeout); 0 = no limit", 0, 1 << 24, .flags = 0},
    {"grace", 0, NB_OPT_INT, NB_OFF(grace), "5", NB_CMD_LAUNCH, "S",
     "seconds between SIGTERM and SIGKILL when a run is stopped", 0, 3600, .flags = 0},
    {"audit-at", 0, NB_OPT_INT, NB_OFF(audit_at), "2", NB_CMD_LAUNCH, "S",
     "start the placement audit of every rank's process tree S seconds after every rank was placed (exec's "
     "line), once the dataloader workers run",
     0, 1 << 20, .flags = 0},
    {"audit-for", 0, NB_OPT_INT, NB_OFF(audit_for), "1", NB_CMD_LAUNCH, "S",
     "seconds the audit samples where every thread runs (0: one sample)", 0, 3600, .flags = 0},
    {"keep-going", 0, NB_OPT_BOOL, NB_OFF(keep_going), NULL, NB_CMD_LAUNCH, NULL,
     "after a failed run, go on with the next runs (the exit status is still 1)", 0, 0, .flags = 0},
    {"log-dir", 0, NB_OPT_STRING, NB_OFF(log_dir), NULL, NB_CMD_LAUNCH, "DIR",
     "write each rank's output of each run to DIR/<mode>-<repeat>-rank<N>.log instead of the terminal", 0, 0,
     .flags = 0},
    {"config", 'C', NB_OPT_STRING, NB_OFF(config), NULL, TPR, "FILE",
     "read options from an INI preset first (keys are option names; the command line overrides); FILE may "
     "be a pipe (/dev/stdin, <(command)), read up to 1 MiB",
     0, 0, .flags = 0},
    {"format", 'f', NB_OPT_ENUM, NB_OFF(format), "text", NB_CMD_REPORT | NB_CMD_FLEET, NULL,
     "table format (json: fleet only)", 0, 0, NB_VAL(format_kind), formats, .flags = NB_OPT_CMD_ERRORS},
    {"threshold", 0, NB_OPT_INT, NB_OFF(threshold), "5", NB_CMD_COMPARE, "PCT",
     "a drop larger than PCT percent, and beyond the 95% intervals, is a regression", 0, 100, .flags = 0},
    {"gpu", 0, NB_OPT_STRING, NB_OFF(gpu), NULL, NB_CMD_EXEC, "INDEX|BUSID",
     "the rank's GPU (its index in numabench topo, or its PCI bus id); default: the launcher's local rank "
     "(LOCAL_RANK, SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID) picks an entry of "
     "CUDA_VISIBLE_DEVICES",
     0, 0, .flags = 0},
    {"policy", 0, NB_OPT_ENUM, NB_OFF(policy), "node", NB_CMD_EXEC, NULL,
     "the rank's CPUs on its node: all of them, its socket's, an exclusive share of the node's cores among "
     "the ranks there (from LOCAL_WORLD_SIZE), or one L3 domain per rank",
     0, 0, NB_VAL(policy_kind), exec_policies, .flags = 0},
    {"mem", 0, NB_OPT_ENUM, NB_OFF(mem), "bind", NB_CMD_EXEC, NULL,
     "the rank's memory policy on its node (a node without memory: the nearest node with memory); local: "
     "pages where the CPU that first touches them is, and never moved by automatic NUMA balancing",
     0, 0,
     NB_VAL(mem_kind), exec_mems, .flags = 0},
    {"allow-unbound", 0, NB_OPT_BOOL, NB_OFF(allow_unbound), NULL, NB_CMD_EXEC, NULL,
     "where the rank cannot be placed (GPU node unknown or not allowed, too few cores), run the command "
     "unbound with a warning instead of exiting 2 (or 3 when the kernel refused)",
     0, 0, .flags = 0},
    {"json", 'j', NB_OPT_BOOL, NB_OFF(json), NULL, TPR | NB_CMD_AUDIT, NULL,
     "write JSON to stdout (schemas: docs/topo-schema.md, docs/plan-schema.md, docs/results-schema.md, "
     "docs/audit-schema.md, docs/probe-schema.md); exec: "
     "its line as JSON on stderr (docs/exec-json.md)",
     0, 0, .flags = 0},
    {"pid", 0, NB_OPT_STRING, NB_OFF(pid), NULL, NB_CMD_AUDIT, "PID[:GPU][,...]",
     "processes to audit; :GPU (an index of numabench topo --no-cuda, or a PCI bus id) names the GPU a "
     "process feeds "
     "when it holds no /dev/nvidiaN open",
     0, 0, .flags = 0},
    {"gpu-procs", 0, NB_OPT_BOOL, NB_OFF(gpu_procs), NULL, NB_CMD_AUDIT, NULL,
     "audit every process that holds an NVIDIA GPU open (/dev/nvidiaN, found by device number)", 0, 0,
     .flags = 0},
    {"children", 0, NB_OPT_BOOL, NB_OFF(children), "true", NB_CMD_AUDIT, NULL,
     "add every descendant of the processes found (dataloader workers); --children=false: only those", 0, 0,
     .flags = 0},
    {"duration", 0, NB_OPT_STRING, NB_OFF(duration), "1", NB_CMD_AUDIT, "S",
     "seconds to sample where every thread runs (10 reads a second; 0: one read)", 0, 0, .flags = 0},
    {"expect-local", 0, NB_OPT_BOOL, NB_OFF(expect_local), NULL, NB_CMD_AUDIT, NULL,
     "exit 3 when a rank is not local to its GPU's node (for CI)", 0, 0, .flags = 0},
    {"group", 0, NB_OPT_STRING, NB_OFF(group), "cpu_model,gpu_model,gpus,nodes", NB_CMD_FLEET, "KEYS",
     "group hosts by these probe keys (cpu_model, gpu_model, gpus, nodes, nps, smt, kernel, driver, cuda, "
     "numa_balancing, transparent_hugepages), comma-separated; none: one group",
     0, 0, .flags = 0},
    {"k", 0, NB_OPT_STRING, NB_OFF(k), "4", NB_CMD_FLEET, "K",
     "flag a host whose metric is outside median +- K MADs of its group (MAD scaled by 1.4826)", 0, 0,
     .flags = 0},
    {"min-hosts", 0, NB_OPT_INT, NB_OFF(min_hosts), "5", NB_CMD_FLEET, "N",
     "judge a metric only where at least N hosts of the group have it", 3, 1000000, .flags = 0},
    {"baseline", 0, NB_OPT_STRING, NB_OFF(baseline), NULL, NB_CMD_FLEET, "FILE",
     "a golden probe record (numabench probe): its group's hosts are compared with it, not with their "
     "majority",
     0, 0, .flags = 0},
};

_Static_assert(sizeof options / sizeof options[0] <= 64, "struct nb_config.set has 64 bits");

const struct nb_option *nb_options(int *n)
{
  *n = (int)(sizeof options / sizeof options[0]);
  return options;
}

const struct nb_option *nb_option_find(const char *name)
{
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (!strcmp(options[i].name, name))
      return &options[i];
  return NULL;
}

/* Whether the option keeps its value as text in its field (a char *). */
static bool is_text(const struct nb_option *opt)
{
  return opt->type != NB_OPT_BOOL && opt->type != NB_OPT_INT;
}

const char *nb_option_metavar(const struct nb_option *opt, char *buf, size_t len)
{
  if (opt->metavar || !opt->choices)
    return opt->metavar;
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; opt->choices[i] && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "|" : "", opt->choices[i]);
  return buf;
}

/* Bytes of a typed option's value field. */
static size_t value_size(const struct nb_option *opt)
{
  switch (opt->type) {
  case NB_OPT_ENUM:
    return sizeof(int);
  case NB_OPT_SIZE:
    return sizeof(size_t);
  case NB_OPT_SHAPE:
    return sizeof(struct nb_shape);
  case NB_OPT_MODES:
    return sizeof(struct nb_modes);
  case NB_OPT_FAULT:
    return sizeof(struct nb_fault);
  case NB_OPT_GPUS:
    return sizeof(struct nb_gpu_select);
  case NB_OPT_GPU_NODES:
    return sizeof(struct nb_gpu_nodes);
  default:
    return 0;
  }
}

/* Parse a typed option's text into its value field. */
static int parse_typed(const struct nb_option *opt, const char *value, void *field, nb_error_t *err)
{
  nb_error_t e = {0};
  char shown[NB__SHOWN_LEN];
  int rc;
  switch (opt->type) {
  case NB_OPT_ENUM:
    rc = nb__parse_choice(value, opt->choices, (int *)field, &e);
    if (rc < 0 && opt->bad_choice)
      return nb__err(err, rc, "--%s '%s': %s", opt->name, nb__shown(value, shown, sizeof shown),
                     opt->bad_choice);
    break;
  case NB_OPT_SIZE:
    rc = nb__parse_size(value, (size_t *)field, &e);
    break;
  case NB_OPT_SHAPE:
    rc = nb__parse_shape(value, (struct nb_shape *)field, &e);
    break;
  case NB_OPT_MODES:
    rc = nb__parse_modes(value, (struct nb_modes *)field, &e);
    break;
  case NB_OPT_FAULT:
    rc = nb_parse_fault(value, (struct nb_fault *)field, &e);
    break;
  case NB_OPT_GPUS:
    rc = nb_parse_gpus(value, (struct nb_gpu_select *)field, &e);
    break;
  case NB_OPT_GPU_NODES:
    rc = nb_parse_gpu_nodes(value, (struct nb_gpu_nodes *)field, &e);
    break;
  default:
    return 0;
  }
  return rc < 0 ? nb__err(err, rc, "--%s '%s': %s", opt->name, nb__shown(value, shown, sizeof shown), e.msg)
                : 0;
}

/* The longest value of --sweep: a point keeps its value in a char[128]
 * (experiment.c), and a longer one would be cut, not refused. */
#define SWEEP_VALUE_MAX 127

int nb_sweep_each(const char *sweep,
                  int (*each)(void *arg, const struct nb_option *opt, const char *value, nb_error_t *err),
                  void *arg, nb_error_t *err)
{
  char shown[NB__SHOWN_LEN];
  const char *eq = strchr(sweep, '=');
  char name[64] = "";
  if (eq && eq - sweep < (long)sizeof name)
    snprintf(name, sizeof name, "%.*s", (int)(eq - sweep), sweep);
  const struct nb_option *opt = nb_option_find(name);
  if (!eq || !opt || !(opt->flags & NB_OPT_SWEEPABLE) || !eq[1])
    return nb__err(err, NB_EINVAL,
                   "--sweep '%s': expected OPTION=V1,V2,... with OPTION one of gpu-work, workers, batch, "
                   "sample, pipeline, steps, gpus, cpu-work, source",
                   nb__shown(sweep, shown, sizeof shown));
  int rc = 0, k = 1;
  for (const char *v = eq + 1; rc == 0; k++) {
    char value[NB_SWEEP_VALUE_MAX + 1];
    size_t len = strcspn(v, ",");
    if (len > NB_SWEEP_VALUE_MAX)
      return nb__err(err, NB_EINVAL, "--sweep %s: value %d is %zu characters long (at most %d)", name, k, len,
                     NB_SWEEP_VALUE_MAX);
    memcpy(value, v, len);
    value[len] = '\0';
    rc = each(arg, opt, value, err);
    if (!v[len])
      break;
    v += len + 1;
  }
  return rc;
}

static int check_value(void *arg, const struct nb_option *opt, const char *value, nb_error_t *err)
{
  return nb_config_set(arg, opt, value, err);
}

/* --sweep: every value is checked when the option is set, as the swept
 * option's own value, so that no point is measured before a later one is
 * refused. */
static int check_sweep(const char *sweep, nb_error_t *err)
{
  struct nb_config scratch;
  if (nb_config_init(&scratch) < 0)
    return nb__err(err, NB_ENOMEM, "--sweep: out of memory");
  int rc = nb_sweep_each(sweep, check_value, &scratch, err);
  nb_config_free(&scratch);
  return rc;
}

static int store(struct nb_config *cfg, const struct nb_option *opt, const char *value, nb_error_t *err)
{
  char *field = (char *)cfg + opt->offset;
  char shown[NB__SHOWN_LEN];
  switch (opt->type) {
  case NB_OPT_BOOL:
    if (value && strcmp(value, "true") && strcmp(value, "1") && strcmp(value, "false") && strcmp(value, "0"))
      return nb__err(err, NB_EINVAL, "--%s: '%s' is not a boolean (true, false, 1 or 0)", opt->name,
                     nb__shown(value, shown, sizeof shown));
    *(bool *)field = !value || !strcmp(value, "true") || !strcmp(value, "1");
    return 0;
  case NB_OPT_INT: {
    long v = 0;
    int rc = value ? nb__parse_long(value, opt->min, opt->max, &v) : NB__NUM_SYNTAX;
    if (rc == NB__NUM_SYNTAX)
      return nb__err(err, NB_EINVAL, "--%s: '%s' is not an integer", opt->name,
                     nb__shown(value ? value : "", shown, sizeof shown));
    if (rc == NB__NUM_RANGE)
      return nb__err(err, NB_EINVAL, "--%s %s: out of range (%ld to %ld)", opt->name,
                     nb__shown(value, shown, sizeof shown), opt->min, opt->max);
    *(int *)field = (int)v;
    return 0;
  }
  case NB_OPT_STRING:
  case NB_OPT_ENUM:
  case NB_OPT_SIZE:
  case NB_OPT_SHAPE:
  case NB_OPT_MODES:
  case NB_OPT_FAULT:
  case NB_OPT_GPUS:
  case NB_OPT_GPU_NODES: {
    char mv[128];
    if (!value || !*value)
      return nb__err(err, NB_EINVAL, "--%s needs a value (%s)", opt->name,
                     nb_option_metavar(opt, mv, sizeof mv));
    /* The value is parsed here, once; the text is kept for the result files. */
    union {
      int i;
      size_t z;
      struct nb_shape shape;
      struct nb_modes modes;
      struct nb_fault fault;
      struct nb_gpu_select gpus;
      struct nb_gpu_nodes gpu_nodes;
    } parsed;
    int rc = opt->offset == NB_OFF(sweep) ? check_sweep(value, err) : parse_typed(opt, value, &parsed, err);
    if (rc < 0)
      return rc;
    char *copy = strdup(value);
    if (!copy)
      return nb__err(err, NB_ENOMEM, "--%s: out of memory", opt->name);
    free(*(char **)field);
    *(char **)field = copy;
    if (opt->type != NB_OPT_STRING)
      memcpy((char *)cfg + opt->value_offset, &parsed, value_size(opt));
    return 0;
  }
  }
  return nb__err(err, NB_EINTERNAL, "--%s: unknown option type", opt->name);
}

int nb_config_finish(struct nb_config *cfg, unsigned command)
{
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    const struct nb_option *opt = &options[i];
    for (const struct nb_opt_default *d = opt->cdefs; d && d->commands; d++) {
      if (!(d->commands & command) || nb_config_is_set(cfg, opt))
        continue;
      /* Only the value: the text stays as the user left it (unset). */
      if (opt->type == NB_OPT_INT)
        *(int *)((char *)cfg + opt->offset) = atoi(d->value);
      else if (parse_typed(opt, d->value, (char *)cfg + opt->value_offset, NULL) < 0)
        return NB_EINTERNAL;
    }
  }
  return 0;
}

int nb_config_init(struct nb_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    if (!options[i].def)
      continue;
    int rc = store(cfg, &options[i], options[i].def, NULL);
    if (rc < 0) {
      nb_config_free(cfg);
      return rc;
    }
  }
  return 0;
}

int nb_config_set(struct nb_config *cfg, const struct nb_option *opt, const char *value, nb_error_t *err)
{
  int rc = store(cfg, opt, value, err);
  if (rc == 0)
    cfg->set |= UINT64_C(1) << (opt - options);
  return rc;
}

/* The fewest timed steps of any point: --steps, or its smallest value in a
 * --sweep of steps (the values were checked when --sweep was set). */
static long fewest_steps(const struct nb_config *cfg)
{
  long fewest = cfg->steps;
  if (!cfg->sweep || strncmp(cfg->sweep, "steps=", 6))
    return fewest;
  fewest = LONG_MAX;
  for (const char *p = cfg->sweep + 6;; p++) {
    long v;
    if (nb__parse_num(&p, 1, LONG_MAX, &v) == 0 && v < fewest)
      fewest = v;
    if (*p != ',')
      break;
  }
  return fewest == LONG_MAX ? cfg->steps : fewest;
}

int nb_config_check(const struct nb_config *cfg, unsigned command, nb_error_t *err)
{
  /* JSON is a format of fleet's report only: report's JSON is the result
   * files themselves. */
  if ((command & NB_CMD_REPORT) && cfg->format_kind == NB_OPT_FORMAT_JSON)
    return nb__err(err, NB_EINVAL,
                   "report --format json: expected text, md or csv (the result files are the JSON)");
  /* A failure injected past the last batch never fires: the test it is
   * for would pass without testing anything. */
  if ((command & NB_CMD_RUN) && cfg->fail_at && cfg->fault.stage != NB_FAULT_NONE) {
    long steps = fewest_steps(cfg), batches = cfg->warmup + steps;
    if (cfg->fault.batch >= batches)
      return nb__err(
          err, NB_EINVAL,
          "--fail-at %s: batch %ld is never reached: a run has %ld batches, 0 to %ld (--warmup %d + "
          "--steps %ld)",
          cfg->fail_at, cfg->fault.batch, batches, batches - 1, cfg->warmup, steps);
  }
  return 0;
}

int nb_input_error(nb_error_t *err, int code, const char *text)
{
  return nb__err(err, code, "%s", text);
}

bool nb_config_is_set(const struct nb_config *cfg, const struct nb_option *opt)
{
  return cfg->set & (UINT64_C(1) << (opt - options));
}

void nb_config_free(struct nb_config *cfg)
{
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (is_text(&options[i])) {
      char **p = (char **)((char *)cfg + options[i].offset);
      free(*p);
      *p = NULL;
    }
}

json_t *nb__config_json(const struct nb_config *cfg)
{
  json_t *o = json_object();
  for (size_t i = 0; o && i < sizeof options / sizeof options[0]; i++) {
    const char *field = (const char *)cfg + options[i].offset;
    json_t *v = NULL;
    switch (options[i].type) {
    case NB_OPT_BOOL:
      v = json_boolean(*(const bool *)field);
      break;
    case NB_OPT_INT:
      v = json_integer(*(const int *)field);
      break;
    default: /* the text as given: result files record what the user wrote */
      v = *(char *const *)field ? nb__json_text(*(char *const *)field) : json_null();
      break;
    }
    json_object_set_new(o, options[i].name, v);
  }
  return o;
}

json_t *nb__config_set_json(const struct nb_config *cfg)
{
  json_t *a = json_array();
  for (size_t i = 0; a && i < sizeof options / sizeof options[0]; i++)
    if (nb_config_is_set(cfg, &options[i]))
      json_array_append_new(a, json_string(options[i].name));
  return a;
}

int nb_config_copy(struct nb_config *dst, const struct nb_config *src)
{
  *dst = *src;
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    if (!is_text(&options[i]))
      continue;
    char **p = (char **)((char *)dst + options[i].offset);
    if (*p && !(*p = strdup(*p))) {
      for (size_t j = 0; j < i; j++)
        if (is_text(&options[j]))
          free(*(char **)((char *)dst + options[j].offset));
      return NB_ENOMEM;
    }
  }
  return 0;
}

/* Largest preset read: presets are a few hundred bytes; this only stops
 * /dev/zero-like inputs early. */
#define NB_INI_MAX ((size_t)1 << 20)

struct ini_ctx {
  struct nb_config *cfg;
  unsigned command;
  nb_error_t *err;
  int rc;
  const char *text; /* the whole file, read once through the input layer */
  size_t len, pos;
  int line;      /* lines read so far: the handler's entry is on this one */
  int err_line;  /* the line of the first refused entry */
  int in_entry;  /* a 'name = value' line since the last section header */
  int why_line;  /* the line the reader refused, 0 when none */
  char why[128]; /* and why */
};

static int blank(char ch)
{
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* What inih would misread in a line of n characters (no newline), or NULL.
 * inih joins an indented line to the previous value, treats "[]" as no
 * section, and goes on after a syntax error: presets refuse all three, so
 * that a preset means what it looks like and the first error is the one
 * reported. */
static const char *refuse_line(struct ini_ctx *c, const char *s, size_t n)
{
  size_t i = 0;
  if (c->line == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
    i = 3; /* a UTF-8 byte order mark, which inih skips */
  size_t first = i;
  while (i < n && blank(s[i]))
    i++;
  while (n > i && blank(s[n - 1]))
    n--;
  if (i == n || s[i] == ';' || s[i] == '#')
    return NULL;
  if (i > first && c->in_entry)
    return "an indented line (inih would join it to the value above); put each option on one line";
  if (s[i] == '[') {
    c->in_entry = 0;
    const char *end = memchr(s + i, ']', n - i);
    if (!end)
      return "not a 'name = value' line";
    if (end == s + i + 1)
      return "an empty section name '[]' (use [numabench] or none)";
    return NULL;
  }
  c->in_entry = 1;
  if (!memchr(s + i, '=', n - i) && !memchr(s + i, ':', n - i))
    return "not a 'name = value' line";
  return NULL;
}

/* inih's line reader over the file's text: lines keep their numbers, and
 * reading stops at the first refusal so that errors are never followed by
 * guesses. */
static char *read_line(char *str, int num, void *stream)
{
  struct ini_ctx *c = stream;
  if (c->rc < 0 || c->why_line || c->pos >= c->len || num < 3)
    return NULL;
  const char *s = c->text + c->pos, *nl = memchr(s, '\n', c->len - c->pos);
  size_t n = nl ? (size_t)(nl - s) + 1 : c->len - c->pos, content = n - (nl != NULL);
  c->line++;
  c->pos += n;
  const char *why = NULL;
  char longer[64];
  /* A longer line would reach inih in pieces, as two entries with wrong
   * line numbers. */
  if (content > (size_t)num - 2) {
    snprintf(longer, sizeof longer, "longer than %d characters", num - 2);
    why = longer;
  } else {
    why = refuse_line(c, s, content);
  }
  if (why) {
    c->why_line = c->line;
    snprintf(c->why, sizeof c->why, "%s", why);
    return NULL;
  }
  memcpy(str, s, n);
  str[n] = '\0';
  return str;
}

/* The handler keeps the first refusal's reason and line. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
  struct ini_ctx *c = user;
  if (c->rc < 0)
    return 1;
  c->err_line = c->line;
  if (*section && strcmp(section, "numabench")) {
    c->rc = nb__err(c->err, NB_EINVAL, "unknown section [%s] (use [numabench] or none)", section);
    return 0;
  }
  const struct nb_option *opt = nb_option_find(name);
  if (!opt || !strcmp(name, "config")) {
    c->rc = nb__err(c->err, NB_EINVAL, "unknown option '%s' (keys are long option names, e.g. batch)", name);
    return 0;
  }
  if (!(opt->commands & c->command)) {
    c->rc = nb__err(c->err, NB_EINVAL, "option '%s' does not apply to this command", name);
    return 0;
  }
  nb_error_t e = {0};
  if (nb_config_set(c->cfg, opt, value, &e) < 0) {
    c->rc = nb__err(c->err, e.code, "%s", e.msg);
    return 0;
  }
  return 1;
}

int nb_config_load_file(struct nb_config *cfg, const char *path, unsigned command, nb_error_t *err)
{
  char *text;
  size_t len;
  /* A pipe is a documented way to pass a generated preset (`--config
   * /dev/stdin`, `--config <(gen)`), read once under the same cap. A FIFO
   * nobody writes to reads as empty instead of blocking: refused, as an
   * empty pipe is never what was meant. */
  struct stat st;
  bool pipe = stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
  int rc = nb__input_read("--config", path, NB_INPUT_PIPE, NB_INI_MAX, &text, &len, err);
  if (rc < 0)
    return rc;
  if (pipe && len == 0) {
    free(text);
    return nb__err(err, NB_EINVAL,
                   "--config %s: a pipe or FIFO that gave nothing (no writer, or it wrote nothing); pipe a "
                   "preset in or give a preset file",
                   path);
  }
  const char *nul = memchr(text, '\0', len);
  if (nul) {
    rc = nb__err(err, NB_EFORMAT, "%s:%d: a NUL byte; a preset is text", path,
                 nb__input_line_of(text, (size_t)(nul - text)));
    free(text);
    return rc;
  }
  nb_error_t first = {0};
  struct ini_ctx c = {.cfg = cfg, .command = command, .err = &first, .text = text, .len = len};
  int bad = ini_parse_stream(read_line, &c, on_entry, &c);
  free(text);
  /* The first of: inih's syntax error, a refused entry, the reader's
   * refusal. */
  int at = 0, which = 0;
  if (bad > 0)
    at = bad, which = 1;
  if (c.rc < 0 && (!at || c.err_line <= at))
    at = c.err_line, which = 2;
  if (c.why_line && (!at || c.why_line <= at))
    at = c.why_line, which = 3;
  if (which == 1)
    return nb__err(err, NB_EINVAL, "%s:%d: not a 'name = value' line", path, bad);
  if (which == 2)
    return nb__err(err, c.rc, "%s:%d: %s", path, c.err_line, first.msg);
  if (which == 3)
    return nb__err(err, NB_EINVAL, "%s:%d: %s", path, c.why_line, c.why);
  if (bad < 0)
    return nb__err(err, NB_ENOMEM, "%s: out of memory", path);
  return 0;
}
