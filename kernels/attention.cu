#line 1 "attention.cu"
// attention.cu: multi-head self-attention for head dim 64 (RoBERTa-base), 32 or 16 over padding-free (varlen)
// batches.
//
// Reference (crates/roberta-gpu/src/reference.rs, `attention`): for sequence b (packed rows
// off[b]..off[b+1]), head h, query i, key j < len:
//   s[i][j] = scale · q_i·k_j   (q, k, v: columns h·D.. of the Q, K, V thirds of the fused QKV row)
//   masked keys (key_mask[off+j] == 0, when a mask is given) are left out of the softmax;
//   out[i] = Σ_j softmax(s[i])[j] · v_j, written at columns h·D.. of the merged-heads [tokens, hidden]
//   output the next GEMM reads; a query whose keys are all masked gets zeros (never NaN).
// Padded batches run through the same kernel: offsets b·T and the padding mask.
//
// Versions:
//   1: one block of 4 warps per (query tile of 64, head, sequence); each warp owns 16 query rows, keeps
//      its Q fragments in registers, walks the keys in tiles of 64 (K and V tiles staged in shared
//      memory, tails zero-filled): S = Q·Kᵀ on tensor cores (WMMA) → f32 scratch → online softmax in
//      f32 (running max and sum, exp2) → P as f16 in the warp's (now free) Q rows → P·V on tensor cores
//      → rescaled f32 accumulator in registers (lane: row lane%16, D/2 columns). 45 KB static shared (D=64).
//      Templated on the head dim D ∈ {64, 32, 16} (entry points attention1, attention1_d32, attention1_d16):
//      K/V rows are D+8 halves; the Q/P rows keep 64+8 halves, as P is always 16 × 64 keys per warp.
//   0 (baseline for the bench, not the model): `softmax_rows`, a masked row softmax (f32 math) over f16
//      scores [rows, T] written by cuBLAS; the unfused path is GEMM + softmax_rows + GEMM.

using namespace nvcuda;

constexpr int ATT_BQ = 64;      // query rows per block (4 warps × 16)
constexpr int ATT_BK = 64;      // keys per tile
constexpr int ATT_PLD = 64 + 8; // halves per Q/P shared row (144 B: 8 rows hit 8 distinct bank groups)
constexpr int ATT_SLD = 64 + 4; // f32 per scratch row

// Copies 64 rows (row0.., clipped to n) × D halves at column col of a row-major [*, ld] matrix into
// shared rows of SLD halves; rows past n are zero. 128 threads × D/16 vectors of 8 halves.
template <int D, int SLD>
ROBERTA_DEVICE void att_load_tile(__half* s, const __half* g, size_t ld, int row0, int n, int col, int tid) {
    constexpr int VPR = D / 8;  // vectors per row
#pragma unroll
    for (int i = 0; i < D / 16; ++i) {
        const int v = tid + i * 128, r = v / VPR, c = (v % VPR) * 8;
        half8 val;
        if (row0 + r < n) {
            val = *reinterpret_cast<const half8*>(g + (size_t)(row0 + r) * ld + col + c);
        } else {
            val.h[0] = val.h[1] = val.h[2] = val.h[3] = __float2half2_rn(0.0f);
        }
        *reinterpret_cast<half8*>(s + r * SLD + c) = val;
    }
}

