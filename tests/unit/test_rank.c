/* Unit tests: which GPU a rank drives (rank.c) and where exec places it
 * (exec.c), on fixtures, the recorded NVIDIA /proc tree and, when present,
 * hwloc's recorded real machines. Nothing here binds: the placements are
 * pure functions of the topology and the environment. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nbtest.h"
#include "cuda_devices.h"
#include "topo-internal.h"

#define FIX(name) NB_FIXTURES_DIR "/" name
#define PROC8 NB_FIXTURES_DIR "/proc/nvidia-8gpu"

static int resolve(nb_topo_t topo, const char *const *env, const char *gpu, struct nb_rank *r,
                   nb_error_t *err)
{
  struct nb_rank_config cfg = {.gpu = gpu, .env = env};
  return nb_rank_resolve(topo, &cfg, r, err);
}

static struct nb_rank must_resolve(nb_topo_t topo, const char *const *env)
{
  struct nb_rank r;
  nb_error_t err = {0};
  if (resolve(topo, env, NULL, &r, &err) < 0)
    fail_msg("resolve: %s", err.msg);
  return r;
}

static bool has_note(const struct nb_rank *r, const char *text)
{
  for (int i = 0; i < r->nnotes; i++)
    if (strstr(r->notes[i], text))
      return true;
  return false;
}

/* LOCAL_RANK, then SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID. */
static void test_env_precedence(void **state)
{
  (void)state;
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
  static const struct {
    const char *env[4];
    int rank;
    const char *from;
  } rows[] = {
      {{"SLURM_LOCALID=2", "LOCAL_RANK=1", NULL}, 1, "LOCAL_RANK"},
      {{"OMPI_COMM_WORLD_LOCAL_RANK=3", "SLURM_LOCALID=2", NULL}, 2, "SLURM_LOCALID"},
      {{"MPI_LOCALRANKID=5", "OMPI_COMM_WORLD_LOCAL_RANK=4", NULL}, 4, "OMPI_COMM_WORLD_LOCAL_RANK"},
      {{"MPI_LOCALRANKID=5", NULL}, 5, "MPI_LOCALRANKID"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct nb_rank r = must_resolve(topo, rows[i].env);
    assert_int_equal(r.local_rank, rows[i].rank);
    assert_string_equal(r.rank_from, rows[i].from);
    /* No /proc/driver/nvidia: PCI order, and a note says so. */
    assert_string_equal(r.source, "pci");
    assert_true(has_note(&r, "PCI bus order"));
    assert_string_equal(r.gpu.bus_id, nb_topo_gpu(topo, rows[i].rank)->bus_id);
  }
  struct nb_rank r;
  nb_error_t err = {0};
  const char *none[] = {"PATH=/bin", NULL};
  assert_int_equal(resolve(topo, none, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "no local rank"));
  const char *bad[] = {"LOCAL_RANK=one", NULL};
  assert_int_equal(resolve(topo, bad, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "LOCAL_RANK='one'"));
  const char *beyond[] = {"LOCAL_RANK=8", NULL};
  assert_int_equal(resolve(topo, beyond, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "8 GPUs"));
  const char *size[] = {"LOCAL_RANK=0", "SLURM_NTASKS_PER_NODE=4(x2)", "MPI_LOCALNRANKS=3", NULL};
  r = must_resolve(topo, size);
  assert_int_equal(r.local_world_size, 3);
  assert_string_equal(r.size_from, "MPI_LOCALNRANKS");
  /* --gpu wins over the rank; the rank is still recorded for the split. */
  const char *one[] = {"LOCAL_RANK=1", NULL};
  assert_int_equal(resolve(topo, one, "0000:a0:1d.0", &r, &err), 0);
  assert_int_equal(r.gpu.index, 7);
  assert_int_equal(r.local_rank, 1);
  assert_int_equal(resolve(topo, one, "6", &r, &err), 0);
  assert_string_equal(r.gpu.bus_id, "0000:a0:1c.0");
  assert_int_equal(resolve(topo, one, "9", &r, &err), NB_EINVAL);
  assert_int_equal(resolve(topo, one, "zz", &r, &err), NB_EINVAL);
  nb_topo_free(topo);
}

/* CUDA_VISIBLE_DEVICES forms against the recorded driver tree. */
static void test_cvd_forms(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", PROC8, 1);
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  static const struct {
    const char *env[4];
    const char *bus;
    int node;
    bool rewritten;
  } rows[] = {
      {{"LOCAL_RANK=3", NULL}, "0000:20:1d.0", 0, false},
      {{"LOCAL_RANK=1", "CUDA_VISIBLE_DEVICES=7,6,5,4", NULL}, "0000:a0:1c.0", 1, false},
      {{"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=GPU-abc00005", NULL}, "0000:90:1d.0", 1, false},
      {{"LOCAL_RANK=1", "CUDA_VISIBLE_DEVICES=0, GPU-ABC00002-1111-2222-3333-444455556662", NULL},
       "0000:20:1c.0",
       0,
       true},
      {{"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=MIG-GPU-abc00006-1111-2222-3333-444455556666/1/0", NULL},
       "0000:a0:1c.0",
       1,
       false},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct nb_rank r = must_resolve(topo, rows[i].env);
    assert_string_equal(r.source, "nvidia-proc");
    assert_string_equal(r.gpu.bus_id, rows[i].bus);
    assert_int_equal(r.gpu.numa_node, rows[i].node);
    assert_int_equal(r.cvd_rewritten, rows[i].rewritten);
  }
  /* Spaces around an entry are CUDA's to ignore; the rewritten list drops them. */
  const char *sp[] = {"LOCAL_RANK=1", "CUDA_VISIBLE_DEVICES=0, GPU-abc00002", NULL};
  struct nb_rank r = must_resolve(topo, sp);
  assert_string_equal(r.cvd, "0,GPU-abc00002");
  assert_string_equal(r.entry, "GPU-abc00002");
  /* A prefix shared by several GPUs is no GPU; CUDA stops there. */
  const char *amb[] = {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=3,GPU-abc0000,1", NULL};
  r = must_resolve(topo, amb);
  assert_int_equal(r.nvisible, 1);
  assert_true(has_note(&r, "'GPU-abc0000' names no GPU here"));
  assert_string_equal(r.cvd, "3,GPU-abc0000,1");
  nb_error_t err = {0};
  const char *after[] = {"LOCAL_RANK=1", "CUDA_VISIBLE_DEVICES=0,9,1", NULL};
  assert_int_equal(resolve(topo, after, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "leaves 1 GPU"));
  /* A MIG instance's own UUID names no GPU numabench can see. */
  const char *mig[] = {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=MIG-4b5e8f6a-0000-1111-2222-333344445555", NULL};
  assert_int_equal(resolve(topo, mig, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "MIG instance"));
  /* Empty: CUDA sees nothing. */
  const char *empty[] = {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=", NULL};
  assert_int_equal(resolve(topo, empty, NULL, &r, &err), NB_EINVAL);
  nb_topo_free(topo);
  /* Without the driver's tree there are no UUIDs to resolve with. */
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
  topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  const char *uuid[] = {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=GPU-abc00005", NULL};
  assert_int_equal(resolve(topo, uuid, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "no GPU UUIDs"));
  nb_topo_free(topo);
}

/* Write a driver information file under dir for a GPU. */
static void write_info(const char *dir, const char *bus, const char *model)
{
  char path[512];
  snprintf(path, sizeof path, "%s/proc/driver/nvidia/gpus/%s", dir, bus);
  char cmd[640];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
  assert_int_equal(system(cmd), 0);
  strcat(path, "/information");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "Model: \t\t %s\nGPU UUID: \t GPU-%s\nBus Location: \t %s\nDevice Minor: \t 0\n", model, bus,
          bus);
  fclose(f);
}

/* CUDA_DEVICE_ORDER: PCI order is exact; FASTEST_FIRST (the default) is PCI
 * order only among equal models, and the CUDA runtime's own order is used
 * when it answered; the command's list is renumbered for PCI_BUS_ID. */
static void test_order(void **state)
{
  (void)state;
  char dir[] = "/tmp/nb-rank-XXXXXX";
  assert_non_null(mkdtemp(dir));
  write_info(dir, "0000:10:1c.0", "NVIDIA A100-SXM4-40GB");
  write_info(dir, "0000:90:1c.0", "NVIDIA A10");
  setenv("NB_TEST_PROC_ROOT", dir, 1);
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  const char *ff[] = {"LOCAL_RANK=1", NULL};
  struct nb_rank r = must_resolve(topo, ff);
  assert_true(has_note(&r, "different models"));
  assert_string_equal(r.gpu.bus_id, "0000:90:1c.0");
  const char *pci[] = {"LOCAL_RANK=1", "CUDA_DEVICE_ORDER=PCI_BUS_ID", NULL};
  r = must_resolve(topo, pci);
  assert_false(has_note(&r, "different models"));
  nb_topo_free(topo);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);

  /* The runtime's FASTEST_FIRST order: a0:1d.0 first. */
  setenv("NB_TEST_PROC_ROOT", PROC8, 1);
  static const char *const ids[] = {"00000000:A0:1D.0", "00000000:10:1C.0", "00000000:90:1C.0",
                                    "00000000:20:1D.0"};
  struct nb__cuda_dev devs[4];
  for (int i = 0; i < 4; i++) {
    memset(&devs[i], 0, sizeof devs[i]);
    strcpy(devs[i].bus_id, ids[i]);
    strcpy(devs[i].name, "NVIDIA A100-SXM4-40GB");
    devs[i].host_numa_id = -1;
  }
  struct nb__cuda_info info = {.runtime_version = 13000, .driver_version = 13000, .count = 4, .devs = devs};
  struct nb_topo_config cfg = {.source = FIX("2s-8gpu-smt.xml")};
  nb_error_t err = {0};
  if (nb__topo_load_with_cuda(&topo, &cfg, &info, &err) < 0)
    fail_msg("%s", err.msg);
  const char *r0[] = {"LOCAL_RANK=0", NULL};
  r = must_resolve(topo, r0);
  assert_string_equal(r.source, "cuda");
  assert_string_equal(r.gpu.bus_id, "0000:a0:1d.0");
  assert_string_equal(r.gpu.uuid, "GPU-abc00007-1111-2222-3333-444455556667");
  /* The command runs with PCI_BUS_ID: the same four GPUs in the same order. */
  assert_true(r.cvd_set && r.cvd_rewritten);
  assert_string_equal(r.cvd, "3,0,2,1");
  const char *r1[] = {"LOCAL_RANK=1", "CUDA_VISIBLE_DEVICES=2,0", NULL};
  r = must_resolve(topo, r1);
  assert_string_equal(r.gpu.bus_id, "0000:a0:1d.0");
  assert_string_equal(r.cvd, "2,3");
  assert_string_equal(r.entry, "0");
  nb_topo_free(topo);
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
}

/* --devices: the n-th device, in the order given. */
static void test_devices(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", PROC8, 1);
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), "0000:90:1c.0,0000:10:1c.0");
  const char *env[] = {"LOCAL_RANK=0", NULL};
  struct nb_rank r = must_resolve(topo, env);
  assert_string_equal(r.source, "devices");
  assert_string_equal(r.gpu.bus_id, "0000:90:1c.0");
  assert_int_equal(r.gpu.numa_node, 1);
  assert_false(r.cvd_set);
  nb_topo_free(topo);
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
}

static struct nb_rank rank_of(nb_topo_t topo, int rank, int size, const char *cvd)
{
  char a[32], b[32], c[128];
  snprintf(a, sizeof a, "LOCAL_RANK=%d", rank);
  snprintf(b, sizeof b, "LOCAL_WORLD_SIZE=%d", size);
  snprintf(c, sizeof c, "CUDA_VISIBLE_DEVICES=%s", cvd ? cvd : "");
  const char *env[] = {a, b, cvd ? c : NULL, NULL};
  return must_resolve(topo, env);
}

/* Every rank's share, computed as that rank computes it: disjoint, whole
 * cores, on the GPU's node, covering the node when the ranks there divide
 * it. Returns the number of ranks placed. */
static int check_split(nb_topo_t topo, int size, const char *cvd, enum nb_exec_policy pol)
{
  int maxcpu = 0;
  for (int i = 0; i < nb_topo_nnodes(topo); i++)
    for (int c = 0; c < nb_topo_node(topo, i)->ncpus; c++)
      maxcpu = nb_topo_node(topo, i)->cpus[c] > maxcpu ? nb_topo_node(topo, i)->cpus[c] : maxcpu;
  int *owner = malloc((size_t)(maxcpu + 1) * sizeof *owner);
  for (int c = 0; c <= maxcpu; c++)
    owner[c] = -1;
  for (int k = 0; k < size; k++) {
    struct nb_rank r = rank_of(topo, k, size, cvd);
    struct nb_exec_config ec = {.mode = NB_MODE_BIND, .policy = pol, .mem = NB_EXEC_MEM_BIND};
    struct nb_exec_place p;
    nb_error_t err = {0};
    if (nb_exec_place(topo, &r, &ec, &p, &err) < 0)
      fail_msg("%s rank %d: %s", nb_topo_source(topo), k, err.msg);
    assert_int_equal(p.cpu_node, r.gpu.numa_node);
    assert_true(p.ncpus > 0);
    for (int c = 0; c < p.ncpus; c++) {
      if (owner[p.cpus[c]] != -1)
        fail_msg("%s: CPU %d given to ranks %d and %d", nb_topo_source(topo), p.cpus[c], owner[p.cpus[c]], k);
      owner[p.cpus[c]] = k;
      assert_int_equal(nb_topo_cpu_node(topo, p.cpus[c]), p.cpu_node);
    }
    /* SMT siblings together: a core is wholly in or wholly out. */
    for (int i = 0; i < nb_topo_ncores(topo); i++) {
      const struct nb_core *core = nb_topo_core(topo, i);
      int in = 0;
      for (int c = 0; c < core->ncpus; c++)
        in += owner[core->cpus[c]] == k;
      assert_true(in == 0 || in == core->ncpus);
    }
    nb_exec_place_free(&p);
  }
  free(owner);
  return size;
}

static void test_exclusive(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  /* The example: rank 3 of 8, four GPUs per node, 24 cores each. */
  struct nb_rank r = rank_of(topo, 3, 8, NULL);
  struct nb_exec_config ec = {.mode = NB_MODE_BIND, .policy = NB_EXEC_EXCLUSIVE, .mem = NB_EXEC_MEM_BIND};
  struct nb_exec_place p;
  nb_error_t err = {0};
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  char *cpus = nb__cpulist_dup(p.cpus, p.ncpus);
  assert_string_equal(cpus, "18-23,66-71");
  free(cpus);
  assert_int_equal(p.mem_node, 0);
  nb_exec_place_free(&p);
  check_split(topo, 8, NULL, NB_EXEC_EXCLUSIVE);
  check_split(topo, 8, "7,6,5,4,3,2,1,0", NB_EXEC_EXCLUSIVE);
  check_split(topo, 3, "0,4,5", NB_EXEC_EXCLUSIVE);
  /* No L3 in this file: core-complex falls back to the exclusive share. */
  check_split(topo, 8, NULL, NB_EXEC_CORE_COMPLEX);
  r = rank_of(topo, 0, 8, NULL);
  ec.policy = NB_EXEC_CORE_COMPLEX;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_true(p.nnotes > 0 && strstr(p.notes[0], "L3"));
  nb_exec_place_free(&p);
  /* Without LOCAL_WORLD_SIZE the share cannot be computed. */
  const char *env[] = {"LOCAL_RANK=0", NULL};
  r = must_resolve(topo, env);
  ec.policy = NB_EXEC_EXCLUSIVE;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "LOCAL_WORLD_SIZE"));
  nb_topo_free(topo);

  /* Fewer cores than ranks: three ranks on the container's one allowed node
   * (two cores). */
  topo = nbt_load(FIX("container.xml"), NULL);
  r = rank_of(topo, 0, 1, NULL);
  r.local_world_size = 3;
  r.nvisible = 3;
  r.visible[1] = r.visible[2] = r.gpu;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "fewer cores than ranks"));
  /* GPU 1's node is not allowed here. */
  r = rank_of(topo, 1, 2, NULL);
  ec.policy = NB_EXEC_NODE;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "no CPUs this process may use"));
  nb_topo_free(topo);
}

