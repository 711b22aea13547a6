/* numabench: one output pixel of the bilinear resize the CUDA backend runs
 * per step (half-pixel centres, as torchvision's Resize without
 * antialiasing). Shared by the kernel (cuda_engine.cu) and the host tests,
 * which check the arithmetic where no GPU is. Not installed. */
#ifndef NB_RESIZE_H
#define NB_RESIZE_H

#include <stddef.h>

#ifdef __CUDACC__
#define NB__HD __host__ __device__
#else
#define NB__HD
#endif

/* Output pixel (y, x) of the oh x ow resize of the ih x iw plane pl. */
NB__HD static inline float nb__resize_pixel(const float *pl, int ih, int iw, int oh, int ow, int y, int x)
{
  float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
  float fy = ((float)y + 0.5f) * sy - 0.5f, fx = ((float)x + 0.5f) * sx - 0.5f;
  fy = fy > 0.0f ? fy : 0.0f;
  fx = fx > 0.0f ? fx : 0.0f;
  int y0 = (int)fy < ih - 1 ? (int)fy : ih - 1, x0 = (int)fx < iw - 1 ? (int)fx : iw - 1;
  int y1 = y0 + 1 < ih - 1 ? y0 + 1 : ih - 1, x1 = x0 + 1 < iw - 1 ? x0 + 1 : iw - 1;
  float wy = fy - (float)y0, wx = fx - (float)x0;
  wy = wy < 1.0f ? wy : 1.0f;
  wx = wx < 1.0f ? wx : 1.0f;
  float top =
      (1.0f - wx) * pl[(size_t)y0 * (size_t)iw + (size_t)x0] + wx * pl[(size_t)y0 * (size_t)iw + (size_t)x1];
  float bot =
      (1.0f - wx) * pl[(size_t)y1 * (size_t)iw + (size_t)x0] + wx * pl[(size_t)y1 * (size_t)iw + (size_t)x1];
  return (1.0f - wy) * top + wy * bot;
}

#endif
