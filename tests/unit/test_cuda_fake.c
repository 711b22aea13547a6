/* Unit tests (live, pipeline): the pipeline's CUDA path without a GPU,
 * against the stand-in copy backend (copy_standin.c), handed to the library
 * at run time through its test-only switch (NB_TEST_STANDIN_GPUS). The topology
 * is this machine's, with two of its PCI devices presented as CUDA devices
 * 0 and 1. Checked: every step of every GPU delivered, the sampled batches
 * back from the "GPU" equal to what the workers built (a staging slot
 * refilled before its copy completed would show), the same data as the host
 * backend, the engine's contract kept (order, ring, copy-back), pinned
 * staging audited on the planned node, failures and stops ending cleanly,
 * and bw's CUDA matrices complete. The real engine is tested on a GPU by
 * test_cuda_pipeline. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "copy.h"
#include "cuda_devices.h"
#include "nbtest.h"
#include "topo-internal.h"

static nb_topo_t topo;

static struct nb_run_config cfg_for(enum nb_pipeline p, enum nb_pin pin)
{
  return (struct nb_run_config){.channels = 3,
                                .height = 32,
                                .width = 32,
                                .batch = 4,
                                .warmup = 3,
                                .steps = 30,
                                .seed = 5,
                                .pipeline = p,
                                .backend = NB_BACKEND_CUDA,
                                .pin = pin,
                                .gpu_work_us = 300,
                                .verify = true};
}

static nb_plan_t plan_for(enum nb_mode mode, int workers)
{
  nb_plan_t plan;
  nb_error_t err = {0};
  struct nb_plan_config pc = {.mode = mode, .workers = workers};
  if (nb_plan_make(&plan, topo, &pc, &err) < 0)
    fail_msg("plan: %s", err.msg);
  return plan;
}

static void no_violation(void)
{
  const char *first;
  int n = nb__standin_violations(&first);
  if (n)
    fail_msg("the pipeline broke the CUDA engine's contract %d times; first: %s", n, first);
}

static void test_delivered_and_verified(void **state)
{
  (void)state;
  static const int workers[] = {1, 3};
  for (int w = 0; w < 2; w++)
    for (int p = 0; p < 2; p++) {
      nb_plan_t plan = plan_for(NB_MODE_BIND, workers[w]);
      struct nb_run_config cfg = cfg_for((enum nb_pipeline)p, p ? NB_PIN_HOSTALLOC : NB_PIN_REGISTER);
      nb_run_t run, host;
      nb_error_t err = {0};
      if (nbt_run_once(plan, &cfg, &run, &err) < 0)
        fail_msg("%s, %d workers: %s", nb_pipeline_name(cfg.pipeline), workers[w], err.msg);
      struct nb_run_config hc = cfg;
      hc.backend = NB_BACKEND_HOST;
      if (nbt_run_once(plan, &hc, &host, &err) < 0)
        fail_msg("host: %s", err.msg);
      assert_int_equal(nb_run_ngpus(run), 2);
      for (int g = 0; g < 2; g++) {
        const struct nb_gpu_result *res = nb_run_gpu(run, g);
        assert_int_equal(res->steps_done, 33);
        assert_int_equal(res->timed_steps, 30);
        assert_int_equal(res->verified, 9); /* 0, 4, ..., 32 */
        assert_int_equal(res->mismatches, 0);
        assert_true(res->digest == nb_run_gpu(host, g)->digest);
        assert_true(res->steps_per_s > 0 && res->copy_gbps > 0);
        /* Each step does its 0.3 ms of work: no faster than that. */
        assert_true(res->stage_ms[NB_STAGE_DEVICE_WORK] >= 0.29);
        assert_true(res->steps_per_s < 1000 / 0.29);
        assert_true(res->starved_pct >= 0 && res->starved_pct <= 100);
        assert_true(res->pin_s > 0);
        double sum = 0;
        for (int k = 0; k < res->timed_steps; k++)
          sum += res->step_ms[k];
        assert_true(sum > 0 && sum <= res->seconds * 1e3 * 1.0001);
      }
      assert_true(nb_run_placement_achieved(run));
      no_violation();
      nb_run_free(run);
      nb_run_free(host);
      nb_plan_free(plan);
    }
}