/* Policies node and socket, modes remote and adversarial, memory-only and
 * memoryless nodes, unknown nodes. */
static void test_modes_and_memory(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  struct nb_rank r = rank_of(topo, 5, 8, NULL);
  struct nb_exec_place p;
  nb_error_t err = {0};
  struct nb_exec_config ec = {.mode = NB_MODE_REMOTE, .policy = NB_EXEC_NODE, .mem = NB_EXEC_MEM_PREFERRED};
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.cpu_node, 0);
  assert_int_equal(p.mem_node, 0);
  assert_int_equal(p.ncpus, 48);
  nb_exec_place_free(&p);
  ec =
      (struct nb_exec_config){.mode = NB_MODE_ADVERSARIAL, .policy = NB_EXEC_SOCKET, .mem = NB_EXEC_MEM_BIND};
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.cpu_node, 1);
  assert_int_equal(p.mem_node, 0);
  nb_exec_place_free(&p);
  ec = (struct nb_exec_config){.mode = NB_MODE_INTERLEAVE, .policy = NB_EXEC_NODE, .mem = NB_EXEC_MEM_BIND};
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.ncpus, 0);
  assert_int_equal(p.mem, NB_EXEC_MEM_INTERLEAVE);
  assert_int_equal(p.nmem_nodes, 2);
  nb_exec_place_free(&p);
  ec.mode = NB_MODE_NONE;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.ncpus, 0);
  assert_int_equal(p.mem, NB_EXEC_MEM_NONE);
  nb_topo_free(topo);

  topo = nbt_load(FIX("memless.xml"), NULL);
  r = rank_of(topo, 0, 3, NULL);
  ec = (struct nb_exec_config){.mode = NB_MODE_BIND, .policy = NB_EXEC_EXCLUSIVE, .mem = NB_EXEC_MEM_BIND};
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.cpu_node, 1);
  assert_int_equal(p.mem_node, 2); /* the nearest node with memory */
  assert_true(p.nnotes > 0 && strstr(p.notes[0], "no memory"));
  nb_exec_place_free(&p);
  check_split(topo, 3, NULL, NB_EXEC_EXCLUSIVE);
  nb_topo_free(topo);

  topo = nbt_load(FIX("memonly-cxl.xml"), NULL);
  r = rank_of(topo, 1, 2, NULL);
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.cpu_node, 1);
  assert_int_equal(p.mem_node, 1);
  nb_exec_place_free(&p);
  ec.mem = NB_EXEC_MEM_INTERLEAVE;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.nmem_nodes, 4);
  nb_exec_place_free(&p);
  nb_topo_free(topo);

  /* Never a silent node 0: an unknown node is an error naming --gpu-node. */
  topo = nbt_load(FIX("unknown-node.xml"), NULL);
  r = rank_of(topo, 1, 2, NULL);
  ec.mem = NB_EXEC_MEM_BIND;
  ec.policy = NB_EXEC_NODE;
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "--gpu-node 1=NODE"));
  struct nb_gpu_nodes gn = {.n = 1};
  gn.item[0].gpu = 1;
  gn.item[0].node = 1;
  const char *env[] = {"LOCAL_RANK=1", NULL};
  struct nb_rank_config rc = {.gpu_node = &gn, .env = env};
  assert_int_equal(nb_rank_resolve(topo, &rc, &r, &err), 0);
  assert_true(r.gpu.node_overridden);
  assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), 0);
  assert_int_equal(p.cpu_node, 1);
  nb_exec_place_free(&p);
  nb_topo_free(topo);
}

