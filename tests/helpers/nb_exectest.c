/* numabench tests: a stand-in for a training rank. It forks W worker
 * processes (dataloader workers); every process touches its own memory and
 * prints one line of what the kernel says about it: its allowed CPUs and
 * nodes (/proc/self/status), its memory policy (get_mempolicy) and the node
 * of every page it touched (move_pages). Used by cli_exec.sh to prove that
 * exec's binding is inherited by the command's children.
 *
 * usage: nb_exectest [WORKERS [MIB]]   (default 2 workers, 4 MiB each) */
#define _GNU_SOURCE
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The value of a /proc/self/status line, e.g. "Cpus_allowed_list". */
static void status_field(const char *key, char *out, size_t len)
{
  char line[4096];
  snprintf(out, len, "?");
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return;
  size_t klen = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, klen) && line[klen] == ':') {
      char *v = line + klen + 1;
      v += strspn(v, " \t");
      v[strcspn(v, "\n")] = '\0';
      snprintf(out, len, "%s", v);
    }
  fclose(f);
}

/* The policy's name; MPOL_PREFERRED on no node is MPOL_LOCAL as kernels
 * before 5.14 report it. */
static const char *policy_name(int mode, int nnodes)
{
  switch (mode & 0xff) {
  case MPOL_DEFAULT:
    return "default";
  case MPOL_BIND:
    return "bind";
  case MPOL_PREFERRED:
    return nnodes ? "preferred" : "local";
  case MPOL_INTERLEAVE:
    return "interleave";
  case MPOL_LOCAL:
    return "local";
  }
  return "other";
}

/* Touch mib MiB and print where the pages are: "N0=512,N1=512". */
static void pages(size_t mib, char *out, size_t len)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = mib << 20, n = bytes / page;
  char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void **addrs = malloc(n * sizeof *addrs);
  int *status = malloc(n * sizeof *status);
  long count[64] = {0};
  snprintf(out, len, "?");
  if (p == MAP_FAILED || !addrs || !status)
    return;
  memset(p, 1, bytes);
  for (size_t i = 0; i < n; i++)
    addrs[i] = p + i * page;
  if (move_pages(0, n, addrs, NULL, status, 0) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    if (status[i] >= 0 && status[i] < 64)
      count[status[i]]++;
  size_t used = 0;
  out[0] = '\0';
  for (int k = 0; k < 64; k++)
    if (count[k])
      used += (size_t)snprintf(out + used, len - used, "%sN%d=%ld", used ? "," : "", k, count[k]);
  munmap(p, bytes);
  free(addrs);
  free(status);
}

static void report(const char *role, size_t mib)
{
  char cpus[1024], mems[256], where[256], nodes[256] = "";
  unsigned long mask[16] = {0};
  int mode = -1, nnodes = 0;
  status_field("Cpus_allowed_list", cpus, sizeof cpus);
  status_field("Mems_allowed_list", mems, sizeof mems);
  if (get_mempolicy(&mode, mask, sizeof mask * 8, NULL, 0) == 0) {
    size_t used = 0;
    for (int k = 0; k < (int)(sizeof mask * 8); k++)
      if (mask[k / 64] >> (k % 64) & 1)
        used += (size_t)snprintf(nodes + used, sizeof nodes - used, "%s%d", used ? "," : "", k), nnodes++;
  }
  pages(mib, where, sizeof where);
  printf("role=%s pid=%d ppid=%d cpus=%s mems=%s policy=%s policy_nodes=%s pages=%s\n", role, (int)getpid(),
         (int)getppid(), cpus, mems, policy_name(mode, nnodes), nodes[0] ? nodes : "-", where);
  fflush(stdout);
}

int main(int argc, char **argv)
{
  int workers = argc > 1 ? atoi(argv[1]) : 2;
  size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 4;
  report("rank", mib);
  for (int w = 0; w < workers; w++) {
    pid_t pid = fork();
    if (pid == 0) {
      report("worker", mib);
      _exit(0);
    }
    if (pid > 0)
      waitpid(pid, NULL, 0);
  }
  return 0;
}
