#line 1 "gemm.cu"
// gemm.cu: C[M,N] = A[M,K] · Wᵀ (+ epilogue), f16 in and out, f32 accumulation on tensor cores (WMMA
// 16×16×16, sm_70 and later). W is a PyTorch Linear weight [N,K] row-major, read as a col-major K×N
// operand. The Q, K, V projections are one such GEMM with N = 3·hidden (weights concatenated).
//
// Reference (crates/roberta-gpu/src/reference.rs, `gemm`): c[m][n] = epi(Σ_k a[m][k]·w[n][k] + bias[n]),
//   epi = identity (EPI_BIAS), erf GELU (EPI_GELU), or + residual[m][n] (EPI_RESIDUAL); bias may be null.
// Constraints (checked by the launcher): K % 8 == 0, N % 8 == 0 (16-byte vectors); any M ≥ 1. Loads past
// M or K are zero-filled, stores past M skipped, so M needs no padding.
//
// Versions (entry points `gemm<v>_<BM>x<BN>_<epi>`; Rust picks one through `GemmVersion`):
//   1: BM×BN×32 block tile, 8 (128×128) or 4 (64×64) warps, each a 64×32 / 32×32 warp tile of WMMA
//      fragments; global → registers → shared memory, double buffered (the next tile's loads are in
//      flight while the current one is multiplied); one __syncthreads per k-step.
//   2: like 1, but the staging is sm_80's cp.async (global → shared without registers, zero-fill for
//      the tails); built for every arch, on sm_70/75 it falls back to 1's synchronous path.
// Shared memory rows are padded by 8 halves (stride 80 B) and each quarter-warp stores rows r and r+4,
// so both the 16-byte stores and the WMMA (ldmatrix) loads touch 8 distinct 16-byte bank groups.
// The epilogue goes through a per-warp 16×20 f32 scratch (aliasing the operand tiles) for row/col indices.

using namespace nvcuda;

#define EPI_BIAS 0
#define EPI_GELU 1
#define EPI_RESIDUAL 2

constexpr int GEMM_BK = 32;
constexpr int GEMM_LDS = GEMM_BK + 8;  // halves per shared row
constexpr int GEMM_SCR = 20;           // f32 per epilogue scratch row

// Copies a ROWS×32 tile (rows row0.., cols k0..) of a [nrows, K] row-major matrix into shared memory.
// Vector v of the tile (8 halves): group g = v/32 of 8 rows; within it lane j → row 4·(j%8/4)+j/8, col j%4.
template <int ROWS, int THREADS, bool ASYNC>
ROBERTA_DEVICE void gemm_load_tile(__half* s, const __half* g, int row0, int nrows, int k0, int K, int tid) {
#pragma unroll
    for (int i = 0; i < ROWS * 4 / THREADS; ++i) {
        const int v = tid + i * THREADS;
        const int j = v & 31;
        const int r = (v >> 5) * 8 + (j >> 3) + 4 * ((j & 7) >> 2);
        const int c = (j & 3) * 8;
        const int gr = row0 + r, gk = k0 + c;
        const bool ok = gr < nrows && gk < K;  // K % 8 == 0: a vector is all in or all out
        __half* dst = s + r * GEMM_LDS + c;
        const __half* src = g + (size_t)(ok ? gr : 0) * K + (ok ? gk : 0);
#if __CUDA_ARCH__ >= 800
        if (ASYNC) {
            const unsigned sa = (unsigned)__cvta_generic_to_shared(dst);
            const int n = ok ? 16 : 0;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(src), "r"(n));
            continue;
        }
#endif
        half8 val;
        if (ok) {
            val = *reinterpret_cast<const half8*>(src);
        } else {
            val.h[0] = val.h[1] = val.h[2] = val.h[3] = __float2half2_rn(0.0f);
        }
        *reinterpret_cast<half8*>(dst) = val;
    }
}

ROBERTA_DEVICE void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N>
ROBERTA_DEVICE void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

