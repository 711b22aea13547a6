/* numabench: copy backends as tables of operations (fio's ioengine_ops).
 *
 * A backend moves batches from host staging to a device and says when each
 * step is done and how long its parts took. The pipeline (pipeline.c) has
 * one feeder and one completion path for every backend; everything that
 * differs between backends is in its table:
 *
 *   copy_host.c     the host plays the device: a buffer on the device's node
 *                   and the completion thread copying into it (always built)
 *   copy_cuda.c     the CUDA engine (cuda_engine.cu; cuda_stub.c without
 *                   CUDA): pinned staging, copy and compute streams, events
 *   copy_standin.c  a host stand-in for the CUDA engine that checks the
 *                   engine's contract, so that the CUDA path runs where no
 *                   GPU is (tests only; like fio's engines/null.c)
 *
 * The stand-in replaces the CUDA table at run time when the test-only
 * environment variable NB_TEST_STANDIN_GPUS names the PCI devices to present
 * as CUDA GPUs; it is not an option of the documented command line.
 *
 * Not installed. */
#ifndef NB_COPY_H
#define NB_COPY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <numabench/bind.h>
#include <numabench/bw.h>
#include <numabench/error.h>
#include <numabench/run.h>
#include <numabench/topo.h>

#include "cuda_devices.h"
#include "cuda_engine.h"
#include "nb-internal.h"

/* Test-only: the spin-kernel calibration factor the stand-in reports for
 * every device (a number; unset: 1, an exact calibration). */
#define NB__STANDIN_SPIN_ENV "NB_TEST_STANDIN_SPIN_SCALE"
/* Test-only: the memory of every stand-in device, bytes (unset: no limit);
 * a run whose device buffers need more fails as cudaMalloc would. */
#define NB__STANDIN_MEMORY_ENV "NB_TEST_STANDIN_DEVICE_MEMORY"

/* One device of a run, as its backend keeps it. */
struct nb__copy_dev;

/* The host backend's device slot: where a batch lands, a piece at a time,
 * small enough to stay in the copying core's cache (copy_host.c). */
#define NB__HOST_LANDING_BYTES ((size_t)128 << 10)

struct nb__copy_dev_config {
  int ordinal;        /* the backend's device number (CUDA ordinal); -1 when it has none */
  int gpu;            /* numabench's GPU index, for messages */
  const char *bus_id; /* its PCI bus id, for messages */
  size_t batch_bytes; /* one batch */
  int batch, channels, height, width;
  int out_size; /* the resize's output side (224) */
  int work_us;  /* device work per step, microseconds */
  int ring;     /* steps in flight at most + 1; >= 4 */
  int verify;   /* copy batches back for --verify */
  /* NB__COPY_HOST_MEMORY backends: the device's two slots, allocated on the
   * device's node by the completion thread before the start line, each
   * min(batch_bytes, NB__HOST_LANDING_BYTES): a batch lands in its slot
   * piece by piece (copy_host.c). */
  struct nb_buf *slots;
  const atomic_int *stop; /* the run's stop flag: a backend that waits checks it */
};

/* Times of one step, seconds. The previous step ends where this one's
 * step_s starts (the device's start for step 0). */
struct nb__copy_step {
  double copy_s; /* the batch's copy to the device */
  double work_s; /* the step's work on the device */
  double idle_s; /* the device waiting for the data: previous end to work start */
  double step_s; /* previous end to this step's end */
};

/* One cell of `numabench bw`, run by a thread of its own (bw.c starts it;
 * the backend's bw_job does the copies and fills the result fields). */
struct nb__bw_job {
  nb_topo_t topo;
  const struct nb_bw_config *cfg;
  const struct nb__copy_ops *ops;
  int dir;               /* enum nb_bw_dir */
  int row, col_index;    /* the cell */
  int row_node;          /* the copying thread's node (and its buffer's) */
  int col;               /* host: the source buffer's node; CUDA: the GPU's index */
  struct nb__gate *gate; /* all at once: the copies start together; NULL alone */
  double *samples;       /* cfg->repeat values, GB/s */
  bool placed;           /* the kernel confirmed thread and pages */
  int rc;
  nb_error_t err;
};

enum {
  /* The device's slots are host memory on the device's node (landing slots
   * of min(batch, NB__HOST_LANDING_BYTES)): counted by the memory guard,
   * allocated by the pipeline, audited as "device". */
  NB__COPY_HOST_MEMORY = 1u << 0,
  /* The devices are GPUs: a batch's copy crosses a link (H2D), and bw's
   * columns are GPUs with both directions measured (else columns are memory
   * nodes and one direction). */
  NB__COPY_GPUS = 1u << 1,
  /* The device's work is modelled (--gpu-work exactly), not measured: the
   * report shows it even for a run with no timed step. */
  NB__COPY_MODELLED_WORK = 1u << 2,
};

struct nb__copy_ops {
  const char *name;
  /* What stands for the devices, for reports; followed by the pinning's
   * name for backends that pin. */
  const char *devices_text;
  unsigned flags;      /* NB__COPY_* */
  int verify_every;    /* --verify checks batches 0, N, 2N... (and the one --fail-at corrupt:N spoiled) */
  int verify_inflight; /* copy-backs in flight at most; 0: no limit */
  const char *verified_how; /* how a checked batch was read, for the mismatch message */

