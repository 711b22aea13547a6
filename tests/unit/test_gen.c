/* Unit tests: the N(0,1) generator (reproducible, chunk-independent,
 * distributed as N(0,1) on 2^24 values) and the batch checksum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nbtest.h"

static void test_reproducible(void **state)
{
  (void)state;
  enum { N = 1000 };
  float a[N], b[N], c[N], d[N + 37];
  nb_gen_normal(a, N, 42, 7);
  nb_gen_normal(b, N, 42, 7);
  assert_memory_equal(a, b, sizeof a);
  nb_gen_normal(c, N, 42, 8);      /* another stream */
  nb_gen_normal(d, N + 37, 43, 7); /* another seed */
  int same_c = 0, same_d = 0;
  for (int i = 0; i < N; i++) {
    same_c += a[i] == c[i];
    same_d += a[i] == d[i];
  }
  assert_true(same_c < 5);
  assert_true(same_d < 5);
  /* A value depends on its index, not on how much is generated at once. */
  float e[7], f[N + 37];
  nb_gen_normal(e, 7, 42, 7);
  nb_gen_normal(f, N + 37, 42, 7);
  assert_memory_equal(e, a, sizeof e);
  assert_memory_equal(f, a, sizeof a);
  for (int i = 0; i < N; i++)
    assert_true(isfinite(a[i]));
}

/* 2^24 values over 64 streams: moments and tails against N(0,1), each
 * within 6 standard errors (a false alarm about once in 10^8 runs; the
 * data are fixed by the seed, so the test is deterministic). */
static void test_distribution(void **state)
{
  (void)state;
  const size_t per = 1 << 18, streams = 64;
  const double n = (double)(per * streams);
  float *buf = malloc(per * sizeof *buf);
  assert_non_null(buf);
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  long over[5] = {0}; /* |x| > 1, 2, 3, 4, and x > 0 */
  for (size_t k = 0; k < streams; k++) {
    nb_gen_normal(buf, per, 12345, k);
    for (size_t i = 0; i < per; i++) {
      double x = buf[i], x2 = x * x;
      s1 += x;
      s2 += x2;
      s3 += x2 * x;
      s4 += x2 * x2;
      for (int t = 1; t <= 4; t++)
        over[t - 1] += fabs(x) > t;
      over[4] += x > 0;
    }
  }
  free(buf);
  double mean = s1 / n, var = s2 / n - mean * mean, skew = s3 / n, kurt = s4 / n;
  print_message("n=%.0f mean %.2e var %.6f skew %.2e kurtosis %.4f\n", n, mean, var, skew, kurt);
  assert_true(fabs(mean) < 6 / sqrt(n));
  assert_true(fabs(var - 1) < 6 * sqrt(2 / n));
  assert_true(fabs(skew) < 6 * sqrt(15 / n));
  assert_true(fabs(kurt - 3) < 6 * sqrt(96 / n));
  /* Two-sided tail probabilities of N(0,1). */
  static const double p[4] = {0.31731050786291, 0.04550026389636, 0.00269979606326, 0.00006334248367};
  for (int t = 0; t < 4; t++) {
    double want = n * p[t], sd = sqrt(n * p[t] * (1 - p[t]));
    print_message("P(|x| > %d): %ld, expected %.0f +- %.0f\n", t + 1, over[t], want, sd);
    assert_true(fabs((double)over[t] - want) < 6 * sd);
  }
  assert_true(fabs((double)over[4] - n / 2) < 6 * sqrt(n / 4));
}

static void test_checksum(void **state)
{
  (void)state;
  unsigned char a[1000];
  for (int i = 0; i < 1000; i++)
    a[i] = (unsigned char)(i * 7);
  uint64_t base = nb_checksum(a, sizeof a, 0);
  assert_int_equal(nb_checksum(a, sizeof a, 0), base);
  a[500] ^= 1;
  assert_int_not_equal(nb_checksum(a, sizeof a, 0), base);
  a[500] ^= 1;
  /* Swapping two 8-byte words changes it: it is position-sensitive. */
  unsigned char t[8];
  memcpy(t, a + 16, 8);
  memcpy(a + 16, a + 24, 8);
  memcpy(a + 24, t, 8);
  assert_int_not_equal(nb_checksum(a, sizeof a, 0), base);
  /* A length that is not a multiple of 8 counts its tail. */
  assert_int_not_equal(nb_checksum(a, 999, 0), nb_checksum(a, 998, 0));
}

/* Piece by piece (pieces of 8-byte multiples, any last one) equals the
 * whole, for every length up to 1000 and pieces of 8 to 200 bytes; a piece
 * missing or taken twice does not. */
static void test_checksum_pieces(void **state)
{
  (void)state;
  unsigned char a[1000];
  for (int i = 0; i < 1000; i++)
    a[i] = (unsigned char)(i * 131 + 7);
  for (size_t len = 0; len <= sizeof a; len += 37)
    for (size_t piece = 8; piece <= 200; piece += 24) {
      struct nb_checksum_sums s = {0, 0};
      for (size_t off = 0; off < len; off += piece)
        nb_checksum_add(&s, a + off, len - off < piece ? len - off : piece);
      assert_int_equal(nb_checksum_end(&s), nb_checksum(a, len, 0));
    }
  struct nb_checksum_sums s = {0, 0}, t = {0, 0};
  nb_checksum_add(&s, a, 512);
  assert_int_not_equal(nb_checksum_end(&s), nb_checksum(a, 1000, 0));
  nb_checksum_add(&t, a, 512);
  nb_checksum_add(&t, a, 512);
  nb_checksum_add(&t, a + 512, 488);
  assert_int_not_equal(nb_checksum_end(&t), nb_checksum(a, 1000, 0));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reproducible),
      cmocka_unit_test(test_distribution),
      cmocka_unit_test(test_checksum),
      cmocka_unit_test(test_checksum_pieces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