// grid (ceil(max_len/64), heads, batch), block 128. qkv: [tokens, 3·heads·D]; out: [tokens, heads·D];
// off: [batch+1] prefix sums of lengths; key_mask: [tokens] or null.
template <int ATT_D>
ROBERTA_DEVICE void attention_body(const __half* __restrict__ qkv, __half* __restrict__ out,
                                   const int* __restrict__ off, const unsigned char* __restrict__ key_mask,
                                   int heads, float scale) {
    static_assert(ATT_D % 16 == 0 && ATT_D <= 64, "head dim: a multiple of 16 up to 64");
    constexpr int ATT_LD = ATT_D + 8;  // halves per K/V shared row
    constexpr int HALF = ATT_D / 2;    // output columns per lane
    __shared__ __align__(128) __half qp_s[ATT_BQ * ATT_PLD];  // Q tile, then each warp's P
    __shared__ __align__(128) __half k_s[ATT_BK * ATT_LD];
    __shared__ __align__(128) __half v_s[ATT_BK * ATT_LD];
    __shared__ __align__(128) float s_s[4 * 16 * ATT_SLD];   // per-warp S and P·V scratch

    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ATT_BQ;
    const int base = off[b], len = off[b + 1] - base;
    if (q0 >= len) return;
    const int hidden = heads * ATT_D;
    const size_t ld = 3 * (size_t)hidden;
    const __half* seq = qkv + (size_t)base * ld;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

    att_load_tile<ATT_D, ATT_PLD>(qp_s, seq, ld, q0, len, h * ATT_D, tid);
    __syncthreads();
    __half* p_w = qp_s + warp * 16 * ATT_PLD;
    float* s_w = s_s + warp * 16 * ATT_SLD;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> qf[ATT_D / 16];
#pragma unroll
    for (int kk = 0; kk < ATT_D / 16; ++kk) wmma::load_matrix_sync(qf[kk], p_w + kk * 16, ATT_PLD);
    __syncwarp();

    const int row = lane & 15, half_ = lane >> 4;  // this lane: query row (keys and columns: its half)
    const float sl2 = scale * 1.4426950408889634f;  // exp(x) = exp2(x·log2 e)
    float o[HALF];
#pragma unroll
    for (int c = 0; c < HALF; ++c) o[c] = 0.0f;
    float m = -ROBERTA_INF, l = 0.0f;

    for (int k0 = 0; k0 < len; k0 += ATT_BK) {
        __syncthreads();  // every warp is done with the previous K, V tiles
        att_load_tile<ATT_D, ATT_LD>(k_s, seq, ld, k0, len, hidden + h * ATT_D, tid);
        att_load_tile<ATT_D, ATT_LD>(v_s, seq, ld, k0, len, 2 * hidden + h * ATT_D, tid);
        __syncthreads();

        // S = Q · Kᵀ (16 × 64), f32, into the warp's scratch.
#pragma unroll
        for (int j = 0; j < ATT_BK / 16; ++j) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < ATT_D / 16; ++kk) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> kf;
                wmma::load_matrix_sync(kf, k_s + j * 16 * ATT_LD + kk * 16, ATT_LD);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(s_w + j * 16, acc, ATT_SLD, wmma::mem_row_major);
        }
        __syncwarp();

        // Online softmax in f32 (base 2); masked and out-of-range keys are -inf.
        float s[32];
        float tmax = -ROBERTA_INF;
#pragma unroll
        for (int c = 0; c < 32; ++c) {
            const int j = k0 + half_ * 32 + c;
            const bool ok = j < len && (key_mask == nullptr || key_mask[base + j] != 0);
            s[c] = ok ? s_w[row * ATT_SLD + half_ * 32 + c] * sl2 : -ROBERTA_INF;
            tmax = fmaxf(tmax, s[c]);
        }
        tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 16));
        const float m_new = fmaxf(m, tmax);
        // All keys so far masked: keep m = -inf, p = 0 (no exp(-inf - -inf) = NaN).
        const float alpha = (m_new == -ROBERTA_INF) ? 1.0f : exp2f(m - m_new);
        float psum = 0.0f;
#pragma unroll
        for (int c = 0; c < 32; c += 8) {
            float p[8];
#pragma unroll
            for (int t = 0; t < 8; ++t) {
                p[t] = (s[c + t] == -ROBERTA_INF) ? 0.0f : exp2f(s[c + t] - m_new);
                psum += p[t];
            }
            store8(p_w + row * ATT_PLD + half_ * 32 + c, p);
        }
        psum += __shfl_xor_sync(0xffffffffu, psum, 16);
        l = l * alpha + psum;
        m = m_new;
        __syncwarp();

        // P·V (16 × 64) into the scratch, then o = o·alpha + P·V.
