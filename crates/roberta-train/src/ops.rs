//! The training ops, each forward beside its backward (the llm.c way), f32, row-major, on the CPU: the three GEMM
//! shapes a linear layer needs, LayerNorm (keeping mean and 1/std for the backward), exact-erf GELU, masked
//! softmax attention per head, seeded dropout, embeddings (no gradient for the padding row), and cross-entropy
//! with ignore index -100. Each backward *adds* into its gradient buffers, as autograd accumulates. Every
//! backward is checked against central finite differences of its forward (tests below).
//!
//! A GPU twin of each op would take the same arguments with device buffers (see the "later").
use rayon::prelude::*;
use roberta_encoder::ops::{erf, gelu, gemm_strided};

/// Work below this many multiply-adds runs on one thread.
const PAR_MIN: usize = 1 << 15;

/// `dst[m,n] (+)= a[m,k] · b[n,k]ᵀ` (a linear layer's forward: `x · Wᵀ`).
pub fn matmul_nt(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, n: usize, k: usize, accumulate: bool) {
    assert!(dst.len() == m * n && a.len() == m * k && b.len() == n * k);
    if m == 0 || n == 0 || k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: a is [m,k] (rs k, cs 1), bᵀ is read as [k,n] with rs 1, cs k inside b's n·k, dst [m,n] rs n; the
    // assert checks the three lengths; dst is a &mut distinct from a and b.
    unsafe { gemm_strided(m, n, k, dst.as_mut_ptr(), n as isize, accumulate, a.as_ptr(), k as isize, 1, b.as_ptr(), 1, k as isize, m * n * k >= PAR_MIN) }
}

/// `dst[m,n] (+)= a[m,k] · b[k,n]` (a linear layer's input gradient: `dY · W`).
pub fn matmul_nn(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, n: usize, k: usize, accumulate: bool) {
    assert!(dst.len() == m * n && a.len() == m * k && b.len() == k * n);
    if m == 0 || n == 0 || k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: as matmul_nt, b read as [k,n] with rs n, cs 1.
    unsafe { gemm_strided(m, n, k, dst.as_mut_ptr(), n as isize, accumulate, a.as_ptr(), k as isize, 1, b.as_ptr(), n as isize, 1, m * n * k >= PAR_MIN) }
}

/// `dst[m,n] (+)= a[k,m]ᵀ · b[k,n]` (a linear layer's weight gradient: `dYᵀ · X`).
pub fn matmul_tn(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, n: usize, k: usize, accumulate: bool) {
    assert!(dst.len() == m * n && a.len() == k * m && b.len() == k * n);
    if m == 0 || n == 0 || k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: aᵀ read as [m,k] with rs 1, cs m inside a's k·m elements; b [k,n] rs n.
    unsafe { gemm_strided(m, n, k, dst.as_mut_ptr(), n as isize, accumulate, a.as_ptr(), 1, m as isize, b.as_ptr(), n as isize, 1, m * n * k >= PAR_MIN) }
}

/// A linear layer `y[rows,out] = x[rows,in] · Wᵀ + b` (torch layout `W[out,in]`).
pub fn linear_forward(y: &mut [f32], x: &[f32], w: &[f32], b: &[f32], rows: usize, inp: usize, out: usize) {
    for r in y.chunks_exact_mut(out) {
        r.copy_from_slice(b);
    }
    matmul_nt(y, x, w, rows, out, inp, true);
}

/// Its backward: `dx (+)= dy · W` (when `dx` is given), `dW += dyᵀ · x`, `db += Σ_rows dy`.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    inp: usize,
    out: usize,
    accumulate_dx: bool,
) {
    if let Some(dx) = dx {
        matmul_nn(dx, dy, w, rows, inp, out, accumulate_dx);
    }
    matmul_tn(dw, dy, x, out, inp, rows, true);
    for r in dy.chunks_exact(out) {
        for (g, v) in db.iter_mut().zip(r) {
            *g += v;
        }
    }
}

