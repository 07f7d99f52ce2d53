#line 1 "layernorm.cu"
// layernorm.cu: LayerNorm with a fused residual add, f16 in and out, f32 math.
//
// Reference (crates/roberta-gpu/src/reference.rs, `layer_norm`): for each row, x = a + r (r optional),
//   mean = Σx/H, var = Σ(x−mean)²/H (biased, as torch), out = (x−mean)/√(var+eps)·gamma + beta.
// Constraints (checked by the launcher): H % 8 == 0, H ≤ 32·8·LN_MAXV = 1024. `out` may alias `a`
// (each warp holds its whole row in registers before writing).
//
// Versions:
//   1: one warp per row, 4 rows per block of 128; the row sits in registers (≤ 4 vectors of 8 halves
//      per lane), two-pass mean/variance from registers (no E[x²]−E[x]² cancellation): common.cuh's
//      warp_layer_norm_store, shared with embeddings.cu.

constexpr int LN_MAXV = 4;

extern "C" __global__ void __launch_bounds__(128)
    layernorm1(const __half* a, const __half* __restrict__ r, const __half* __restrict__ gamma,
               const __half* __restrict__ beta, __half* out, int rows, int H, float eps) {
    const int row = blockIdx.x * 4 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    const __half* ar = a + (size_t)row * H;
    const int nv = H / 8;
    float x[LN_MAXV][8];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < LN_MAXV; ++i) {
        const int v = lane + 32 * i;
        if (v < nv) {
            load8(ar + v * 8, x[i]);
            if (r != nullptr) {
                float t[8];
                load8(r + (size_t)row * H + v * 8, t);
#pragma unroll
                for (int k = 0; k < 8; ++k) x[i][k] += t[k];
            }
#pragma unroll
            for (int k = 0; k < 8; ++k) sum += x[i][k];
        }
    }
    warp_layer_norm_store<LN_MAXV>(x, sum, H, lane, gamma, beta, eps, out + (size_t)row * H);
}
