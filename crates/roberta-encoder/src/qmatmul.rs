//! Int8 linear layers: weights quantized once at load, symmetric per output channel (`w ≈ s_w[n]·q`,
//! q ∈ [-127, 127]); activations quantized per row at run time (`x ≈ s_x[r]·a`, a ∈ [-127, 127], round half
//! to even); the integer products summed exactly in i32; then `y = f32(Σ a·q) · (s_x[r]·s_w[n]) + b[n]` in f32.
//!
//! Four kernels read one packed weight layout (`[panel of 32 outputs][K/4][32][4]` bytes) and give
//! bit-identical results, because every one of them computes the same exact i32 sum and the same f32
//! epilogue (a multiply, then an add, never fused):
//! - [`Int8Kernel::Avx512Vnni`]: `vpdpbusd` on zmm, 12 rows × 32 outputs per micro-tile; activations are
//!   stored biased (`a + 128`, unsigned, as `vpdpbusd` wants) and `128·Σq` is subtracted per output;
//! - [`Int8Kernel::AvxVnni`]: the same instruction on ymm (Alder Lake and later, Zen 5), 6 rows × 16;
//! - [`Int8Kernel::Avx2`]: `vpmaddubsw` on `|q|` and `sign(a, q)` (both ≤ 127 in magnitude, so the i16
//!   pair sums never saturate), then `vpmaddwd` by ones, 4 rows × 16;
//! - [`Int8Kernel::Portable`]: plain Rust, for every other CPU.
//!
//! The best one is picked at run time ([`Int8Kernel::best`]); `ROBERTA_INT8_KERNEL` forces one (the tests
//! run each that the CPU has against the portable one).
//!
//! Measured (2026-12-04, 2-core AMD EPYC Zen 5, the four encoder shapes at 1024 rows, `gemm_shapes`, weights hot;
//! the machine's `vpdpbusd` peak measured by a register-only loop is 886 GOP/s on 2 threads, its f32 FMA peak 224):
//! - v1: 12×32 VNNI micro-tile, whole 96-row blocks per task: 632 GOP/s (the f32 kernels: 211 GFLOP/s); AVX2
//!   217. Inside the forward, activation quantization through libm `rintf` took 21% of the time: replaced by
//!   the conversion's own round-half-even (AVX-512 / AVX2), the same bytes.
//! - v2: GELU applied per tile while it is in cache instead of a pass over the FFN output; column groups cut
//!   across row blocks (16 tasks per thread; 1024 rows made 11 tasks on 2 threads): 744–764 GOP/s; 8×128
//!   forward 346 → ~285 ms.
//!   Tried and not kept: row blocks of 48 and 192 (within noise or slower).
use rayon::prelude::*;

/// Outputs per packed weight panel.
const NR: usize = 32;
/// Rows per parallel task (a multiple of every kernel's micro-tile height: 12, 6 and 4).
const MC: usize = 96;
/// Tasks wanted per thread: column groups are cut so that row blocks × groups reach it (load balance; measured
/// at 1024 rows, 2 threads: 1 → 734, 4 → 735, 16 → 764 GOP/s with column groups; the earlier split, whole
/// row blocks only when there are several, 652).
const TASKS_PER_THREAD: usize = 16;

/// Which int8 GEMM kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Int8Kernel {
    /// AVX-512 VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
    /// AVX-VNNI (`vpdpbusd` on 256-bit registers).
    AvxVnni,
    /// AVX2 (`vpmaddubsw` + `vpmaddwd`).
    Avx2,
    /// Plain Rust.
    Portable,
}

impl Int8Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Int8Kernel; 4] = [Int8Kernel::Avx512Vnni, Int8Kernel::AvxVnni, Int8Kernel::Avx2, Int8Kernel::Portable];

    /// The name `ROBERTA_INT8_KERNEL` takes.
    pub fn name(self) -> &'static str {
        match self {
            Int8Kernel::Avx512Vnni => "avx512vnni",
            Int8Kernel::AvxVnni => "avxvnni",
            Int8Kernel::Avx2 => "avx2",
            Int8Kernel::Portable => "portable",
        }
    }

    /// Whether this CPU (and this build) can run it.
    pub fn available(self) -> bool {
        match self {
            #[cfg(roberta_avx512)]
            Int8Kernel::Avx512Vnni => std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni"),
            #[cfg(roberta_avx512)]
            Int8Kernel::AvxVnni => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx2 => std::is_x86_feature_detected!("avx2"),
            Int8Kernel::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest kernel this CPU has.
    pub fn best() -> Int8Kernel {
        static BEST: std::sync::OnceLock<Int8Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Int8Kernel::ALL.into_iter().find(|k| k.available()).unwrap_or(Int8Kernel::Portable))
    }

    /// Whether the kernel reads activations biased by 128 (then `128·Σq` is subtracted per output).
    fn biased(self) -> bool {
        matches!(self, Int8Kernel::Avx512Vnni | Int8Kernel::AvxVnni)
    }
}

impl std::str::FromStr for Int8Kernel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Int8Kernel::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown int8 kernel {s:?} (avx512vnni, avxvnni, avx2 or portable)"))
    }
}

