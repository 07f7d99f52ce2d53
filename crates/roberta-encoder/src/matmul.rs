//! Linear layers with weights packed once at load: on AVX-512 machines a hand-written 12×32 FMA
//! micro-kernel (K blocked to keep the weight panel in L1, rows blocked per rayon task so each task's
//! activations stay in L2); elsewhere the `gemm` crate on the unpacked torch-layout weight.
//!
//! Versions measured on the 2-core AVX-512 sandbox, 1024×768 · 768×3072:
//! 1. `gemm` 0.18 on Wᵀ read in place (strided): 77 GFLOP/s.
//! 2. `gemm` 0.18 on a pre-transposed W: 88 GFLOP/s (its stable build has no AVX-512 kernels).
//! 3. this file's AVX-512 kernel on panel-packed W: see `benches/RESULTS.md`.
use crate::ops;
use rayon::prelude::*;

/// Width of one packed weight panel (two 16-lane vectors).
const NR: usize = 32;
/// Rows per micro-kernel call.
const MR: usize = 12;
/// K block: a KC×NR panel is 32 KiB, kept in L1 across a task's row micro-blocks.
const KC: usize = 256;

/// A torch-layout linear layer `y = x·Wᵀ + b`, packed for the fastest kernel this CPU has.
pub struct PackedLinear {
    /// Output features.
    pub out: usize,
    /// Input features.
    pub inp: usize,
    bias: Option<Vec<f32>>,
    /// `Some`: panel-major packing `[panel][k][NR]`, zero-padded (AVX-512 path); `None`: `raw` is used.
    packed: Option<Vec<f32>>,
    raw: Vec<f32>,
}

/// Whether the AVX-512 kernel can run here.
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedLinear {
    /// Packs a torch-layout weight `[out, in]` (row-major) with an optional bias `[out]`.
    pub fn new(w: Vec<f32>, out: usize, bias: Option<Vec<f32>>) -> PackedLinear {
        let inp = if out == 0 { 0 } else { w.len() / out };
        assert_eq!(w.len(), out * inp);
        let packed = (has_avx512() && inp > 0).then(|| {
            let panels = out.div_ceil(NR);
            let mut p = vec![0.0f32; panels * inp * NR];
            p.par_chunks_mut(inp * NR).enumerate().for_each(|(j, panel)| {
                for c in 0..NR.min(out - j * NR) {
                    let row = &w[(j * NR + c) * inp..][..inp];
                    for (kk, &v) in row.iter().enumerate() {
                        panel[kk * NR + c] = v;
                    }
                }
            });
            p
        });
        let raw = if packed.is_some() { Vec::new() } else { w };
        PackedLinear { out, inp, bias, packed, raw }
    }

    /// `dst[rows, out] = x[rows, in] · Wᵀ + b`.
    pub fn forward_into(&self, x: &[f32], rows: usize, dst: &mut [f32]) {
        let Some(p) = &self.packed else {
            return ops::linear_into(x, rows, &self.raw, self.out, self.bias.as_deref(), dst);
        };
        let (n, k) = (self.out, self.inp);
        assert_eq!(x.len(), rows * k, "input is not [rows, in]");
        assert_eq!(dst.len(), rows * n, "output is not [rows, out]");
        if rows == 0 || n == 0 {
            return;
        }
        // Row blocks: about four per thread for balance, a multiple of MR, at most 144 rows (L2).
        let threads = rayon::current_num_threads().max(1);
        let mc = (rows.div_ceil(threads * 4)).div_ceil(MR).clamp(1, 12) * MR;
        dst.par_chunks_mut(mc * n).zip(x.par_chunks(mc * k)).for_each(|(c, a)| {
            let m = c.len() / n;
            match &self.bias {
                Some(b) => c.chunks_exact_mut(n).for_each(|r| r.copy_from_slice(b)),
                None => c.fill(0.0),
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the AVX-512 path exists only when `has_avx512()` held at packing; `a` is m×k,
            // `c` is m×n and `p` holds ceil(n/NR) panels of k×NR, as block_avx512 requires.
            unsafe {
                block_avx512(a, m, k, p, c, n)
            }
        });
    }
}

/// One row block: `c[m, n] += a[m, k] · packed`, K blocked, all panels, MR rows at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(a: &[f32], m: usize, k: usize, p: &[f32], c: &mut [f32], n: usize) {
    let panels = n.div_ceil(NR);
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for j in 0..panels {
            let cols = NR.min(n - j * NR);
            let b = p[(j * k + p0) * NR..].as_ptr();
            let mask = if cols == NR { u32::MAX } else { (1u32 << cols) - 1 };
            let mut i = 0;
            while i < m {
                let r = MR.min(m - i);
                let ap = a[i * k + p0..].as_ptr();
                let cp = c[i * n + j * NR..].as_mut_ptr();
                // SAFETY: rows i..i+r of a (stride k) from column p0 span kc ≤ k − p0 elements; the
                // panel slice holds kc·NR floats; c rows i..i+r (stride n) from column j·NR are written
                // only where `mask` has a bit (cols ≤ n − j·NR).
                unsafe {
                    match r {
                        12 => micro::<12>(kc, ap, k, b, cp, n, mask),
                        11 => micro::<11>(kc, ap, k, b, cp, n, mask),
                        10 => micro::<10>(kc, ap, k, b, cp, n, mask),
                        9 => micro::<9>(kc, ap, k, b, cp, n, mask),
                        8 => micro::<8>(kc, ap, k, b, cp, n, mask),
                        7 => micro::<7>(kc, ap, k, b, cp, n, mask),
                        6 => micro::<6>(kc, ap, k, b, cp, n, mask),
                        5 => micro::<5>(kc, ap, k, b, cp, n, mask),
                        4 => micro::<4>(kc, ap, k, b, cp, n, mask),
                        3 => micro::<3>(kc, ap, k, b, cp, n, mask),
                        2 => micro::<2>(kc, ap, k, b, cp, n, mask),
                        _ => micro::<1>(kc, ap, k, b, cp, n, mask),
                    }
                }
                i += r;
            }
        }
    }
}