/* The CUDA path takes --source replay and --cpu-work (issue 16): the same
 * data as the host backend's, verified, with the pools audited. */
static void test_replay_cpu_work(void **state)
{
  (void)state;
  for (int p = 0; p < 2; p++) {
    nb_plan_t plan = plan_for(NB_MODE_BIND, 2);
    struct nb_run_config cfg = cfg_for((enum nb_pipeline)p, NB_PIN_REGISTER);
    cfg.source = NB_SOURCE_REPLAY;
    cfg.pool_bytes = 4096; /* raised to 11 samples (above two batches of 4, prime): the sequence wraps */
    cfg.cpu_work_us = 20;
    nb_run_t run, host;
    nb_error_t err = {0};
    if (nbt_run_once(plan, &cfg, &run, &err) < 0)
      fail_msg("%s replay: %s", nb_pipeline_name(cfg.pipeline), err.msg);
    struct nb_run_config hc = cfg;
    hc.backend = NB_BACKEND_HOST;
    if (nbt_run_once(plan, &hc, &host, &err) < 0)
      fail_msg("host replay: %s", err.msg);
    for (int g = 0; g < 2; g++) {
      const struct nb_gpu_result *res = nb_run_gpu(run, g);
      assert_int_equal(res->steps_done, 33);
      assert_int_equal(res->verified, 9);
      assert_int_equal(res->mismatches, 0);
      assert_true(res->digest == nb_run_gpu(host, g)->digest);
      assert_true(res->pool_bytes == 11 * nb_run_sample_bytes(&cfg));
      assert_true(res->stage_ms[NB_STAGE_CPU_WORK] > 0 && res->cpu_work_rate > 0);
      assert_non_null(nb_run_buf_audit(run, g, NB_RUN_NBUFKINDS - 1));
    }
    assert_true(nb_run_placement_achieved(run));
    no_violation();
    nb_run_free(run);
    nb_run_free(host);
    nb_plan_free(plan);
  }
}

static void test_failures(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND, 2);
  static const char *const faults[] = {"corrupt:5", "corrupt:8", "device:3", "feeder:5", "worker:6"};
  static const char *const says[] = {"checksum mismatch", "checksum mismatch", "injected failure",
                                     "injected failure", "injected failure"};
  for (int k = 0; k < 5; k++)
    for (int p = 0; p < 2; p++) {
      struct nb_run_config cfg = cfg_for((enum nb_pipeline)p, NB_PIN_REGISTER);
      assert_int_equal(nb_parse_fault(faults[k], &cfg.fail_at, NULL), 0);
      nb_run_t run;
      nb_error_t err = {0};
      int rc = nbt_run_once(plan, &cfg, &run, &err);
      if (rc != NB_EIO || !strstr(err.msg, says[k]))
        fail_msg("--fail-at %s, %s: rc %d: %s", faults[k], nb_pipeline_name(cfg.pipeline), rc, err.msg);
      nb_run_free(run);
    }
  no_violation();
  nb_plan_free(plan);
}

/* A stop part-way: no hang, the run marked interrupted, steps counted. */
static void test_stop(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND, 2);
  struct nb_run_config cfg = cfg_for(NB_PIPE_TORCH, NB_PIN_REGISTER);
  cfg.steps = 100000;
  cfg.gpu_work_us = 2000;
  nb_run_t run = NULL;
  nb_error_t err = {0};
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), 0);
  struct nbt_stopper s;
  assert_int_equal(nbt_stop_after(&s, run, 30000), 0);
  assert_int_equal(nb_run_wait(run, &err), 0);
  pthread_join(s.thread, NULL);
  assert_true(nb_run_interrupted(run));
  for (int g = 0; g < 2; g++) {
    const struct nb_gpu_result *res = nb_run_gpu(run, g);
    assert_true(res->steps_done < 1000);
    assert_int_equal(res->mismatches, 0);
  }
  no_violation();
  nb_run_free(run);
  nb_plan_free(plan);
}