/// A torch-layout linear layer `y = x·Wᵀ + b` with int8 weights.
pub struct QLinear {
    /// Output features.
    pub out: usize,
    /// Input features.
    pub inp: usize,
    /// K groups of 4 (`inp` rounded up to 4, zero-padded).
    kq: usize,
    /// `[panel][kq][32][4]`, zero past `out` and past `inp`.
    w: Vec<i8>,
    /// Per-output weight scale, zero-padded to whole panels.
    ws: Vec<f32>,
    /// `128·Σ_k q[n][k]` per output (the biased kernels' correction), zero-padded.
    comp: Vec<i32>,
    /// The bias, zero-padded to whole panels (zeros when the layer has none).
    bias: Vec<f32>,
    kernel: Int8Kernel,
}

/// Activations quantized per row: `data[r]` holds `a + 128` (`kq·4` bytes, zero-padded as 128).
pub struct QRows {
    data: Vec<u8>,
    scale: Vec<f32>,
    stride: usize,
}

/// Quantizes one row symmetrically: `a = round_half_even(x·127/max|x|)`, returns the scale `max|x|/127`.
/// The row's bytes are `a + 128`; a zero row has scale 0. Every step is exact IEEE arithmetic, so the
/// vectorised builds below give the same bytes as the plain one.
fn quantize_row(x: &[f32], dst: &mut [u8]) -> f32 {
    #[cfg(roberta_avx512)]
    if crate::matmul::has_avx512() && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vl") {
        // SAFETY: AVX-512F, BW and VL were detected at run time.
        return unsafe { quantize_row_avx512(x, dst) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { quantize_row_avx2(x, dst) };
    }
    quantize_row_generic(x, dst)
}

/// The AVX-512 build of [`quantize_row_generic`]: the same steps (max |x| with NaN detected, a multiply by
/// `127/m`, round half to even — the conversion's default rounding —, clamp, + 128), 16 lanes at a time.
#[cfg(roberta_avx512)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn quantize_row_avx512(x: &[f32], dst: &mut [u8]) -> f32 {
    use std::arch::x86_64::*;
    let n = x.len();
    let full = n / 16 * 16;
    // SAFETY: every load reads x[i..i + 16] with i + 16 ≤ n (or a masked tail inside n); every store writes
    // dst[i..i + 16] with i + 16 ≤ n ≤ dst.len() (or a masked tail).
    unsafe {
        let mut m = _mm512_setzero_ps();
        let mut nan: u16 = 0;
        let mut i = 0;
        while i < n {
            let k: u16 = if i < full { u16::MAX } else { (1u16 << (n - i)) - 1 };
            let v = _mm512_maskz_loadu_ps(k, x.as_ptr().add(i));
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            m = _mm512_max_ps(m, _mm512_abs_ps(v));
            i += 16;
        }
        let m = _mm512_reduce_max_ps(m);
        if nan != 0 || m == 0.0 || !m.is_finite() {
            dst.fill(128);
            return if m == 0.0 && nan == 0 { 0.0 } else { f32::NAN };
        }
        let inv = _mm512_set1_ps(127.0 / m);
        let (lo, hi, bias) = (_mm512_set1_epi32(-127), _mm512_set1_epi32(127), _mm512_set1_epi32(128));
        let mut i = 0;
        while i < n {
            let k: u16 = if i < full { u16::MAX } else { (1u16 << (n - i)) - 1 };
            let v = _mm512_maskz_loadu_ps(k, x.as_ptr().add(i));
            let q = _mm512_cvtps_epi32(_mm512_mul_ps(v, inv));
            let q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), bias);
            _mm_mask_storeu_epi8(dst.as_mut_ptr().add(i) as *mut i8, k, _mm512_cvtepi32_epi8(q));
            i += 16;
        }
        dst[n..].fill(128);
        m / 127.0
    }
}

/// The AVX2 build of [`quantize_row_generic`]: the max and NaN test stay plain (vectorised by the compiler);
/// the scaling and the rounding (the conversion's default, half to even) 8 lanes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_row_avx2(x: &[f32], dst: &mut [u8]) -> f32 {
    use std::arch::x86_64::*;
    let m = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let nan = x.iter().any(|v| v.is_nan());
    if nan || m == 0.0 || !m.is_finite() {
        dst.fill(128);
        return if m == 0.0 && !nan { 0.0 } else { f32::NAN };
    }
    let inv = 127.0 / m;
    let full = x.len() / 8 * 8;
    // SAFETY: each load reads x[i..i + 8] with i + 8 ≤ full ≤ x.len().
    unsafe {
        let (vinv, lo, hi, bias) = (_mm256_set1_ps(inv), _mm256_set1_epi32(-127), _mm256_set1_epi32(127), _mm256_set1_epi32(128));
        let mut lanes = [0i32; 8];
        for i in (0..full).step_by(8) {
            let q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x.as_ptr().add(i)), vinv));
            let q = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(q, lo), hi), bias);
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, q);
            for (d, &l) in dst[i..i + 8].iter_mut().zip(&lanes) {
                *d = l as u8;
            }
        }
    }
    for (d, &v) in dst[full..].iter_mut().zip(&x[full..]) {
        *d = ((v * inv).round_ties_even().clamp(-127.0, 127.0) as i32 + 128) as u8;
    }
    dst[x.len()..].fill(128);
    m / 127.0
}

