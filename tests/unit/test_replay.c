/* Unit tests (live, host backend): --source replay delivers verified data in
 * both pipelines, every worker count and every placement mode; the data are
 * exactly the pool's samples in the documented order (the same as randn's
 * while the sequence fits in the pool); the pool is sized, charged to the
 * memory guard and audited on the worker's node; --cpu-work runs its
 * calibrated spin and refuses negative values. No timing decides a result
 * here: --cpu-work's accuracy is measured by bench/cpu-work.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit-internal.h"
#include "nbtest.h"

static nb_topo_t topo;

static struct nb_run_config small(enum nb_pipeline p, enum nb_source src)
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
                                .verify = true,
                                .source = src,
                                /* 273 samples: more than the 81 of a run, and quick to make */
                                .pool_bytes = 1 << 20};
}

/* NULL when this machine cannot make a plan of the mode (remote on one
 * node, say). */
static nb_plan_t plan_for(enum nb_mode mode, int workers)
{
  nb_plan_t plan;
  struct nb_plan_config pc = {.mode = mode, .workers = workers};
  return nb_plan_make(&plan, topo, &pc, NULL) < 0 ? NULL : plan;
}

/* The digest of device 0's delivered batches when batch b's sample k is
 * stream b * batch + k modulo pool (pool 0: no wrap), as the library
 * documents: computed here from the generator alone. */
static uint64_t expected_digest(const struct nb_run_config *cfg, long batches, size_t pool)
{
  size_t nel = (size_t)cfg->channels * (size_t)cfg->height * (size_t)cfg->width, S = nel * sizeof(float);
  unsigned char *batch = malloc(S * (size_t)cfg->batch);
  uint64_t *sums = calloc((size_t)batches, sizeof *sums);
  assert_non_null(batch);
  assert_non_null(sums);
  for (long b = 0; b < batches; b++) {
    for (int k = 0; k < cfg->batch; k++) {
      uint64_t i = (uint64_t)b * (uint64_t)cfg->batch + (uint64_t)k;
      nb_gen_normal((float *)(batch + (size_t)k * S), nel, cfg->seed, pool ? i % pool : i);
    }
    sums[b] = nb_checksum(batch, S * (size_t)cfg->batch, 0);
  }
  uint64_t d = nb_checksum(sums, (size_t)batches * sizeof *sums, 0);
  free(batch);
  free(sums);
  return d;
}

static void run_checked(nb_plan_t plan, const struct nb_run_config *cfg, nb_run_t *run, const char *what)
{
  nb_error_t err = {0};
  if (nbt_run_once(plan, cfg, run, &err) < 0)
    fail_msg("%s: %s", what, err.msg);
  const struct nb_gpu_result *res = nb_run_gpu(*run, 0);
  assert_false(nb_run_interrupted(*run));
  assert_int_equal(res->steps_done, cfg->warmup + cfg->steps);
  assert_int_equal(res->verified, cfg->warmup + cfg->steps);
  assert_int_equal(res->mismatches, 0);
}

/* The pool covers the whole run: replay delivers exactly randn's data, in
 * both pipelines, with every worker count, in every mode this machine
 * plans. */
static void test_replay_is_randn_unwrapped(void **state)
{
  (void)state;
  static const int workers[] = {1, 2, 3};
  struct nb_run_config base = small(NB_PIPE_TORCH, NB_SOURCE_RANDN);
  uint64_t want = expected_digest(&base, base.warmup + base.steps, 0);
  int modes_run = 0;
  for (int m = 0; m < NB_NMODES; m++)
    for (int p = 0; p < 2; p++)
      for (int w = 0; w < 3; w++) {
        nb_plan_t plan = plan_for((enum nb_mode)m, workers[w]);
        if (!plan)
          continue;
        modes_run += p == 0 && w == 0;
        for (int s = 0; s < 2; s++) {
          struct nb_run_config cfg = small((enum nb_pipeline)p, (enum nb_source)s);
          nb_run_t run;
          char what[96];
          snprintf(what, sizeof what, "mode %s, %s, %s, %d workers", nb_mode_name((enum nb_mode)m),
                   nb_pipeline_name(cfg.pipeline), nb_source_name(cfg.source), workers[w]);
          run_checked(plan, &cfg, &run, what);
          const struct nb_gpu_result *res = nb_run_gpu(run, 0);
          if (res->digest != want)
            fail_msg("%s: data digest %016llx, expected %016llx", what, (unsigned long long)res->digest,
                     (unsigned long long)want);
          if (s == NB_SOURCE_REPLAY) {
            assert_true(res->pool_bytes == nb_run_pool_samples(&cfg) * nb_run_sample_bytes(&cfg));
            assert_true(res->pool_s > 0);
          } else {
            assert_true(res->pool_bytes == 0);
          }
          nb_run_free(run);
        }
        nb_plan_free(plan);
      }
  assert_true(modes_run >= 2); /* none and bind plan everywhere */
}