  /* Whether the backend can run here: 0 with *count devices, or a code with
   * one line naming why. NULL: always. */
  int (*usable)(int *count, nb_error_t *err);
  /* Page-locking, for nb_buf_alloc_pinned. NULL: the backend pins nothing. */
  const struct nb_pinner *pinner;

  /* Make the device current for the calling thread (bw, before pinning). */
  int (*select)(int ordinal, int gpu, nb_error_t *err);

  /* ---- one device of the pipeline ----
   * open: from the feeder thread, bound, before staging is allocated.
   * attach: from the completion thread, bound, after the start line.
   * start: from the feeder, once, before step 0.
   * submit: from the feeder, steps 0, 1, 2... in order, at most ring - 1
   *   past the oldest step not yet polled done.
   * poll_copy: 1 when the step's copy is complete (its staging may be
   *   refilled), 0 not yet, or a code; from the completion thread, in order.
   * poll_step: 1 when the step is done with its times in *t; in order.
   * verify_buf: the copy of a verified step, once poll_step said 1.
   * verify_sum: instead of verify_buf, for a backend that checksums what
   *   arrived as it arrives: the checksum of a verified step's batch.
   * drain: after the last step (may be NULL).
   * close: end queued work, free all; NULL accepted. */
  int (*open)(struct nb__copy_dev **dp, const struct nb__copy_dev_config *cfg, nb_error_t *err);
  int (*attach)(struct nb__copy_dev *d, nb_error_t *err);
  int (*start)(struct nb__copy_dev *d, nb_error_t *err);
  int (*submit)(struct nb__copy_dev *d, long step, const void *src, int verify, nb_error_t *err);
  int (*poll_copy)(struct nb__copy_dev *d, long step, nb_error_t *err);
  int (*poll_step)(struct nb__copy_dev *d, long step, struct nb__copy_step *t, nb_error_t *err);
  const void *(*verify_buf)(struct nb__copy_dev *d, long step);
  uint64_t (*verify_sum)(struct nb__copy_dev *d, long step);
  /* spin_scale: the device's spin-kernel calibration found at open (time
   *   asked / time measured by the device's events), NAN when it measured
   *   none. Only a run with device work needs it within NB__SPIN_SCALE_MIN
   *   to _MAX; the pipeline checks that and records the factor. NULL: the
   *   backend has no spin kernel (host). */
  double (*spin_scale)(struct nb__copy_dev *d);
  void (*drain)(struct nb__copy_dev *d);
  void (*close)(struct nb__copy_dev *d);

  /* bw: one cell's copies (a thread's start routine, arg a struct nb__bw_job). */
  void *(*bw_job)(void *arg);
  /* bw, GPU backends: len bytes between the pinned host buffer and a fresh
   * device buffer, repeat + 1 times (the first untimed), GB/s per copy into
   * samples; start(start_arg) once the device is set up, in every case. */
  int (*bw_copy)(int ordinal, int gpu, void *host, size_t len, int h2d, int repeat, double *samples,
                 void (*start)(void *arg), void *start_arg, nb_error_t *err);
};

extern const struct nb__copy_ops nb__copy_host;
extern const struct nb__copy_ops nb__copy_cuda;
extern const struct nb__copy_ops nb__copy_standin;

/* The table for a resolved backend (HOST or CUDA); CUDA is the stand-in
 * when NB__STANDIN_ENV is set. */
const struct nb__copy_ops *nb__copy_ops_for(enum nb_backend b);

/* bw's cell job for GPU backends (copy_cuda.c), driving ops->select,
 * ops->pinner and ops->bw_copy. */
void *nb__cuda_bw_job(void *arg);

/* The stand-in's count of broken contract rules; *first says how, the first
 * time (tests). */
int nb__standin_violations(const char **first);

/* Whether a mode's staging can be pinned as asked on this backend: 0, or
 * NB_EINVAL naming the mode and --pin (hostalloc with interleaved staging). */
int nb__copy_pin_check(const struct nb__copy_ops *ops, enum nb_pin asked, enum nb_mode mode, nb_error_t *err);

/* The stand-in's record of the CPUs the thread that called its host_alloc
 * last could run on (the first max into cpus): their count, or -1 when it
 * was not called or the affinity was unreadable (tests). */
int nb__standin_host_alloc_cpus(int *cpus, int max);

/* What the devices of a run on backend b are, for reports. */
void nb__copy_describe(enum nb_backend b, enum nb_pin pin, char *buf, size_t len);

/* The staging buffers' pinning for a backend and --pin (NB_PIN_NONE when the
 * backend pins nothing). */
enum nb_pin nb__copy_pin(const struct nb__copy_ops *ops, enum nb_pin asked);

/* n bytes from s to d with streaming (non-temporal) stores, fenced: for a
 * destination the CPU does not read next (a staging slot the copy engine
 * takes), so that the copy costs a read and
 * a write of each byte, not also the read that pulls the destination's lines
 * into the cache (pipeline.c). */
void nb__copy_stream(void *d, const void *s, size_t n);

#endif