/// The plain build: `m = max|x|`; a row holding NaN or ±inf gives scale NaN (and NaN outputs, as f32 would), a
/// zero row scale 0; else `a = round_half_even(x·(127/m))` clamped to ±127, stored as `a + 128`.
#[inline(always)]
fn quantize_row_generic(x: &[f32], dst: &mut [u8]) -> f32 {
    let m = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let nan = x.iter().any(|v| v.is_nan());
    if nan || m == 0.0 || !m.is_finite() {
        dst.fill(128);
        return if m == 0.0 && !nan { 0.0 } else { f32::NAN };
    }
    let inv = 127.0 / m;
    for (d, &v) in dst.iter_mut().zip(x) {
        *d = ((v * inv).round_ties_even().clamp(-127.0, 127.0) as i32 + 128) as u8;
    }
    dst[x.len()..].fill(128);
    m / 127.0
}

thread_local! {
    /// The bytes of the last [`QRows`] dropped on this thread, for the next one.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for QRows {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        // keep at most 16 MB per thread
        if data.capacity() <= 16 << 20 {
            SCRATCH.with(|b| *b.borrow_mut() = data);
        }
    }
}

impl QRows {
    /// Quantizes `rows` rows of `width` floats, each padded to `kq·4` bytes.
    pub fn quantize(x: &[f32], rows: usize, width: usize, kq: usize) -> QRows {
        assert_eq!(x.len(), rows * width, "input is not [rows, in]");
        let stride = kq * 4;
        // the calling thread's buffer of the last call: every byte is written below, so a reused buffer needs
        // no clearing (fresh 3 MB vectors cost a memset and page faults per GEMM)
        let mut data = SCRATCH.with(|b| std::mem::take(&mut *b.borrow_mut()));
        data.resize(rows * stride, 128);
        let mut scale = vec![0.0f32; rows];
        if width == 0 {
            data.fill(128);
            return QRows { data, scale, stride };
        }
        data.par_chunks_mut(stride)
            .zip(scale.par_iter_mut())
            .zip(x.par_chunks(width))
            .with_min_len(16)
            .for_each(|((d, s), r)| *s = quantize_row(r, d));
        QRows { data, scale, stride }
    }
}

impl QLinear {
    /// Quantizes a torch-layout weight `[out, in]` per output channel, for `kernel`.
    pub fn new(w: &[f32], out: usize, bias: Option<&[f32]>, kernel: Int8Kernel) -> QLinear {
        let inp = w.len().checked_div(out).unwrap_or(0);
        assert_eq!(w.len(), out * inp);
        // The kernels run unchecked: the loaders check the choice first (a clear error, not this panic).
        assert!(kernel.available(), "int8 kernel {} is not available on this CPU", kernel.name());
        let kq = inp.div_ceil(4);
        let panels = out.div_ceil(NR);
        let mut q = vec![0i8; panels * kq * NR * 4];
        let mut ws = vec![0.0f32; panels * NR];
        let mut comp = vec![0i32; panels * NR];
        q.par_chunks_mut(kq * NR * 4)
            .zip(ws.par_chunks_mut(NR).zip(comp.par_chunks_mut(NR)))
            .enumerate()
            .for_each(|(j, (panel, (ws, comp)))| {
                // each row as activations are quantized (the same rounding, vectorised), then moved into the panel
                let mut bytes = vec![0u8; kq * 4];
                for c in 0..NR.min(out - j * NR) {
                    ws[c] = quantize_row(&w[(j * NR + c) * inp..][..inp], &mut bytes);
                    let mut sum = 0i32;
                    for (k, &b) in bytes[..inp].iter().enumerate() {
                        let v = (b as i32 - 128) as i8;
                        panel[((k / 4) * NR + c) * 4 + k % 4] = v;
                        sum += v as i32;
                    }
                    comp[c] = 128 * sum;
                }
            });
        let mut b = bias.map(<[f32]>::to_vec).unwrap_or_default();
        b.resize(panels * NR, 0.0);
        QLinear { out, inp, kq, w: q, ws, comp, bias: b, kernel }
    }

    /// The kernel it runs.
    pub fn kernel(&self) -> Int8Kernel {
        self.kernel
    }

    /// Bytes held (weights, scales, corrections, bias).
    pub fn bytes(&self) -> usize {
        self.w.len() + 4 * (self.ws.len() + self.comp.len() + self.bias.len())
    }

    /// Row `n` of the dequantized weight (`s_w[n]·q[n]`, `inp` floats), e.g. a word embedding.
    pub fn row_into(&self, n: usize, dst: &mut [f32]) {
        assert!(n < self.out && dst.len() == self.inp);
        let (j, c) = (n / NR, n % NR);
        let panel = &self.w[j * self.kq * NR * 4..][..self.kq * NR * 4];
        let s = self.ws[n];
        for (k, d) in dst.iter_mut().enumerate() {
            *d = panel[((k / 4) * NR + c) * 4 + k % 4] as f32 * s;
        }
    }

    /// `dst[rows, out] = x[rows, in] · Wᵀ + b`.
    pub fn forward_into(&self, x: &[f32], rows: usize, dst: &mut [f32]) {
        self.forward_bias_into(x, rows, dst, None)
    }

