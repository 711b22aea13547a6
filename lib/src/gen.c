/* numabench: N(0,1) float32 samples, fast and reproducible.
 *
 * Element i of a stream belongs to block i / 16; a block's 16 values come
 * from 8 Box-Muller pairs (cosines first, then sines) whose uniforms and
 * signs are a hash of (stream key, counter). The stream key mixes seed and stream with
 * splitmix64. Everything is plain arithmetic on 8-lane vectors (GCC vector
 * extensions), compiled twice so that AVX2 CPUs use 256-bit registers and
 * FMA, and others SSE2; the CPU picks at run time. */
#include <math.h>
#include <string.h>

#include <numabench/gen.h>

typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static uint64_t splitmix64(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

#define NB_INLINE static inline __attribute__((always_inline))

/* Lane-wise mask ? a : b (C has no vector ?:). */
NB_INLINE v8f vsel(v8i mask, v8f a, v8f b)
{
  return (v8f)(((v8u)a & (v8u)mask) | ((v8u)b & ~(v8u)mask));
}

/* murmur3's 32-bit finaliser: a bijection with full avalanche. */
NB_INLINE v8u fmix32(v8u h)
{
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* ln(x) for x in (0, 1]: x = m 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln m by Cephes' logf polynomial in m - 1 (relative error ~1e-7). */
NB_INLINE v8f vlog(v8f x)
{
  v8u bits = (v8u)x;
  v8i e = (v8i)(bits >> 23) - 127;
  v8f m = (v8f)((bits & 0x7fffffu) | 0x3f800000u);
  v8i big = m > 1.41421356f;
  m = vsel(big, m * 0.5f, m);
  e -= big; /* a true lane is -1 */
  v8f t = m - 1.0f, z = t * t, fe = __builtin_convertvector(e, v8f);
  v8f y =
      t * z *
      (7.0376836292e-2f +
       t * (-1.1514610310e-1f +
            t * (1.1676998740e-1f +
                 t * (-1.2420140846e-1f +
                      t * (1.4249322787e-1f +
                           t * (-1.6668057665e-1f +
                                t * (2.0000714765e-1f + t * (-2.4999993993e-1f + t * 3.3333331174e-1f))))))));
  y += -2.12194440e-4f * fe - 0.5f * z;
  return t + y + 0.693359375f * fe;
}

/* sin and cos of x in [0, pi/2] by Taylor polynomials (error < 4e-8). */
NB_INLINE void vsincos(v8f x, v8f *s, v8f *c)
{
  v8f x2 = x * x;
  *s = x * (1.0f + x2 * (-1.66666667e-1f +
                         x2 * (8.33333333e-3f +
                               x2 * (-1.98412698e-4f + x2 * (2.75573192e-6f + x2 * -2.50521084e-8f)))));
  *c = 1.0f +
       x2 * (-0.5f + x2 * (4.16666667e-2f +
                           x2 * (-1.38888889e-3f +
                                 x2 * (2.48015873e-5f + x2 * (-2.75573192e-7f + x2 * 2.08767570e-9f)))));
}

/* One block of 16 values for counters 16*block .. 16*block+15. */
NB_INLINE void gen_block(float *out, uint32_t k1, uint32_t k2, uint64_t block)
{
  static const v8u lane = {0, 2, 4, 6, 8, 10, 12, 14};
  v8u c = (uint32_t)(block * 16u) + lane;
  /* k2 scrambles the counter before the Weyl step, so that two streams never
   * run through the same hash inputs shifted (k1 alone would allow it). */
  v8u h1 = fmix32((c ^ k2) * 0x9e3779b9u + k1), h2 = fmix32(((c + 1u) ^ k2) * 0x9e3779b9u + k1);
  /* Uniforms in (0, 1): 24 bits and a half step, never 0. */
  v8f u1 = (__builtin_convertvector(h1 >> 8, v8f) + 0.5f) * 5.96046448e-8f;
  v8f u2 = (__builtin_convertvector(h2 >> 8, v8f) + 0.5f) * 5.96046448e-8f;
  v8f r2 = -2.0f * vlog(u1), r;
  for (int i = 0; i < 8; i++)
    r[i] = __builtin_sqrtf(r2[i]); /* vectorised to sqrtps (-fno-math-errno) */
  /* (cos t, sin t) for t uniform on the circle has the law of (+-cos x,
   * +-sin x) for x uniform on [0, pi/2) and independent signs: the
   * quadrant is two random sign bits, taken from h2's low bits. */
  v8f s, co;
  vsincos(u2 * 1.57079633f, &s, &co);
  v8u sign0 = (h2 & 1u) << 31, sign1 = (h2 & 2u) << 30;
  v8f z0 = (v8f)((v8u)(r * co) ^ sign0), z1 = (v8f)((v8u)(r * s) ^ sign1);
  memcpy(out, &z0, sizeof z0);
  memcpy(out + 8, &z1, sizeof z1);
}

NB_INLINE void gen_range(float *out, size_t n, uint32_t k1, uint32_t k2)
{
  size_t full = n / 16;
  /* Two independent blocks per iteration keep more multiplies in flight. */
  size_t b = 0;
  for (; b + 2 <= full; b += 2) {
    gen_block(out + 16 * b, k1, k2, b);
    gen_block(out + 16 * (b + 1), k1, k2, b + 1);
  }
  for (; b < full; b++)
    gen_block(out + 16 * b, k1, k2, b);
  if (n % 16) {
    float tail[16];
    gen_block(tail, k1, k2, full);
    memcpy(out + 16 * full, tail, (n % 16) * sizeof *tail);
  }
}

/* The same code compiled for two targets; the CPU picks at run time. */
__attribute__((target("avx2,fma"))) static void gen_avx2(float *out, size_t n, uint32_t k1, uint32_t k2)
{
  gen_range(out, n, k1, k2);
}

static void gen_base(float *out, size_t n, uint32_t k1, uint32_t k2)
{
  gen_range(out, n, k1, k2);
}

static int have_avx2(void)
{
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void nb_gen_normal(float *out, size_t n, uint64_t seed, uint64_t stream)
{
  uint64_t key = splitmix64(seed ^ splitmix64(stream));
  if (have_avx2())
    gen_avx2(out, n, (uint32_t)key, (uint32_t)(key >> 32));
  else
    gen_base(out, n, (uint32_t)key, (uint32_t)(key >> 32));
}

const char *nb_gen_isa(void)
{
  return have_avx2() ? "avx2+fma" : "sse2";
}

void nb_checksum_add(struct nb_checksum_sums *s, const void *buf, size_t len)
{
  const unsigned char *p = buf;
  uint64_t a = s->a, b = s->b;
  size_t words = len / 8;
  for (size_t i = 0; i < words; i++) {
    uint64_t w;
    memcpy(&w, p + 8 * i, 8);
    a += w;
    b += a;
  }
  if (len % 8) {
    uint64_t w = 0;
    memcpy(&w, p + 8 * words, len % 8);
    a += w;
    b += a;
  }
  s->a = a;
  s->b = b;
}

uint64_t nb_checksum_end(const struct nb_checksum_sums *s)
{
  /* Fold to 64 bits keeping both sums' information. */
  return (s->b << 32 | (s->b >> 32)) ^ s->a ^ (s->a << 17);
}

uint64_t nb_checksum(const void *buf, size_t len, uint64_t state)
{
  struct nb_checksum_sums s = {(uint32_t)state, state >> 32};
  nb_checksum_add(&s, buf, len);
  return nb_checksum_end(&s);
}
