// emu_kernel.h: what a kernels/*.cu file needs to compile as host C++ and run as emulated CUDA threads.
//
// Each generated translation unit is: this header, kernels/common.cuh, the kernel file (with its
// `asm volatile` statements rewritten into emu_asm(...) calls and every `__shared__` array announced
// with EMU_SHARED), then one EMU_KERNEL(name) per entry point of roberta-gpu's KERNEL_FILES.
//
// One emulated CUDA thread is one fiber (runtime.cpp); every fiber of a block runs on the same OS thread,
// one block at a time, so `__shared__` is `static thread_local`: the block's shared memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <type_traits>
#include <utility>

#if !defined(__x86_64__)
#error "the emulated CUDA driver switches fibers with x86-64 assembly"
#endif

// ---- qualifiers ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ __attribute__((always_inline)) inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static thread_local
#define __constant__ static

// ---- builtin types ----
struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };
#ifndef EMU_FLOAT2
#define EMU_FLOAT2
struct float2 { float x, y; };
#endif

namespace emu {
// The running thread's coordinates and its block's (set by the scheduler before a fiber resumes).
struct ThreadCoord { uint3 tid; int lane, warp; };
struct BlockCoord { uint3 bid; dim3 bdim, gdim; };
extern thread_local const ThreadCoord* g_thread;
extern thread_local BlockCoord g_block;

// Barriers and collectives; `site` is "file:line" of the call, for divergence reports.
void syncthreads(const char* site);
void syncwarp(unsigned mask, const char* site);
// Writes v to this lane's exchange slot, waits for the lanes of `mask`, returns the 32 slots; a read of
// an exited lane's slot is reported by `slot_of`.
const uint64_t* exchange(uint64_t v, unsigned mask, const char* site);
uint64_t slot_of(const uint64_t* slots, int lane, const char* site);
bool lane_exited(int lane);
// Stops the kernel with a CUDA error (code: a CUresult) and a message; never returns.
[[noreturn]] void fail(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// WMMA bookkeeping: every lane of a warp must make the same calls with the same arguments.
void wmma_call(int op, const void* ptr, unsigned ldm, int layout, unsigned align_bytes, unsigned ld_unit);
// Called where a `__shared__` array is declared: poisons it (NaN bytes) the first time in each block.
void shared_decl(void* p, size_t bytes, const char* name);

using ThreadFn = void (*)(void** params);
using PackFn = size_t (*)(void** params, unsigned char* out, size_t* offsets);
void register_kernel(const char* name, ThreadFn run, PackFn pack, int nparams);

template <class T> using bare = std::remove_cv_t<std::remove_reference_t<T>>;
template <class... A, size_t... I>
inline void invoke(void (*f)(A...), void** p, std::index_sequence<I...>) {
  f(*static_cast<bare<A>*>(p[I])...);
}
// Runs an entry point from cuLaunchKernel's `void** params`, and copies those arguments into one buffer
// (as CUDA does at launch and at capture): out == nullptr asks for the size only.
template <auto F, class Sig> struct Entry;
template <auto F, class... A> struct Entry<F, void (*)(A...)> {
  static void run(void** p) { invoke(F, p, std::index_sequence_for<A...>{}); }
  static size_t pack(void** p, unsigned char* out, size_t* offsets) {
    size_t off = 0, i = 0;
    ((off = (off + alignof(bare<A>) - 1) / alignof(bare<A>) * alignof(bare<A>),
      out ? (std::memcpy(out + off, p[i], sizeof(bare<A>)), offsets[i] = off, 0) : 0, off += sizeof(bare<A>), ++i),
     ...);
    return off;
  }
  static constexpr int nparams = sizeof...(A);
};
struct Registrar {
  Registrar(const char* n, ThreadFn r, PackFn p, int np) { register_kernel(n, r, p, np); }
};
}  // namespace emu

#define EMU_KERNEL(fn)                                                                              \
  static emu::Registrar emu_entry_##fn(#fn, &emu::Entry<&fn, decltype(&fn)>::run,                   \
                                       &emu::Entry<&fn, decltype(&fn)>::pack,                       \
                                       emu::Entry<&fn, decltype(&fn)>::nparams);
#define EMU_STR2(x) #x
#define EMU_STR(x) EMU_STR2(x)
#define EMU_SITE __FILE__ ":" EMU_STR(__LINE__)
#define EMU_SHARED(name) emu::shared_decl((void*)&(name), sizeof(name), #name)

#define threadIdx (emu::g_thread->tid)
#define blockIdx (emu::g_block.bid)
#define blockDim (emu::g_block.bdim)
#define gridDim (emu::g_block.gdim)
#define warpSize 32

// ---- synchronization and warp collectives ----
#define __syncthreads() emu::syncthreads(EMU_SITE)
#define __syncwarp(...) emu::syncwarp_(EMU_SITE, ##__VA_ARGS__)
namespace emu {
inline void syncwarp_(const char* site, unsigned mask = 0xffffffffu) { syncwarp(mask, site); }
template <class T> inline T shfl(unsigned mask, T v, int src_of_lane, const char* site) {
  static_assert(sizeof(T) <= 8, "a shuffled value is at most 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  const uint64_t* s = exchange(b, mask, site);
  const uint64_t r64 = slot_of(s, src_of_lane, site);
  T r;
  std::memcpy(&r, &r64, sizeof(T));
  return r;
}
}  // namespace emu
#define __shfl_xor_sync(mask, v, m, ...) emu::shfl_xor_(EMU_SITE, mask, v, m, ##__VA_ARGS__)
#define __shfl_sync(mask, v, src, ...) emu::shfl_idx_(EMU_SITE, mask, v, src, ##__VA_ARGS__)
#define __ballot_sync(mask, pred) emu::ballot_(EMU_SITE, mask, pred)
namespace emu {
template <class T> inline T shfl_xor_(const char* site, unsigned mask, T v, int m, int width = 32) {
  const int l = g_thread->lane;
  return shfl(mask, v, (l & ~(width - 1)) | ((l ^ m) & (width - 1)), site);
}
template <class T> inline T shfl_idx_(const char* site, unsigned mask, T v, int src, int width = 32) {
  const int l = g_thread->lane;
  return shfl(mask, v, (l & ~(width - 1)) | (src & (width - 1)), site);
}
inline unsigned ballot_(const char* site, unsigned mask, int pred) {
  const uint64_t* s = exchange(pred ? 1 : 0, mask, site);
  unsigned r = 0;
  for (int i = 0; i < 32; ++i)
    if ((mask >> i & 1) && !lane_exited(i)) r |= (unsigned)(s[i] & 1) << i;
  return r;
}
}  // namespace emu
inline int __popc(unsigned x) { return __builtin_popcount(x); }

// ---- math ----
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

// ---- sm_80's cp.async, reached through the generator's rewrite of `asm volatile(...)` ----
// __cvta_generic_to_shared gives a 32-bit handle of a shared address (valid in the running block).
unsigned emu_cvta_generic_to_shared(const void* p);
#define __cvta_generic_to_shared(p) emu_cvta_generic_to_shared(p)
// One `asm volatile("TEMPLATE" :: inputs...)`: the template names the instruction (cp.async.cg/ca,
// commit_group, wait_group N, wait_all); anything else stops the kernel with an error.
void emu_asm(const char* tmpl, ...);

#include <cuda_fp16.h>
#include <mma.h>