/// LayerNorm over rows of `width` (biased variance, as torch): writes `y`, and each row's mean and 1/std.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(y: &mut [f32], mean: &mut [f32], rstd: &mut [f32], x: &[f32], g: &[f32], b: &[f32], width: usize, eps: f32) {
    y.par_chunks_mut(width).zip(x.par_chunks(width)).zip(mean.par_iter_mut().zip(rstd.par_iter_mut())).for_each(|((yr, xr), (m, s))| {
        let n = width as f32;
        let mu = xr.iter().sum::<f32>() / n;
        let var = xr.iter().map(|v| (v - mu) * (v - mu)).sum::<f32>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for (((o, &v), &gg), &bb) in yr.iter_mut().zip(xr).zip(g).zip(b) {
            *o = (v - mu) * inv * gg + bb;
        }
        *m = mu;
        *s = inv;
    });
}

/// Its backward: `dx (+)= …`, `dg += Σ dy·x̂`, `db += Σ dy`, from the forward's input, mean and 1/std.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(dx: &mut [f32], dg: &mut [f32], db: &mut [f32], dy: &[f32], x: &[f32], mean: &[f32], rstd: &[f32], g: &[f32], width: usize) {
    let rows = x.len() / width;
    // parameter gradients: per-thread partial sums over row blocks, then added in a fixed order (deterministic)
    let block = rows.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
    let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|blk| {
            let (mut pg, mut pb) = (vec![0.0f32; width], vec![0.0f32; width]);
            for r in blk * block..((blk + 1) * block).min(rows) {
                let (xr, dyr) = (&x[r * width..(r + 1) * width], &dy[r * width..(r + 1) * width]);
                for i in 0..width {
                    let xh = (xr[i] - mean[r]) * rstd[r];
                    pg[i] += dyr[i] * xh;
                    pb[i] += dyr[i];
                }
            }
            (pg, pb)
        })
        .collect();
    for (pg, pb) in parts {
        for i in 0..width {
            dg[i] += pg[i];
            db[i] += pb[i];
        }
    }
    dx.par_chunks_mut(width).enumerate().for_each(|(r, dxr)| {
        let (xr, dyr) = (&x[r * width..(r + 1) * width], &dy[r * width..(r + 1) * width]);
        let (mu, inv) = (mean[r], rstd[r]);
        let n = width as f32;
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for i in 0..width {
            let dxh = dyr[i] * g[i];
            s1 += dxh;
            s2 += dxh * (xr[i] - mu) * inv;
        }
        for i in 0..width {
            let xh = (xr[i] - mu) * inv;
            dxr[i] += inv * (dyr[i] * g[i] - s1 / n - xh * s2 / n);
        }
    });
}

/// Exact GELU, `x/2 · (1 + erf(x/√2))`, elementwise (the encoder's own function).
pub fn gelu_forward(y: &mut [f32], x: &[f32]) {
    y.par_iter_mut().zip(x.par_iter()).for_each(|(o, &v)| *o = gelu(v));
}

/// Its backward: `dx (+)= dy · (Φ(x) + x·φ(x))`.
pub fn gelu_backward(dx: &mut [f32], dy: &[f32], x: &[f32]) {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    dx.par_iter_mut().zip(dy.par_iter().zip(x.par_iter())).for_each(|(d, (&g, &v))| {
        let cdf = 0.5 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = INV_SQRT_2PI * (-0.5 * v * v).exp();
        *d += g * (cdf + v * pdf);
    });
}

