/* numabench: setting, querying, saving and naming memory policies. */
#include <errno.h>

#include <numaif.h>

#include "mempolicy.h"

const char *nb_mem_policy_name(enum nb_mem_policy p)
{
  switch (p) {
  case NB_MEM_DEFAULT:
    return "default";
  case NB_MEM_BIND:
    return "bind";
  case NB_MEM_INTERLEAVE:
    return "interleave";
  }
  return "?";
}

const char *nb_mem_seen_name(enum nb_mem_seen s)
{
  switch (s) {
  case NB_SEEN_DEFAULT:
    return "default";
  case NB_SEEN_BIND:
    return "bind";
  case NB_SEEN_PREFERRED:
    return "preferred";
  case NB_SEEN_INTERLEAVE:
    return "interleave";
  case NB_SEEN_LOCAL:
    return "local";
  case NB_SEEN_OTHER:
    return "other";
  }
  return "?";
}

/* What a policy is applied to: the calling thread (addr NULL) or a range. */
struct target {
  void *addr;
  size_t len;
};

static int apply(const struct target *t, int mode, const struct nb__nodemask *m)
{
  if (!t->addr)
    return (int)set_mempolicy(mode, m->w, NB_MASK_MAXNODE);
  return (int)mbind(t->addr, t->len, mode, m->w, NB_MASK_MAXNODE, 0);
}

/* The ladder, for a thread or a range alike. */
static int ladder(const struct target *t, const struct nb_buf_plan *plan, const int *il, int nil,
                  enum nb_mem_seen *reached)
{
  struct nb__nodemask m;
  nb__mask_zero(&m);
  *reached = NB_SEEN_DEFAULT;
  switch (plan->policy) {
  case NB_MEM_BIND: {
    nb__mask_set(&m, plan->node);
    if (apply(t, MPOL_BIND, &m) == 0) {
      *reached = NB_SEEN_BIND;
      return 0;
    }
    int refused = errno;
    if (apply(t, MPOL_PREFERRED, &m) == 0)
      *reached = NB_SEEN_PREFERRED;
    return refused;
  }
  case NB_MEM_INTERLEAVE:
    for (int i = 0; i < nil; i++)
      nb__mask_set(&m, il[i]);
    if (apply(t, MPOL_INTERLEAVE, &m) == 0) {
      *reached = NB_SEEN_INTERLEAVE;
      return 0;
    }
    return errno;
  case NB_MEM_DEFAULT:
    break;
  }
  return 0;
}

int nb__mempol_set_thread(const struct nb_buf_plan *plan, const int *il, int nil, enum nb_mem_seen *reached)
{
  return ladder(&(struct target){NULL, 0}, plan, il, nil, reached);
}

int nb__mempol_set_range(void *addr, size_t len, const struct nb_buf_plan *plan, const int *il, int nil,
                         enum nb_mem_seen *reached)
{
  return ladder(&(struct target){addr, len}, plan, il, nil, reached);
}

void nb__mempol_reset(void)
{
  set_mempolicy(MPOL_DEFAULT, NULL, 0);
}

static enum nb_mem_seen seen_of(int mode)
{
  switch (mode & 0xff) { /* drop MPOL_F_* mode flags */
  case MPOL_DEFAULT:
    return NB_SEEN_DEFAULT;
  case MPOL_BIND:
    return NB_SEEN_BIND;
  case MPOL_PREFERRED:
    return NB_SEEN_PREFERRED;
  case MPOL_INTERLEAVE:
    return NB_SEEN_INTERLEAVE;
  case MPOL_LOCAL:
    return NB_SEEN_LOCAL;
  }
  return NB_SEEN_OTHER;
}

void nb__mempol_get(enum nb_mem_seen *seen, int *nodes, int max, int *n)
{
  struct nb__nodemask m;
  int mode = -1;
  nb__mask_zero(&m);
  *n = 0;
  *seen = NB_SEEN_OTHER;
  if (get_mempolicy(&mode, m.w, NB_MASK_MAXNODE, NULL, 0) < 0)
    return;
  *seen = seen_of(mode);
  for (int node = 0; node < NB_MASK_BITS && *n < max; node++)
    if (nb__mask_isset(&m, node))
      nodes[(*n)++] = node;
  /* Before Linux 5.14, MPOL_LOCAL was kept as MPOL_PREFERRED on no node,
   * and so reported: the kernel defines that as local allocation. */
  if (*seen == NB_SEEN_PREFERRED && *n == 0)
    *seen = NB_SEEN_LOCAL;
}

int nb__mempol_save(struct nb__mempol_saved *s)
{
  nb__mask_zero(&s->mask);
  s->valid = false;
  if (get_mempolicy(&s->mode, s->mask.w, NB_MASK_MAXNODE, NULL, 0) < 0)
    return errno;
  s->valid = true;
  return 0;
}

void nb__mempol_restore(const struct nb__mempol_saved *s)
{
  if (!s->valid)
    return;
  if (set_mempolicy(s->mode, s->mode == MPOL_DEFAULT ? NULL : s->mask.w,
                    s->mode == MPOL_DEFAULT ? 0 : NB_MASK_MAXNODE) < 0)
    set_mempolicy(MPOL_DEFAULT, NULL, 0);
}

int nb__mempol_allowed(struct nb__nodemask *mems)
{
  nb__mask_zero(mems);
  if (get_mempolicy(NULL, mems->w, NB_MASK_MAXNODE, NULL, MPOL_F_MEMS_ALLOWED) < 0) {
    int e = errno;
    nb__mask_zero(mems);
    return e;
  }
  return 0;
}

int nb__mempol_set_preferred(int node)
{
  struct nb__nodemask m;
  nb__mask_zero(&m);
  nb__mask_set(&m, node);
  return set_mempolicy(MPOL_PREFERRED, m.w, NB_MASK_MAXNODE) == 0 ? 0 : errno;
}

int nb__mempol_set_local(void)
{
  return set_mempolicy(MPOL_LOCAL, NULL, 0) == 0 ? 0 : errno;
}
