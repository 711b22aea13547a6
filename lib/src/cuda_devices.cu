/* numabench: CUDA ordinals -> PCI bus ids, names and host NUMA ids. */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime_api.h>

#include <numabench/error.h>

#include "cuda_devices.h"

/* The errors that mean the driver's version does not fit the runtime's:
 * the versions are what the user needs to fix them. */
static bool driver_version_error(cudaError_t rc)
{
  switch (rc) {
  case cudaErrorInsufficientDriver:
  case cudaErrorCallRequiresNewerDriver:
  case cudaErrorUnsupportedPtxVersion:
  case cudaErrorSystemDriverMismatch:
  case cudaErrorCompatNotSupportedOnDevice:
    return true;
  default:
    return false;
  }
}

/* "13.0" from CUDA's 13000; "" when v is 0. */
static void version_text(char *buf, size_t len, int v)
{
  if (v > 0)
    snprintf(buf, len, "%d.%d", v / 1000, v % 1000 / 10);
  else
    buf[0] = '\0';
}

extern "C" void nb__cuda_error_text(char *buf, size_t len, const char *call, int call_len, int rc)
{
  cudaError_t e = static_cast<cudaError_t>(rc);
  char versions[64] = "";
  if (driver_version_error(e)) {
    int runtime = 0, driver = 0;
    char rt[16], drv[16];
    cudaRuntimeGetVersion(&runtime);
    if (cudaDriverGetVersion(&driver) != cudaSuccess)
      driver = 0;
    version_text(rt, sizeof rt, runtime);
    version_text(drv, sizeof drv, driver);
    snprintf(versions, sizeof versions, "; runtime %s, %s%s", rt[0] ? rt : "unknown",
             drv[0] ? "driver " : "no driver", drv);
  }
  snprintf(buf, len, "%.*s: %s (%s%s)", call_len, call, cudaGetErrorName(e), cudaGetErrorString(e), versions);
}

static void set_error(struct nb__cuda_info *info, const char *call, cudaError_t rc)
{
  nb__cuda_error_text(info->error, sizeof info->error, call, (int)strlen(call), rc);
}

extern "C" int nb__cuda_enumerate(struct nb__cuda_info *info)
{
  memset(info, 0, sizeof *info);
  cudaRuntimeGetVersion(&info->runtime_version);
  cudaError_t rc = cudaDriverGetVersion(&info->driver_version);
  if (rc != cudaSuccess) {
    set_error(info, "cudaDriverGetVersion", rc);
    return 0;
  }
  int count = 0;
  rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    set_error(info, "cudaGetDeviceCount", rc);
    return 0;
  }
  if (count <= 0)
    return 0;
  info->devs = static_cast<struct nb__cuda_dev *>(calloc((size_t)count, sizeof *info->devs));
  if (!info->devs)
    return NB_ENOMEM;
  for (int i = 0; i < count; i++) {
    struct nb__cuda_dev *d = &info->devs[i];
    d->host_numa_id = -1;
    rc = cudaDeviceGetPCIBusId(d->bus_id, (int)sizeof d->bus_id, i);
    if (rc != cudaSuccess) {
      set_error(info, "cudaDeviceGetPCIBusId", rc);
      free(info->devs);
      info->devs = NULL;
      return 0;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess)
      snprintf(d->name, sizeof d->name, "%s", prop.name);
#if CUDART_VERSION >= 12020
    int numa = -1;
    if (cudaDeviceGetAttribute(&numa, cudaDevAttrHostNumaId, i) == cudaSuccess)
      d->host_numa_id = numa;
#endif
  }
  info->count = count;
  return 0;
}