/* hwloc's recorded machines: every rank's exclusive and core-complex share
 * disjoint; the DGX-2 has 16 GPUs for 4 cores. */
static void test_shared_topologies(void **state)
{
  (void)state;
  DIR *d = opendir(NB_SHARED_TOPOLOGIES);
  if (!d)
    skip();
  setenv("NB_TEST_PROC_ROOT", "/nonexistent", 1);
  struct dirent *e;
  int tried = 0;
  while ((e = readdir(d))) {
    if (!strstr(e->d_name, ".xml"))
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", NB_SHARED_TOPOLOGIES, e->d_name);
    nb_topo_t topo = nbt_load(path, NULL);
    int n = nb_topo_ngpus(topo) < NB_RANK_MAX_GPUS ? nb_topo_ngpus(topo) : NB_RANK_MAX_GPUS;
    bool enough = true;
    for (int i = 0; i < nb_topo_nnodes(topo); i++) {
      int on = 0;
      for (int g = 0; g < n; g++)
        on += nb_topo_gpu(topo, g)->numa_node == nb_topo_node(topo, i)->os_index;
      enough &= on <= nb_topo_node(topo, i)->ncores;
    }
    if (n > 0 && enough) {
      tried += check_split(topo, n, NULL, NB_EXEC_EXCLUSIVE);
      check_split(topo, n, NULL, NB_EXEC_CORE_COMPLEX);
    } else if (n > 0) {
      struct nb_rank r = rank_of(topo, 0, n, NULL);
      struct nb_exec_config ec = {.mode = NB_MODE_BIND, .policy = NB_EXEC_EXCLUSIVE};
      struct nb_exec_place p;
      nb_error_t err = {0};
      assert_int_equal(nb_exec_place(topo, &r, &ec, &p, &err), NB_EINVAL);
      assert_non_null(strstr(err.msg, "fewer cores than ranks"));
      tried++;
    }
    nb_topo_free(topo);
  }
  closedir(d);
  assert_true(tried > 0);

  /* Core complexes: two stand-in GPUs on node 0 of a machine with two
   * packages (two L3 domains) per node get one L3 each. */
  nb_topo_t topo = nbt_load(NB_SHARED_TOPOLOGIES "/4node-8pkg-pci.xml", "0000:01:00.0,0000:02:00.0");
  int l3[2];
  for (int k = 0; k < 2; k++) {
    struct nb_rank r = rank_of(topo, k, 2, NULL);
    struct nb_exec_config ec = {.mode = NB_MODE_BIND, .policy = NB_EXEC_CORE_COMPLEX};
    struct nb_exec_place p;
    nb_error_t err = {0};
    if (nb_exec_place(topo, &r, &ec, &p, &err) < 0)
      fail_msg("%s", err.msg);
    assert_int_equal(p.nnotes, 0);
    assert_true(p.ncpus > 0);
    l3[k] = nb__topo_cpu_l3(topo, p.cpus[0]);
    assert_true(l3[k] >= 0);
    for (int c = 0; c < p.ncpus; c++)
      assert_int_equal(nb__topo_cpu_l3(topo, p.cpus[c]), l3[k]);
    nb_exec_place_free(&p);
  }
  assert_int_not_equal(l3[0], l3[1]);
  nb_topo_free(topo);
}