/* A pool of just over two batches (a prime number of samples, not a
 * multiple of the batch): the sequence wraps around it, and what arrives is
 * the pool's samples in order, not randn's. */
static void test_replay_wraps(void **state)
{
  (void)state;
  for (int p = 0; p < 2; p++)
    for (int w = 1; w <= 2; w++) {
      nb_plan_t plan = plan_for(NB_MODE_BIND, w);
      struct nb_run_config cfg = small((enum nb_pipeline)p, NB_SOURCE_REPLAY);
      cfg.pool_bytes = 4096; /* less than two batches: raised above them */
      size_t P = nb_run_pool_samples(&cfg);
      assert_true(P > 2 * (size_t)cfg.batch && P % (size_t)cfg.batch != 0);
      nb_run_t run;
      run_checked(plan, &cfg, &run, nb_pipeline_name(cfg.pipeline));
      uint64_t want = expected_digest(&cfg, cfg.warmup + cfg.steps, P);
      assert_true(nb_run_gpu(run, 0)->digest == want);
      assert_true(want != expected_digest(&cfg, cfg.warmup + cfg.steps, 0));
      nb_run_free(run);
      nb_plan_free(plan);
    }
}

static int prime(size_t n)
{
  for (size_t d = 2; d * d <= n; d++)
    if (n % d == 0)
      return 0;
  return n >= 2;
}

/* The pool: the bytes asked for in whole samples, raised above two batches,
 * then to the next prime. */
static void test_pool_size(void **state)
{
  (void)state;
  struct nb_run_config cfg = small(NB_PIPE_DIRECT, NB_SOURCE_RANDN);
  size_t S = nb_run_sample_bytes(&cfg), P;
  assert_int_equal(nb_run_pool_samples(&cfg), 0);
  cfg.source = NB_SOURCE_REPLAY;
  cfg.pool_bytes = 0;
  P = nb_run_pool_samples(&cfg);
  assert_true(prime(P) && P >= NB_POOL_DEFAULT_BYTES / S);
  for (size_t n = NB_POOL_DEFAULT_BYTES / S; n < P; n++)
    assert_false(prime(n));
  cfg.pool_bytes = 100 * S + S / 2; /* whole samples only: 100, then the next prime */
  assert_int_equal(nb_run_pool_samples(&cfg), 101);
  cfg.batch = 80; /* more than two batches is more: 161 = 7 * 23, 162, then 163 */
  assert_int_equal(nb_run_pool_samples(&cfg), 163);
  cfg.batch = 1;
  cfg.pool_bytes = S;
  assert_int_equal(nb_run_pool_samples(&cfg), 3);
}

/* Every worker reads the whole pool, not one batch of it again and again:
 * worker w builds batches w, w + W, ..., whose sample i is pool sample
 * (b * B + i) mod P (build_batch). With the old floor of two batches and an
 * even W, worker 0 read samples 0..B-1 only. */
static void test_pool_worker_coverage(void **state)
{
  (void)state;
  struct nb_run_config cfg = small(NB_PIPE_DIRECT, NB_SOURCE_REPLAY);
  size_t S = nb_run_sample_bytes(&cfg);
  const int batches[] = {1, 2, 3, 4, 8, 16, 32};
  for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++)
    for (int W = 1; W <= 8; W++) {
      /* A worker count that is a multiple of the (prime) pool is the one case
       * left, documented at nb_run_pool_samples: it needs W >= 3 here. */
      cfg.batch = batches[bi];
      cfg.pool_bytes = S; /* the smallest pool: the floor decides */
      size_t P = nb_run_pool_samples(&cfg), seen_n;
      if (W % (int)P == 0)
        continue;
      unsigned char *seen = malloc(P);
      assert_non_null(seen);
      for (int w = 0; w < W; w++) {
        memset(seen, 0, P);
        seen_n = 0;
        for (size_t b = (size_t)w; b < (size_t)w + P * (size_t)W; b += (size_t)W)
          for (size_t i = 0; i < (size_t)cfg.batch; i++) {
            size_t j = (b * (size_t)cfg.batch + i) % P;
            seen_n += !seen[j];
            seen[j] = 1;
          }
        if (seen_n != P)
          fail_msg("batch %d, %d workers: worker %d reads %zu of the pool's %zu samples", cfg.batch, W, w,
                   seen_n, P);
      }
      free(seen);
    }
}

/* The memory guard counts each worker's pool where the worker's memory
 * goes, and refuses a pool larger than the node's free memory, naming
 * --pool-size. */
