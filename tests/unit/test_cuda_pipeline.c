/* GPU tests (labels gpu, pipeline): the CUDA backend on a machine with a
 * usable GPU. Pinned buffers land on the planned node (register and
 * hostalloc); every mode feeds every GPU at once with the data checked after
 * a round trip through the GPU; --gpu-work means the same time measured by
 * the GPU's events; a corrupted batch and a failing stage stop the run with
 * the reason; `bw` gives a full matrix. Skips (77) saying why without CUDA
 * or a usable GPU. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "copy.h"
#include "nbtest.h"

static nb_topo_t topo;

static struct nb_run_config small(enum nb_pipeline p, enum nb_pin pin)
{
  return (struct nb_run_config){.channels = 3,
                                .height = 256,
                                .width = 256,
                                .batch = 8,
                                .warmup = 2,
                                .steps = 14,
                                .seed = 9,
                                .pipeline = p,
                                .backend = NB_BACKEND_CUDA,
                                .pin = pin,
                                .verify = true};
}

static nb_plan_t plan_for(enum nb_mode mode)
{
  nb_plan_t plan;
  nb_error_t err = {0};
  struct nb_plan_config pc = {.mode = mode, .workers = 2};
  if (nb_plan_make(&plan, topo, &pc, &err) < 0)
    return NULL; /* a mode this machine cannot run (one node: adversarial) */
  return plan;
}

/* Pinned buffers on GPU 0's node, both ways, confirmed by the page query. */
static void test_pinned_on_node(void **state)
{
  (void)state;
  int node = nb_topo_gpu(topo, 0)->numa_node;
  if (node < 0)
    node = nb_topo_node(topo, 0)->os_index;
  static const enum nb_pin how[] = {NB_PIN_REGISTER, NB_PIN_HOSTALLOC};
  for (int k = 0; k < 2; k++) {
    struct nb_buf b;
    struct nb_buf_plan bp = {NB_MEM_BIND, node};
    nb_error_t err = {0};
    if (nb_buf_alloc_pinned(topo, &b, 64 << 20, &bp, NULL, 0, nb__copy_cuda.pinner, how[k], &err) < 0)
      fail_msg("--pin %s: %s", nb_pin_name(how[k]), err.msg);
    assert_int_equal(b.pinned, how[k]);
    assert_true(b.pin_s > 0);
    struct nb_hist h;
    assert_int_equal(nb_hist_init(&h, topo), 0);
    if (nb_audit_pages(topo, b.addr, b.len, 512, &h, &err) < 0)
      fail_msg("--pin %s: page query: %s", nb_pin_name(how[k]), err.msg);
    double share = nb_hist_share(&h, topo, node);
    print_message("--pin %s: %.0f%% of pages on node %d, pinned in %.3f s\n", nb_pin_name(how[k]),
                  100 * share, node, b.pin_s);
    assert_true(share >= NB_PLACEMENT_THRESHOLD);
    nb_hist_free(&h);
    nb_buf_free(&b);
    assert_null(b.addr);
  }
}

/* Every mode, both pipelines, every GPU at once: each step done, the sampled
 * batches back from the GPU equal to what the workers built, and the data
 * the same as the host backend's. */
static void test_every_mode_verified(void **state)
{
  (void)state;
  for (int m = 0; m < NB_NMODES; m++) {
    nb_plan_t plan = plan_for((enum nb_mode)m);
    if (!plan)
      continue;
    for (int p = 0; p < 2; p++) {
      struct nb_run_config cfg = small((enum nb_pipeline)p, p ? NB_PIN_HOSTALLOC : NB_PIN_REGISTER);
      nb_run_t run, host;
      nb_error_t err = {0};
      if (nbt_run_once(plan, &cfg, &run, &err) < 0)
        fail_msg("mode %s, %s: %s", nb_mode_name((enum nb_mode)m), nb_pipeline_name(cfg.pipeline), err.msg);
      struct nb_run_config hc = cfg;
      hc.backend = NB_BACKEND_HOST;
      if (nbt_run_once(plan, &hc, &host, &err) < 0)
        fail_msg("host backend: %s", err.msg);
      assert_int_equal(nb_run_ngpus(run), nb_topo_ngpus(topo));
      for (int g = 0; g < nb_run_ngpus(run); g++) {
        const struct nb_gpu_result *res = nb_run_gpu(run, g);
        print_message("mode %s %s GPU %d: %.1f steps/s, copy %.2f GB/s, work %.3f ms, starved %.0f%%\n",
                      nb_mode_name((enum nb_mode)m), nb_pipeline_name(cfg.pipeline), res->gpu,
                      res->steps_per_s, res->copy_gbps, res->stage_ms[NB_STAGE_DEVICE_WORK],
                      res->starved_pct);
        assert_int_equal(res->steps_done, 16);
        assert_int_equal(res->timed_steps, 14);
        assert_int_equal(res->verified, 4); /* batches 0, 4, 8, 12 */
        assert_int_equal(res->mismatches, 0);
        assert_true(res->steps_per_s > 0 && res->copy_gbps > 0);
        assert_true(res->starved_pct >= 0 && res->starved_pct <= 100);
        assert_true(res->digest == nb_run_gpu(host, g)->digest);
      }
      if (m != NB_MODE_NONE)
        assert_true(nb_run_placement_achieved(run));
      nb_run_free(run);
      nb_run_free(host);
    }
    nb_plan_free(plan);
  }
}

