/* numabench: readers of other processes' /proc entries, for `numabench
 * audit`: status (allowed CPUs and nodes), task stat (the CPU a thread last
 * ran on), numa_maps (resident pages per node and memory policy per
 * mapping), fd (which NVIDIA devices a process holds open), the process
 * tree. Every path is under nb__proc_root() (nvproc.h), so tests read
 * recorded trees. Not installed.
 *
 * Readers return 0 or -errno, never an NB_E code (the two overlap): -EINVAL
 * for a file they cannot parse, -ENOMEM, -ENOENT means the process or thread is gone
 * (or the kernel has no such file), -EACCES/-EPERM that /proc refused
 * (another user's process: ptrace access mode checks guard numa_maps and
 * fd). Parsers take text and are exposed for the unit tests and fuzzers.
 */
#ifndef NB_PROCFS_H
#define NB_PROCFS_H

#include <stdbool.h>
#include <stdint.h>

/* /proc/PID/status, the fields the audit uses. */
struct nb__pstatus {
  char name[64]; /* Name: (the kernel's comm, at most 15 bytes, escaped) */
  int tgid;      /* Tgid: */
  int ppid;      /* PPid: */
  long uid;      /* real uid (first of Uid:), -1 when not said */
  int *cpus;     /* Cpus_allowed_list, ascending; malloc'ed */
  int ncpus;     /* -1 when the line is missing */
  int *mems;     /* Mems_allowed_list, ascending; malloc'ed */
  int nmems;     /* -1 when the line is missing */
};

/* Parse status text. Returns 0, -EINVAL (no Name: or PPid: line, or a
 * malformed list), -ENOMEM. */
int nb__pstatus_parse(const char *text, struct nb__pstatus *st);
void nb__pstatus_free(struct nb__pstatus *st);
/* /proc/PID/status, or /proc/PID/task/TID/status when tid > 0. Returns 0
 * or -errno. */
int nb__pstatus_read(int pid, int tid, struct nb__pstatus *st);

/* /proc/PID/task/TID/stat, the fields the audit uses. */
struct nb__tstat {
  char comm[32];  /* field 2, without the parentheses */
  char state;     /* field 3: R running, S sleeping, ... */
  int ppid;       /* field 4 */
  uint64_t ticks; /* fields 14 + 15: utime + stime, clock ticks */
  int processor;  /* field 39: the CPU it last ran on */
};

/* Parse one stat line. The command name may hold spaces and parentheses:
 * fields are counted after its last ')'. Returns 0 or NB_EFORMAT. */
int nb__tstat_parse(const char *text, struct nb__tstat *t);
/* tid > 0: /proc/PID/task/TID/stat; else /proc/PID/stat. 0 or -errno. */
int nb__tstat_read(int pid, int tid, struct nb__tstat *t);

/* The numeric entries of a /proc directory (pids of /proc, tids of
 * /proc/PID/task), ascending, malloc'ed. Returns the count or -errno. */
int nb__proc_ids(int pid, int **ids);

/* The command line of a process as one string, arguments quoted for a
 * shell where needed ("" for kernel threads), malloc'ed in *out. 0 or
 * -errno. */
int nb__proc_cmdline(int pid, char **out);

/* The environment of a process (/proc/PID/environ, readable by its owner
 * and root): NAME=VALUE strings, NULL-terminated, in one malloc'ed block
 * in *out (free(*out) frees it all); cut at 256 KiB. 0 or -errno. */
int nb__proc_environ(int pid, char ***out);

/* The minors of the character devices of major NB_NVIDIA_MAJOR that the
 * process holds open, found by stat() on /proc/PID/fd/N (never by name),
 * ascending and each once, at most max. Returns the count or -errno (the
 * fd directory could not be opened). */
int nb__proc_nvidia_minors(int pid, int *minors, int max);

/* What a mapping of numa_maps is. */
enum nb__mem_kind {
  NB__MEM_ANON,   /* anonymous memory: heap, stack, malloc'ed buffers */
  NB__MEM_FILE,   /* file-backed: the page cache of libraries and data files */
  NB__MEM_SHM,    /* shared memory: /dev/shm, SysV, memfd (PyTorch's worker-to-rank tensors) */
  NB__MEM_DEVICE, /* a device's mapping: /dev/nvidia* pinned host memory and the like */
  NB__MEM_NKINDS
};

/* The most nodes a line of numa_maps is kept for; the rest are added to
 * `other_bytes`. */
#define NB__VMA_NODES 64

/* One line of numa_maps. */
struct nb__vma {
  unsigned long start;
  char policy[64]; /* as the kernel writes it: "default", "bind:1", "interleave:0-1", ... */
  enum nb__mem_kind kind;
  bool huge;                     /* hugetlbfs */
  bool stack;                    /* the main stack: it shows the task's own policy */
  bool heap;                     /* the heap: so does it, unless mbind gave it one */
  int nnodes;                    /* of node/bytes */
  int node[NB__VMA_NODES];       /* OS index */
  uint64_t bytes[NB__VMA_NODES]; /* resident bytes there (pages x kernelpagesize_kB) */
  uint64_t other_bytes;          /* on nodes beyond NB__VMA_NODES entries */
};

/* Parse one line of numa_maps. Returns 0 or NB_EFORMAT. */
int nb__vma_parse(const char *line, struct nb__vma *v);

/* Read /proc/PID/numa_maps (tid > 0: /proc/PID/task/TID/numa_maps, where
 * mappings without a policy of their own show that thread's) and call
 * each(arg, vma) for every mapping, in order, stopping at a non-zero return
 * (which is returned). Malformed lines
 * are counted in *bad. Returns 0, -errno, or what each returned (each
 * returns 0 or -errno too). */
int nb__numa_maps_each(int pid, int tid, int (*each)(void *arg, const struct nb__vma *v), void *arg,
                       int *bad);

const char *nb__mem_kind_name(enum nb__mem_kind k);

/* One area of a process's address space (/proc/PID/smaps): private and
 * writable (its heap, stacks, copy-on-write data), and whether it may hold
 * transparent huge pages (THPeligible, or AnonHugePages). */
struct nb__area {
  unsigned long start, end;
  bool thp;
};

/* The private writable areas of pid, in order. Returns their count (*out
 * malloc'ed) or -errno. */
int nb__proc_private_areas(int pid, struct nb__area **out);

#endif
