//! f32 row-major CPU kernels: GEMM (the `gemm` crate: cache-blocked, SIMD, rayon-parallel), LayerNorm,
//! exact erf GELU, softmax. Used by the encoder and by the heads.
use crate::config::Activation;
use gemm::Parallelism;
use rayon::prelude::*;

/// Rows below this many elements of work run on one thread (rayon overhead dominates).
const PAR_MIN: usize = 1 << 15;

/// `dst[m,n] (+)= a[m,k] · b[k,n]` with explicit row/column strides (in elements) for each operand.
///
/// # Safety
/// Every index `i*rs + j*cs` for `i < rows`, `j < cols` of each operand must be in bounds of the
/// allocation its pointer points into, and `dst` must not alias `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    accumulate: bool,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    parallel: bool,
) {
    let par = if parallel { Parallelism::Rayon(0) } else { Parallelism::None };
    // SAFETY: forwarded from the caller's contract; gemm computes dst = 1·dst + 1·a·b when accumulating.
    unsafe {
        gemm::gemm(m, n, k, dst, 1, dst_rs, accumulate, a, a_cs, a_rs, b, b_cs, b_rs, 1.0f32, 1.0f32, false, false, false, par)
    }
}

/// `x[rows,in] · Wᵀ + bias` for a torch-layout weight `W[out,in]`, written into `dst[rows,out]`.
pub fn linear_into(x: &[f32], rows: usize, w: &[f32], out: usize, bias: Option<&[f32]>, dst: &mut [f32]) {
    let inp = w.len().checked_div(out).unwrap_or(0);
    assert_eq!(w.len(), out * inp, "weight is not [out, in]");
    assert_eq!(x.len(), rows * inp, "input is not [rows, in]");
    assert_eq!(dst.len(), rows * out, "output is not [rows, out]");
    if let Some(b) = bias {
        assert_eq!(b.len(), out, "bias length");
        for r in dst.chunks_exact_mut(out) {
            r.copy_from_slice(b);
        }
    }
    if rows == 0 || out == 0 {
        return;
    }
    if inp == 0 {
        if bias.is_none() {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: x is [rows, inp] (rs inp, cs 1), Wᵀ is read as [inp, out] with rs 1 and cs inp inside w's
    // out·inp elements, dst is [rows, out] (rs out); the asserts above check all three lengths.
    unsafe {
        gemm_strided(
            rows, out, inp, dst.as_mut_ptr(), out as isize, bias.is_some(),
            x.as_ptr(), inp as isize, 1, w.as_ptr(), 1, inp as isize, rows * out * inp >= PAR_MIN,
        )
    }
}

/// `x[rows,in] · Wᵀ + bias` for a torch-layout weight `W[out,in]` (row-major, `out` rows): returns `[rows,out]`.
pub fn linear(x: &[f32], rows: usize, weight: &[f32], out: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let mut dst = vec![0.0f32; rows * out];
    linear_into(x, rows, weight, out, bias, &mut dst);
    dst
}

/// Sum with 16 partial sums, so that it vectorises (a plain `sum()` is a serial chain of adds).
#[inline(always)]
fn sum16(r: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = r.chunks_exact(16);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f32>()
}

#[inline(always)]
fn layer_norm_row_generic(r: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = r.len() as f32;
    let mean = sum16(r, |v| v) / n;
    let var = sum16(r, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in r.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

#[cfg(roberta_avx512)]
#[target_feature(enable = "avx512f")]
fn layer_norm_row_avx512(r: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    layer_norm_row_generic(r, gamma, beta, eps)
}

/// LayerNorm of one row (biased variance, as torch), with the widest SIMD this CPU has.
fn layer_norm_row(r: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    #[cfg(roberta_avx512)]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was detected at run time.
        return unsafe { layer_norm_row_avx512(r, gamma, beta, eps) };
    }
    layer_norm_row_generic(r, gamma, beta, eps)
}

/// LayerNorm over each row of `width` elements, in place (biased variance, as torch).
pub fn layer_norm_inplace(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    assert!(width > 0 && x.len() % width == 0 && gamma.len() == width && beta.len() == width);
    if x.len() >= PAR_MIN {
        x.par_chunks_mut(width).for_each(|r| layer_norm_row(r, gamma, beta, eps));
    } else {
        x.chunks_mut(width).for_each(|r| layer_norm_row(r, gamma, beta, eps));
    }
}

/// `x = LayerNorm(x + residual)` over rows of `width`, in place.
pub fn add_layer_norm_inplace(x: &mut [f32], residual: &[f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    assert_eq!(x.len(), residual.len());
    let f = |(r, s): (&mut [f32], &[f32])| {
        for (a, b) in r.iter_mut().zip(s) {
            *a += b;
        }
        layer_norm_row(r, gamma, beta, eps)
    };
    if x.len() >= PAR_MIN {
        x.par_chunks_mut(width).zip(residual.par_chunks(width)).for_each(f);
    } else {
        x.chunks_mut(width).zip(residual.chunks(width)).for_each(f);
    }
}

/// erf(x) for f32, Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7, the approximation torch's vectorised
/// CPU GELU uses), evaluated in f64 so that rounding adds nothing measurable.
#[inline]
pub fn erf(x: f32) -> f32 {
    let x = x as f64;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let p = ((((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592) * t;
    let y = 1.0 - p * (-a * a).exp();
    (if x < 0.0 { -y } else { y }) as f32
}

/// Exact GELU of one value: `x/2 · (1 + erf(x/√2))`.
#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// e^x for x ≤ 0 in f32, branch-free so that loops over it vectorise: 2^n · p(r) with a degree-6
/// polynomial on |r| ≤ ln2/2 (relative error ~2e-7); underflows to 0 below -87.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    let under = x < -87.0;
    let x = x.max(-87.0);
    // Round to nearest with the 1.5·2²³ trick: the low mantissa bits of `t` then hold n itself, so no
    // float→int conversion (Rust's saturating `as` does not vectorise) and no libm `round()`.
    let t = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = t - 12_582_912.0;
    let ni = t.to_bits() as i32 - 0x4B40_0000;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_58 + r * (0.008_333_44 + r * 0.001_393_54)))));
    let v = p * f32::from_bits(((ni + 127) << 23) as u32);
    if under {
        0.0
    } else {
        v
    }
}

/// Exact GELU, vectorisable f32 form: A–S 7.1.26 erf with the polynomial exp above (|error| < 1e-6 for
/// |x| < 10, checked against the f64 form in the tests).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the A–S constants as published
fn gelu_fast(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let p = ((((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592) * t;
    let e = 1.0 - p * exp_neg(-a * a);
    0.5 * x * (1.0 + e.copysign(z))
}

#[inline(always)]
fn gelu_slice_generic(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = gelu_fast(*v));
}

/// GELU over a slice, compiled for AVX-512 (also the GEMM epilogue's).
#[cfg(roberta_avx512)]
#[target_feature(enable = "avx512f")]
pub(crate) fn gelu_slice_avx512(x: &mut [f32]) {
    gelu_slice_generic(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_slice_avx2(x: &mut [f32]) {
    gelu_slice_generic(x)
}

/// GELU over a slice with the widest SIMD this CPU has.
pub(crate) fn gelu_slice(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(roberta_avx512)]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected at run time.
            return unsafe { gelu_slice_avx512(x) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected at run time.
            return unsafe { gelu_slice_avx2(x) };
        }
    }
    gelu_slice_generic(x)
}

fn apply(x: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    if x.len() >= PAR_MIN {
        x.par_chunks_mut(4096).for_each(|c| c.iter_mut().for_each(|v| *v = f(*v)));
    } else {
        x.iter_mut().for_each(|v| *v = f(*v));
    }
}

/// Exact erf GELU in place (HF `gelu`), SIMD and rayon-parallel.
pub fn gelu_inplace(x: &mut [f32]) {
    if x.len() >= PAR_MIN {
        x.par_chunks_mut(4096).for_each(gelu_slice);
    } else {
        gelu_slice(x);
    }
}

/// `tanh` in place (the sequence classifier's pooler).
pub fn tanh_inplace(x: &mut [f32]) {
    apply(x, f32::tanh)
}

/// A feed-forward activation in place.
pub fn activation_inplace(x: &mut [f32], act: Activation) {
    match act {
        Activation::Gelu => gelu_inplace(x),
        Activation::GeluTanh => apply(x, |v| {
            0.5 * v * (1.0 + ((2.0f32 / std::f32::consts::PI).sqrt() * (v + 0.044_715 * v * v * v)).tanh())
        }),
        Activation::Relu => apply(x, |v| v.max(0.0)),
        Activation::Silu => apply(x, |v| v / (1.0 + (-v).exp())),
    }
}

#[inline(always)]
fn softmax_row_generic(r: &mut [f32]) {
    let m = r.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if m == f32::NEG_INFINITY {
        return r.fill(f32::NAN);
    }
    r.iter_mut().for_each(|v| *v = exp_neg(*v - m));
    // Eight partial sums so that the reduction vectorises.
    let mut acc = [0.0f32; 8];
    let mut chunks = r.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let s: f32 = acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / s;
    r.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(roberta_avx512)]
#[target_feature(enable = "avx512f")]
fn softmax_row_avx512(r: &mut [f32]) {
    softmax_row_generic(r)
}

/// Softmax of one row in place (max-subtracted, SIMD exp; `-inf` entries become 0).
pub fn softmax_row(r: &mut [f32]) {
    #[cfg(roberta_avx512)]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was detected at run time.
        return unsafe { softmax_row_avx512(r) };
    }
    softmax_row_generic(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_accuracy() {
        // Reference values of erf from tables.
        for (x, e) in [(0.0, 0.0), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (2.0, 0.995_322_265), (-1.5, -0.966_105_146)] {
            assert!((erf(x) - e as f32).abs() < 3e-7, "erf({x}) = {} vs {e}", erf(x));
        }
    }

    #[test]
    fn fast_gelu_matches_f64_form() {
        let xs: Vec<f32> = (-20000..20000).map(|i| i as f32 * 7.3e-4).collect();
        let mut y = xs.clone();
        gelu_inplace(&mut y);
        for (x, g) in xs.iter().zip(&y) {
            let e = 0.5 * *x as f64 * (1.0 + libm_erf(*x as f64 / std::f64::consts::SQRT_2));
            assert!((*g as f64 - e).abs() < 1e-6 + 1e-6 * e.abs(), "gelu({x}) = {g} vs {e}");
        }
        let mut big = vec![-100.0f32, 100.0, 0.0, -1e-30];
        gelu_inplace(&mut big);
        assert_eq!(big, vec![-0.0, 100.0, 0.0, -5e-31]);
    }

    /// erf in f64 by its Taylor series (|x| ≤ 3) or continued fraction tail, for the tests only.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 3.0 {
            let (mut sum, mut term, mut k) = (a, a, 0.0);
            while term.abs() > 1e-17 {
                k += 1.0;
                term *= -a * a / k;
                sum += term / (2.0 * k + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for n in (1..60).rev() {
                f = n as f64 / 2.0 / (a + f);
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
        };
        v.copysign(x)
    }

    #[test]
    fn softmax_masks_and_normalises() {
        let mut r: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin() * 9.0).collect();
        r[5] = f32::NEG_INFINITY;
        let want: Vec<f64> = {
            let m = r.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let e: Vec<f64> = r.iter().map(|&v| (v as f64 - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        softmax_row(&mut r);
        assert_eq!(r[5], 0.0);
        for (a, b) in r.iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn linear_matches_naive() {
        let (rows, inp, out) = (5, 7, 3);
        let x: Vec<f32> = (0..rows * inp).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..out * inp).map(|i| (i as f32 * 0.11).cos()).collect();
        let b = vec![0.5, -1.0, 2.0];
        let y = linear(&x, rows, &w, out, Some(&b));
        for r in 0..rows {
            for o in 0..out {
                let e: f32 = (0..inp).map(|i| x[r * inp + i] * w[o * inp + i]).sum::<f32>() + b[o];
                assert!((y[r * out + o] - e).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn layer_norm_unit() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        layer_norm_inplace(&mut x, 4, &[1.0; 4], &[0.0; 4], 1e-5);
        assert!((x.iter().sum::<f32>()).abs() < 1e-5);
        assert!((x[3] - 1.341_635_5).abs() < 1e-4);
    }
}