/// A counter-based uniform in [0, 1) from (seed, stream, index): the same mask whatever the thread count.
#[inline]
pub fn uniform(seed: u64, stream: u64, index: u64) -> f32 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// Inverted dropout in place with probability `p`: each value kept with probability 1−p and scaled by 1/(1−p),
/// as torch's; `mask` gets the scale of each value (0 or 1/(1−p)) for the backward. `p` 0 keeps everything.
pub fn dropout_forward(x: &mut [f32], mask: &mut Vec<f32>, p: f32, seed: u64, stream: u64) {
    mask.clear();
    if p <= 0.0 {
        return;
    }
    let scale = 1.0 / (1.0 - p);
    mask.resize(x.len(), 0.0);
    x.par_iter_mut().zip(mask.par_iter_mut()).enumerate().for_each(|(i, (v, m))| {
        *m = if uniform(seed, stream, i as u64) < p { 0.0 } else { scale };
        *v *= *m;
    });
}

/// Its backward, in place on the gradient: `dx = dy · mask` (nothing when the forward kept everything).
pub fn dropout_backward(d: &mut [f32], mask: &[f32]) {
    if mask.is_empty() {
        return;
    }
    d.par_iter_mut().zip(mask.par_iter()).for_each(|(g, m)| *g *= m);
}

/// Shapes of one attention call: `batch` sequences of `seq` positions, `heads` heads of `head_dim`.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl AttnShape {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// Masked softmax attention from the fused `qkv[batch·seq, 3·hidden]` (Q, K, V side by side, each head's
/// columns contiguous): `ctx[batch·seq, hidden]`; `probs[batch, heads, seq, seq]` gets the softmax (before
/// dropout); padded keys (`key_mask` 0) get HF's additive `finfo(f32).min`. Dropout on the probabilities with
/// `p` (its mask into `drop`, `batch·heads·seq·seq` scales).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(ctx: &mut [f32], probs: &mut [f32], drop: &mut Vec<f32>, qkv: &[f32], key_mask: &[u32], s: AttnShape, p: f32, seed: u64, stream: u64) {
    let (t, d, h) = (s.seq, s.head_dim, s.hidden());
    let scale = 1.0 / (d as f32).sqrt();
    let scales = 1.0 / (1.0 - p);
    drop.clear();
    if p > 0.0 {
        drop.resize(s.batch * s.heads * t * t, 0.0);
    }
    let heads = s.heads;
    let has_drop = p > 0.0;
    // one task per (sequence, head): its probabilities are a contiguous block
    let drop_ptr = SendPtr(drop.as_mut_ptr());
    let ctx_ptr = SendPtr(ctx.as_mut_ptr());
    probs.par_chunks_mut(t * t).enumerate().for_each(|(bh, pr)| {
        let (b, hd) = (bh / heads, bh % heads);
        let base = b * t * 3 * h;
        let (q, k, v) = (base + hd * d, base + h + hd * d, base + 2 * h + hd * d);
        // scores = Q·Kᵀ·scale
        // SAFETY: Q and K are [t, d] views with row stride 3h inside qkv; pr is this task's [t, t] block.
        unsafe {
            gemm_strided(t, t, d, pr.as_mut_ptr(), t as isize, false, qkv.as_ptr().add(q), (3 * h) as isize, 1, qkv.as_ptr().add(k), 1, (3 * h) as isize, false);
        }
        for i in 0..t {
            let row = &mut pr[i * t..(i + 1) * t];
            for (j, x) in row.iter_mut().enumerate() {
                *x = *x * scale + if key_mask[b * t + j] == 0 { f32::MIN } else { 0.0 };
            }
            let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for x in row.iter_mut() {
                *x = (*x - mx).exp();
                sum += *x;
            }
            for x in row.iter_mut() {
                *x /= sum;
            }
        }
        // the dropped probabilities feed V
        let mut dropped;
        let used: &[f32] = if has_drop {
            // SAFETY: each task writes only its own [t·t] block of drop.
            let dm = unsafe { std::slice::from_raw_parts_mut(drop_ptr.get().add(bh * t * t), t * t) };
            dropped = pr.to_vec();
            for (i, (x, m)) in dropped.iter_mut().zip(dm.iter_mut()).enumerate() {
                *m = if uniform(seed, stream, (bh * t * t + i) as u64) < p { 0.0 } else { scales };
                *x *= *m;
            }
            &dropped
        } else {
            pr
        };
        // ctx[b, :, head] = P · V
        // SAFETY: this task writes only rows b·t.. of ctx at its head's columns (disjoint across tasks); V is a
        // [t, d] view with row stride 3h.
        unsafe {
            gemm_strided(t, d, t, ctx_ptr.get().add(b * t * h + hd * d), h as isize, false, used.as_ptr(), t as isize, 1, qkv.as_ptr().add(v), (3 * h) as isize, 1, false);
        }
    });
}