    /// [`QLinear::forward_into`] with `bias` (`out` floats) instead of the layer's own.
    pub fn forward_bias_into(&self, x: &[f32], rows: usize, dst: &mut [f32], bias: Option<&[f32]>) {
        assert_eq!(dst.len(), rows * self.out, "output is not [rows, out]");
        let qx = QRows::quantize(x, rows, self.inp, self.kq);
        self.gemm(&qx, rows, dst, bias, false);
    }

    /// [`QLinear::forward_into`] then exact GELU, applied to each tile while it is in cache (the same function
    /// as [`crate::ops::gelu_inplace`], element by element, so the result is the same bits).
    pub fn forward_gelu_into(&self, x: &[f32], rows: usize, dst: &mut [f32]) {
        assert_eq!(dst.len(), rows * self.out, "output is not [rows, out]");
        let qx = QRows::quantize(x, rows, self.inp, self.kq);
        self.gemm(&qx, rows, dst, None, true);
    }

    /// `dst[rows, out] = x[rows, in] · (s_w·q)ᵀ + b` with the activations kept in f32 (weight-only int8): for a
    /// final projection where rounding the activations would cost accuracy (the tied masked-LM decoder, whose
    /// near-tied top tokens activation rounding flips). Each output is `(Σ_k x[k]·q[n][k]) · s_w[n] + b[n]`, summed
    /// in k order in f32, so every build and CPU gives the same bits.
    pub fn forward_weight_only_into(&self, x: &[f32], rows: usize, dst: &mut [f32], bias: Option<&[f32]>) {
        assert_eq!(x.len(), rows * self.inp, "input is not [rows, in]");
        assert_eq!(dst.len(), rows * self.out, "output is not [rows, out]");
        if let Some(b) = bias {
            assert_eq!(b.len(), self.out, "bias is not [out]");
        }
        if rows == 0 || self.out == 0 {
            return;
        }
        let (n, inp, kq) = (self.out, self.inp, self.kq);
        let out = SendPtr(dst.as_mut_ptr());
        (0..n.div_ceil(NR)).into_par_iter().for_each_init(
            || vec![0.0f32; inp * NR],
            |panel_f32, j| {
                #[allow(clippy::redundant_locals)]
                let out = out;
                let panel = &self.w[j * kq * NR * 4..][..kq * NR * 4];
                // [k][32] floats: the panel's integers, so that the row loop below reads 32 contiguous lanes
                for k in 0..inp {
                    for c in 0..NR {
                        panel_f32[k * NR + c] = panel[((k / 4) * NR + c) * 4 + k % 4] as f32;
                    }
                }
                let cols = NR.min(n - j * NR);
                for r in 0..rows {
                    let acc = dot_panel(&x[r * inp..][..inp], panel_f32);
                    for c in 0..cols {
                        let col = j * NR + c;
                        let b = bias.map_or(self.bias[col], |b| b[col]);
                        // SAFETY: row r < rows, column col < n: inside dst (asserted rows·n above); this task alone
                        // writes the columns of panel j.
                        unsafe { *out.0.add(r * n + col) = acc[c] * self.ws[col] + b };
                    }
                }
            },
        );
    }

    fn gemm(&self, qx: &QRows, rows: usize, dst: &mut [f32], bias: Option<&[f32]>, gelu: bool) {
        let (n, panels) = (self.out, self.out.div_ceil(NR));
        if rows == 0 || n == 0 {
            return;
        }
        let padded_bias;
        let bias: &[f32] = match bias {
            Some(b) => {
                assert_eq!(b.len(), n, "bias is not [out]");
                let mut p = b.to_vec();
                p.resize(panels * NR, 0.0);
                padded_bias = p;
                &padded_bias
            }
            None => &self.bias,
        };
        let zeros;
        let comp: &[i32] = if self.kernel.biased() {
            &self.comp
        } else {
            zeros = vec![0i32; self.comp.len()];
            &zeros
        };
        let row_blocks = rows.div_ceil(MC);
        let threads = rayon::current_num_threads().max(1);
        // Enough tasks for every thread (TASKS_PER_THREAD each), each a row block × a run of panels.
        let groups_wanted = (TASKS_PER_THREAD * threads).div_ceil(row_blocks).max(1);
        let per_task = panels.div_ceil(groups_wanted).max(1);
        let groups = panels.div_ceil(per_task);
        let out = SendPtr(dst.as_mut_ptr());
        (0..row_blocks * groups).into_par_iter().for_each(|t| {
            #[allow(clippy::redundant_locals)]
            let out = out;
            let (rb, g) = (t / groups, t % groups);
            let (r0, r1) = (rb * MC, (rb * MC + MC).min(rows));
            for j in g * per_task..((g + 1) * per_task).min(panels) {
                let tile = Tile {
                    kq: self.kq,
                    b: &self.w[j * self.kq * NR * 4..][..self.kq * NR * 4],
                    ws: &self.ws[j * NR..][..NR],
                    comp: &comp[j * NR..][..NR],
                    bias: &bias[j * NR..][..NR],
                    cols: NR.min(n - j * NR),
                };
                // SAFETY: rows r0..r1 of qx exist (qx holds `rows` rows); this task alone writes columns
                // j·32..j·32 + cols of rows r0..r1 of dst (row stride n, dst is rows·n, asserted above).
                unsafe { self.run_tile(&tile, qx, r0, r1, out.0.add(j * NR), n) };
                if gelu {
                    for r in r0..r1 {
                        // SAFETY: the tile just written: row r, columns j·32..j·32 + cols, this task's alone.
                        let seg = unsafe { std::slice::from_raw_parts_mut(out.0.add(r * n + j * NR), tile.cols) };
                        crate::ops::gelu_slice(seg);
                    }
                }
            }
        });
    }