/// The micro-kernel: `c[R, 32] += a[R, kc] · b[kc, 32]`, 2R zmm accumulators, masked columns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn micro<const R: usize>(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, mask: u32) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (m0, m1) = (mask as u16, (mask >> 16) as u16);
    // SAFETY (whole body): bounds as documented at the call site.
    unsafe {
        for q in 0..kc {
            let b0 = _mm512_loadu_ps(b.add(q * NR));
            let b1 = _mm512_loadu_ps(b.add(q * NR + 16));
            for r in 0..R {
                let av = _mm512_set1_ps(*a.add(r * lda + q));
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            }
        }
        for (r, v) in acc.iter().enumerate() {
            let cp = c.add(r * ldc);
            let c0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cp), v[0]);
            _mm512_mask_storeu_ps(cp, m0, c0);
            let c1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cp.add(16)), v[1]);
            _mm512_mask_storeu_ps(cp.add(16), m1, c1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_matches_gemm_on_odd_shapes() {
        for (rows, inp, out) in [(1, 5, 3), (13, 300, 45), (37, 513, 64), (150, 40, 33), (2, 7, 32)] {
            let x: Vec<f32> = (0..rows * inp).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01).collect();
            let w: Vec<f32> = (0..out * inp).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.01).collect();
            let b: Vec<f32> = (0..out).map(|i| i as f32 * 0.1).collect();
            let mut want = vec![0.0; rows * out];
            ops::linear_into(&x, rows, &w, out, Some(&b), &mut want);
            let mut got = vec![0.0; rows * out];
            PackedLinear::new(w, out, Some(b)).forward_into(&x, rows, &mut got);
            let e = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(e < 1e-4, "{rows}×{inp}→{out}: {e}");
        }
    }
}
