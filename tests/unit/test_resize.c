/* Unit tests: the arithmetic of the CUDA backend's bilinear resize
 * (resize.h, half-pixel centres as torchvision's Resize without
 * antialiasing), checked on the host where no GPU is: identity, constants,
 * 2x2 block means, ramps, clamped borders, and every pixel of 1024 -> 224
 * reading inside the plane (ASan builds) and staying within its range. */
#include <math.h>
#include <stdlib.h>

#include "nbtest.h"
#include "resize.h"

static float *plane(int h, int w, float (*f)(int y, int x))
{
  float *p = malloc((size_t)h * (size_t)w * sizeof *p);
  assert_non_null(p);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      p[(size_t)y * w + x] = f(y, x);
  return p;
}

static float mixed(int y, int x)
{
  return (float)((y * 37 + x * 11) % 23) - 7.5f;
}
static float seven(int y, int x)
{
  (void)y, (void)x;
  return 7.0f;
}
static float ramp_x(int y, int x)
{
  (void)y;
  return (float)x;
}

static void test_identity(void **state)
{
  (void)state;
  float *p = plane(13, 17, mixed);
  for (int y = 0; y < 13; y++)
    for (int x = 0; x < 17; x++)
      assert_true(nb__resize_pixel(p, 13, 17, 13, 17, y, x) == p[y * 17 + x]);
  free(p);
}

static void test_constant(void **state)
{
  (void)state;
  float *p = plane(50, 30, seven);
  for (int y = 0; y < 224; y++)
    for (int x = 0; x < 224; x++)
      assert_true(fabsf(nb__resize_pixel(p, 50, 30, 224, 224, y, x) - 7.0f) < 1e-5f);
  free(p);
}

/* Halving: each output pixel sits at the centre of a 2x2 block. */
static void test_halving_averages_blocks(void **state)
{
  (void)state;
  float *p = plane(8, 8, mixed);
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++) {
      float mean = (p[(2 * y) * 8 + 2 * x] + p[(2 * y) * 8 + 2 * x + 1] + p[(2 * y + 1) * 8 + 2 * x] +
                    p[(2 * y + 1) * 8 + 2 * x + 1]) /
                   4;
      assert_true(fabsf(nb__resize_pixel(p, 8, 8, 4, 4, y, x) - mean) < 1e-5f);
    }
  free(p);
}

/* Doubling a ramp: output x sits at input (x + 0.5) / 2 - 0.5, clamped to
 * the first and last pixel. */
static void test_doubling_ramp(void **state)
{
  (void)state;
  float *p = plane(4, 4, ramp_x);
  for (int x = 0; x < 8; x++) {
    float want = ((float)x + 0.5f) / 2 - 0.5f;
    want = want < 0 ? 0 : want > 3 ? 3 : want;
    assert_true(fabsf(nb__resize_pixel(p, 4, 4, 8, 8, 5, x) - want) < 1e-5f);
  }
  free(p);
}

static void test_1024_to_224_in_range(void **state)
{
  (void)state;
  float *p = plane(1024, 1024, mixed), lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < 1024 * 1024; i++) {
    lo = p[i] < lo ? p[i] : lo;
    hi = p[i] > hi ? p[i] : hi;
  }
  for (int y = 0; y < 224; y++)
    for (int x = 0; x < 224; x++) {
      float v = nb__resize_pixel(p, 1024, 1024, 224, 224, y, x);
      assert_true(v >= lo - 1e-4f && v <= hi + 1e-4f);
    }
  free(p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_constant),
      cmocka_unit_test(test_halving_averages_blocks),
      cmocka_unit_test(test_doubling_ramp),
      cmocka_unit_test(test_1024_to_224_in_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
