/* Test helper, LD_PRELOADed: a container that refuses binding. Every call
 * that sets affinity or memory policy, or asks where pages are, fails with
 * EPERM, as under Docker's default seccomp profile without CAP_SYS_NICE. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stddef.h>

int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set);
long set_mempolicy(int mode, const unsigned long *nmask, unsigned long maxnode);
long mbind(void *start, unsigned long len, int mode, const unsigned long *nmask, unsigned long maxnode,
           unsigned flags);
long move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags);

int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
  (void)pid, (void)size, (void)set;
  errno = EPERM;
  return -1;
}

long set_mempolicy(int mode, const unsigned long *nmask, unsigned long maxnode)
{
  (void)mode, (void)nmask, (void)maxnode;
  errno = EPERM;
  return -1;
}

long mbind(void *start, unsigned long len, int mode, const unsigned long *nmask, unsigned long maxnode,
           unsigned flags)
{
  (void)start, (void)len, (void)mode, (void)nmask, (void)maxnode, (void)flags;
  errno = EPERM;
  return -1;
}

long move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
  (void)pid, (void)count, (void)pages, (void)nodes, (void)status, (void)flags;
  errno = EPERM;
  return -1;
}
