/* Unit tests: statistics against known values. */
#include <math.h>

#include "nbtest.h"

#define NEAR(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

static void test_t_quantiles(void **state)
{
  (void)state;
  /* Two-sided 95% Student-t quantiles from published tables. */
  static const struct {
    double df, t;
  } table[] = {{1, 12.7062}, {2, 4.3027}, {4, 2.7764}, {9, 2.2622}, {29, 2.0452}, {1000, 1.9623}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    NEAR(nb_t_quantile(0.975, table[i].df), table[i].t, 1e-4);
}

static void test_summary(void **state)
{
  (void)state;
  static const double x[] = {5, 1, 4, 2, 3};
  struct nb_stats s;
  assert_int_equal(nb_stats_compute(x, 5, &s), 0);
  assert_int_equal(s.n, 5);
  NEAR(s.mean, 3.0, 1e-12);
  NEAR(s.median, 3.0, 1e-12);
  NEAR(s.sd, sqrt(2.5), 1e-12); /* n - 1 */
  NEAR(s.cv, sqrt(2.5) / 3, 1e-12);
  NEAR(s.min, 1, 0);
  NEAR(s.max, 5, 0);
  double half = 2.7764451 * sqrt(2.5) / sqrt(5.0);
  NEAR(s.ci_lo, 3 - half, 1e-5);
  NEAR(s.ci_hi, 3 + half, 1e-5);
  static const double even[] = {4, 1, 3, 2};
  assert_int_equal(nb_stats_compute(even, 4, &s), 0);
  NEAR(s.median, 2.5, 1e-12);
  /* One sample: no spread, no interval. */
  assert_int_equal(nb_stats_compute(x, 1, &s), 0);
  NEAR(s.mean, 5, 0);
  assert_true(isnan(s.sd) && isnan(s.ci_lo) && isnan(s.ci_hi));
  assert_int_equal(nb_stats_compute(x, 0, &s), NB_EINVAL);
}

static void test_welford(void **state)
{
  (void)state;
  struct nb_welford all, a, b;
  nb_welford_init(&all);
  nb_welford_init(&a);
  nb_welford_init(&b);
  for (int i = 0; i < 1000; i++) {
    double v = 1e9 + (i % 7) * 0.25 + i * 1e-3; /* large offset: naive sums lose it */
    nb_welford_add(&all, v);
    nb_welford_add(i < 300 ? &a : &b, v);
  }
  nb_welford_merge(&a, &b);
  assert_int_equal(a.n, 1000);
  NEAR(a.mean, all.mean, 1e-6);
  NEAR(nb_welford_sd(&a), nb_welford_sd(&all), 1e-6 * nb_welford_sd(&all));
  NEAR(a.min, all.min, 0);
  NEAR(a.max, all.max, 0);
  /* Merging into an empty accumulator copies. */
  struct nb_welford e;
  nb_welford_init(&e);
  nb_welford_merge(&e, &all);
  NEAR(e.mean, all.mean, 0);
}

static void test_ratio(void **state)
{
  (void)state;
  static const double base[] = {10, 11, 9, 10, 10}, fast[] = {12, 13, 11, 12, 12};
  struct nb_stats b, f;
  nb_stats_compute(base, 5, &b);
  nb_stats_compute(fast, 5, &f);
  double r, lo, hi;
  nb_ratio_ci(&f, &b, &r, &lo, &hi);
  NEAR(r, 1.2, 1e-12);
  assert_true(lo < r && r < hi);
  NEAR(log(r) - log(lo), log(hi) - log(r), 1e-9); /* symmetric on the log scale */
  assert_true(lo > 1.0);                          /* clearly faster */
  /* Identical samples: ratio 1, interval around 1. */
  nb_ratio_ci(&b, &b, &r, &lo, &hi);
  NEAR(r, 1.0, 1e-12);
  assert_true(lo < 1 && hi > 1);
  /* Single runs: a ratio, no interval. */
  struct nb_stats one;
  nb_stats_compute(fast, 1, &one);
  nb_ratio_ci(&one, &b, &r, &lo, &hi);
  NEAR(r, 1.2, 1e-12);
  assert_true(isnan(lo) && isnan(hi));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_t_quantiles),
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_welford),
      cmocka_unit_test(test_ratio),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
