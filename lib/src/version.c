/* numabench: version and build contents. */
#include <stdio.h>

#include <hwloc.h>
#include <jansson.h>
#include <numa.h>

#include <numabench/version.h>

#include "nb-version.h"

const char *nb_version(void)
{
  return NB_GIT_DESCRIBE;
}

int nb_have_cuda(void)
{
#ifdef NB_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

char *nb_build_info(char *buf, size_t len)
{
  unsigned api = hwloc_get_api_version();
  snprintf(buf, len,
           "CUDA: %s\n"
           "hwloc: %s (API %d.%d.%d in the headers, %u.%u.%u in the library)\n"
           "libnuma: API %d\n"
           "jansson: %s\n",
#ifdef NB_HAVE_CUDA
           "built in (toolkit " NB_CUDA_VERSION ", runtime linked statically)",
#else
           "not built (install nvcc and rebuild with -DNB_WITH_CUDA=ON)",
#endif
           HWLOC_VERSION, HWLOC_API_VERSION >> 16, (HWLOC_API_VERSION >> 8) & 0xff, HWLOC_API_VERSION & 0xff,
           api >> 16, (api >> 8) & 0xff, api & 0xff, LIBNUMA_API_VERSION, JANSSON_VERSION);
  return buf;
}
