/* numabench: CUDA ordinals -> PCI bus ids, names and host NUMA ids. */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime_api.h>

#include <numabench/error.h>

#include "cuda_devices.h"

static void set_error(struct nb__cuda_info *info, const char *call, cudaError_t rc)
{
  snprintf(info->error, sizeof info->error, "%s: %s (%s)", call, cudaGetErrorName(rc),
           cudaGetErrorString(rc));
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