/// Its backward: `dqkv (+)= …` from `dctx`, the forward's `probs` (before dropout), dropout mask and `qkv`.
pub fn attention_backward(dqkv: &mut [f32], dctx: &[f32], probs: &[f32], drop: &[f32], qkv: &[f32], s: AttnShape) {
    let (t, d, h) = (s.seq, s.head_dim, s.hidden());
    let scale = 1.0 / (d as f32).sqrt();
    let heads = s.heads;
    let dq_ptr = SendPtr(dqkv.as_mut_ptr());
    (0..s.batch * heads).into_par_iter().for_each(|bh| {
        let (b, hd) = (bh / heads, bh % heads);
        let base = b * t * 3 * h;
        let (q, k, v) = (base + hd * d, base + h + hd * d, base + 2 * h + hd * d);
        let pr = &probs[bh * t * t..(bh + 1) * t * t];
        let dm = if drop.is_empty() { None } else { Some(&drop[bh * t * t..(bh + 1) * t * t]) };
        let used: Vec<f32> = match dm {
            Some(m) => pr.iter().zip(m).map(|(a, b)| a * b).collect(),
            None => pr.to_vec(),
        };
        let dctx_off = b * t * h + hd * d;
        // dV = P_usedᵀ · dctx  ([t, d])
        let mut dv = vec![0.0f32; t * d];
        // dP_used = dctx · Vᵀ  ([t, t])
        let mut dp = vec![0.0f32; t * t];
        // SAFETY: views inside dctx / qkv with their row strides; outputs are local buffers.
        unsafe {
            gemm_strided(t, d, t, dv.as_mut_ptr(), d as isize, false, used.as_ptr(), 1, t as isize, dctx.as_ptr().add(dctx_off), h as isize, 1, false);
            gemm_strided(t, t, d, dp.as_mut_ptr(), t as isize, false, dctx.as_ptr().add(dctx_off), h as isize, 1, qkv.as_ptr().add(v), 1, (3 * h) as isize, false);
        }
        if let Some(m) = dm {
            for (g, s) in dp.iter_mut().zip(m) {
                *g *= s;
            }
        }
        // softmax backward: dS = P ⊙ (dP − Σ_j dP·P), then the 1/√d scale
        for i in 0..t {
            let (prow, drow) = (&pr[i * t..(i + 1) * t], &mut dp[i * t..(i + 1) * t]);
            let dot: f32 = prow.iter().zip(drow.iter()).map(|(a, b)| a * b).sum();
            for (g, &pv) in drow.iter_mut().zip(prow) {
                *g = pv * (*g - dot) * scale;
            }
        }
        let mut dq = vec![0.0f32; t * d];
        let mut dk = vec![0.0f32; t * d];
        // SAFETY: as above.
        unsafe {
            // dQ = dS · K, dK = dSᵀ · Q
            gemm_strided(t, d, t, dq.as_mut_ptr(), d as isize, false, dp.as_ptr(), t as isize, 1, qkv.as_ptr().add(k), (3 * h) as isize, 1, false);
            gemm_strided(t, d, t, dk.as_mut_ptr(), d as isize, false, dp.as_ptr(), 1, t as isize, qkv.as_ptr().add(q), (3 * h) as isize, 1, false);
        }
        // SAFETY: this task adds only into rows b·t.. at its head's Q, K, V columns (disjoint across tasks).
        unsafe {
            let dst = dq_ptr.get();
            for r in 0..t {
                for c in 0..d {
                    *dst.add(q + r * 3 * h + c) += dq[r * d + c];
                    *dst.add(k + r * 3 * h + c) += dk[r * d + c];
                    *dst.add(v + r * 3 * h + c) += dv[r * d + c];
                }
            }
        }
    });
}

