/* numabench: the CUDA backend's engine, behind a C interface: pinning host
 * buffers, feeding one GPU (copy stream, compute stream, events), and the
 * timed copies of `numabench bw`. Built from cuda_engine.cu with CUDA; without
 * it, cuda_stub.c answers NB_ENOTSUP with the reason. Not installed.
 *
 * Every function names the CUDA call, the GPU and the CUDA error in err. */
#ifndef NB_CUDA_ENGINE_H
#define NB_CUDA_ENGINE_H

#include <stddef.h>

#include <numabench/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the CUDA backend can run here: 0 with *count devices, or
 * NB_ENOTSUP / NB_ECUDA with one line naming the CUDA error and the hint
 * `--backend host`. */
int nb__cuda_usable(int *count, nb_error_t *err);

/* Make GPU ordinal the calling thread's device and create its context. */
int nb__cuda_select(int ordinal, int gpu, nb_error_t *err);

/* Page-lock [addr, addr+len) for every device (cudaHostRegister, portable).
 * *seconds receives the time it took. */
int nb__cuda_register(void *addr, size_t len, double *seconds, nb_error_t *err);
void nb__cuda_unregister(void *addr);
/* Pinned memory from the driver (cudaHostAlloc, portable); its pages follow
 * the calling thread's memory policy. */
int nb__cuda_host_alloc(void **addr, size_t len, double *seconds, nb_error_t *err);
void nb__cuda_free_host(void *addr);

/* The spin kernel's calibration factor (time asked / time measured by
 * events) that a run with device work accepts: outside it, the GPU's timer
 * is unusable for --gpu-work. Runs without work and bw's gate do not need
 * the factor and ignore it. */
#define NB__SPIN_SCALE_MIN 0.5
#define NB__SPIN_SCALE_MAX 2.0

/* ---- one GPU of the pipeline ---- */

struct nb__cuda_gpu;

struct nb__cuda_gpu_config {
  int ordinal;        /* CUDA device ordinal */
  int gpu;            /* numabench's GPU index, for messages */
  size_t batch_bytes; /* one batch */
  int batch, channels, height, width;
  int out_size; /* the resize's output side (224) */
  int work_us;  /* spin kernel per step, microseconds */
  int ring;     /* event ring (steps); ring - 1 in flight at most; >= 4 */
  int verify;   /* allocate the pinned copy-back buffer */
};

/* Times of one step, seconds, by CUDA events. The previous step ends at its
 * slot_free event (the start event for step 0). */
struct nb__cuda_step {
  double copy_s; /* the H2D copy of the batch */
  double work_s; /* resize + spin kernel */
  double idle_s; /* compute stream waiting for the data: previous end to work start */
  double step_s; /* previous end to this step's end */
};

/* The device memory a step needs could not be allocated: append to err
 * (which names the failed CUDA call) how much was asked, how much the GPU
 * has (avail: free plus what the failed open already held; total), and how
 * to ask for less: a smaller --batch (about how large fits) or --sample.
 * slot_bytes is one batch slot (two are allocated), out_bytes the resize's
 * output. Shared by the engine and the stand-in (copy_cuda.c). */
void nb__cuda_slots_oom(nb_error_t *err, int batch, size_t slot_bytes, size_t out_bytes, size_t avail,
                        size_t total);

/* Device buffers (2 batch slots and the resize output), streams, events, the
 * spin kernel's calibration. Call from a thread bound as the feeder.
 * - NB_ECUDA: a CUDA call failed; when the device memory does not suffice,
 *   with what was asked and the hint to lower --batch. */
int nb__cuda_gpu_open(struct nb__cuda_gpu **gp, const struct nb__cuda_gpu_config *cfg, nb_error_t *err);
/* The spin kernel's correction (asked / measured by events) found at open,
 * whether usable or not (see NB__SPIN_SCALE_MIN). */
double nb__cuda_gpu_spin_scale(const struct nb__cuda_gpu *g);
/* Make g's GPU the calling thread's current device. */
int nb__cuda_gpu_use(struct nb__cuda_gpu *g, nb_error_t *err);
/* The time base: an event on the copy stream; call once, before step 0. */
int nb__cuda_gpu_start(struct nb__cuda_gpu *g, nb_error_t *err);
/* Queue step `step` (0, 1, 2... in order): its copy from the pinned host
 * batch src into device slot step % 2 once the step that used that slot
 * last is done (and copied back), then the resize and the spin kernel on
 * the compute stream after the copy. verify: copy the slot back into the
 * verify buffer after the work. The caller keeps at most cfg->ring - 1
 * steps between the oldest not yet completed (nb__cuda_gpu_poll_step) and
 * this one: step may be queued once step - ring + 1 was polled done. */
int nb__cuda_gpu_submit(struct nb__cuda_gpu *g, long step, const void *src, int verify, nb_error_t *err);
/* 1 when step's H2D copy is complete (its host batch may be refilled), 0
 * when not yet, or a negative code. */
int nb__cuda_gpu_poll_copy(struct nb__cuda_gpu *g, long step, nb_error_t *err);
/* 1 when step is done (work and any copy-back) with its times in *t, 0 when
 * not yet, or a negative code. */
int nb__cuda_gpu_poll_step(struct nb__cuda_gpu *g, long step, struct nb__cuda_step *t, nb_error_t *err);
/* The pinned copy-back buffer (verify), valid once poll_step said 1 for a
 * step submitted with verify, until the next such submit. */
const void *nb__cuda_gpu_verify_buf(const struct nb__cuda_gpu *g);
/* End queued spin kernels early, wait for everything queued, free all.
 * NULL is accepted. */
void nb__cuda_gpu_close(struct nb__cuda_gpu *g);

/* ---- bw: one timed copy series ---- */

/* Copy len bytes between the pinned host buffer and a fresh device buffer on
 * GPU ordinal, repeat + 1 times (the first untimed), each queued behind a
 * spin kernel so that launch overhead is not timed (nvbandwidth's method);
 * GB/s per copy into samples[repeat]. h2d: host to device, else back.
 * start (may be NULL) is called once the device is set up, before the
 * copies: the bw code lines GPUs up there to copy all at once. */
int nb__cuda_bw_copy(int ordinal, int gpu, void *host, size_t len, int h2d, int repeat, double *samples,
                     void (*start)(void *arg), void *start_arg, nb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