    /// Rows `r0..r1` × one panel, on this layer's kernel.
    ///
    /// # Safety
    /// `c` points to column 0 of the panel in row 0 of an output with row stride `ldc`; rows `r0..r1`, the
    /// tile's `cols` columns, are in bounds and written by this call alone.
    unsafe fn run_tile(&self, tile: &Tile, qx: &QRows, r0: usize, r1: usize, c: *mut f32, ldc: usize) {
        // SAFETY (each arm): the kernel is available (checked when the model was loaded); the bounds are the
        // caller's.
        unsafe {
            match self.kernel {
                #[cfg(roberta_avx512)]
                Int8Kernel::Avx512Vnni => rows_by::<12>(tile, qx, r0, r1, c, ldc, |r, a, lda, s, c| vnni512::tile(r, tile, a, lda, s, c, ldc)),
                #[cfg(roberta_avx512)]
                Int8Kernel::AvxVnni => rows_by::<6>(tile, qx, r0, r1, c, ldc, |r, a, lda, s, c| vnni256::tile(r, tile, a, lda, s, c, ldc)),
                #[cfg(target_arch = "x86_64")]
                Int8Kernel::Avx2 => rows_by::<4>(tile, qx, r0, r1, c, ldc, |r, a, lda, s, c| avx2::tile(r, tile, a, lda, s, c, ldc)),
                _ => rows_by::<4>(tile, qx, r0, r1, c, ldc, |r, a, lda, s, c| portable_tile(r, tile, a, lda, s, c, ldc)),
            }
        }
    }
}

/// One weight panel and its per-output values.
struct Tile<'a> {
    kq: usize,
    b: &'a [i8],
    ws: &'a [f32],
    comp: &'a [i32],
    bias: &'a [f32],
    cols: usize,
}

/// Calls `f(r, a, lda, scales, c)` on micro-tiles of ≤ R rows covering rows `r0..r1`.
///
/// # Safety
/// As [`QLinear::run_tile`].
#[inline(always)]
unsafe fn rows_by<const R: usize>(
    _tile: &Tile, qx: &QRows, r0: usize, r1: usize, c: *mut f32, ldc: usize,
    f: impl Fn(usize, *const u8, usize, &[f32], *mut f32),
) {
    let mut i = r0;
    while i < r1 {
        let r = R.min(r1 - i);
        // SAFETY: row i < r1 ≤ rows of the output (caller).
        f(r, qx.data[i * qx.stride..].as_ptr(), qx.stride, &qx.scale[i..i + r], unsafe { c.add(i * ldc) });
        i += r;
    }
}

/// The epilogue every kernel shares: `f32(acc − comp) · (s_x·s_w) + b`, a multiply then an add.
#[inline(always)]
fn epilogue(acc: i32, comp: i32, sx: f32, sw: f32, b: f32) -> f32 {
    (acc - comp) as f32 * (sx * sw) + b
}

/// The portable kernel: `r` rows from `a` (biased bytes, row stride `lda`) × the tile.
///
/// # Safety
/// `a` holds `r` rows of `kq·4` bytes at stride `lda`; the r × cols tile of `c` (stride ldc) is in bounds.
unsafe fn portable_tile(r: usize, t: &Tile, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
    for i in 0..r {
        // SAFETY: row i of a is kq·4 bytes (caller).
        let row = unsafe { std::slice::from_raw_parts(a.add(i * lda), t.kq * 4) };
        let mut acc = [0i32; NR];
        for (g, quad) in row.chunks_exact(4).enumerate() {
            let w = &t.b[g * NR * 4..][..NR * 4];
            for (cc, wq) in w.chunks_exact(4).enumerate() {
                let mut s = 0i32;
                for e in 0..4 {
                    s += (quad[e] as i32 - 128) * wq[e] as i32;
                }
                acc[cc] += s;
            }
        }
        for cc in 0..t.cols {
            // SAFETY: (i, cc) is inside the tile (caller).
            unsafe { *c.add(i * ldc + cc) = epilogue(acc[cc], 0, sx[i], t.ws[cc], t.bias[cc]) };
        }
    }
}

#[cfg(roberta_avx512)]
mod vnni512 {
    use super::{Tile, NR};
    use std::arch::x86_64::*;

