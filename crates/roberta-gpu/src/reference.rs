//! Plain CPU versions of every kernel: the definitions the kernels are tested against (f32 in and out; the
//! tests feed them the f16-rounded inputs the kernels see). Layouts are row-major, as the kernels'.
use crate::Epilogue;

/// erf in f64: Taylor series below 3, continued fraction for erfc above (|error| < 1e-13).
pub fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 3.0 {
        // erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, x2) = (ax, ax, ax * ax);
        for n in 1..200 {
            term *= -x2 / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
        let mut t = ax;
        for k in (1..=60).rev() {
            t = ax + (k as f64 / 2.0) / t;
        }
        1.0 - (-ax * ax).exp() / (std::f64::consts::PI.sqrt() * t)
    };
    r.copysign(x)
}

/// Exact erf GELU: 0.5·x·(1 + erf(x/√2)).
pub fn gelu(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
}

/// `c[M,N] = epi(Σ_k a[m][k]·w[n][k] + bias[n])` (gemm.cu): w is a Linear weight `[N,K]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    a: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    epi: Epilogue,
    m: usize,
    n: usize,
    k: usize,
) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f32;
            for p in 0..k {
                s += a[i * k + p] * w[j * k + p];
            }
            if let Some(b) = bias {
                s += b[j];
            }
            s = match epi {
                Epilogue::Bias => s,
                Epilogue::Gelu => gelu(s),
                Epilogue::Residual => s + residual.expect("residual")[i * n + j],
            };
            c[i * n + j] = s;
        }
    }
    c
}

/// Attention over a packed batch (attention.cu): `qkv` `[tokens, 3·heads·d]` → `[tokens, heads·d]`, head dim `d`;
/// `key_mask[token] == 0` removes that key; a query with no key left gets zeros.
pub fn attention(qkv: &[f32], off: &[i32], key_mask: Option<&[u8]>, heads: usize, d: usize, scale: f32) -> Vec<f32> {
    #[allow(non_snake_case)]
    let D = d;
    let hidden = heads * D;
    let tokens = *off.last().unwrap_or(&0) as usize;
    let mut out = vec![0f32; tokens * hidden];
    let row = |t: usize, part: usize, h: usize| &qkv[t * 3 * hidden + part * hidden + h * D..][..D];
    for w in off.windows(2) {
        let (base, end) = (w[0] as usize, w[1] as usize);
        for h in 0..heads {
            for i in base..end {
                let q = row(i, 0, h);
                let keys: Vec<usize> = (base..end).filter(|&j| key_mask.is_none_or(|m| m[j] != 0)).collect();
                let s: Vec<f32> = keys.iter().map(|&j| scale * dot(q, row(j, 1, h))).collect();
                let o = &mut out[i * hidden + h * D..][..D];
                for (p, &j) in softmax(&s).iter().zip(&keys) {
                    for (o, v) in o.iter_mut().zip(row(j, 2, h)) {
                        *o += p * v;
                    }
                }
            }
        }
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Softmax of a row (max-subtracted); an empty row stays empty.
pub fn softmax(s: &[f32]) -> Vec<f32> {
    let mx = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = s.iter().map(|x| (x - mx).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
}

/// Masked row softmax (attention.cu's `softmax_rows`): `s` `[batch·heads·T, T]` scaled by `scale`, keys
/// with `key_mask[b·T + j] == 0` get 0; a fully masked row is all zeros.
pub fn softmax_rows(s: &[f32], key_mask: Option<&[u8]>, batch: usize, heads: usize, t: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0f32; batch * heads * t * t];
    for r in 0..batch * heads * t {
        let b = r / (heads * t);
        let keys: Vec<usize> = (0..t).filter(|&j| key_mask.is_none_or(|m| m[b * t + j] != 0)).collect();
        let vals: Vec<f32> = keys.iter().map(|&j| s[r * t + j] * scale).collect();
        for (p, &j) in softmax(&vals).iter().zip(&keys) {
            out[r * t + j] = *p;
        }
    }
    out
}

/// `out = LayerNorm(a + residual)·gamma + beta` per row of `h` (layernorm.cu); biased variance.
pub fn layer_norm(a: &[f32], residual: Option<&[f32]>, gamma: &[f32], beta: &[f32], h: usize, eps: f32) -> Vec<f32> {
    let mut out = a.to_vec();
    if let Some(r) = residual {
        out.iter_mut().zip(r).for_each(|(x, r)| *x += r);
    }
    for row in out.chunks_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / h as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *x = (*x - mean) * rstd * g + b;
        }
    }
    out
}

/// RoBERTa position ids of one sequence: padding_idx + cumsum(mask)·mask, mask = (id != pad).
pub fn position_ids(ids: &[i32], pad: i32) -> Vec<i32> {
    let mut count = 0;
    ids.iter()
        .map(|&id| {
            if id != pad {
                count += 1;
                pad + count
            } else {
                pad
            }
        })
        .collect()
}

/// Embeddings of a packed batch (embeddings.cu): word + position + type, then LayerNorm. Tables are
/// `[rows, h]`; `type_ids` default to 0.
#[allow(clippy::too_many_arguments)]
pub fn embeddings(
    ids: &[i32],
    type_ids: Option<&[i32]>,
    off: &[i32],
    word: &[f32],
    pos: &[f32],
    token_type: &[f32],
    gamma: &[f32],
    beta: &[f32],
    h: usize,
    pad: i32,
    eps: f32,
) -> Vec<f32> {
    let tokens = *off.last().unwrap_or(&0) as usize;
    let mut x = vec![0f32; tokens * h];
    for w in off.windows(2) {
        let (base, end) = (w[0] as usize, w[1] as usize);
        for (t, p) in (base..end).zip(position_ids(&ids[base..end], pad)) {
            let ty = type_ids.map_or(0, |v| v[t]) as usize;
            for c in 0..h {
                x[t * h + c] = word[ids[t] as usize * h + c] + pos[p as usize * h + c] + token_type[ty * h + c];
            }
        }
    }
    layer_norm(&x, None, gamma, beta, h, eps)
}

/// Packs the real rows of a padded `[batch·T, h]` (sequence b's first `len_b` rows) into `[tokens, h]`.
pub fn pack(padded: &[f32], off: &[i32], t: usize, h: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(*off.last().unwrap_or(&0) as usize * h);
    for (b, w) in off.windows(2).enumerate() {
        let len = (w[1] - w[0]) as usize;
        out.extend_from_slice(&padded[b * t * h..][..len * h]);
    }
    out
}

/// The inverse of [`pack`]; padding rows are zeros.
pub fn unpack(packed: &[f32], off: &[i32], t: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0f32; (off.len() - 1) * t * h];
    for (b, w) in off.windows(2).enumerate() {
        let (s, e) = (w[0] as usize, w[1] as usize);
        out[b * t * h..][..(e - s) * h].copy_from_slice(&packed[s * h..e * h]);
    }
    out
}

#[cfg(test)]
mod tests;