/* --gpu-work is time: 5000 us measured by the GPU's events is 5 ms plus the
 * resize of a small batch, on any GPU. */
static void test_gpu_work_calibrated(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND);
  assert_non_null(plan);
  struct nb_run_config cfg = small(NB_PIPE_DIRECT, NB_PIN_REGISTER);
  cfg.gpu_work_us = 5000;
  cfg.verify = false;
  nb_run_t run;
  nb_error_t err = {0};
  if (nbt_run_once(plan, &cfg, &run, &err) < 0)
    fail_msg("%s", err.msg);
  for (int g = 0; g < nb_run_ngpus(run); g++) {
    const struct nb_gpu_result *res = nb_run_gpu(run, g);
    double work = res->stage_ms[NB_STAGE_DEVICE_WORK];
    print_message("GPU %d: --gpu-work 5000 measured %.3f ms per step, %.2f steps/s, spin calibration %.3f\n",
                  res->gpu, work, res->steps_per_s, res->spin_scale);
    assert_true(work >= 4.9 && work <= 6.0);
    /* The calibration the run accepted is recorded. */
    assert_true(res->spin_scale >= 0.5 && res->spin_scale <= 2.0);
    /* Compute-bound: no faster than the work allows. */
    assert_true(res->steps_per_s <= 1000.0 / 4.9);
  }
  nb_run_free(run);
  nb_plan_free(plan);
}

/* A batch corrupted in staging (5: not one of the sampled batches; --verify
 * always checks the one it spoiled) is caught after its trip through the GPU; an
 * injected device failure stops every GPU with the reason. */
static void test_failures_stop_cleanly(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND);
  assert_non_null(plan);
  static const char *const faults[] = {"corrupt:5", "device:3", "feeder:5", "worker:6"};
  static const char *const says[] = {"checksum mismatch", "injected failure", "injected failure",
                                     "injected failure"};
  for (int k = 0; k < 4; k++) {
    struct nb_run_config cfg = small(NB_PIPE_TORCH, NB_PIN_REGISTER);
    assert_int_equal(nb_parse_fault(faults[k], &cfg.fail_at, NULL), 0);
    nb_run_t run;
    nb_error_t err = {0};
    int rc = nbt_run_once(plan, &cfg, &run, &err);
    print_message("--fail-at %s: %s\n", faults[k], err.msg);
    assert_int_equal(rc, NB_EIO);
    assert_non_null(strstr(err.msg, says[k]));
    nb_run_free(run);
  }
  nb_plan_free(plan);
}

/* bw: every node x GPU cell, both ways, alone and all at once. */
static void test_bw_matrix(void **state)
{
  (void)state;
  struct nb_bw_config bc = {
      .backend = NB_BACKEND_CUDA, .bytes = 32 << 20, .repeat = 3, .pin = NB_PIN_REGISTER};
  nb_bw_t bw;
  nb_error_t err = {0};
  if (nb_bw_measure(topo, &bc, &bw, &err) < 0)
    fail_msg("bw: %s", err.msg);
  assert_int_equal(nb_bw_ndirs(bw), 2);
  assert_int_equal(nb_bw_ncols(bw), nb_topo_ngpus(topo));
  assert_true(nb_bw_nrows(bw) >= 1);
  for (int d = 0; d < 2; d++)
    for (int all = 0; all < 2; all++)
      for (int i = 0; i < nb_bw_nrows(bw); i++)
        for (int j = 0; j < nb_bw_ncols(bw); j++) {
          const struct nb_bw_cell *c = nb_bw_cell(bw, d, i, j, all);
          assert_non_null(c);
          print_message("%s node %d GPU %d %s: %.2f GB/s\n", d ? "D2H" : "H2D", nb_bw_row_node(bw, i),
                        nb_bw_col_gpu(bw, j), all ? "all at once" : "alone", c->gbps.median);
          assert_true(isfinite(c->gbps.median) && c->gbps.median > 0.1);
          assert_true(c->placed);
        }
  nb_bw_free(bw);
}

int main(void)
{
  nb_error_t err = {0};
  struct nb_topo_config tc = {0};
  if (nb_topo_load(&topo, &tc, &err) < 0) {
    printf("loading the live topology: %s\n", err.msg);
    return 1;
  }
  enum nb_backend b;
  if (nb_backend_resolve(topo, NB_BACKEND_CUDA, &b, NULL, 0, &err) < 0) {
    printf("SKIP: no usable GPU: %s\n", err.msg);
    nb_topo_free(topo);
    return NB_TEST_SKIP;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pinned_on_node),      cmocka_unit_test(test_every_mode_verified),
      cmocka_unit_test(test_gpu_work_calibrated), cmocka_unit_test(test_failures_stop_cleanly),
      cmocka_unit_test(test_bw_matrix),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo);
  return rc;
}