/// A raw pointer that rayon tasks may share, each writing a disjoint part.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only where each task writes a disjoint region (documented at each use).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Mean cross-entropy over the rows whose label is not −100 (`logits[rows, classes]`), as torch's
/// `CrossEntropyLoss(ignore_index=-100)`; writes `dlogits` (the gradient of the mean) and returns (loss, counted
/// rows). No counted row gives loss 0 and a zero gradient.
pub fn cross_entropy(dlogits: &mut [f32], logits: &[f32], labels: &[i64], classes: usize) -> (f32, usize) {
    let n = labels.iter().filter(|&&l| l != -100).count();
    dlogits.fill(0.0);
    if n == 0 {
        return (0.0, 0);
    }
    let mut loss = 0.0f64;
    for (r, &l) in labels.iter().enumerate() {
        if l == -100 {
            continue;
        }
        let row = &logits[r * classes..(r + 1) * classes];
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&x| ((x - mx) as f64).exp()).sum();
        let lse = mx as f64 + sum.ln();
        loss += lse - row[l as usize] as f64;
        let d = &mut dlogits[r * classes..(r + 1) * classes];
        for (g, &x) in d.iter_mut().zip(row) {
            *g = (((x as f64 - lse).exp()) / n as f64) as f32;
        }
        d[l as usize] -= 1.0 / n as f32;
    }
    ((loss / n as f64) as f32, n)
}

/// `tanh` elementwise (the classification head's activation).
pub fn tanh_forward(y: &mut [f32], x: &[f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v.tanh();
    }
}

/// Its backward from the forward's output: `dx (+)= dy · (1 − y²)`.
pub fn tanh_backward(dx: &mut [f32], dy: &[f32], y: &[f32]) {
    for ((d, &g), &v) in dx.iter_mut().zip(dy).zip(y) {
        *d += g * (1.0 - v * v);
    }
}

/// Embedding lookup: `y[i] = table[ids[i]]` (rows of `width`).
pub fn embedding_forward(y: &mut [f32], table: &[f32], ids: &[u32], width: usize) {
    for (r, &id) in y.chunks_exact_mut(width).zip(ids) {
        r.copy_from_slice(&table[id as usize * width..(id as usize + 1) * width]);
    }
}

