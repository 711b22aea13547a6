/* numabench: kernel node masks for the mempolicy system calls. Not installed. */
#ifndef NB_NODEMASK_H
#define NB_NODEMASK_H

#include <limits.h>
#include <string.h>

/* Nodes the masks can name; the kernel's MAX_NUMNODES is at most 1024 on
 * x86 and 4096 elsewhere (topo.c refuses larger node numbers). One spare
 * word because the kernel reads maxnode - 1 bits. */
#define NB_MASK_BITS 4096
#define NB_MASK_WORDS (NB_MASK_BITS / (sizeof(unsigned long) * CHAR_BIT) + 1)
#define NB_MASK_MAXNODE (NB_MASK_BITS + 1)

struct nb__nodemask {
  unsigned long w[NB_MASK_WORDS];
};

static inline void nb__mask_zero(struct nb__nodemask *m)
{
  memset(m, 0, sizeof *m);
}

static inline void nb__mask_set(struct nb__nodemask *m, int node)
{
  if (node >= 0 && node < NB_MASK_BITS)
    m->w[node / (sizeof(unsigned long) * CHAR_BIT)] |= 1UL << (node % (sizeof(unsigned long) * CHAR_BIT));
}

static inline int nb__mask_isset(const struct nb__nodemask *m, int node)
{
  return node >= 0 && node < NB_MASK_BITS &&
         (m->w[node / (sizeof(unsigned long) * CHAR_BIT)] >> (node % (sizeof(unsigned long) * CHAR_BIT)) & 1);
}

#endif
