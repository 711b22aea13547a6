/* Unit tests (live): the pipeline delivers every batch exactly once and in
 * order, with --verify, for both pipelines, several worker counts, one and
 * several devices; the data are the same whatever the pipeline or the
 * number of workers; failures and stops end the run cleanly. Small samples
 * keep it quick. Several devices on a one-node machine come from --devices
 * naming PCI devices of this machine. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "nbtest.h"

static nb_topo_t topo1, topon; /* one device; several devices */
static int ndevices;

static struct nb_run_config small(enum nb_pipeline p)
{
  return (struct nb_run_config){.channels = 3,
                                .height = 16,
                                .width = 20,
                                .batch = 3,
                                .warmup = 2,
                                .steps = 25,
                                .seed = 9,
                                .pipeline = p,
                                .backend = NB_BACKEND_HOST,
                                .verify = true};
}

static nb_plan_t plan_for(nb_topo_t topo, enum nb_mode mode, int workers)
{
  nb_plan_t plan;
  nb_error_t err = {0};
  struct nb_plan_config pc = {.mode = mode, .workers = workers};
  if (nb_plan_make(&plan, topo, &pc, &err) < 0)
    fail_msg("plan: %s", err.msg);
  return plan;
}

static void test_exactly_once_in_order(void **state)
{
  (void)state;
  static const int workers[] = {1, 2, 3, 5};
  uint64_t digest[2][2][4];
  for (int multi = 0; multi < 2; multi++) {
    nb_topo_t topo = multi ? topon : topo1;
    if (!topo)
      continue;
    for (int p = 0; p < 2; p++)
      for (int w = 0; w < 4; w++) {
        nb_plan_t plan = plan_for(topo, NB_MODE_BIND, workers[w]);
        struct nb_run_config cfg = small((enum nb_pipeline)p);
        nb_run_t run;
        nb_error_t err = {0};
        if (nbt_run_once(plan, &cfg, &run, &err) < 0)
          fail_msg("%s, %d workers: %s", nb_pipeline_name((enum nb_pipeline)p), workers[w], err.msg);
        assert_false(nb_run_interrupted(run));
        for (int g = 0; g < nb_run_ngpus(run); g++) {
          const struct nb_gpu_result *res = nb_run_gpu(run, g);
          /* Each of the 27 steps delivered, checked against its own batch in order. */
          assert_int_equal(res->steps_done, 27);
          assert_int_equal(res->timed_steps, 25);
          assert_int_equal(res->verified, 27);
          assert_int_equal(res->mismatches, 0);
          assert_true(res->steps_per_s > 0);
          if (g == 0)
            digest[multi][p][w] = res->digest;
        }
        /* Devices get different data (their own streams). */
        if (nb_run_ngpus(run) > 1)
          assert_int_not_equal(nb_run_gpu(run, 0)->digest, nb_run_gpu(run, 1)->digest);
        nb_run_free(run);
        nb_plan_free(plan);
      }
    /* Same seed: the same data for both pipelines and every worker count. */
    for (int p = 0; p < 2; p++)
      for (int w = 0; w < 4; w++)
        assert_int_equal(digest[multi][p][w], digest[multi][0][0]);
  }
  if (!topon)
    print_message("only one device here: the several-device case ran in the one-device topology only\n");
}

/* Both pipelines: each stage's failure path differs between them. */
static void expect_failure(const char *fail_at, const char *text)
{
  for (int p = 0; p < 2; p++) {
    nb_plan_t plan = plan_for(topo1, NB_MODE_BIND, 2);
    struct nb_run_config cfg = small((enum nb_pipeline)p);
    assert_int_equal(nb_parse_fault(fail_at, &cfg.fail_at, NULL), 0);
    cfg.steps = 200;
    nb_run_t run;
    nb_error_t err = {0};
    int rc = nbt_run_once(plan, &cfg, &run, &err);
    assert_int_equal(rc, NB_EIO);
    if (!strstr(err.msg, text))
      fail_msg("'%s' lacks '%s'", err.msg, text);
    /* Stopped early: the run ends, nothing hangs, what ran is counted. */
    assert_true(nb_run_gpu(run, 0)->steps_done < 202);
    nb_run_free(run);
    nb_plan_free(plan);
  }
}

static void test_failures(void **state)
{
  (void)state;
  expect_failure("worker:7", "worker: injected failure at batch 7");
  expect_failure("feeder:3", "feeder: injected failure at batch 3");
  expect_failure("device:0", "device: injected failure at batch 0");
  expect_failure("corrupt:5", "batch 5 arrived with the wrong data");
}