/* The spin kernel's calibration: recorded per GPU (the stand-in reports
 * NB_TEST_STANDIN_SPIN_SCALE, 1 unset); a factor outside 0.5-2 leaves a run
 * without device work alone and stops one with work, naming the GPU. */
static void test_spin_scale(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND, 1);
  struct nb_run_config cfg = cfg_for(NB_PIPE_DIRECT, NB_PIN_REGISTER);
  cfg.steps = 5;
  nb_run_t run;
  nb_error_t err = {0};
  if (nbt_run_once(plan, &cfg, &run, &err) < 0)
    fail_msg("exact calibration: %s", err.msg);
  for (int g = 0; g < 2; g++)
    assert_true(nb_run_gpu(run, g)->spin_scale == 1.0);
  nb_run_free(run);

  static const char *const bad[] = {"5", "0.25"};
  for (int k = 0; k < 2; k++) {
    setenv(NB__STANDIN_SPIN_ENV, bad[k], 1);
    cfg.gpu_work_us = 0;
    if (nbt_run_once(plan, &cfg, &run, &err) < 0)
      fail_msg("--gpu-work 0 with the factor %s: %s", bad[k], err.msg);
    for (int g = 0; g < 2; g++) {
      assert_int_equal(nb_run_gpu(run, g)->steps_done, 8);
      assert_true(nb_run_gpu(run, g)->spin_scale == strtod(bad[k], NULL));
    }
    nb_run_free(run);
    cfg.gpu_work_us = 300;
    int rc = nbt_run_once(plan, &cfg, &run, &err);
    if (rc != NB_ECUDA || !strstr(err.msg, "unusable for --gpu-work") || !strstr(err.msg, "GPU "))
      fail_msg("--gpu-work 300 with the factor %s: rc %d: %s", bad[k], rc, err.msg);
    nb_run_free(run);
  }
  unsetenv(NB__STANDIN_SPIN_ENV);
  /* The host backend has no spin kernel: nothing measured. */
  cfg.backend = NB_BACKEND_HOST;
  if (nbt_run_once(plan, &cfg, &run, &err) < 0)
    fail_msg("host: %s", err.msg);
  assert_true(isnan(nb_run_gpu(run, 0)->spin_scale));
  nb_run_free(run);
  no_violation();
  nb_plan_free(plan);
}

/* Device buffers that do not fit the GPU (the stand-in's memory set by
 * NB_TEST_STANDIN_DEVICE_MEMORY): the run stops with the CUDA error, what
 * was asked and which --batch fits. */
static void test_device_memory(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND, 1);
  struct nb_run_config cfg = cfg_for(NB_PIPE_TORCH, NB_PIN_REGISTER);
  cfg.steps = 5;
  /* Per sample: two slots of 3x32x32 floats and the 3x224x224 output. */
  size_t per_sample = 2 * 3 * 32 * 32 * 4 + 3 * 224 * 224 * 4;
  char mem[32];
  snprintf(mem, sizeof mem, "%zu", 2 * per_sample + 1000);
  setenv(NB__STANDIN_MEMORY_ENV, mem, 1);
  nb_run_t run;
  nb_error_t err = {0};
  int rc = nbt_run_once(plan, &cfg, &run, &err);
  if (rc != NB_ECUDA || !strstr(err.msg, "cudaMalloc: cudaErrorMemoryAllocation") ||
      !strstr(err.msg, "the device slots need 2 x 48 KiB and the resize output 2.3 MiB at --batch 4") ||
      !strstr(err.msg, "lower --batch (about 2 fits)"))
    fail_msg("device memory for 2 samples, --batch 4: rc %d: %s", rc, err.msg);
  nb_run_free(run);
  /* Enough for all 4: it runs. */
  snprintf(mem, sizeof mem, "%zu", 4 * per_sample);
  setenv(NB__STANDIN_MEMORY_ENV, mem, 1);
  if (nbt_run_once(plan, &cfg, &run, &err) < 0)
    fail_msg("device memory for 4 samples, --batch 4: %s", err.msg);
  nb_run_free(run);
  unsetenv(NB__STANDIN_MEMORY_ENV);
  no_violation();
  nb_plan_free(plan);
}

