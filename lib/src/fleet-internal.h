/* numabench: the fleet report's private state, shared by fleet.c (reading
 * files), fleet_judge.c (groups, references, bands), fleet_diff.c (facts
 * compared key by key) and report_fleet.c (output). Not installed. */
#ifndef NB_FLEET_INTERNAL_H
#define NB_FLEET_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include <jansson.h>

#include <numabench/fleet.h>

/* The robust band: MAD times this is the standard deviation of normal data. */
#define NB_FLEET_MAD_SCALE 1.4826
/* The scaled MAD is at least this share of the median: a metric on which
 * every host agrees to the last digit would otherwise flag any host that
 * differs by rounding. */
#define NB_FLEET_MAD_FLOOR 1e-3
/* Most grouping keys. */
#define NB_FLEET_MAX_KEYS 12

/* A string -> index map, open addressing (hosts by name, metrics by name,
 * files already read by host, kind and timestamp). */
struct nb__strmap {
  char **keys;
  int *vals;
  size_t cap, n;
};
/* The index stored for key, or -1. */
int nb__strmap_get(const struct nb__strmap *m, const char *key);
/* Store key -> val (key copied); 0 or NB_ENOMEM. */
int nb__strmap_put(struct nb__strmap *m, const char *key, int val);
void nb__strmap_free(struct nb__strmap *m);

/* One metric's values from one host's files (repeats). */
struct nb__fleet_vals {
  int metric; /* index into fleet->metrics */
  int n, cap;
  double *v;
};

struct nb__fleet_host {
  char *name;
  char *fingerprint;
  json_t *facts; /* probe.facts of the newest file (a reference held) */
  json_t *group; /* probe.group of the same file */
  char *stamp;   /* timestamp of that file ("" when it has none) */
  char *file;    /* that file */
  int files;     /* files read for this host */
  int gid;       /* its group, after judging */
  struct nb__fleet_vals *vals;
  int nvals, capvals;
};

/* One finding: a topology difference or a value outside the band. */
struct nb__fleet_find {
  int host;      /* index into hosts */
  int gid;       /* its group */
  int metric;    /* -1 for a topology difference */
  char *what;    /* the difference ("numa_balancing 1, peers 0"), NULL for a metric */
  double value;  /* the host's value (its median over repeats) */
  double mads;   /* (value - median) / scaled MAD */
  int judged_at; /* index into judged[]: the band */
  int seq;       /* order found: one host's differences stay in the order of its facts */
};

/* One metric judged (or not) in one group. */
struct nb__fleet_judged {
  int gid, metric;
  int n;      /* hosts that have it */
  int judged; /* n >= min_hosts */
  double median, mad, lo, hi;
  double t;       /* the band's half width in MADs, calibrated to n (fleet_threshold.c) */
  int *hosts;     /* the n hosts */
  double *values; /* their medians over repeats */
};

/* Value i's distance from the median in MADs: infinite when the MAD is 0
 * (every host equal but this one). One definition for the judge and every
 * writer, so that they agree on which values are out. */
static inline double nb__fleet_z(const struct nb__fleet_judged *j, int i)
{
  if (j->mad > 0)
    return (j->values[i] - j->median) / j->mad;
  return j->values[i] == j->median ? 0 : j->values[i] > j->median ? INFINITY : -INFINITY;
}

struct nb__fleet_group {
  char *key;       /* the values of the grouping keys, "k=v, ..." */
  json_t *example; /* probe.group of its first host */
  int nhosts;
  int *hosts;           /* sorted by name */
  char *ref_fp;         /* reference fingerprint, NULL when topology is not judged */
  const char *ref_from; /* "majority", "tie" or "baseline" */
  int ref_hosts;        /* hosts of its topology set with the reference fingerprint */
  int set_hosts;        /* hosts of its topology set (its own and those of the groups it shares it with) */
};

struct nb_fleet {
  /* options */
  char *keys[NB_FLEET_MAX_KEYS];
  int nkeys;
  int explicit_group; /* --group given: its keys split topology sets too */
  double k;
  int min_hosts;
  char *baseline_path;
  json_t *baseline; /* its probe object */
  /* what was read */
  struct nb__fleet_host *hosts;
  int nhosts, caphosts;
  struct nb__strmap host_index, metric_index, seen;
  char **metrics;
  int nmetrics, capmetrics;
  char **warnings;
  int nwarnings, capwarnings;
  long files, probes, results, skipped_old, duplicates, ignored;
  long dropped_old; /* files of a host's older configuration whose metrics were left out */
  long rejected; /* files found in a directory that could not be read or parsed: skipped */
  int depth;     /* the walk's current depth (add_subdir) */
  char *ignored_example;
  /* what was judged */
  struct nb__fleet_group *groups;
  int ngroups;
  struct nb__fleet_judged *judged;
  int njudged;
  struct nb__fleet_find *finds;
  int nfinds;
  char **notes; /* report lines: what could not be judged */
  int nnotes, capnotes;
  int drift_hosts;
};

/* Append a printf-formatted line to a growing list; 0 or NB_ENOMEM. */
int nb__fleet_line(char ***list, int *n, int *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Every difference of host facts h from reference facts r, one line each,
 * appended to *lines ("numa_balancing 1, peers 0"). 0 or NB_ENOMEM. */
int nb__fleet_diff(json_t *h, json_t *r, char ***lines, int *n, int *cap);

/* Groups, references, bands, findings. */
int nb__fleet_judge(struct nb_fleet *f, nb_error_t *err);

/* The median of v[0..n) (sorted in place). */
double nb__fleet_median(double *v, int n);

#endif