static void test_pool_memory(void **state)
{
  (void)state;
  int W = 2, n = nb_topo_nnodes(topo);
  nb_plan_t plan = plan_for(NB_MODE_BIND, W);
  struct nb_run_config cfg = small(NB_PIPE_TORCH, NB_SOURCE_RANDN);
  uint64_t *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b), fa, fb;
  assert_non_null(a);
  assert_non_null(b);
  nb_run_memory(plan, &cfg, a, &fa);
  cfg.source = NB_SOURCE_REPLAY;
  nb_run_memory(plan, &cfg, b, &fb);
  uint64_t more = fb - fa;
  for (int i = 0; i < n; i++)
    more += b[i] - a[i];
  assert_true(more == (uint64_t)W * nb_run_pool_samples(&cfg) * nb_run_sample_bytes(&cfg));
  nb_error_t err = {0};
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), 0);
  cfg.pool_bytes = (size_t)1 << 50; /* a pebibyte per worker */
  assert_int_equal(nb_run_check_memory(plan, &cfg, &err), NB_EINVAL);
  if (!strstr(err.msg, "--pool-size"))
    fail_msg("the memory guard's line does not name --pool-size: %s", err.msg);
  /* The automatic batch leaves room for the pools too. */
  cfg.pool_bytes = 0;
  assert_true(nb_run_pick_batch(&plan, 1, &cfg, 128, 0.5) >= 1);
  free(a);
  free(b);
  nb_plan_free(plan);
}

/* The audit covers the pools' pages: bound runs find them on each worker's
 * node, by the kernel's word. */
static void test_pool_audited(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND, 2);
  struct nb_run_config cfg = small(NB_PIPE_DIRECT, NB_SOURCE_REPLAY);
  nb_run_t run;
  run_checked(plan, &cfg, &run, "direct replay");
  const struct nb__baudit *pool = nb_run_buf_audit(run, 0, NB_RUN_NBUFKINDS - 1);
  assert_non_null(pool);
  assert_string_equal(pool->name, "replay_pool");
  assert_true(pool->pages.total > 0);
  int node = nb_plan_gpu(plan, 0)->workers[0].mem_node, idx = nb_topo_node_index(topo, node);
  assert_true(idx >= 0);
  assert_true(pool->pages.count[idx] == pool->pages.total);
  assert_true(pool->ok);
  assert_true(nb_run_placement_achieved(run));
  nb_run_free(run);
  /* randn has no pool to audit. */
  cfg.source = NB_SOURCE_RANDN;
  run_checked(plan, &cfg, &run, "direct randn");
  assert_null(nb_run_buf_audit(run, 0, NB_RUN_NBUFKINDS - 1));
  nb_run_free(run);
  nb_plan_free(plan);
}

/* --cpu-work: the spin runs (its stage is timed, its rate calibrated) and
 * changes nothing in the data; a negative value is refused. */
static void test_cpu_work(void **state)
{
  (void)state;
  nb_plan_t plan = plan_for(NB_MODE_BIND, 2);
  for (int p = 0; p < 2; p++)
    for (int s = 0; s < 2; s++) {
      struct nb_run_config cfg = small((enum nb_pipeline)p, (enum nb_source)s), plain = cfg;
      cfg.cpu_work_us = 50;
      nb_run_t run, ref;
      run_checked(plan, &cfg, &run, "cpu work");
      run_checked(plan, &plain, &ref, "no cpu work");
      const struct nb_gpu_result *res = nb_run_gpu(run, 0), *r0 = nb_run_gpu(ref, 0);
      assert_true(res->digest == r0->digest);
      assert_true(isfinite(res->cpu_work_rate) && res->cpu_work_rate > 0);
      assert_true(res->stage_ms[NB_STAGE_CPU_WORK] > 0);
      assert_true(isnan(r0->cpu_work_rate));
      assert_true(r0->stage_ms[NB_STAGE_CPU_WORK] == 0);
      nb_run_free(run);
      nb_run_free(ref);
    }
  struct nb_run_config cfg = small(NB_PIPE_TORCH, NB_SOURCE_REPLAY);
  cfg.cpu_work_us = -1;
  nb_run_t run;
  nb_error_t err = {0};
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), NB_EINVAL);
  assert_null(run);
  cfg.cpu_work_us = 0;
  cfg.source = (enum nb_source)7;
  assert_int_equal(nb_run_start(&run, plan, &cfg, &err), NB_EINVAL);
  assert_null(run);
  nb_plan_free(plan);
}

int main(void)
{
  nb_error_t err = {0};
  struct nb_topo_config one = {.no_cuda = true};
  if (nb_topo_load(&topo, &one, &err) < 0) {
    printf("live topology: %s\n", err.msg);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replay_is_randn_unwrapped),
      cmocka_unit_test(test_replay_wraps),
      cmocka_unit_test(test_pool_size),
      cmocka_unit_test(test_pool_worker_coverage),
      cmocka_unit_test(test_pool_memory),
      cmocka_unit_test(test_pool_audited),
      cmocka_unit_test(test_cpu_work),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  nb_topo_free(topo);
  return rc;
}
