/* numabench: what the NVIDIA driver says about its GPUs under /proc, and the
 * /proc and /dev roots the readers of other processes use.
 *
 * /proc/driver/nvidia/gpus/BUSID/information names each GPU's model, UUID,
 * bus location and device minor (the N of /dev/nvidiaN, character major
 * 195). It is there whenever the driver is loaded, without the CUDA runtime,
 * so `exec` resolves a CUDA_VISIBLE_DEVICES entry with it and `audit` maps
 * an open /dev/nvidiaN back to a bus id and a NUMA node with it.
 *
 * Tests point the readers at recorded trees with the test-only environment
 * variables NB_TEST_PROC_ROOT and NB_TEST_DEV_ROOT (a directory standing for
 * / under which proc/... and dev/... are read). They are not options: users
 * never read another machine's /proc. Not installed.
 */
#ifndef NB_NVPROC_H
#define NB_NVPROC_H

#include <numabench/error.h>
#include <numabench/topo.h>

/* The character-device major of /dev/nvidiaN (and nvidiactl, 255). */
#define NB_NVIDIA_MAJOR 195

struct nb__nvgpu {
  int minor;                 /* Device Minor, -1 when the file does not say */
  char bus_id[NB_BUSID_LEN]; /* canonical dddd:bb:dd.f */
  char uuid[48];             /* "GPU-xxxxxxxx-...", "" when not given */
  char model[96];            /* "" when not given */
};

/* "" on a real system, else the test-only NB_TEST_PROC_ROOT / NB_TEST_DEV_ROOT:
 * prefix it to "/proc/..." and "/dev/...". */
const char *nb__proc_root(void);
const char *nb__dev_root(void);

/* The GPUs of <proc root>/proc/driver/nvidia/gpus, in bus id order, in a
 * malloc'ed array (*out NULL when none). Returns the count: 0 when the
 * driver's directory is absent (no driver). A directory whose information
 * file is unreadable or names no valid bus location is skipped and, when
 * warnings is not NULL, named in one line there.
 *  - NB_ENOMEM: out of memory. */
struct nb__strv;
int nb__nvproc_gpus(struct nb__nvgpu **out, struct nb__strv *warnings, nb_error_t *err);

/* Parse one information file's text into g (minor -1 and empty fields for
 * what it does not say). Returns 0, or NB_EFORMAT when it names no valid
 * bus location. Exposed for tests and the fuzzer. */
int nb__nvproc_parse(const char *text, struct nb__nvgpu *g);

#endif
