// common.cuh: helpers shared by every kernel file. The roberta-gpu crate prepends this file to each
// kernels/*.cu source before NVRTC compiles it (each .cu starts with `#line 1 "<file>"` so logs keep
// their own line numbers); no file #includes it.
//
// Needs cuda_fp16.h and mma.h on NVRTC's include path (the PyPI wheels nvidia-cuda-runtime-cu12 and
// nvidia-cuda-nvcc-cu12, or a toolkit's include/).
#pragma once
#include <cuda_fp16.h>
#include <mma.h>

#define ROBERTA_DEVICE __device__ __forceinline__
#define ROBERTA_INF __int_as_float(0x7f800000)

// Eight halves moved as one 16-byte vector.
struct __align__(16) half8 {
    __half2 h[4];
};

ROBERTA_DEVICE float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

ROBERTA_DEVICE float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Loads 8 halves into f32.
ROBERTA_DEVICE void load8(const __half* p, float (&f)[8]) {
    half8 v = *reinterpret_cast<const half8*>(p);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float2 t = __half22float2(v.h[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}

// Stores 8 f32 values as halves (round to nearest).
ROBERTA_DEVICE void store8(__half* p, const float (&f)[8]) {
    half8 v;
#pragma unroll
    for (int i = 0; i < 4; ++i) v.h[i] = __floats2half2_rn(f[2 * i], f[2 * i + 1]);
    *reinterpret_cast<half8*>(p) = v;
}

// The second half of a one-warp-per-row LayerNorm (layernorm.cu, embeddings.cu): the row is in registers,
// x[i] = vector lane + 32·i of the row (8 values; H/8 vectors in all), `sum` this lane's part of Σx.
// Two-pass mean and variance in f32 from the registers (biased, as torch; no E[x²]−E[x]² cancellation),
// then orow = (x − mean)/√(var + eps)·gamma + beta, stored as halves. orow may alias the row's source.
template <int MAXV>
ROBERTA_DEVICE void warp_layer_norm_store(const float (&x)[MAXV][8], float sum, int H, int lane,
                                          const __half* __restrict__ gamma, const __half* __restrict__ beta,
                                          float eps, __half* orow) {
    const int nv = H / 8;
    const float mean = warp_sum(sum) / (float)H;
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < MAXV; ++i) {
        if (lane + 32 * i < nv) {
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                const float d = x[i][k] - mean;
                sq += d * d;
            }
        }
    }
    const float rstd = rsqrtf(warp_sum(sq) / (float)H + eps);
#pragma unroll
    for (int i = 0; i < MAXV; ++i) {
        const int v = lane + 32 * i;
        if (v < nv) {
            float g[8], bt[8], y[8];
            load8(gamma + v * 8, g);
            load8(beta + v * 8, bt);
#pragma unroll
            for (int k = 0; k < 8; ++k) y[k] = (x[i][k] - mean) * rstd * g[k] + bt[k];
            store8(orow + v * 8, y);
        }
    }
}

// Exact erf GELU, as HF's "gelu": 0.5·x·(1 + erf(x/√2)).
ROBERTA_DEVICE float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
