/* numabench: statistics of repeated measurements.
 *
 * Summaries use the sample standard deviation (n - 1) and Student-t
 * confidence intervals (quantiles from GSL). Streams of samples are
 * accumulated with Welford's method, which merges exactly (fio's stat.c).
 */
#ifndef NUMABENCH_STATS_H
#define NUMABENCH_STATS_H

#ifdef __cplusplus
extern "C" {
#endif

/** Running mean and variance (Welford), mergeable. */
struct nb_welford {
  long n;
  double mean;
  double m2; /* sum of squared deviations from the mean */
  double min, max;
};

void nb_welford_init(struct nb_welford *w);
void nb_welford_add(struct nb_welford *w, double x);
/** a += b, as if every sample of b had been added to a. */
void nb_welford_merge(struct nb_welford *a, const struct nb_welford *b);
/** Sample standard deviation (n - 1); 0 for fewer than 2 samples. */
double nb_welford_sd(const struct nb_welford *w);

/** A summary of n samples. With n < 2, sd, cv and the interval are NaN. */
struct nb_stats {
  int n;
  double mean, median, sd, cv, min, max;
  double ci_lo, ci_hi; /* 95% confidence interval of the mean */
};

/** Summarise x[0..n); n >= 1. Returns 0 or NB_EINVAL (n < 1). */
int nb_stats_compute(const double *x, int n, struct nb_stats *s);

/** Student-t quantile: P(T <= t) = p with df degrees of freedom. */
double nb_t_quantile(double p, double df);

/** The ratio of means a/b with a 95% confidence interval (delta method on
 *  the log ratio, Welch-Satterthwaite degrees of freedom). NaN bounds when
 *  either side has fewer than 2 samples. */
void nb_ratio_ci(const struct nb_stats *a, const struct nb_stats *b, double *ratio, double *lo, double *hi);

#ifdef __cplusplus
}
#endif
#endif
