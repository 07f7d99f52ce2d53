// Host stand-in for cuda_fp16.h (NVIDIA's needs CCCL's nv/target and does not compile as host C++):
// only what kernels/*.cu use. Storage is IEEE binary16; conversions round to nearest even, as on a GPU.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif
struct __half { unsigned short __x; };
struct __half2 { __half x, y; };
#ifndef EMU_FLOAT2
#define EMU_FLOAT2
struct float2 { float x, y; };
#endif
inline float __half2float(__half h) {
#if defined(__F16C__)
  return _cvtsh_ss(h.__x);
#else
  _Float16 f;
  std::memcpy(&f, &h, 2);
  return (float)f;
#endif
}
inline __half __float2half_rn(float f) {
#if defined(__F16C__)
  return __half{(unsigned short)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)};
#else
  _Float16 h = (_Float16)f;
  __half r;
  std::memcpy(&r, &h, 2);
  return r;
#endif
}
inline __half __float2half(float f) { return __float2half_rn(f); }
inline __half2 __floats2half2_rn(float a, float b) { return {__float2half_rn(a), __float2half_rn(b)}; }
inline __half2 __float2half2_rn(float a) { const __half h = __float2half_rn(a); return {h, h}; }
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
inline float __low2float(__half2 h) { return __half2float(h.x); }
inline float __high2float(__half2 h) { return __half2float(h.y); }
