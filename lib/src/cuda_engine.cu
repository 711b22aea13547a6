/* numabench: the CUDA backend's engine (see cuda_engine.h).
 *
 * One GPU of the pipeline has two streams: the copy stream carries each
 * batch's H2D copy, the compute stream the step's work (bilinear resize to
 * out_size x out_size, then the spin kernel) and, with --verify, the copy
 * back. Events order them:
 *
 *   copy:    wait slot_free[k-2] -> copy_start[k] -> H2D into slot k%2 -> copy_end[k]
 *   compute: wait copy_end[k] -> work_start[k] -> resize, spin -> work_end[k]
 *            -> (D2H of slot k%2 into the verify buffer) -> slot_free[k]
 *
 * so the copy of k+1 overlaps the work of k, and a device slot is rewritten
 * only after the step that used it is done. Events live in a ring of
 * cfg->ring steps; the caller keeps ring - 1 in flight at most, so that the
 * previous step's events are still there when a step's times are read. */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <cuda_runtime_api.h>

#include "cuda_devices.h"
#include "cuda_engine.h"
#include "resize.h"

static double now_s()
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Record which call failed on which GPU, and how. */
static int cuda_fail(nb_error_t *err, int gpu, const char *call, cudaError_t rc)
{
  if (err) {
    err->code = NB_ECUDA;
    err->sys_errno = 0;
    /* The function's name, not its arguments: "cudaMemcpyAsync". */
    int n = (int)strcspn(call, "(<");
    if (n > 0 && call[n - 1] == ' ')
      n = (int)strlen(call); /* a name with a note: "nb_spin (kernel launch)" */
    char text[sizeof err->msg];
    nb__cuda_error_text(text, sizeof text, call, n, rc);
    if (gpu >= 0)
      snprintf(err->msg, sizeof err->msg, "GPU %d: %s", gpu, text);
    else
      snprintf(err->msg, sizeof err->msg, "%s", text);
  }
  return NB_ECUDA;
}

#define CK(gpu, call)                                                                                        \
  do {                                                                                                       \
    cudaError_t rc_ = (call);                                                                                \
    if (rc_ != cudaSuccess)                                                                                  \
      return cuda_fail(err, (gpu), #call, rc_);                                                              \
  } while (0)

extern "C" int nb__cuda_usable(int *count, nb_error_t *err)
{
  *count = 0;
  int n = 0;
  cudaError_t rc = cudaGetDeviceCount(&n);
  if (rc != cudaSuccess)
    return cuda_fail(err, -1, "cudaGetDeviceCount", rc);
  if (n == 0) {
    if (err) {
      err->code = NB_ECUDA;
      snprintf(err->msg, sizeof err->msg, "cudaGetDeviceCount: no CUDA device");
    }
    return NB_ECUDA;
  }
  *count = n;
  return 0;
}

extern "C" int nb__cuda_select(int ordinal, int gpu, nb_error_t *err)
{
  CK(gpu, cudaSetDevice(ordinal));
  CK(gpu, cudaFree(0)); /* the device's context now, not inside a timed call */
  return 0;
}

extern "C" int nb__cuda_register(void *addr, size_t len, double *seconds, nb_error_t *err)
{
  double t0 = now_s();
  CK(-1, cudaHostRegister(addr, len, cudaHostRegisterPortable));
  *seconds = now_s() - t0;
  return 0;
}

extern "C" void nb__cuda_unregister(void *addr)
{
  cudaHostUnregister(addr);
}

extern "C" int nb__cuda_host_alloc(void **addr, size_t len, double *seconds, nb_error_t *err)
{
  double t0 = now_s();
  *addr = NULL;
  CK(-1, cudaHostAlloc(addr, len, cudaHostAllocPortable));
  *seconds = now_s() - t0;
  return 0;
}

extern "C" void nb__cuda_free_host(void *addr)
{
  cudaFreeHost(addr);
}

/* ---- kernels ---- */

/* Bilinear resize of planes of ih x iw floats to oh x ow (resize.h). */
__global__ void nb_resize_bilinear(const float *in, float *out, size_t planes, int ih, int iw, int oh, int ow)
{
  size_t n = planes * (size_t)oh * (size_t)ow;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    int x = (int)(i % (size_t)ow), y = (int)((i / (size_t)ow) % (size_t)oh);
    size_t p = i / ((size_t)ow * (size_t)oh);
    out[i] = nb__resize_pixel(in + p * (size_t)ih * (size_t)iw, ih, iw, oh, ow, y, x);
  }
}