    /// `r ≤ 12` rows × 32 outputs with `vpdpbusd`.
    ///
    /// # Safety
    /// AVX-512F and AVX-512 VNNI are available; bounds as [`super::portable_tile`].
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn tile(r: usize, t: &Tile, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
        // SAFETY: forwarded.
        unsafe {
            match r {
                12 => micro::<12>(t, a, lda, sx, c, ldc),
                11 => micro::<11>(t, a, lda, sx, c, ldc),
                10 => micro::<10>(t, a, lda, sx, c, ldc),
                9 => micro::<9>(t, a, lda, sx, c, ldc),
                8 => micro::<8>(t, a, lda, sx, c, ldc),
                7 => micro::<7>(t, a, lda, sx, c, ldc),
                6 => micro::<6>(t, a, lda, sx, c, ldc),
                5 => micro::<5>(t, a, lda, sx, c, ldc),
                4 => micro::<4>(t, a, lda, sx, c, ldc),
                3 => micro::<3>(t, a, lda, sx, c, ldc),
                2 => micro::<2>(t, a, lda, sx, c, ldc),
                _ => micro::<1>(t, a, lda, sx, c, ldc),
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    #[inline]
    unsafe fn micro<const R: usize>(t: &Tile, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        let b = t.b.as_ptr();
        // SAFETY (whole body): a holds R rows of kq·4 bytes at stride lda; b holds kq·128 bytes; the tile's
        // columns of R rows of c are in bounds; masked lanes are not touched.
        unsafe {
            for g in 0..t.kq {
                if g % 2 == 0 {
                    // The panel streams from L2: fetch 8 groups (1 KiB) ahead.
                    let ahead = b.wrapping_add((g + 8) * NR * 4) as *const i8;
                    _mm_prefetch::<_MM_HINT_T0>(ahead);
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(128));
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(192));
                }
                let b0 = _mm512_loadu_si512(b.add(g * NR * 4) as *const _);
                let b1 = _mm512_loadu_si512(b.add(g * NR * 4 + 64) as *const _);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_epi32((a.add(i * lda + g * 4) as *const i32).read_unaligned());
                    acc[0] = _mm512_dpbusd_epi32(acc[0], av, b0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], av, b1);
                }
            }
            let mask = if t.cols == NR { u32::MAX } else { (1u32 << t.cols) - 1 };
            for (i, acc) in acc.iter().enumerate() {
                let sxv = _mm512_set1_ps(sx[i]);
                for (h, &v) in acc.iter().enumerate() {
                    let m = (mask >> (16 * h)) as u16;
                    let comp = _mm512_loadu_si512(t.comp.as_ptr().add(16 * h) as *const _);
                    let scale = _mm512_mul_ps(sxv, _mm512_loadu_ps(t.ws.as_ptr().add(16 * h)));
                    let y = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, comp)), scale);
                    let y = _mm512_add_ps(y, _mm512_loadu_ps(t.bias.as_ptr().add(16 * h)));
                    _mm512_mask_storeu_ps(c.add(i * ldc + 16 * h), m, y);
                }
            }
        }
    }
}

/// Stores `y` (8 floats) into the first `n` floats at `c` (n ≤ 8).
///
/// # Safety
/// AVX is available and `c[..n]` is in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store_first(c: *mut f32, y: std::arch::x86_64::__m256, n: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's bounds.
    unsafe {
        if n >= 8 {
            _mm256_storeu_ps(c, y);
        } else if n > 0 {
            let mut tmp = [0.0f32; 8];
            _mm256_storeu_ps(tmp.as_mut_ptr(), y);
            std::ptr::copy_nonoverlapping(tmp.as_ptr(), c, n);
        }
    }
}

/// The 256-bit epilogue: 8 outputs from column `col` of the tile.
///
/// # Safety
/// AVX2 is available; columns col..col+8 of the tile's vectors exist (they are padded to 32); `c[..]` as
/// [`store_first`] for `cols − col` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn epilogue8(t: &Tile, acc: std::arch::x86_64::__m256i, col: usize, sx: f32, c: *mut f32) {
    use std::arch::x86_64::*;
    if col >= t.cols {
        return;
    }
    // SAFETY: the caller's bounds.
    unsafe {
        let comp = _mm256_loadu_si256(t.comp.as_ptr().add(col) as *const _);
        let scale = _mm256_mul_ps(_mm256_set1_ps(sx), _mm256_loadu_ps(t.ws.as_ptr().add(col)));
        let y = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, comp)), scale);
        let y = _mm256_add_ps(y, _mm256_loadu_ps(t.bias.as_ptr().add(col)));
        store_first(c.add(col), y, t.cols - col);
    }
}

#[cfg(roberta_avx512)]
mod vnni256 {
    use super::{epilogue8, Tile, NR};
    use std::arch::x86_64::*;

