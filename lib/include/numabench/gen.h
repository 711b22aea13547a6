/* numabench: the sample generator and the batch checksum.
 *
 * Samples are float32 N(0,1) values, a pure function of (seed, stream,
 * element index): whichever thread generates a sample, in whatever order,
 * produces the same bits, so batches can be verified and pipelines compared.
 * Box-Muller over a counter-based hash, vectorised (AVX2 where the CPU has
 * it, SSE2 otherwise), about 2^-24 resolution and tails to 5.9 sigma.
 */
#ifndef NUMABENCH_GEN_H
#define NUMABENCH_GEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Fill out[0..n) with N(0,1) values of stream (seed, stream). */
void nb_gen_normal(float *out, size_t n, uint64_t seed, uint64_t stream);

/** Checksum of len bytes (any length), position-sensitive (Fletcher-64 over
 *  64-bit words); state seeds the two sums (0 for the batch checksum). Not a
 *  continuation of an earlier result: for that, nb_checksum_add. */
uint64_t nb_checksum(const void *buf, size_t len, uint64_t state);

/** The same checksum taken piece by piece, as data arrives: sums zeroed (or
 *  seeded as nb_checksum's state), nb_checksum_add over consecutive pieces,
 *  each a multiple of 8 bytes but the last, then nb_checksum_end equals
 *  nb_checksum of the whole. */
struct nb_checksum_sums {
  uint64_t a, b;
};
void nb_checksum_add(struct nb_checksum_sums *s, const void *buf, size_t len);
uint64_t nb_checksum_end(const struct nb_checksum_sums *s);

/** Which vector code nb_gen_normal runs on this CPU ("avx2" or "sse2"). */
const char *nb_gen_isa(void);

#ifdef __cplusplus
}
#endif
#endif
