/* numabench: who enumerates the GPUs for the topology (topo_gpu.c): the
 * CUDA runtime (cuda_devices.cu), or, in tests, the stand-in: the PCI devices
 * named by NB_TEST_STANDIN_GPUS, which the stand-in copy backend
 * (copy_standin.c) then drives as CUDA GPUs. Below both the topology and the
 * copy backends, so that neither depends on the other for this. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numabench/error.h>

#include "cuda_devices.h"

bool nb__standin_active(void)
{
  const char *list = getenv(NB__STANDIN_ENV);
  return list && *list;
}

/* The devices: NB_TEST_STANDIN_GPUS, a comma-separated list of PCI bus ids
 * of this machine; unset, no device. */
static int standin_enumerate(struct nb__cuda_info *info)
{
  memset(info, 0, sizeof *info);
  info->runtime_version = info->driver_version = 13000;
  const char *list = getenv(NB__STANDIN_ENV);
  if (!list || !*list) {
    snprintf(info->error, sizeof info->error,
             "cudaGetDeviceCount: cudaErrorNoDevice (stand-in engine: " NB__STANDIN_ENV " is not set)");
    return 0;
  }
  int n = 1;
  for (const char *c = list; *c; c++)
    n += *c == ',';
  if (!(info->devs = calloc((size_t)n, sizeof *info->devs)))
    return NB_ENOMEM;
  for (const char *c = list; *c && info->count < n;) {
    size_t len = strcspn(c, ",");
    struct nb__cuda_dev *d = &info->devs[info->count];
    snprintf(d->bus_id, sizeof d->bus_id, "%.*s", (int)(len < sizeof d->bus_id ? len : sizeof d->bus_id - 1),
             c);
    snprintf(d->name, sizeof d->name, "stand-in GPU %d", info->count);
    d->host_numa_id = -1;
    info->count++;
    c += len + (c[len] == ',');
  }
  return 0;
}

int nb__gpus_enumerate(struct nb__cuda_info *info)
{
  if (nb__standin_active())
    return standin_enumerate(info) < 0 ? NB_ENOMEM : 1;
#ifdef NB_HAVE_CUDA
  return nb__cuda_enumerate(info) < 0 ? NB_ENOMEM : 1;
#else
  memset(info, 0, sizeof *info);
  return 0;
#endif
}
