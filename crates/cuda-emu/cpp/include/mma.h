// Host stand-in for mma.h: nvcuda::wmma, 16x16x16 with f16 operands and an f32 accumulator (what
// kernels/*.cu use). The API requires every lane of a warp to make the same call with the same arguments,
// converged, and leaves the fragment layout opaque; so the emulation keeps the whole tile in one lane's
// fragment and performs each load, store and mma once per warp, in lane 0, at the moment lane 0 runs it
// (the other lanes return at once). Every lane's call is still recorded (emu::wmma_call): arguments that
// differ between lanes, a lane missing a call, a pointer not 32-byte aligned or a leading dimension not a
// multiple of 16 bytes stop the kernel with an error. The storage is not called `x`: a kernel that reads
// fragment elements directly (layout-dependent code) does not compile here.
#pragma once
#include <type_traits>
namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment;
// A: tile[i*16+k]; B: tile[k*16+j] (k-major, so mma's inner loop is contiguous); C: tile[i*16+j].
template <class L> struct fragment<matrix_a, 16, 16, 16, __half, L> { float emu_tile[256]; enum { num_elements = 256 }; };
template <class L> struct fragment<matrix_b, 16, 16, 16, __half, L> { float emu_tile[256]; enum { num_elements = 256 }; };
template <> struct fragment<accumulator, 16, 16, 16, float, void> { float emu_tile[256]; enum { num_elements = 256 }; };
using emu_acc = fragment<accumulator, 16, 16, 16, float, void>;

enum { EMU_LOAD_A = 1, EMU_LOAD_B, EMU_LOAD_C, EMU_STORE_C, EMU_FILL, EMU_MMA };

inline void emu_cvt16(float* d, const __half* s) {
  for (int t = 0; t < 16; ++t) d[t] = __half2float(s[t]);
}
// d[r*16 + c] = element (r, c) of the 16×16 tile at p: row-major p[r*ldm + c], col-major p[c*ldm + r]. An A
// fragment is (i, k), a B fragment (k, j): the same load serves both (the source rows read contiguously).
inline void emu_load_tile(float* d, const __half* p, unsigned ldm, bool row_major) {
  if (row_major) {
    for (int r = 0; r < 16; ++r) emu_cvt16(d + r * 16, p + (size_t)r * ldm);
  } else {
    float t[16];
    for (int c = 0; c < 16; ++c) {
      emu_cvt16(t, p + (size_t)c * ldm);
      for (int r = 0; r < 16; ++r) d[r * 16 + c] = t[r];
    }
  }
}
template <class L>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, __half, L>& a, const __half* p, unsigned ldm) {
  constexpr bool row = std::is_same<L, row_major>::value;
  emu::wmma_call(EMU_LOAD_A, p, ldm, row, 32, 16 / sizeof(__half));
  if (emu::g_thread->lane == 0) emu_load_tile(a.emu_tile, p, ldm, row);
}
template <class L>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, __half, L>& b, const __half* p, unsigned ldm) {
  constexpr bool row = std::is_same<L, row_major>::value;
  emu::wmma_call(EMU_LOAD_B, p, ldm, row, 32, 16 / sizeof(__half));
  if (emu::g_thread->lane == 0) emu_load_tile(b.emu_tile, p, ldm, row);
}
inline void load_matrix_sync(emu_acc& c, const float* p, unsigned ldm, layout_t l) {
  emu::wmma_call(EMU_LOAD_C, p, ldm, l, 32, 16 / sizeof(float));
  if (emu::g_thread->lane != 0) return;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      c.emu_tile[i * 16 + j] = l == mem_row_major ? p[(size_t)i * ldm + j] : p[(size_t)j * ldm + i];
}
inline void store_matrix_sync(float* p, const emu_acc& c, unsigned ldm, layout_t l) {
  emu::wmma_call(EMU_STORE_C, p, ldm, l, 32, 16 / sizeof(float));
  if (emu::g_thread->lane != 0) return;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      (l == mem_row_major ? p[(size_t)i * ldm + j] : p[(size_t)j * ldm + i]) = c.emu_tile[i * 16 + j];
}
inline void fill_fragment(emu_acc& c, float v) {
  emu::wmma_call(EMU_FILL, nullptr, 0, 0, 0, 0);
  if (emu::g_thread->lane != 0) return;
  for (int e = 0; e < 256; ++e) c.emu_tile[e] = v;
}
template <class LA, class LB>
inline void mma_sync(emu_acc& d, const fragment<matrix_a, 16, 16, 16, __half, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, __half, LB>& b, const emu_acc& c) {
  emu::wmma_call(EMU_MMA, nullptr, 0, 0, 0, 0);
  if (emu::g_thread->lane != 0) return;
  float t[256];
  for (int e = 0; e < 256; ++e) t[e] = c.emu_tile[e];
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) {
      const float av = a.emu_tile[i * 16 + k];
      for (int j = 0; j < 16; ++j) t[i * 16 + j] += av * b.emu_tile[k * 16 + j];
    }
  for (int e = 0; e < 256; ++e) d.emu_tile[e] = t[e];
}
}  // namespace wmma
}  // namespace nvcuda
