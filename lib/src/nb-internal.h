/* numabench: internal helpers shared by the library's files. Not installed. */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <numabench/error.h>

#if defined(__GNUC__)
#define NB__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NB__PRINTF(f, a)
#endif

/* Record an error (err may be NULL) and return code. */
int nb__err(nb_error_t *err, int code, const char *fmt, ...) NB__PRINTF(3, 4);
/* Same, appending ": strerror(errnum)" and keeping errnum. */
int nb__err_sys(nb_error_t *err, int code, int errnum, const char *fmt, ...) NB__PRINTF(4, 5);

/* Allocations kept until their owner is freed: arrays and strings handed out
 * through const pointers of a topology or a plan. */
struct nb__arena {
  void **p;
  int n;
};
/* Keep ptr; returns it, or NULL when ptr is NULL or on OOM (ptr is freed). */
void *nb__arena_keep(struct nb__arena *a, void *ptr);
void nb__arena_free(struct nb__arena *a);

/* A growable list of owned strings (warnings). */
struct nb__strv {
  int n;
  int cap;
  char **v;
};
int nb__strv_addf(struct nb__strv *sv, const char *fmt, ...) NB__PRINTF(2, 3);
void nb__strv_free(struct nb__strv *sv);

/* Read a small regular file under root (root "" or NULL = "/") into buf,
 * stripped of trailing whitespace; never blocks (FIFOs and devices are
 * refused with -EINVAL). Returns 0, or -errno. */
int nb__read_sysfile(const char *root, const char *path, char *buf, size_t len);

/* Parse a Linux CPU list ("0-3,8,10-11") of values in [0, max] into a sorted
 * int array. Returns the count or a negative NB_E code. */
int nb__parse_cpulist(const char *text, int max, int **out);

/* Largest CPU and node OS indexes the model accepts (Linux: 8192 CPUs, 1024
 * nodes at most). */
#define NB_MAX_CPU_INDEX 65535
#define NB_MAX_NODE_INDEX 4095

int nb__cmp_int(const void *a, const void *b);

/* CLOCK_MONOTONIC in seconds. */
double nb__now(void);

/* A CPU list as ranges in a malloc'ed string of the right size; NULL on OOM. */
char *nb__cpulist_dup(const int *cpus, int n);

/* A start line for threads that cannot all be trusted to start: threads
 * arrive and wait; the starter opens it once the threads that did start have
 * arrived (a barrier would wait for ever for a thread that failed to start). */
#include <pthread.h>
struct nb__gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int arrived;
  int open;
};
void nb__gate_init(struct nb__gate *g);
void nb__gate_destroy(struct nb__gate *g);
void nb__gate_arrive(struct nb__gate *g);
void nb__gate_open(struct nb__gate *g, int expected);

#endif