static void test_stop(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(topo1, NB_MODE_BIND, 1);
  struct nb_run_config cfg = small(NB_PIPE_DIRECT);
  cfg.steps = 1 << 22;
  cfg.gpu_work_us = 1000; /* 1 ms per step: ~100 steps before the stop */
  nb_run_t run;
  nb_error_t err = {0};
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), 0);
  struct nbt_stopper s;
  assert_int_equal(nbt_stop_after(&s, run, 100000), 0);
  assert_int_equal(nb_run_wait(run, &err), 0);
  pthread_join(s.thread, NULL);
  assert_true(nb_run_interrupted(run));
  const struct nb_gpu_result *res = nb_run_gpu(run, 0);
  assert_true(res->steps_done > 2 && res->steps_done < (1 << 22));
  assert_int_equal(res->mismatches, 0);
  /* With 1 ms of device work a step takes at least 1 ms. */
  for (int k = 0; k < res->timed_steps; k++)
    assert_true(res->step_ms[k] >= 0.99);
  nb_run_free(run);
  nb_plan_free(plan);
}

/* Stopped in the warm-up: no timed step, and the host backend's modelled
 * device work is still reported as --gpu-work. */
static void test_stop_in_warmup(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(topo1, NB_MODE_BIND, 1);
  struct nb_run_config cfg = small(NB_PIPE_TORCH);
  cfg.warmup = 1 << 20;
  cfg.gpu_work_us = 1000;
  nb_run_t run;
  nb_error_t err = {0};
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), 0);
  struct nbt_stopper s;
  assert_int_equal(nbt_stop_after(&s, run, 50000), 0);
  assert_int_equal(nb_run_wait(run, &err), 0);
  pthread_join(s.thread, NULL);
  assert_true(nb_run_interrupted(run));
  const struct nb_gpu_result *res = nb_run_gpu(run, 0);
  assert_int_equal(res->timed_steps, 0);
  assert_true(res->stage_ms[NB_STAGE_DEVICE_WORK] == 1.0);
  nb_run_free(run);
  nb_plan_free(plan);
}

static void test_bad_config(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(topo1, NB_MODE_BIND, 1);
  struct nb_run_config cfg = small(NB_PIPE_TORCH);
  nb_run_t run;
  nb_error_t err = {0};
  assert_int_equal(nb_parse_fault("nowhere:1", &cfg.fail_at, &err), NB_EINVAL);
  cfg.fail_at = (struct nb_fault){.stage = (enum nb_fault_stage)99, .batch = 1};
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), NB_EINVAL);
  assert_null(run);
  cfg = small(NB_PIPE_TORCH);
  cfg.batch = 0;
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), NB_EINVAL);
  nb_plan_free(plan);
  /* A plan of another machine is never run. */
  nb_topo_t xml = nbt_load(NB_FIXTURES_DIR "/2s-8gpu-smt.xml", NULL);
  plan = plan_for(xml, NB_MODE_BIND, 1);
  cfg = small(NB_PIPE_TORCH);
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "not this machine"));
  nb_plan_free(plan);
  nb_topo_free(xml);
}

static void test_memory_guard(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(topo1, NB_MODE_BIND, 1);
  struct nb_run_config cfg = small(NB_PIPE_TORCH);
  cfg.channels = 3;
  cfg.height = cfg.width = 1024;
  cfg.batch = 1 << 20; /* 12 TiB per batch */
  nb_error_t err = {0};
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), NB_EINVAL);
  assert_non_null(strstr(err.msg, "lower --batch"));
  int b = nb_run_pick_batch(&plan, 1, &cfg, 128, 0.5);
  assert_true(b >= 1 && b <= 128);
  cfg.batch = b;
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), 0);
  nb_plan_free(plan);
}

int main(void)
{
  nb_error_t err = {0};
  struct nb_topo_config one = {.no_cuda = true};
  if (nb_topo_load(&topo1, &one, &err) < 0) {
    printf("live topology: %s\n", err.msg);
    return 1;
  }
  /* Several devices: the first PCI devices of this machine. */
  char list[256] = "";
  for (int i = 0; i < nb_topo_npci(topo1) && ndevices < 3; i++) {
    const struct nb_pci_dev *p = nb_topo_pci(topo1, i);
    if (p->numa_node >= 0) {
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", ndevices ? "," : "", p->bus_id);
      ndevices++;
    }
  }
  struct nb_topo_config many = {.devices = list, .no_cuda = true};
  if (ndevices < 2 || nb_topo_load(&topon, &many, &err) < 0)
    topon = NULL;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exactly_once_in_order),
      cmocka_unit_test(test_failures),
      cmocka_unit_test(test_stop),
      cmocka_unit_test(test_stop_in_warmup),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_memory_guard),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo1);
  nb_topo_free(topon);
  return rc;
}