#pragma unroll
        for (int j = 0; j < ATT_D / 16; ++j) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < ATT_BK / 16; ++kk) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pf;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vf;
                wmma::load_matrix_sync(pf, p_w + kk * 16, ATT_PLD);
                wmma::load_matrix_sync(vf, v_s + kk * 16 * ATT_LD + j * 16, ATT_LD);
                wmma::mma_sync(acc, pf, vf, acc);
            }
            wmma::store_matrix_sync(s_w + j * 16, acc, ATT_SLD, wmma::mem_row_major);
        }
        __syncwarp();
#pragma unroll
        for (int c = 0; c < HALF; ++c) o[c] = o[c] * alpha + s_w[row * ATT_SLD + half_ * HALF + c];
        __syncwarp();
    }

    const int q = q0 + warp * 16 + row;
    if (q < len) {
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // fully masked row: zeros
        __half* dst = out + (size_t)(base + q) * hidden + h * ATT_D + half_ * HALF;
#pragma unroll
        for (int c = 0; c < HALF; c += 8) {
            float v[8];
#pragma unroll
            for (int t = 0; t < 8; ++t) v[t] = o[c + t] * inv;
            store8(dst + c, v);
        }
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attention1(const __half* __restrict__ qkv, __half* __restrict__ out, const int* __restrict__ off,
               const unsigned char* __restrict__ key_mask, int heads, float scale) {
    attention_body<64>(qkv, out, off, key_mask, heads, scale);
}

// (128, 4): with the plain bound ptxas picks 96 registers for sm_90 and spills; 4 blocks/SM allows 128.
extern "C" __global__ void __launch_bounds__(128, 4)
    attention1_d32(const __half* __restrict__ qkv, __half* __restrict__ out, const int* __restrict__ off,
                   const unsigned char* __restrict__ key_mask, int heads, float scale) {
    attention_body<32>(qkv, out, off, key_mask, heads, scale);
}

extern "C" __global__ void __launch_bounds__(128)
    attention1_d16(const __half* __restrict__ qkv, __half* __restrict__ out, const int* __restrict__ off,
                   const unsigned char* __restrict__ key_mask, int heads, float scale) {
    attention_body<16>(qkv, out, off, key_mask, heads, scale);
}

// Version 0 (bench baseline): in-place masked softmax (f32 math) of f16 score rows [batch·heads·T, T] (row r belongs
// to sequence r / (heads·T)); key_mask [batch, T] or null; a fully masked row becomes zeros. One warp
// per row, block 128.
extern "C" __global__ void __launch_bounds__(128)
    softmax_rows(__half* __restrict__ s, const unsigned char* __restrict__ key_mask, int rows, int T,
                 int heads, float scale) {
    const int r = blockIdx.x * 4 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    const int b = r / (heads * T);
    __half* x = s + (size_t)r * T;
    float mx = -ROBERTA_INF;
    for (int j = lane; j < T; j += 32) {
        const bool ok = key_mask == nullptr || key_mask[(size_t)b * T + j] != 0;
        if (ok) mx = fmaxf(mx, __half2float(x[j]) * scale);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < T; j += 32) {
        const bool ok = key_mask == nullptr || key_mask[(size_t)b * T + j] != 0;
        const float e = ok ? __expf(__half2float(x[j]) * scale - mx) : 0.0f;
        x[j] = __float2half(e);
        sum += e;
    }
    sum = warp_sum(sum);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    // Second pass re-reads the rounded exponentials: good enough for a baseline's timing.
    for (int j = lane; j < T; j += 32) x[j] = __float2half(__half2float(x[j]) * inv);
}