/* The CPUs the calling thread may run on, ascending; their count. */
static int my_cpus(int *cpus, int max)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE && n < max; c++)
    if (CPU_ISSET(c, &set))
      cpus[n++] = c;
  return n;
}

static void set_my_cpus(const int *cpus, int n)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < n; i++)
    CPU_SET(cpus[i], &set);
  assert_int_equal(sched_setaffinity(0, sizeof set, &set), 0);
}

/* --pin hostalloc: the driver serves cudaHostAlloc from the calling CPU's
 * node, so the allocating thread runs on the buffer's node's CPUs during
 * the call and on its own CPUs again after; interleaved staging is refused
 * (by the allocation and by nb_run_start). */
static void test_hostalloc_affinity(void **state)
{
  (void)state;
  const struct nb_node *nd = nb_topo_node(topo, 0);
  assert_non_null(nd);
  if (nd->ncpus == 0)
    skip();
  int mine[256], nmine = my_cpus(mine, 256);
  /* Start from one CPU only, so that the binding shows when the node has more. */
  int one = mine[nmine - 1];
  set_my_cpus(&one, 1);
  const struct nb_pinner *pinner = nb__copy_standin.pinner;
  struct nb_buf b;
  nb_error_t err = {0};
  struct nb_buf_plan bound = {NB_MEM_BIND, nd->os_index};
  if (nb_buf_alloc_pinned(topo, &b, 1 << 20, &bound, NULL, 0, pinner, NB_PIN_HOSTALLOC, &err) < 0)
    fail_msg("hostalloc on node %d: %s", nd->os_index, err.msg);
  int during[256], n = nb__standin_host_alloc_cpus(during, 256), after[256];
  assert_int_equal(n, nd->ncpus);
  for (int i = 0; i < n; i++)
    assert_int_equal(during[i], nd->cpus[i]);
  assert_int_equal(my_cpus(after, 256), 1);
  assert_int_equal(after[0], one);
  assert_int_equal(b.pinned, NB_PIN_HOSTALLOC);
  nb_buf_free(&b);

  /* Unbound: the thread stays where it is. */
  struct nb_buf_plan unbound = {NB_MEM_DEFAULT, -1};
  assert_int_equal(nb_buf_alloc_pinned(topo, &b, 1 << 20, &unbound, NULL, 0, pinner, NB_PIN_HOSTALLOC, &err),
                   0);
  assert_int_equal(nb__standin_host_alloc_cpus(during, 256), 1);
  assert_int_equal(during[0], one);
  nb_buf_free(&b);

  /* Interleaved: refused, nothing allocated, the thread left alone. */
  int il = nd->os_index;
  struct nb_buf_plan inter = {NB_MEM_INTERLEAVE, -1};
  memset(&err, 0, sizeof err);
  assert_int_equal(nb_buf_alloc_pinned(topo, &b, 1 << 20, &inter, &il, 1, pinner, NB_PIN_HOSTALLOC, &err),
                   NB_EINVAL);
  assert_non_null(strstr(err.msg, "--pin hostalloc"));
  assert_null(b.addr);
  assert_int_equal(my_cpus(after, 256), 1);
  set_my_cpus(mine, nmine);

  nb_plan_t plan = plan_for(NB_MODE_INTERLEAVE, 1);
  struct nb_run_config cfg = cfg_for(NB_PIPE_DIRECT, NB_PIN_HOSTALLOC);
  nb_run_t run = NULL;
  memset(&err, 0, sizeof err);
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), NB_EINVAL);
  assert_null(run);
  if (!strstr(err.msg, "--mode interleave") || !strstr(err.msg, "--pin hostalloc"))
    fail_msg("interleave + hostalloc: %s", err.msg);
  nb_plan_free(plan);
}

