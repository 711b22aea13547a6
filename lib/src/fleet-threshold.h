/* numabench: fleet's band threshold calibrated to the group size (see
 * fleet_threshold.c, docs/fleet-schema.md). Not installed. */
#ifndef NB_FLEET_THRESHOLD_H
#define NB_FLEET_THRESHOLD_H

/* The group sizes and k values of the table, ascending. */
#define NB_FLEET_NS 36
#define NB_FLEET_KS 5
extern const int nb__fleet_ns[NB_FLEET_NS];
extern const double nb__fleet_ks[NB_FLEET_KS];
/* The table: nb__fleet_table[r][c] is the threshold in MADs (1.4826 MAD)
 * beyond which a value of a group of nb__fleet_ns[r] normal values lies
 * with probability erfc(nb__fleet_ks[c] / sqrt 2). */
extern const double nb__fleet_table[NB_FLEET_NS][NB_FLEET_KS];

/* The threshold, in MADs, for k (the normal-equivalent band: a value is
 * flagged as often as a k-sigma band with the true sigma would flag it) in
 * a group of n >= 3 values: the table, interpolated linearly in k and in
 * 1/n, tending to k itself as n grows; for k outside the table's range the
 * nearest column's ratio to its k. */
double nb__fleet_threshold(double k, int n);

#endif