    /// `r ≤ 6` rows × 32 outputs with 256-bit `vpdpbusd`, in two halves of 16.
    ///
    /// # Safety
    /// AVX2 and AVX-VNNI are available; bounds as [`super::portable_tile`].
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn tile(r: usize, t: &Tile, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
        // SAFETY: forwarded.
        unsafe {
            for half in 0..2 {
                match r {
                    6 => micro::<6>(t, half, a, lda, sx, c, ldc),
                    5 => micro::<5>(t, half, a, lda, sx, c, ldc),
                    4 => micro::<4>(t, half, a, lda, sx, c, ldc),
                    3 => micro::<3>(t, half, a, lda, sx, c, ldc),
                    2 => micro::<2>(t, half, a, lda, sx, c, ldc),
                    _ => micro::<1>(t, half, a, lda, sx, c, ldc),
                }
            }
        }
    }

    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    unsafe fn micro<const R: usize>(t: &Tile, half: usize, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let b = t.b.as_ptr();
        // SAFETY (whole body): as vnni512::micro.
        unsafe {
            for g in 0..t.kq {
                let p = b.add(g * NR * 4 + half * 64);
                let b0 = _mm256_loadu_si256(p as *const _);
                let b1 = _mm256_loadu_si256(p.add(32) as *const _);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_epi32((a.add(i * lda + g * 4) as *const i32).read_unaligned());
                    acc[0] = _mm256_dpbusd_avx_epi32(acc[0], av, b0);
                    acc[1] = _mm256_dpbusd_avx_epi32(acc[1], av, b1);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                for (q, &v) in acc.iter().enumerate() {
                    epilogue8(t, v, half * 16 + q * 8, sx[i], c.add(i * ldc));
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{epilogue8, Tile, NR};
    use std::arch::x86_64::*;

    /// `r ≤ 4` rows × 32 outputs with `vpmaddubsw(|q|, sign(a, q))` + `vpmaddwd(·, 1)`, in two halves of 16.
    ///
    /// # Safety
    /// AVX2 is available; bounds as [`super::portable_tile`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile(r: usize, t: &Tile, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
        // SAFETY: forwarded.
        unsafe {
            for half in 0..2 {
                match r {
                    4 => micro::<4>(t, half, a, lda, sx, c, ldc),
                    3 => micro::<3>(t, half, a, lda, sx, c, ldc),
                    2 => micro::<2>(t, half, a, lda, sx, c, ldc),
                    _ => micro::<1>(t, half, a, lda, sx, c, ldc),
                }
            }
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn micro<const R: usize>(t: &Tile, half: usize, a: *const u8, lda: usize, sx: &[f32], c: *mut f32, ldc: usize) {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let b = t.b.as_ptr();
        let ones = _mm256_set1_epi16(1);
        let flip = _mm256_set1_epi8(-128);
        // SAFETY (whole body): as vnni512::micro.
        unsafe {
            for g in 0..t.kq {
                let p = b.add(g * NR * 4 + half * 64);
                let w0 = _mm256_loadu_si256(p as *const _);
                let w1 = _mm256_loadu_si256(p.add(32) as *const _);
                let (u0, u1) = (_mm256_abs_epi8(w0), _mm256_abs_epi8(w1));
                for (i, acc) in acc.iter_mut().enumerate() {
                    // a − 128 as a signed byte: flip the top bit of the biased byte.
                    let av = _mm256_xor_si256(_mm256_set1_epi32((a.add(i * lda + g * 4) as *const i32).read_unaligned()), flip);
                    let p0 = _mm256_maddubs_epi16(u0, _mm256_sign_epi8(av, w0));
                    let p1 = _mm256_maddubs_epi16(u1, _mm256_sign_epi8(av, w1));
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(p0, ones));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(p1, ones));
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                for (q, &v) in acc.iter().enumerate() {
                    epilogue8(t, v, half * 16 + q * 8, sx[i], c.add(i * ldc));
                }
            }
        }
    }
}

/// `Σ_k x[k]·w[k][c]` for the 32 lanes `c` of a `[k][32]` panel, in k order (a multiply then an add, never
/// fused, so the vectorised builds below give the plain one's bits).
fn dot_panel(x: &[f32], w: &[f32]) -> [f32; NR] {
    #[cfg(roberta_avx512)]
    if crate::matmul::has_avx512() {
        // SAFETY: AVX-512F was detected at run time.
        return unsafe { dot_panel_avx512(x, w) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { dot_panel_avx2(x, w) };
    }
    dot_panel_generic(x, w)
}

#[cfg(roberta_avx512)]
#[target_feature(enable = "avx512f")]
fn dot_panel_avx512(x: &[f32], w: &[f32]) -> [f32; NR] {
    dot_panel_generic(x, w)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_panel_avx2(x: &[f32], w: &[f32]) -> [f32; NR] {
    dot_panel_generic(x, w)
}

#[inline(always)]
fn dot_panel_generic(x: &[f32], w: &[f32]) -> [f32; NR] {
    let mut acc = [0.0f32; NR];
    for (&xv, wk) in x.iter().zip(w.chunks_exact(NR)) {
        for (a, &wv) in acc.iter_mut().zip(wk) {
            *a += xv * wv;
        }
    }
    acc
}

/// A raw output pointer shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: tasks write disjoint (row block, panel) tiles, see `QLinear::gemm`.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 37 + seed * 11) % 101) as f32 - 50.0) * 0.013 + ((i * 7) % 3) as f32 * 0.001).collect()
    }

    /// Every kernel this CPU has gives the portable kernel's results bit for bit, on odd shapes (K not a
    /// multiple of 4, partial panels, partial row tiles, a zero row).
    #[test]
    fn kernels_agree_bit_for_bit() {
        for (rows, inp, out) in [(1, 5, 3), (13, 300, 45), (37, 513, 64), (150, 40, 33), (2, 7, 32), (200, 768, 70), (30, 1700, 40)] {
            let mut x = data(rows * inp, 1);
            x[..inp].fill(0.0);
            let w = data(out * inp, 2);
            let b = data(out, 3);
            let run = |k: Int8Kernel| {
                let mut y = vec![f32::NAN; rows * out];
                QLinear::new(&w, out, Some(&b), k).forward_into(&x, rows, &mut y);
                y
            };
            let want = run(Int8Kernel::Portable);
            let mut tried = 0;
            for k in Int8Kernel::ALL.into_iter().filter(|k| k.available()) {
                assert_eq!(run(k), want, "{} on {rows}×{inp}→{out}", k.name());
                tried += 1;
            }
            assert!(tried >= 1);
        }
    }

    /// The int8 result is close to the f32 one: error bounded by the quantization steps.
    #[test]
    fn int8_is_close_to_f32() {
        let (rows, inp, out) = (40, 768, 96);
        let x = data(rows * inp, 4);
        let w = data(out * inp, 5);
        let mut want = vec![0.0; rows * out];
        crate::ops::linear_into(&x, rows, &w, out, None, &mut want);
        let mut got = vec![0.0; rows * out];
        QLinear::new(&w, out, None, Int8Kernel::best()).forward_into(&x, rows, &mut got);
        let num: f32 = want.iter().zip(&got).map(|(a, b)| (a - b) * (a - b)).sum();
        let den: f32 = want.iter().map(|a| a * a).sum();
        let rel = (num / den).sqrt();
        assert!(rel < 0.02, "relative error {rel}");
        assert!(rel > 0.0, "int8 cannot be exact on these values");
    }

    /// The weight-only product equals f32 arithmetic on the dequantized weights (to f32 rounding), on every
    /// SIMD build the same bits, with the layer's bias or another.
    #[test]
    fn weight_only_is_f32_on_dequantized_weights() {
        for (rows, inp, out) in [(1, 5, 3), (3, 130, 70), (17, 768, 33)] {
            let x = data(rows * inp, 7);
            let w = data(out * inp, 8);
            let b = data(out, 9);
            let q = QLinear::new(&w, out, Some(&b), Int8Kernel::Portable);
            let mut deq = vec![0.0f32; out * inp];
            for n in 0..out {
                q.row_into(n, &mut deq[n * inp..][..inp]);
            }
            let mut want = vec![0.0; rows * out];
            crate::ops::linear_into(&x, rows, &deq, out, Some(&b), &mut want);
            let mut got = vec![f32::NAN; rows * out];
            q.forward_weight_only_into(&x, rows, &mut got, None);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{rows}×{inp}→{out}: {g} vs {w}");
            }
            let mut plain = vec![0.0f32; rows * out];
            for r in 0..rows {
                for n in 0..out {
                    let mut row = vec![0.0f32; inp];
                    q.row_into(n, &mut row);
                    let ints: Vec<f32> = row.iter().map(|v| (v / q.ws[n]).round()).collect();
                    let acc = dot_panel_generic(&x[r * inp..][..inp], &ints.iter().flat_map(|&v| std::iter::once(v).chain([0.0; NR - 1])).collect::<Vec<_>>());
                    plain[r * out + n] = acc[0] * q.ws[n] + 0.5;
                }
            }
            let bias = vec![0.5f32; out];
            q.forward_weight_only_into(&x, rows, &mut got, Some(&bias));
            assert_eq!(got, plain, "{rows}×{inp}→{out}: SIMD build differs from the plain sum");
        }
    }

    /// The vectorised row quantization gives the plain one's bytes and scale: ties (x·127/m exactly k + 0.5),
    /// lengths that are not a multiple of 16, zero, NaN and infinite rows.
    #[test]
    fn row_quantization_builds_agree() {
        let mut rows: Vec<Vec<f32>> = vec![vec![], vec![0.0; 17], vec![1.0, f32::NAN, 2.0], vec![f32::INFINITY, 1.0], vec![-3.0; 5]];
        // ties: with m = 127, x·127/m = x exactly
        rows.push((0..300).map(|i| (i as f32 - 150.0) * 0.5).chain([127.0]).collect());
        for n in [1, 15, 16, 17, 31, 768, 3072, 1001] {
            rows.push(data(n, n));
        }
        for x in rows {
            let pad = x.len().div_ceil(4) * 4 + 4;
            let (mut a, mut b) = (vec![7u8; pad], vec![9u8; pad]);
            let sa = quantize_row_generic(&x, &mut a);
            let sb = quantize_row(&x, &mut b);
            assert_eq!(a, b, "bytes of a row of {}", x.len());
            assert!(sa == sb || (sa.is_nan() && sb.is_nan()), "scale {sa} vs {sb}");
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                let mut c = vec![5u8; pad];
                // SAFETY: AVX2 was detected.
                let sc = unsafe { quantize_row_avx2(&x, &mut c) };
                assert_eq!(a, c, "AVX2 bytes of a row of {}", x.len());
                assert!(sa == sc || (sa.is_nan() && sc.is_nan()), "AVX2 scale {sa} vs {sc}");
            }
        }
    }

    /// Dequantized rows are within half a step of the weights.
    #[test]
    fn rows_dequantize_within_half_a_step() {
        let (out, inp) = (70, 45);
        let w = data(out * inp, 6);
        let q = QLinear::new(&w, out, None, Int8Kernel::Portable);
        let mut row = vec![0.0; inp];
        for n in 0..out {
            q.row_into(n, &mut row);
            let m = w[n * inp..][..inp].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (a, b) in row.iter().zip(&w[n * inp..][..inp]) {
                assert!((a - b).abs() <= m / 254.0 * 1.001, "row {n}: {a} vs {b}");
            }
        }
    }
}