/// Its backward: `dtable[ids[i]] += dy[i]`, except the padding row (`padding_idx`), whose gradient stays zero as
/// torch's `nn.Embedding(padding_idx=...)`.
pub fn embedding_backward(dtable: &mut [f32], dy: &[f32], ids: &[u32], width: usize, padding_idx: Option<u32>) {
    for (r, &id) in dy.chunks_exact(width).zip(ids) {
        if Some(id) == padding_idx {
            continue;
        }
        for (g, v) in dtable[id as usize * width..(id as usize + 1) * width].iter_mut().zip(r) {
            *g += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        (0..n).map(|i| uniform(seed, 7, i as u64) * 2.0 - 1.0).collect()
    }

    /// Central differences of a scalar function of `x` at every element, in f64 around f32 values.
    fn numeric(x: &[f32], f: &dyn Fn(&[f32]) -> f64, eps: f32) -> Vec<f64> {
        let mut x = x.to_vec();
        (0..x.len())
            .map(|i| {
                let v = x[i];
                x[i] = v + eps;
                let up = f(&x);
                x[i] = v - eps;
                let down = f(&x);
                x[i] = v;
                (up - down) / (2.0 * eps as f64)
            })
            .collect()
    }

    /// ‖a − b‖ / ‖b‖.
    fn rel(a: &[f32], b: &[f64]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).powi(2)).sum::<f64>().sqrt();
        let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-12);
        num / den
    }

    /// Σ w·y: a scalar loss with random weights, so every output's gradient is exercised.
    fn dot(y: &[f32], w: &[f32]) -> f64 {
        y.iter().zip(w).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    #[test]
    fn linear_gradients() {
        let (rows, inp, out) = (5, 7, 3);
        let (x, w, b, gy) = (rand(rows * inp, 1), rand(out * inp, 2), rand(out, 3), rand(rows * out, 4));
        let f = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut y = vec![0.0; rows * out];
            linear_forward(&mut y, x, w, b, rows, inp, out);
            dot(&y, &gy)
        };
        let (mut dx, mut dw, mut db) = (vec![0.0; rows * inp], vec![0.0; out * inp], vec![0.0; out]);
        linear_backward(Some(&mut dx), &mut dw, &mut db, &gy, &x, &w, rows, inp, out, false);
        assert!(rel(&dx, &numeric(&x, &|x| f(x, &w, &b), 1e-2)) < 1e-3);
        assert!(rel(&dw, &numeric(&w, &|w| f(&x, w, &b), 1e-2)) < 1e-3);
        assert!(rel(&db, &numeric(&b, &|b| f(&x, &w, b), 1e-2)) < 1e-3);
    }

    #[test]
    fn layer_norm_gradients() {
        let (rows, width) = (4, 16);
        let (x, g, b, gy) = (rand(rows * width, 5), rand(width, 6), rand(width, 7), rand(rows * width, 8));
        let f = |x: &[f32], g: &[f32], b: &[f32]| {
            let (mut y, mut m, mut s) = (vec![0.0; rows * width], vec![0.0; rows], vec![0.0; rows]);
            layer_norm_forward(&mut y, &mut m, &mut s, x, g, b, width, 1e-5);
            dot(&y, &gy)
        };
        let (mut y, mut m, mut s) = (vec![0.0; rows * width], vec![0.0; rows], vec![0.0; rows]);
        layer_norm_forward(&mut y, &mut m, &mut s, &x, &g, &b, width, 1e-5);
        let (mut dx, mut dg, mut db) = (vec![0.0; rows * width], vec![0.0; width], vec![0.0; width]);
        layer_norm_backward(&mut dx, &mut dg, &mut db, &gy, &x, &m, &s, &g, width);
        assert!(rel(&dx, &numeric(&x, &|x| f(x, &g, &b), 1e-3)) < 2e-3);
        assert!(rel(&dg, &numeric(&g, &|g| f(&x, g, &b), 1e-3)) < 1e-3);
        assert!(rel(&db, &numeric(&b, &|b| f(&x, &g, b), 1e-3)) < 1e-3);
    }

    #[test]
    fn gelu_and_tanh_gradients() {
        let x: Vec<f32> = rand(64, 9).iter().map(|v| v * 4.0).collect();
        let gy = rand(64, 10);
        let f = |x: &[f32]| {
            let mut y = vec![0.0; x.len()];
            gelu_forward(&mut y, x);
            dot(&y, &gy)
        };
        let mut dx = vec![0.0; 64];
        gelu_backward(&mut dx, &gy, &x);
        assert!(rel(&dx, &numeric(&x, &f, 1e-2)) < 1e-3);
        let ft = |x: &[f32]| {
            let mut y = vec![0.0; x.len()];
            tanh_forward(&mut y, x);
            dot(&y, &gy)
        };
        let mut y = vec![0.0; 64];
        tanh_forward(&mut y, &x);
        let mut dt = vec![0.0; 64];
        tanh_backward(&mut dt, &gy, &y);
        assert!(rel(&dt, &numeric(&x, &ft, 1e-3)) < 1e-3);
    }

    #[test]
    fn attention_gradients_with_padding_and_dropout() {
        let s = AttnShape { batch: 2, seq: 5, heads: 2, head_dim: 4 };
        let h = s.heads * s.head_dim;
        let qkv = rand(s.batch * s.seq * 3 * h, 11);
        let mask: Vec<u32> = vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        let gy = rand(s.batch * s.seq * h, 12);
        for p in [0.0f32, 0.3] {
            let f = |qkv: &[f32]| {
                let (mut ctx, mut probs, mut drop) = (vec![0.0; s.batch * s.seq * h], vec![0.0; s.batch * s.heads * s.seq * s.seq], Vec::new());
                attention_forward(&mut ctx, &mut probs, &mut drop, qkv, &mask, s, p, 42, 1);
                dot(&ctx, &gy)
            };
            let (mut ctx, mut probs, mut drop) = (vec![0.0; s.batch * s.seq * h], vec![0.0; s.batch * s.heads * s.seq * s.seq], Vec::new());
            attention_forward(&mut ctx, &mut probs, &mut drop, &qkv, &mask, s, p, 42, 1);
            // padded keys get no weight
            for bh in 2..4 {
                for i in 0..s.seq {
                    assert!(probs[bh * 25 + i * 5 + 3] < 1e-30 && probs[bh * 25 + i * 5 + 4] < 1e-30);
                }
            }
            let mut dqkv = vec![0.0; qkv.len()];
            attention_backward(&mut dqkv, &gy, &probs, &drop, &qkv, s);
            let r = rel(&dqkv, &numeric(&qkv, &f, 1e-2));
            assert!(r < 1e-3, "p {p}: relative error {r}");
        }
    }

    #[test]
    fn dropout_is_seeded_and_scaled() {
        let mut x = vec![1.0f32; 10_000];
        let mut m = Vec::new();
        dropout_forward(&mut x, &mut m, 0.1, 3, 5);
        let kept = x.iter().filter(|&&v| v != 0.0).count();
        assert!((8800..9200).contains(&kept), "{kept}");
        assert!(x.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        let mut y = vec![1.0f32; 10_000];
        let mut m2 = Vec::new();
        dropout_forward(&mut y, &mut m2, 0.1, 3, 5);
        assert_eq!(x, y);
        let mut g = vec![2.0f32; 10_000];
        dropout_backward(&mut g, &m);
        assert!(g.iter().zip(&x).all(|(a, b)| (a - 2.0 * b).abs() < 1e-6));
    }

    #[test]
    fn cross_entropy_gradient_and_ignore_index() {
        let classes = 4;
        let logits = rand(5 * classes, 13);
        let labels = [2i64, -100, 0, 3, -100];
        let f = |l: &[f32]| {
            let mut d = vec![0.0; l.len()];
            cross_entropy(&mut d, l, &labels, classes).0 as f64
        };
        let mut d = vec![0.0; logits.len()];
        let (loss, n) = cross_entropy(&mut d, &logits, &labels, classes);
        assert_eq!(n, 3);
        assert!(loss > 0.0);
        assert!(d[classes..2 * classes].iter().all(|&v| v == 0.0));
        assert!(rel(&d, &numeric(&logits, &f, 1e-2)) < 1e-3);
    }

    #[test]
    fn embedding_gradient_skips_the_padding_row() {
        let table = rand(6 * 3, 14);
        let ids = [1u32, 4, 1, 2];
        let gy = rand(4 * 3, 15);
        let mut y = vec![0.0; 12];
        embedding_forward(&mut y, &table, &ids, 3);
        assert_eq!(&y[3..6], &table[12..15]);
        let mut d = vec![0.0; 18];
        embedding_backward(&mut d, &gy, &ids, 3, Some(1));
        assert!(d[3..6].iter().all(|&v| v == 0.0));
        assert_eq!(&d[12..15], &gy[3..6]);
        let f = |t: &[f32]| {
            let mut y = vec![0.0; 12];
            embedding_forward(&mut y, t, &ids, 3);
            dot(&y, &gy)
        };
        let mut num = numeric(&table, &f, 1e-2);
        num[3..6].iter_mut().for_each(|v| *v = 0.0);
        assert!(rel(&d, &num) < 1e-4);
    }
}