/* srun --gpus-per-task=1: each task sees one GPU, and SLURM_LOCALID counts the
 * tasks, so task 1 sees CUDA_VISIBLE_DEVICES=5 alone: that GPU is its own.
 * And a rank past no GPU at all names no range and the entry CUDA ignored. */
static void test_one_visible_and_none(void **state)
{
  (void)state;
  setenv("NB_TEST_PROC_ROOT", PROC8, 1);
  nb_topo_t topo = nbt_load(FIX("2s-8gpu-smt.xml"), NULL);
  const char *slurm[] = {"SLURM_LOCALID=1", "CUDA_VISIBLE_DEVICES=5", NULL};
  struct nb_rank r = must_resolve(topo, slurm);
  assert_string_equal(r.gpu.bus_id, nb_topo_gpu(topo, 5)->bus_id);
  assert_string_equal(r.entry, "5");
  assert_true(has_note(&r, "one visible GPU: cuda:0 is this rank's"));
  /* Two visible and rank 2: still an error, with the range there is. */
  nb_error_t err = {0};
  const char *two[] = {"SLURM_LOCALID=2", "CUDA_VISIBLE_DEVICES=5,6", NULL};
  assert_int_equal(resolve(topo, two, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "2 GPUs (cuda:0 to cuda:1)"));
  /* One GPU left of a longer list (CUDA stops at '9'): rank 0's, not rank 1's. */
  const char *cut[] = {"SLURM_LOCALID=1", "CUDA_VISIBLE_DEVICES=5,9", NULL};
  assert_int_equal(resolve(topo, cut, NULL, &r, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "entry 1 '9'"));
  static const char *const empty[][3] = {
      {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=", NULL},
      {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=,,", NULL},
      {"LOCAL_RANK=0", "CUDA_VISIBLE_DEVICES=-1", NULL},
  };
  for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
    assert_int_equal(resolve(topo, empty[i], NULL, &r, &err), NB_EINVAL);
    assert_null(strstr(err.msg, "cuda:-1"));
    assert_non_null(strstr(err.msg, "leaves no GPU"));
    if (i > 0)
      assert_non_null(strstr(err.msg, i == 1 ? "entry 0 ''" : "entry 0 '-1'"));
  }
  nb_topo_free(topo);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_env_precedence),
      cmocka_unit_test(test_cvd_forms),
      cmocka_unit_test(test_order),
      cmocka_unit_test(test_devices),
      cmocka_unit_test(test_exclusive),
      cmocka_unit_test(test_modes_and_memory),
      cmocka_unit_test(test_shared_topologies),
      cmocka_unit_test(test_one_visible_and_none),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