template <int BM, int BN, int WARPS_M, int WARPS_N, int EPI, bool ASYNC_REQ>
ROBERTA_DEVICE void gemm_body(const __half* __restrict__ A, const __half* __restrict__ W,
                              const __half* __restrict__ bias, const __half* __restrict__ residual,
                              __half* __restrict__ C, int M, int N, int K) {
#if __CUDA_ARCH__ >= 800
    constexpr bool ASYNC = ASYNC_REQ;
#else
    constexpr bool ASYNC = false;
#endif
    constexpr int THREADS = WARPS_M * WARPS_N * 32;
    constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // warp tile
    constexpr int FM = WM / 16, FN = WN / 16;            // fragments per warp
    constexpr int STAGE = (BM + BN) * GEMM_LDS;          // halves per stage
    __shared__ __align__(128) __half smem[2 * STAGE];
    static_assert(WARPS_M * WARPS_N * 16 * GEMM_SCR * 4 <= 2 * STAGE * 2, "scratch fits");

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wm = warp / WARPS_N, wn = warp % WARPS_N;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    const int nk = (K + GEMM_BK - 1) / GEMM_BK;
    // stage 0
    gemm_load_tile<BM, THREADS, ASYNC>(smem, A, m0, M, 0, K, tid);
    gemm_load_tile<BN, THREADS, ASYNC>(smem + BM * GEMM_LDS, W, n0, N, 0, K, tid);
    cp_async_commit();
    if (!ASYNC) __syncthreads();

    for (int kt = 0; kt < nk; ++kt) {
        __half* cur = smem + (kt & 1) * STAGE;
        __half* nxt = smem + ((kt + 1) & 1) * STAGE;
        const bool more = kt + 1 < nk;
        if (ASYNC) {
            if (more) {
                gemm_load_tile<BM, THREADS, true>(nxt, A, m0, M, (kt + 1) * GEMM_BK, K, tid);
                gemm_load_tile<BN, THREADS, true>(nxt + BM * GEMM_LDS, W, n0, N, (kt + 1) * GEMM_BK, K, tid);
                cp_async_commit();
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
            __syncthreads();
        }
        // Version 1: the next tile's global loads are issued into registers before the MMAs below.
        half8 ra[BM * 4 / THREADS], rb[BN * 4 / THREADS];
        if (!ASYNC && more) {
            const int k0 = (kt + 1) * GEMM_BK;
#pragma unroll
            for (int i = 0; i < BM * 4 / THREADS; ++i) {
                const int v = tid + i * THREADS, j = v & 31;
                const int r = (v >> 5) * 8 + (j >> 3) + 4 * ((j & 7) >> 2), c = (j & 3) * 8;
                const bool ok = m0 + r < M && k0 + c < K;
                if (ok) ra[i] = *reinterpret_cast<const half8*>(A + (size_t)(m0 + r) * K + k0 + c);
                else ra[i].h[0] = ra[i].h[1] = ra[i].h[2] = ra[i].h[3] = __float2half2_rn(0.0f);
            }
#pragma unroll
            for (int i = 0; i < BN * 4 / THREADS; ++i) {
                const int v = tid + i * THREADS, j = v & 31;
                const int r = (v >> 5) * 8 + (j >> 3) + 4 * ((j & 7) >> 2), c = (j & 3) * 8;
                const bool ok = n0 + r < N && k0 + c < K;
                if (ok) rb[i] = *reinterpret_cast<const half8*>(W + (size_t)(n0 + r) * K + k0 + c);
                else rb[i].h[0] = rb[i].h[1] = rb[i].h[2] = rb[i].h[3] = __float2half2_rn(0.0f);
            }
        }
        const __half* sa = cur + (wm * WM) * GEMM_LDS;
        const __half* sb = cur + BM * GEMM_LDS + (wn * WN) * GEMM_LDS;
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[FN];
#pragma unroll
            for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(fa[i], sa + i * 16 * GEMM_LDS + kk, GEMM_LDS);
#pragma unroll
            for (int j = 0; j < FN; ++j) wmma::load_matrix_sync(fb[j], sb + j * 16 * GEMM_LDS + kk, GEMM_LDS);
#pragma unroll
            for (int i = 0; i < FM; ++i)
#pragma unroll
                for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        if (!ASYNC && more) {
#pragma unroll
            for (int i = 0; i < BM * 4 / THREADS; ++i) {
                const int v = tid + i * THREADS, j = v & 31;
                const int r = (v >> 5) * 8 + (j >> 3) + 4 * ((j & 7) >> 2), c = (j & 3) * 8;
                *reinterpret_cast<half8*>(nxt + r * GEMM_LDS + c) = ra[i];
            }
#pragma unroll
            for (int i = 0; i < BN * 4 / THREADS; ++i) {
                const int v = tid + i * THREADS, j = v & 31;
                const int r = (v >> 5) * 8 + (j >> 3) + 4 * ((j & 7) >> 2), c = (j & 3) * 8;
                *reinterpret_cast<half8*>(nxt + BM * GEMM_LDS + r * GEMM_LDS + c) = rb[i];
            }
        }
        __syncthreads();
    }

    // Epilogue: one fragment at a time through the warp's f32 scratch; lane → row lane/2, 8 columns.
    float* scr = reinterpret_cast<float*>(smem) + warp * 16 * GEMM_SCR;
    const int er = lane >> 1, ec = (lane & 1) * 8;
#pragma unroll
    for (int i = 0; i < FM; ++i) {
#pragma unroll
        for (int j = 0; j < FN; ++j) {
            wmma::store_matrix_sync(scr, acc[i][j], GEMM_SCR, wmma::mem_row_major);
            __syncwarp();
            const int m = m0 + wm * WM + i * 16 + er;
            const int n = n0 + wn * WN + j * 16 + ec;
            if (m < M && n < N) {
                float v[8];
#pragma unroll
                for (int t = 0; t < 8; ++t) v[t] = scr[er * GEMM_SCR + ec + t];
                if (bias != nullptr) {
                    float b[8];
                    load8(bias + n, b);
#pragma unroll
                    for (int t = 0; t < 8; ++t) v[t] += b[t];
                }
                if (EPI == EPI_GELU) {
#pragma unroll
                    for (int t = 0; t < 8; ++t) v[t] = gelu_erf(v[t]);
                }
                if (EPI == EPI_RESIDUAL) {
                    float r[8];
                    load8(residual + (size_t)m * N + n, r);
#pragma unroll
                    for (int t = 0; t < 8; ++t) v[t] += r[t];
                }
                store8(C + (size_t)m * N + n, v);
            }
            __syncwarp();
        }
    }
}

#define GEMM_ENTRY(V, BM, BN, WMS, WNS, EPI, NAME, ASYNC)                                                 \
    extern "C" __global__ void __launch_bounds__(WMS * WNS * 32)                                          \
        gemm##V##_##BM##x##BN##_##NAME(const __half* __restrict__ A, const __half* __restrict__ W,         \
                                       const __half* __restrict__ bias, const __half* __restrict__ res,    \
                                       __half* __restrict__ C, int M, int N, int K) {                      \
        gemm_body<BM, BN, WMS, WNS, EPI, ASYNC>(A, W, bias, res, C, M, N, K);                             \
    }

#define GEMM_VERSION(V, ASYNC)                                        \
    GEMM_ENTRY(V, 128, 128, 2, 4, EPI_BIAS, bias, ASYNC)              \
    GEMM_ENTRY(V, 128, 128, 2, 4, EPI_GELU, gelu, ASYNC)              \
    GEMM_ENTRY(V, 128, 128, 2, 4, EPI_RESIDUAL, residual, ASYNC)      \
    GEMM_ENTRY(V, 64, 64, 2, 2, EPI_BIAS, bias, ASYNC)                \
    GEMM_ENTRY(V, 64, 64, 2, 2, EPI_GELU, gelu, ASYNC)                \
    GEMM_ENTRY(V, 64, 64, 2, 2, EPI_RESIDUAL, residual, ASYNC)

GEMM_VERSION(1, false)
GEMM_VERSION(2, true)