/* The GPU's nanosecond clock. */
__device__ static unsigned long long globaltimer()
{
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

/* Busy for ns nanoseconds of the GPU's clock, or until *stop (host memory
 * mapped into the GPU, read every 100 us so the reads cost no bandwidth;
 * NULL: no stop). */
__global__ void nb_spin(long long ns, const volatile int *stop)
{
  unsigned long long t0 = globaltimer(), next = t0 + 100000;
  long long c0 = clock64();
  for (;;) {
    unsigned long long t = globaltimer();
    if ((long long)(t - t0) >= ns)
      break;
    /* A timer that stalls must not hold the GPU for ever: 8 cycles per ns
     * asked is 4x the time at 2 GHz, 8x at 1 GHz. */
    if (clock64() - c0 > 8 * ns + 1000000)
      break;
    if (stop && t >= next) {
      if (*stop)
        break;
      next = t + 100000;
    }
  }
}

/* How long a spin asked for 2 ms really lasts by CUDA events (the least of
 * three, after one to warm up): *scale = asked / measured, so that --gpu-work
 * is the events' time on any GPU, whatever its timer's granularity. Whether
 * the factor is usable is the caller's to judge: a run with device work
 * needs it (the pipeline checks it), a run without work and bw's gate do
 * not, and a shared or time-sliced GPU can measure anything. */
static int calibrate(int gpu, cudaStream_t s, const int *stop, double *scale, nb_error_t *err)
{
  cudaEvent_t a, b;
  CK(gpu, cudaEventCreate(&a));
  cudaError_t rc = cudaEventCreate(&b);
  if (rc != cudaSuccess) {
    cudaEventDestroy(a);
    return cuda_fail(err, gpu, "cudaEventCreate", rc);
  }
  const long long ns = 2000000;
  float best = 0;
  const char *call = "cudaEventRecord";
  for (int k = 0; k < 4 && rc == cudaSuccess; k++) {
    call = "cudaEventRecord", rc = cudaEventRecord(a, s);
    if (rc == cudaSuccess) {
      (void)cudaGetLastError(); /* a launch error must be this launch's */
      nb_spin<<<1, 1, 0, s>>>(ns, stop);
      call = "nb_spin (kernel launch)";
      rc = cudaGetLastError();
    }
    if (rc == cudaSuccess)
      call = "cudaEventRecord", rc = cudaEventRecord(b, s);
    if (rc == cudaSuccess)
      call = "cudaEventSynchronize", rc = cudaEventSynchronize(b);
    float ms = 0;
    if (rc == cudaSuccess)
      call = "cudaEventElapsedTime", rc = cudaEventElapsedTime(&ms, a, b);
    if (rc == cudaSuccess && k > 0 && (best == 0 || ms < best)) /* the first warms up */
      best = ms;
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  if (rc != cudaSuccess)
    return cuda_fail(err, gpu, call, rc);
  *scale = best > 0 ? 2.0 / (double)best : 1.0;
  return 0;
}

/* ---- one GPU of the pipeline ---- */

enum { EV_COPY_START, EV_COPY_END, EV_WORK_START, EV_WORK_END, EV_SLOT_FREE, EV_N };

struct nb__cuda_gpu {
  struct nb__cuda_gpu_config cfg;
  cudaStream_t copy, compute;
  int have_copy, have_compute;
  void *slot[2];  /* device batch slots */
  float *out;     /* the resize's output */
  void *verify;   /* pinned copy-back buffer */
  int *stop_host; /* mapped flag: queued spin kernels end early when set */
  int *stop_dev;
  cudaEvent_t base; /* the time base */
  cudaEvent_t *ev;  /* ring * EV_N; NULL entries not created */
  int nev;
  int have_base;
  double scale; /* spin: asked / measured, found at open (checked by the caller when work is asked) */
  int blocks;   /* resize grid */
};

static cudaEvent_t ev_at(struct nb__cuda_gpu *g, long step, int kind)
{
  return g->ev[(size_t)(step % g->cfg.ring) * EV_N + (size_t)kind];
}

extern "C" void nb__cuda_gpu_close(struct nb__cuda_gpu *g)
{
  if (!g)
    return;
  cudaSetDevice(g->cfg.ordinal);
  /* Queued spin kernels end at once: a stop never waits for them. */
  if (g->stop_host)
    *(volatile int *)g->stop_host = 1;
  if (g->have_copy)
    cudaStreamSynchronize(g->copy);
  if (g->have_compute)
    cudaStreamSynchronize(g->compute);
  for (int i = 0; g->ev && i < g->nev; i++)
    if (g->ev[i])
      cudaEventDestroy(g->ev[i]);
  free(g->ev);
  if (g->have_base)
    cudaEventDestroy(g->base);
  if (g->have_copy)
    cudaStreamDestroy(g->copy);
  if (g->have_compute)
    cudaStreamDestroy(g->compute);
  for (int k = 0; k < 2; k++)
    if (g->slot[k])
      cudaFree(g->slot[k]);
  if (g->out)
    cudaFree(g->out);
  if (g->verify)
    cudaFreeHost(g->verify);
  if (g->stop_host)
    cudaFreeHost(g->stop_host);
  free(g);
}

/* The two batch slots and the resize's output: all grow with --batch, so a
 * GPU without the memory says how much was asked and what fits. */
static int device_buffers(struct nb__cuda_gpu *g, size_t out_bytes, nb_error_t *err)
{
  const struct nb__cuda_gpu_config *c = &g->cfg;
  void **bufs[3] = {&g->slot[0], &g->slot[1], reinterpret_cast<void **>(&g->out)};
  size_t sizes[3] = {c->batch_bytes, c->batch_bytes, out_bytes}, held = 0;
  for (int k = 0; k < 3; k++) {
    cudaError_t rc = cudaMalloc(bufs[k], sizes[k]);
    if (rc == cudaSuccess) {
      held += sizes[k];
      continue;
    }
    int code = cuda_fail(err, c->gpu, "cudaMalloc", rc);
    size_t avail = 0, total = 0;
    if (rc == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError(); /* not sticky: clear it for the query */
      if (cudaMemGetInfo(&avail, &total) != cudaSuccess)
        avail = total = 0;
      nb__cuda_slots_oom(err, c->batch, c->batch_bytes, out_bytes, avail + held, total);
    }
    return code;
  }
  return 0;
}

static int gpu_open(struct nb__cuda_gpu *g, nb_error_t *err)
{
  const struct nb__cuda_gpu_config *c = &g->cfg;
  int gpu = c->gpu;
  CK(gpu, cudaSetDevice(c->ordinal));
  CK(gpu, cudaStreamCreateWithFlags(&g->copy, cudaStreamNonBlocking));
  g->have_copy = 1;
  CK(gpu, cudaStreamCreateWithFlags(&g->compute, cudaStreamNonBlocking));
  g->have_compute = 1;
  size_t out_bytes =
      (size_t)c->batch * (size_t)c->channels * (size_t)c->out_size * (size_t)c->out_size * sizeof(float);
  int brc = device_buffers(g, out_bytes, err);
  if (brc < 0)
    return brc;
  if (c->verify)
    CK(gpu, cudaHostAlloc(&g->verify, c->batch_bytes, cudaHostAllocPortable));
  /* The stop flag only ends queued spins early: without mapped memory,
   * stops wait for them instead. */
  if (cudaHostAlloc(reinterpret_cast<void **>(&g->stop_host), sizeof(int),
                    cudaHostAllocMapped | cudaHostAllocPortable) == cudaSuccess) {
    *g->stop_host = 0;
    if (cudaHostGetDevicePointer(reinterpret_cast<void **>(&g->stop_dev), g->stop_host, 0) != cudaSuccess)
      g->stop_dev = NULL;
  } else {
    g->stop_host = NULL;
  }
  (void)cudaGetLastError(); /* neither failure is the run's */
  CK(gpu, cudaEventCreate(&g->base));
  g->have_base = 1;
  g->nev = c->ring * EV_N;
  g->ev = static_cast<cudaEvent_t *>(calloc((size_t)g->nev, sizeof *g->ev));
  if (!g->ev) {
    if (err) {
      err->code = NB_ENOMEM;
      snprintf(err->msg, sizeof err->msg, "GPU %d: out of memory", gpu);
    }
    return NB_ENOMEM;
  }
  for (int i = 0; i < g->nev; i++)
    CK(gpu, cudaEventCreate(&g->ev[i]));
  int sms = 0;
  CK(gpu, cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, c->ordinal));
  g->blocks = sms > 0 ? 8 * sms : 256;
  /* Load the resize kernel now (CUDA loads modules lazily), not in step 0. */
  (void)cudaGetLastError();
  nb_resize_bilinear<<<1, 32, 0, g->compute>>>(static_cast<const float *>(g->slot[0]), g->out, 0, c->height,
                                               c->width, c->out_size, c->out_size);
  cudaError_t rc = cudaGetLastError();
  if (rc != cudaSuccess)
    return cuda_fail(err, gpu, "nb_resize_bilinear (kernel launch)", rc);
  CK(gpu, cudaStreamSynchronize(g->compute));
  return calibrate(gpu, g->compute, g->stop_dev, &g->scale, err);
}

extern "C" int nb__cuda_gpu_open(struct nb__cuda_gpu **gp, const struct nb__cuda_gpu_config *cfg,
                                 nb_error_t *err)
{
  *gp = NULL;
  struct nb__cuda_gpu *g = static_cast<struct nb__cuda_gpu *>(calloc(1, sizeof *g));
  if (!g) {
    if (err) {
      err->code = NB_ENOMEM;
      snprintf(err->msg, sizeof err->msg, "GPU %d: out of memory", cfg->gpu);
    }
    return NB_ENOMEM;
  }
  g->cfg = *cfg;
  if (g->cfg.ring < 4)
    g->cfg.ring = 4; /* slot_free[k-2] must still be in the ring at k */
  int rc = gpu_open(g, err);
  if (rc < 0) {
    nb__cuda_gpu_close(g);
    return rc;
  }
  *gp = g;
  return 0;
}

extern "C" double nb__cuda_gpu_spin_scale(const struct nb__cuda_gpu *g)
{
  return g->scale;
}

extern "C" int nb__cuda_gpu_use(struct nb__cuda_gpu *g, nb_error_t *err)
{
  CK(g->cfg.gpu, cudaSetDevice(g->cfg.ordinal));
  return 0;
}

extern "C" int nb__cuda_gpu_start(struct nb__cuda_gpu *g, nb_error_t *err)
{
  int gpu = g->cfg.gpu;
  CK(gpu, cudaSetDevice(g->cfg.ordinal));
  CK(gpu, cudaEventRecord(g->base, g->copy));
  return 0;
}

extern "C" int nb__cuda_gpu_submit(struct nb__cuda_gpu *g, long step, const void *src, int verify,
                                   nb_error_t *err)
{
  const struct nb__cuda_gpu_config *c = &g->cfg;
  int gpu = c->gpu, d = (int)(step % 2);
  CK(gpu, cudaSetDevice(c->ordinal));
  if (step >= 2)
    CK(gpu, cudaStreamWaitEvent(g->copy, ev_at(g, step - 2, EV_SLOT_FREE), 0));
  CK(gpu, cudaEventRecord(ev_at(g, step, EV_COPY_START), g->copy));
  CK(gpu, cudaMemcpyAsync(g->slot[d], src, c->batch_bytes, cudaMemcpyHostToDevice, g->copy));
  CK(gpu, cudaEventRecord(ev_at(g, step, EV_COPY_END), g->copy));

  CK(gpu, cudaStreamWaitEvent(g->compute, ev_at(g, step, EV_COPY_END), 0));
  CK(gpu, cudaEventRecord(ev_at(g, step, EV_WORK_START), g->compute));
  (void)cudaGetLastError();
  nb_resize_bilinear<<<g->blocks, 256, 0, g->compute>>>(static_cast<const float *>(g->slot[d]), g->out,
                                                        (size_t)c->batch * (size_t)c->channels, c->height,
                                                        c->width, c->out_size, c->out_size);
  cudaError_t rc = cudaGetLastError();
  if (rc != cudaSuccess)
    return cuda_fail(err, gpu, "nb_resize_bilinear (kernel launch)", rc);
  if (c->work_us > 0) {
    nb_spin<<<1, 1, 0, g->compute>>>((long long)((double)c->work_us * 1e3 * g->scale), g->stop_dev);
    if ((rc = cudaGetLastError()) != cudaSuccess)
      return cuda_fail(err, gpu, "nb_spin (kernel launch)", rc);
  }
  CK(gpu, cudaEventRecord(ev_at(g, step, EV_WORK_END), g->compute));
  if (verify && g->verify)
    CK(gpu, cudaMemcpyAsync(g->verify, g->slot[d], c->batch_bytes, cudaMemcpyDeviceToHost, g->compute));
  CK(gpu, cudaEventRecord(ev_at(g, step, EV_SLOT_FREE), g->compute));
  return 0;
}

/* 1 done, 0 not yet, < 0 failed. */
static int query(struct nb__cuda_gpu *g, cudaEvent_t e, nb_error_t *err)
{
  cudaError_t rc = cudaEventQuery(e);
  if (rc == cudaSuccess)
    return 1;
  if (rc == cudaErrorNotReady)
    return 0;
  return cuda_fail(err, g->cfg.gpu, "cudaEventQuery", rc);
}

extern "C" int nb__cuda_gpu_poll_copy(struct nb__cuda_gpu *g, long step, nb_error_t *err)
{
  return query(g, ev_at(g, step, EV_COPY_END), err);
}

/* Seconds from event a to event b (both complete). Only nearby events are
 * subtracted, so float milliseconds keep microsecond precision however long
 * the run. */
static int between(struct nb__cuda_gpu *g, cudaEvent_t a, cudaEvent_t b, double *s, nb_error_t *err)
{
  float ms = 0;
  CK(g->cfg.gpu, cudaEventElapsedTime(&ms, a, b));
  *s = (double)ms * 1e-3;
  return 0;
}

extern "C" int nb__cuda_gpu_poll_step(struct nb__cuda_gpu *g, long step, struct nb__cuda_step *t,
                                      nb_error_t *err)
{
  cudaEvent_t end = ev_at(g, step, EV_SLOT_FREE);
  int rc = query(g, end, err);
  if (rc <= 0)
    return rc;
  /* The previous step ends at its slot_free (after any copy-back), which
   * the caller has not let the ring reuse yet. */
  cudaEvent_t prev = step > 0 ? ev_at(g, step - 1, EV_SLOT_FREE) : g->base;
  if ((rc = between(g, ev_at(g, step, EV_COPY_START), ev_at(g, step, EV_COPY_END), &t->copy_s, err)) < 0 ||
      (rc = between(g, ev_at(g, step, EV_WORK_START), ev_at(g, step, EV_WORK_END), &t->work_s, err)) < 0 ||
      (rc = between(g, prev, ev_at(g, step, EV_WORK_START), &t->idle_s, err)) < 0 ||
      (rc = between(g, prev, end, &t->step_s, err)) < 0)
    return rc;
  if (t->idle_s < 0)
    t->idle_s = 0;
  return 1;
}

extern "C" const void *nb__cuda_gpu_verify_buf(const struct nb__cuda_gpu *g)
{
  return g->verify;
}

/* ---- bw ---- */

struct bw_res {
  void *dev;
  cudaStream_t s;
  cudaEvent_t *ev; /* repeat + 1 */
  int nev, have_s;
};

static void bw_free(struct bw_res *r)
{
  if (r->have_s)
    cudaStreamSynchronize(r->s);
  for (int i = 0; r->ev && i < r->nev; i++)
    if (r->ev[i])
      cudaEventDestroy(r->ev[i]);
  free(r->ev);
  if (r->have_s)
    cudaStreamDestroy(r->s);
  if (r->dev)
    cudaFree(r->dev);
}

static int bw_run(struct bw_res *r, int ordinal, int gpu, void *host, size_t len, int h2d, int repeat,
                  double *samples, void (*start)(void *), void *start_arg, int *started, nb_error_t *err)
{
  CK(gpu, cudaSetDevice(ordinal));
  CK(gpu, cudaMalloc(&r->dev, len));
  CK(gpu, cudaStreamCreateWithFlags(&r->s, cudaStreamNonBlocking));
  r->have_s = 1;
  r->nev = repeat + 1;
  r->ev = static_cast<cudaEvent_t *>(calloc((size_t)r->nev, sizeof *r->ev));
  if (!r->ev) {
    if (err) {
      err->code = NB_ENOMEM;
      snprintf(err->msg, sizeof err->msg, "GPU %d: out of memory", gpu);
    }
    return NB_ENOMEM;
  }
  for (int i = 0; i < r->nev; i++)
    CK(gpu, cudaEventCreate(&r->ev[i]));
  double scale = 1;
  int rc = calibrate(gpu, r->s, NULL, &scale, err);
  if (rc < 0)
    return rc;
  /* The spin is only a gate here: a factor the pipeline would refuse is
   * not trusted, and the gate is held for the time asked by the GPU's own
   * timer instead. */
  if (!(scale >= NB__SPIN_SCALE_MIN && scale <= NB__SPIN_SCALE_MAX))
    scale = 1;
  void *dst = h2d ? r->dev : host;
  const void *src = h2d ? host : r->dev;
  cudaMemcpyKind kind = h2d ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
  /* One untimed copy, then line up with the other GPUs. */
  CK(gpu, cudaMemcpyAsync(dst, src, len, kind, r->s));
  CK(gpu, cudaStreamSynchronize(r->s));
  if (start)
    start(start_arg);
  *started = 1;
  /* The spin kernel holds the stream while the copies are queued: 20 ms
   * covers queueing thousands of copies. */
  /* Long enough to queue every copy (about 20 us each at most). */
  double spin_ns = 20e6 > (double)repeat * 20e3 ? 20e6 : (double)repeat * 20e3;
  (void)cudaGetLastError();
  nb_spin<<<1, 1, 0, r->s>>>((long long)(spin_ns * scale), NULL);
  cudaError_t lrc = cudaGetLastError();
  if (lrc != cudaSuccess)
    return cuda_fail(err, gpu, "nb_spin (kernel launch)", lrc);
  CK(gpu, cudaEventRecord(r->ev[0], r->s));
  for (int k = 0; k < repeat; k++) {
    CK(gpu, cudaMemcpyAsync(dst, src, len, kind, r->s));
    CK(gpu, cudaEventRecord(r->ev[k + 1], r->s));
  }
  CK(gpu, cudaStreamSynchronize(r->s));
  for (int k = 0; k < repeat; k++) {
    float ms = 0;
    CK(gpu, cudaEventElapsedTime(&ms, r->ev[k], r->ev[k + 1]));
    samples[k] = ms > 0 ? (double)len / ((double)ms * 1e-3) / 1e9 : 0;
  }
  return 0;
}

extern "C" int nb__cuda_bw_copy(int ordinal, int gpu, void *host, size_t len, int h2d, int repeat,
                                double *samples, void (*start)(void *arg), void *start_arg, nb_error_t *err)
{
  struct bw_res r;
  memset(&r, 0, sizeof r);
  int started = 0;
  int rc = bw_run(&r, ordinal, gpu, host, len, h2d, repeat, samples, start, start_arg, &started, err);
  /* Whoever waits at the start line must not wait for ever. */
  if (!started && start)
    start(start_arg);
  bw_free(&r);
  return rc;
}
