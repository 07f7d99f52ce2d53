#line 1 "embeddings.cu"
// embeddings.cu: RoBERTa's embeddings in one kernel, and the pack / unpack of padded batches.
//
// Reference (crates/roberta-gpu/src/reference.rs, `embeddings`, `pack`, `unpack`):
//   position of token t of a sequence = pad + (number of non-pad ids among its tokens 0..=t) if
//   ids[t] != pad, else pad (HF's create_position_ids_from_input_ids: padding_idx + cumsum(mask)·mask);
//   with pad = -1 (no id is -1) that is t, BERT's position;
//   x = word[id] + pos[position] + type[type_id or 0];  out = LayerNorm(x)·gamma + beta (f32 math).
//   Ids and positions are clamped into their tables (never an out-of-bounds read).
//   pack: packed[off[b]+t] = padded[b·T+t] for t < len_b; unpack: the inverse, padding rows zeroed.
// Constraints: H % 8 == 0, H ≤ 1024.
//
// Versions:
//   1: one warp per token, 4 tokens per block, grid (ceil(max_len/4), batch); the position is a ballot
//      count over the sequence's ids up to the token (≤ 16 rounds for 512), then gather + LayerNorm as
//      layernorm.cu's version 1 (common.cuh's warp_layer_norm_store).

constexpr int EMB_MAXV = 4;

extern "C" __global__ void __launch_bounds__(128)
    embeddings1(const int* __restrict__ ids, const int* __restrict__ type_ids, const int* __restrict__ off,
                const __half* __restrict__ word, const __half* __restrict__ pos, const __half* __restrict__ type,
                const __half* __restrict__ gamma, const __half* __restrict__ beta, __half* __restrict__ out,
                int H, int vocab, int max_pos, int type_vocab, int pad, float eps) {
    const int b = blockIdx.y, t = blockIdx.x * 4 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    const int base = off[b], len = off[b + 1] - base;
    if (t >= len) return;
    const int* sid = ids + base;
    int count = 0;
    for (int j0 = 0; j0 <= t; j0 += 32) {
        const int j = j0 + lane;
        const bool real = j <= t && sid[j] != pad;
        count += __popc(__ballot_sync(0xffffffffu, real));
    }
    const int id = sid[t];
    int p = id != pad ? pad + count : pad;
    p = min(max(p, 0), max_pos - 1);
    const int wid = min(max(id, 0), vocab - 1);
    const int tid = type_ids == nullptr ? 0 : min(max(type_ids[base + t], 0), type_vocab - 1);

    const int nv = H / 8;
    float x[EMB_MAXV][8];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < EMB_MAXV; ++i) {
        const int v = lane + 32 * i;
        if (v < nv) {
            float w[8], q[8], y[8];
            load8(word + (size_t)wid * H + v * 8, w);
            load8(pos + (size_t)p * H + v * 8, q);
            load8(type + (size_t)tid * H + v * 8, y);
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                x[i][k] = w[k] + q[k] + y[k];
                sum += x[i][k];
            }
        }
    }
    warp_layer_norm_store<EMB_MAXV>(x, sum, H, lane, gamma, beta, eps, out + (size_t)(base + t) * H);
}

// grid (T, batch), block 128: copies row (b, t) of a padded [batch·T, H] into the packed [tokens, H].
extern "C" __global__ void __launch_bounds__(128)
    pack1(const __half* __restrict__ padded, const int* __restrict__ off, __half* __restrict__ packed, int T, int H) {
    const int b = blockIdx.y, t = blockIdx.x;
    const int base = off[b], len = off[b + 1] - base;
    if (t >= len) return;
    const half8* src = reinterpret_cast<const half8*>(padded + ((size_t)b * T + t) * H);
    half8* dst = reinterpret_cast<half8*>(packed + (size_t)(base + t) * H);
    for (int v = threadIdx.x; v < H / 8; v += blockDim.x) dst[v] = src[v];
}

// grid (T, batch), block 128: the inverse of pack1; rows t ≥ len_b become zeros.
extern "C" __global__ void __launch_bounds__(128)
    unpack1(const __half* __restrict__ packed, const int* __restrict__ off, __half* __restrict__ padded, int T, int H) {
    const int b = blockIdx.y, t = blockIdx.x;
    const int base = off[b], len = off[b + 1] - base;
    half8* dst = reinterpret_cast<half8*>(padded + ((size_t)b * T + t) * H);
    if (t < len) {
        const half8* src = reinterpret_cast<const half8*>(packed + (size_t)(base + t) * H);
        for (int v = threadIdx.x; v < H / 8; v += blockDim.x) dst[v] = src[v];
    } else {
        half8 z;
        z.h[0] = z.h[1] = z.h[2] = z.h[3] = __float2half2_rn(0.0f);
        for (int v = threadIdx.x; v < H / 8; v += blockDim.x) dst[v] = z;
    }
}
