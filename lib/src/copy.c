/* numabench: choosing a copy backend (copy.h) and resolving --backend. */
#include <stdio.h>
#include <stdlib.h>

#include <numabench/run.h>

#include "copy.h"

const struct nb__copy_ops *nb__copy_ops_for(enum nb_backend b)
{
  if (b != NB_BACKEND_CUDA)
    return &nb__copy_host;
  /* Tests only: the stand-in plays the CUDA engine (copy_standin.c). */
  return nb__standin_active() ? &nb__copy_standin : &nb__copy_cuda;
}

enum nb_pin nb__copy_pin(const struct nb__copy_ops *ops, enum nb_pin asked)
{
  return ops->pinner ? asked : NB_PIN_NONE;
}

int nb__copy_pin_check(const struct nb__copy_ops *ops, enum nb_pin asked, enum nb_mode mode, nb_error_t *err)
{
  const struct nb_mode_info *mi = nb_mode_info(mode);
  if (nb__copy_pin(ops, asked) != NB_PIN_HOSTALLOC || !mi || mi->staging != NB_PLACE_INTERLEAVE)
    return 0;
  /* The driver serves cudaHostAlloc from the pool of the calling CPU's node
   * before the memory policy: interleaved pinned staging cannot be asked of
   * it (nb_buf_alloc_pinned refuses it too). */
  return nb__err(err, NB_EINVAL,
                 "--mode %s cannot run with --pin hostalloc: the driver serves cudaHostAlloc from the "
                 "calling CPU's node, so staging cannot be interleaved; use --pin register",
                 mi->name);
}

void nb__copy_describe(enum nb_backend b, enum nb_pin pin, char *buf, size_t len)
{
  const struct nb__copy_ops *ops = nb__copy_ops_for(b);
  const char *how = pin == NB_PIN_HOSTALLOC ? "cudaHostAlloc" : "cudaHostRegister";
  snprintf(buf, len, "%s%s%s", ops->devices_text, ops->pinner ? " " : "", ops->pinner ? how : "");
}

int nb_backend_resolve(nb_topo_t topo, enum nb_backend asked, enum nb_backend *out, char *why, size_t len,
                       nb_error_t *err)
{
  if (why && len)
    why[0] = '\0';
  *out = NB_BACKEND_HOST;
  if (asked == NB_BACKEND_HOST)
    return 0;
  const struct nb__copy_ops *ops = nb__copy_ops_for(NB_BACKEND_CUDA);
  nb_error_t e = {0};
  int n = 0, rc = ops->usable ? ops->usable(&n, &e) : 0;
  if (rc == 0 && nb_topo_gpu_origin(topo) != NB_GPUS_CUDA)
    rc = nb__err(&e, NB_EINVAL, "the GPUs were not enumerated by the CUDA runtime (--devices or --no-cuda)");
  if (rc == 0) {
    *out = NB_BACKEND_CUDA;
    return 0;
  }
  if (asked == NB_BACKEND_CUDA)
    return nb__err(err, e.code, "--backend cuda: %s; use --backend host", e.msg);
  if (why && len)
    snprintf(why, len, "%s", e.msg);
  return 0;
}
