/* numabench: the CUDA engine's stand-in for builds without CUDA: every entry
 * says why the CUDA backend is not there. */
#include <math.h>

#include "cuda_engine.h"
#include "nb-internal.h"

static int no_cuda(nb_error_t *err)
{
  return nb__err(err, NB_ENOTSUP,
                 "this numabench was built without CUDA (no nvcc at build time); use --backend host, or "
                 "rebuild with the CUDA toolkit installed");
}

int nb__cuda_usable(int *count, nb_error_t *err)
{
  *count = 0;
  return nb__err(err, NB_ENOTSUP, "this numabench was built without CUDA (no nvcc at build time)");
}

int nb__cuda_select(int ordinal, int gpu, nb_error_t *err)
{
  (void)ordinal, (void)gpu;
  return no_cuda(err);
}

int nb__cuda_register(void *addr, size_t len, double *seconds, nb_error_t *err)
{
  (void)addr, (void)len, (void)seconds;
  return no_cuda(err);
}

void nb__cuda_unregister(void *addr)
{
  (void)addr;
}

int nb__cuda_host_alloc(void **addr, size_t len, double *seconds, nb_error_t *err)
{
  (void)len, (void)seconds;
  *addr = NULL;
  return no_cuda(err);
}

void nb__cuda_free_host(void *addr)
{
  (void)addr;
}

int nb__cuda_gpu_open(struct nb__cuda_gpu **gp, const struct nb__cuda_gpu_config *cfg, nb_error_t *err)
{
  (void)cfg;
  *gp = NULL;
  return no_cuda(err);
}

double nb__cuda_gpu_spin_scale(const struct nb__cuda_gpu *g)
{
  (void)g;
  return NAN; /* nothing measured */
}

int nb__cuda_gpu_use(struct nb__cuda_gpu *g, nb_error_t *err)
{
  (void)g;
  return no_cuda(err);
}

int nb__cuda_gpu_start(struct nb__cuda_gpu *g, nb_error_t *err)
{
  (void)g;
  return no_cuda(err);
}

int nb__cuda_gpu_submit(struct nb__cuda_gpu *g, long step, const void *src, int verify, nb_error_t *err)
{
  (void)g, (void)step, (void)src, (void)verify;
  return no_cuda(err);
}

int nb__cuda_gpu_poll_copy(struct nb__cuda_gpu *g, long step, nb_error_t *err)
{
  (void)g, (void)step;
  return no_cuda(err);
}

int nb__cuda_gpu_poll_step(struct nb__cuda_gpu *g, long step, struct nb__cuda_step *t, nb_error_t *err)
{
  (void)g, (void)step, (void)t;
  return no_cuda(err);
}

const void *nb__cuda_gpu_verify_buf(const struct nb__cuda_gpu *g)
{
  (void)g;
  return NULL;
}

void nb__cuda_gpu_close(struct nb__cuda_gpu *g)
{
  (void)g;
}

int nb__cuda_bw_copy(int ordinal, int gpu, void *host, size_t len, int h2d, int repeat, double *samples,
                     void (*start)(void *arg), void *start_arg, nb_error_t *err)
{
  (void)ordinal, (void)gpu, (void)host, (void)len, (void)h2d, (void)repeat, (void)samples;
  if (start)
    start(start_arg);
  return no_cuda(err);
}
