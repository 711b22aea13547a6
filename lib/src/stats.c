/* numabench: means, spreads and confidence intervals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include <numabench/error.h>
#include <numabench/stats.h>

#include "nb-internal.h"

void nb_welford_init(struct nb_welford *w)
{
  memset(w, 0, sizeof *w);
  w->min = INFINITY;
  w->max = -INFINITY;
}

void nb_welford_add(struct nb_welford *w, double x)
{
  w->n++;
  double d = x - w->mean;
  w->mean += d / (double)w->n;
  w->m2 += d * (x - w->mean);
  w->min = x < w->min ? x : w->min;
  w->max = x > w->max ? x : w->max;
}

void nb_welford_merge(struct nb_welford *a, const struct nb_welford *b)
{
  if (!b->n)
    return;
  if (!a->n) {
    *a = *b;
    return;
  }
  double n = (double)(a->n + b->n), d = b->mean - a->mean;
  a->mean += d * (double)b->n / n;
  a->m2 += b->m2 + d * d * (double)a->n * (double)b->n / n;
  a->n += b->n;
  a->min = b->min < a->min ? b->min : a->min;
  a->max = b->max > a->max ? b->max : a->max;
}

double nb_welford_sd(const struct nb_welford *w)
{
  return w->n > 1 ? sqrt(w->m2 / (double)(w->n - 1)) : 0.0;
}

double nb_t_quantile(double p, double df)
{
  return gsl_cdf_tdist_Pinv(p, df);
}

int nb_stats_compute(const double *x, int n, struct nb_stats *s)
{
  if (n < 1)
    return NB_EINVAL;
  struct nb_welford w;
  nb_welford_init(&w);
  for (int i = 0; i < n; i++)
    nb_welford_add(&w, x[i]);
  double *sorted = malloc((size_t)n * sizeof *sorted);
  if (!sorted)
    return NB_ENOMEM;
  memcpy(sorted, x, (size_t)n * sizeof *sorted);
  for (int i = 1; i < n; i++) /* insertion sort: n is a repeat count */
    for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
      double t = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = t;
    }
  s->n = n;
  s->mean = w.mean;
  s->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  s->min = w.min;
  s->max = w.max;
  free(sorted);
  if (n < 2) {
    s->sd = s->cv = s->ci_lo = s->ci_hi = NAN;
    return 0;
  }
  s->sd = nb_welford_sd(&w);
  s->cv = s->mean != 0 ? s->sd / s->mean : NAN;
  double half = nb_t_quantile(0.975, n - 1) * s->sd / sqrt((double)n);
  s->ci_lo = s->mean - half;
  s->ci_hi = s->mean + half;
  return 0;
}

void nb_ratio_ci(const struct nb_stats *a, const struct nb_stats *b, double *ratio, double *lo, double *hi)
{
  *ratio = b->mean != 0 ? a->mean / b->mean : NAN;
  *lo = *hi = NAN;
  if (a->n < 2 || b->n < 2 || a->mean <= 0 || b->mean <= 0)
    return;
  /* Var(log mean) ~ cv^2 / n for each side. */
  double va = a->sd * a->sd / ((double)a->n * a->mean * a->mean);
  double vb = b->sd * b->sd / ((double)b->n * b->mean * b->mean);
  double se = sqrt(va + vb);
  if (se == 0) {
    *lo = *hi = *ratio;
    return;
  }
  double df = (va + vb) * (va + vb) / (va * va / (a->n - 1) + vb * vb / (b->n - 1));
  double t = nb_t_quantile(0.975, df);
  *lo = exp(log(*ratio) - t * se);
  *hi = exp(log(*ratio) + t * se);
}
