/* numabench: what the topology asks the CUDA runtime. The enumeration
 * (cuda_devices.cu) is built only with CUDA; the structs always, so that
 * tests can hand the topology a recorded enumeration. C and C++ (nvcc) both
 * include it. */
#ifndef NB_CUDA_DEVICES_H
#define NB_CUDA_DEVICES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#else
#include <stdbool.h>
#endif

/* Tests only: the PCI devices the stand-in copy backend presents as CUDA
 * GPUs (comma-separated bus ids); set, the stand-in replaces the CUDA
 * backend and its runtime (gpu_enum.c, copy.c). */
#define NB__STANDIN_ENV "NB_TEST_STANDIN_GPUS"

struct nb__cuda_dev {
  char bus_id[32];  /* as the runtime writes it, e.g. "00000000:3B:00.0" */
  char name[256];   /* cudaDeviceProp.name */
  int host_numa_id; /* cudaDevAttrHostNumaId, -1 when the runtime has none */
};

struct nb__cuda_info {
  int runtime_version;       /* cudaRuntimeGetVersion, 0 when unknown */
  int driver_version;        /* cudaDriverGetVersion, 0 when no driver */
  int count;                 /* devices the runtime sees */
  struct nb__cuda_dev *devs; /* malloc'ed, count entries; free() it */
  char error[256];           /* set when the runtime fails: "cudaErrorNoDevice: ..." */
};

#ifndef __cplusplus
/* Whether the stand-in is asked for (NB__STANDIN_ENV set). */
bool nb__standin_active(void);
/* The GPUs as the runtime in use enumerates them (gpu_enum.c): 1 with info
 * filled (count may be 0 with error set), 0 when no runtime is built in,
 * NB_ENOMEM. */
int nb__gpus_enumerate(struct nb__cuda_info *info);
#endif

#ifdef NB_HAVE_CUDA
/* Enumerate the CUDA devices in ordinal order. Returns 0 (count may be 0 with
 * error set when the runtime or driver is unusable) or NB_ENOMEM. */
int nb__cuda_enumerate(struct nb__cuda_info *info);

/* The CUDA error line of call failing with rc (a cudaError_t) into buf:
 * "call: cudaErrorName (description)", and, when the error is about the
 * driver's version (too old for the runtime, or not matching the kernel
 * module), both versions inside the parentheses: "(...; runtime 13.0,
 * driver 12.4)", or "no driver" when none answers. */
void nb__cuda_error_text(char *buf, size_t len, const char *call, int call_len, int rc);
#endif

#ifdef __cplusplus
}
#endif
#endif
