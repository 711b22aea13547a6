/* numabench: fleet's band threshold calibrated to the group size.
 *
 * The band is median +- t MADs (MAD scaled by 1.4826, a normal sigma). With
 * the MAD estimated from the same few hosts, k MADs is not a k-sigma band:
 * at 5 hosts a value of a clean group lies beyond 4 MADs 4.3% of the time,
 * not 0.006% (the MAD of 5 values is often small, and the value judged is
 * part of the sample). Under normal noise the statistic |x - median| / MAD
 * depends only on n, so its tail is simulated once per n (bench/fleet-
 * falsealarm --table, 4,000,000 values per n, a fixed seed) and tabulated:
 * t is where the simulated rate equals erfc(k / sqrt 2), the rate of a
 * k-sigma band with the true sigma. */
#include <math.h>

#include "fleet-threshold.h"

const int nb__fleet_ns[NB_FLEET_NS] = {3,  4,  5,  6,  7,  8,  9,   10,  11,  12,  13,  14,
                                       15, 16, 17, 18, 19, 20, 22,  24,  26,  28,  30,  35,
                                       40, 45, 50, 60, 70, 80, 100, 150, 200, 300, 500, 1000};
const double nb__fleet_ks[NB_FLEET_KS] = {2, 2.5, 3, 3.5, 4};

const double nb__fleet_table[NB_FLEET_NS][NB_FLEET_KS] = {
#include "fleet-threshold-table.inc"
};

/* The column c's threshold at n: the row's, interpolated in 1/n between
 * rows, and toward k itself (1/n = 0) beyond the last. */
static double column(int c, int n)
{
  if (n <= nb__fleet_ns[0])
    return nb__fleet_table[0][c];
  for (int r = 1; r < NB_FLEET_NS; r++)
    if (n <= nb__fleet_ns[r]) {
      double a = 1.0 / nb__fleet_ns[r - 1], b = 1.0 / nb__fleet_ns[r], x = 1.0 / n;
      return nb__fleet_table[r - 1][c] +
             (nb__fleet_table[r][c] - nb__fleet_table[r - 1][c]) * (a - x) / (a - b);
    }
  double last = nb__fleet_table[NB_FLEET_NS - 1][c], k = nb__fleet_ks[c];
  return k + (last - k) * nb__fleet_ns[NB_FLEET_NS - 1] / n;
}

double nb__fleet_threshold(double k, int n)
{
  /* Outside the table's k range: the nearest column's ratio to its k. A
   * band wider than k = 4 (p below 6e-5) cannot be simulated in reasonable
   * time; the ratio understates the heavier tail of small groups there, so
   * the rate stays above nominal, yet far below the uncalibrated one. */
  if (k <= nb__fleet_ks[0])
    return column(0, n) * k / nb__fleet_ks[0];
  if (k >= nb__fleet_ks[NB_FLEET_KS - 1])
    return column(NB_FLEET_KS - 1, n) * k / nb__fleet_ks[NB_FLEET_KS - 1];
  int c = 1;
  while (k > nb__fleet_ks[c])
    c++;
  double w = (k - nb__fleet_ks[c - 1]) / (nb__fleet_ks[c] - nb__fleet_ks[c - 1]);
  return column(c - 1, n) * (1 - w) + column(c, n) * w;
}