static void test_bw(void **state)
{
  (void)state;
  struct nb_bw_config bc = {
      .backend = NB_BACKEND_CUDA, .bytes = 1 << 20, .repeat = 3, .pin = NB_PIN_REGISTER};
  nb_bw_t bw;
  nb_error_t err = {0};
  if (nb_bw_measure(topo, &bc, &bw, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(nb_bw_ndirs(bw), 2);
  assert_int_equal(nb_bw_ncols(bw), 2);
  for (int d = 0; d < 2; d++)
    for (int all = 0; all < 2; all++)
      for (int i = 0; i < nb_bw_nrows(bw); i++)
        for (int j = 0; j < 2; j++) {
          const struct nb_bw_cell *c = nb_bw_cell(bw, d, i, j, all);
          assert_non_null(c);
          assert_true(c->gbps.median > 0 && c->placed);
        }
  assert_null(nb_bw_cell(bw, 2, 0, 0, 0));
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_int_equal(nb_bw_write_json(bw, f, &err), 0);
  fclose(f);
  json_t *doc = json_loads(text, 0, NULL);
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "backend")), "cuda");
  assert_int_equal(json_array_size(json_object_get(doc, "cols_gpus")), 2);
  json_t *row = json_array_get(json_object_get(json_object_get(doc, "d2h"), "all_at_once"), 0);
  assert_int_equal(json_array_size(row), 2);
  json_t *tot = json_object_get(json_object_get(doc, "d2h"), "all_at_once_total");
  assert_int_equal(json_array_size(tot), (size_t)nb_bw_nrows(bw));
  double sum = json_real_value(json_object_get(json_array_get(row, 0), "median")) +
               json_real_value(json_object_get(json_array_get(row, 1), "median"));
  assert_true(fabs(json_real_value(json_array_get(tot, 0)) - sum) < 1e-9 * sum);
  json_decref(doc);
  free(text);
  f = open_memstream(&text, &len);
  assert_int_equal(nb_bw_write_text(bw, f, &err), 0);
  fclose(f);
  print_message("%s", text);
  assert_non_null(strstr(text, "host to device (H2D)"));
  assert_non_null(strstr(text, "device to host (D2H)"));
  assert_non_null(strstr(text, "total"));
  free(text);
  nb_bw_free(bw);
}

/* Two PCI devices of this machine, presented as CUDA devices 0 and 1. */
static int fake_gpus(struct nb__cuda_dev devs[2])
{
  DIR *d = opendir("/sys/bus/pci/devices");
  int n = 0;
  struct dirent *e;
  while (d && n < 2 && (e = readdir(d)))
    if (e->d_name[0] != '.' && strlen(e->d_name) == 12) {
      memset(&devs[n], 0, sizeof devs[n]);
      snprintf(devs[n].bus_id, sizeof devs[n].bus_id, "0000%s", e->d_name);
      snprintf(devs[n].name, sizeof devs[n].name, "fake GPU %d", n);
      devs[n++].host_numa_id = -1;
    }
  if (d)
    closedir(d);
  return n;
}

int main(void)
{
  struct nb__cuda_dev devs[2];
  if (fake_gpus(devs) < 2) {
    printf("SKIP: this machine has fewer than 2 PCI devices to present as GPUs\n");
    return NB_TEST_SKIP;
  }
  /* The stand-in replaces the CUDA backend for these devices. */
  char list[64];
  snprintf(list, sizeof list, "%s,%s", devs[0].bus_id, devs[1].bus_id);
  setenv(NB__STANDIN_ENV, list, 1);
  if (nb__copy_ops_for(NB_BACKEND_CUDA) != &nb__copy_standin) {
    printf("the stand-in was not chosen for " NB__STANDIN_ENV "=%s\n", list);
    return 1;
  }
  struct nb__cuda_info info = {.runtime_version = 13000, .driver_version = 13000, .count = 2, .devs = devs};
  struct nb_topo_config tc = {0};
  nb_error_t err = {0};
  if (nb__topo_load_with_cuda(&topo, &tc, &info, &err) < 0) {
    printf("live topology with fake CUDA devices: %s\n", err.msg);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delivered_and_verified),
      cmocka_unit_test(test_failures),
      cmocka_unit_test(test_replay_cpu_work),
      cmocka_unit_test(test_stop),
      cmocka_unit_test(test_spin_scale),
      cmocka_unit_test(test_hostalloc_affinity),
      cmocka_unit_test(test_device_memory),
      cmocka_unit_test(test_bw),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo);
  return rc;
}
