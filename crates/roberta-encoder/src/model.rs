//! The RoBERTa encoder on the CPU in f32 (HF `RobertaModel` without the pooler): embeddings, then per layer
//! the fused QKV projection, masked softmax attention (the packed AVX-512 kernel, or the `gemm` crate), the
//! output projection + residual + LayerNorm, the FFN + residual + LayerNorm. Loaded from any
//! [`TensorSource`], tensor by tensor. A right-padded batch runs padding-free: only its real tokens are rows,
//! and attention runs per sequence over its own rows; other masks run padded (see [`Layout`]).
use crate::batch::{BatchInput, BatchPlan, EncoderOutput, Layout, TokenRows};
use crate::config::{Activation, Config, Family};
use crate::error::{EncoderError, Result};
use crate::matmul::{CpuDType, CpuOptions, PackedLinear};
use crate::qmatmul::QLinear;
use crate::ops::{self, gemm_strided};
use rayon::prelude::*;
use roberta_checkpoint::{names, ModelFiles, TensorSource};

/// The word embeddings `[vocab, hidden]`, shared with a tied masked-LM decoder ([`RobertaModel::word_embeddings`]):
/// f32, or in int8 models quantized per row (one scale per token, which is per output channel of the tied
/// decoder), so that the decoder is an int8 GEMM on the same bytes and the table takes a quarter of the memory.
#[derive(Clone)]
pub enum WordEmbeddings {
    /// f32, row-major.
    F32(std::sync::Arc<Vec<f32>>),
    /// int8, per-row scales, in the int8 GEMM's packed layout.
    Int8(std::sync::Arc<QLinear>),
}

impl WordEmbeddings {
    /// Rows (the vocabulary).
    pub fn rows(&self, width: usize) -> usize {
        match self {
            WordEmbeddings::F32(w) => w.len().checked_div(width).unwrap_or(0),
            WordEmbeddings::Int8(q) => q.out,
        }
    }
}

/// `embeddings.*`: word + position + token type, then LayerNorm.
struct Embeddings {
    word: WordEmbeddings,
    position: Vec<f32>,
    /// `[type_vocab_size, hidden]`.
    token_type: Vec<f32>,
    family: Family,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
}

/// `encoder.layer.{i}.*`, with Q, K and V fused into one `[3H, H]` projection.
struct Layer {
    qkv: PackedLinear,
    attn_out: PackedLinear,
    attn_ln_g: Vec<f32>,
    attn_ln_b: Vec<f32>,
    inter: PackedLinear,
    out: PackedLinear,
    out_ln_g: Vec<f32>,
    out_ln_b: Vec<f32>,
}

/// The encoder (HF `RobertaModel` without the pooler).
pub struct RobertaModel {
    /// The configuration it was loaded with.
    pub config: Config,
    emb: Embeddings,
    layers: Vec<Layer>,
    act: Activation,
    eps: f32,
    /// The packed AVX-512 kernels ([`CpuOptions::packed`]), for the attention as for the linear layers.
    packed: bool,
    /// [`CpuOptions::describe`] of the options it was loaded with.
    dtype: String,
    /// The scratch buffers of the last forward, kept for the next one (no allocation, no page faults on
    /// fresh pages per call); a concurrent forward allocates its own.
    scratch: std::sync::Mutex<Scratch>,
}

impl Embeddings {
    fn load(c: &Config, src: &dyn TensorSource, opts: &CpuOptions) -> Result<Self> {
        use names::embeddings as n;
        let h = c.hidden_size;
        let word = src.read_f32(n::WORD, &[c.vocab_size, h])?;
        let word = match opts.dtype {
            CpuDType::F32 => WordEmbeddings::F32(std::sync::Arc::new(word)),
            CpuDType::Int8 => WordEmbeddings::Int8(std::sync::Arc::new(QLinear::new(&word, c.vocab_size, None, opts.int8_kernel()))),
        };
        let tt = src.read_f32(n::TOKEN_TYPE, &[c.type_vocab_size, h])?;
        if c.type_vocab_size == 0 {
            return Err(EncoderError::Input("type_vocab_size is 0".into()));
        }
        Ok(Embeddings {
            word,
            position: src.read_f32(n::POSITION, &[c.max_position_embeddings, h])?,
            token_type: tt,
            family: c.family(),
            ln_g: src.read_f32(n::LN_WEIGHT, &[h])?,
            ln_b: src.read_f32(n::LN_BIAS, &[h])?,
        })
    }

    /// Writes `LayerNorm(word[id] + position[pid] + token_type[type])` for every row of every sequence into `out`
    /// (`ids`, `types` (all 0 when None) and `out` hold the same rows; `segs` are each sequence's `(first row,
    /// rows)`). Position ids as HF: RoBERTa's padding_idx + cumsum(id != padding_idx) within the sequence
    /// (padding_idx for a padding id), BERT's the position in the sequence.
    fn forward(&self, ids: &[u32], types: Option<&[u32]>, segs: &[(usize, usize)], pad: u32, eps: f32, out: &mut [f32]) {
        let h = self.ln_g.len();
        // each sequence's own rows of `out`, in parallel
        let mut parts: Vec<(usize, &mut [f32])> = Vec::with_capacity(segs.len());
        let mut rest = out;
        let mut at = 0;
        for &(r0, n) in segs {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut((r0 - at) * h);
            let (mine, tail) = tail.split_at_mut(n * h);
            parts.push((r0, mine));
            rest = tail;
            at = r0 + n;
        }
        parts.into_par_iter().for_each(|(r0, rows)| {
            let mut count = 0usize;
            let mut dequantized = Vec::new();
            for (s, r) in rows.chunks_mut(h).enumerate() {
                let id = ids[r0 + s];
                let pid = match self.family {
                    Family::Bert => s,
                    Family::Roberta if id != pad => {
                        count += 1;
                        pad as usize + count
                    }
                    Family::Roberta => pad as usize,
                };
                let ty = types.map_or(0, |t| t[r0 + s] as usize);
                let we: &[f32] = match &self.word {
                    WordEmbeddings::F32(w) => &w[id as usize * h..][..h],
                    WordEmbeddings::Int8(q) => {
                        dequantized.resize(h, 0.0);
                        q.row_into(id as usize, &mut dequantized);
                        &dequantized
                    }
                };
                let pe = &self.position[pid * h..][..h];
                let te = &self.token_type[ty * h..][..h];
                for i in 0..h {
                    r[i] = we[i] + pe[i] + te[i];
                }
                ops::layer_norm_inplace(r, h, &self.ln_g, &self.ln_b, eps);
            }
        });
    }
}

impl Layer {
    fn load(c: &Config, src: &dyn TensorSource, i: usize, opts: &CpuOptions) -> Result<Self> {
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let n = names::layer(i);
        let mut qkv_w = Vec::with_capacity(3 * h * h);
        let mut qkv_b = Vec::with_capacity(3 * h);
        for (w, b) in n.qkv_weight.iter().zip(&n.qkv_bias) {
            qkv_w.extend_from_slice(&src.read_f32(w, &[h, h])?);
            qkv_b.extend_from_slice(&src.read_f32(b, &[h])?);
        }
        let lin = |weight: &str, bias: &str, out: usize, inp: usize| -> Result<PackedLinear> {
            Ok(PackedLinear::with_options(src.read_f32(weight, &[out, inp])?, out, Some(src.read_f32(bias, &[out])?), opts))
        };
        Ok(Layer {
            qkv: PackedLinear::with_options(qkv_w, 3 * h, Some(qkv_b), opts),
            attn_out: lin(&n.attn_out_weight, &n.attn_out_bias, h, h)?,
            attn_ln_g: src.read_f32(&n.attn_ln_weight, &[h])?,
            attn_ln_b: src.read_f32(&n.attn_ln_bias, &[h])?,
            inter: lin(&n.inter_weight, &n.inter_bias, f, h)?,
            out: lin(&n.out_weight, &n.out_bias, h, f)?,
            out_ln_g: src.read_f32(&n.out_ln_weight, &[h])?,
            out_ln_b: src.read_f32(&n.out_ln_bias, &[h])?,
        })
    }
}

/// Scratch buffers reused by every layer of one forward call.
#[derive(Default)]
struct Scratch {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
}

/// Largest batch (in tokens) whose scratch buffers the model keeps between calls (8×512).
const KEEP_ROWS: usize = 4096;

/// A raw pointer that rayon tasks may share; each task writes a disjoint region.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used to let parallel tasks write disjoint (batch, head) column blocks of one buffer.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// The sequences of one forward pass as rows: `(first row, rows)` each, and for a padded batch the key mask of
/// every row (`None`: every row is a real token, the padding-free layout).
#[derive(Clone, Copy)]
struct Segs<'a> {
    segs: &'a [(usize, usize)],
    mask: Option<&'a [u32]>,
}

impl Segs<'_> {
    /// The key mask of sequence `i`'s rows, if the batch is padded.
    fn mask(&self, i: usize) -> Option<&[u32]> {
        let (r0, n) = self.segs[i];
        self.mask.map(|m| &m[r0..r0 + n])
    }
}

/// Multi-head attention per sequence: `ctx[r, h·d..] = softmax(Q Kᵀ/√d + mask) V` over each sequence's own rows,
/// one task per (sequence, head), on the packed AVX-512 micro-kernel when it is in use, else on the `gemm`
/// crate. Rows outside every sequence are not touched.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(roberta_avx512), allow(unused_variables))]
fn attention(qkv: &[f32], segs: Segs, heads: usize, d: usize, ctx: &mut [f32], packed: bool) {
    let (h, rows) = (heads * d, ctx.len() / (heads * d).max(1));
    assert_eq!(qkv.len(), rows * 3 * h);
    assert!(segs.segs.iter().all(|&(r0, n)| r0 + n <= rows), "a sequence past the rows");
    #[cfg(roberta_avx512)]
    if packed {
        return attention_avx512(qkv, segs, heads, d, ctx);
    }
    attention_gemm(qkv, segs, heads, d, ctx)
}

thread_local! {
    /// Per-thread buffers of the fused attention (reused: no allocation per task or per call).
    static ATT: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fused attention per (batch, head) on the GEMM micro-kernel, everything in L1/L2: K packed as 32-wide
/// panels `[d][32]` (Kᵀ), V as panels `[t][32]`, then for each block of ≤ 12 query rows: Q block (scaled)
/// packed `[d][r]`, S = Q Kᵀ into an r×t tile, masked softmax per row, P packed `[t][r]`, ctx = P V
/// written straight into the context rows.
#[cfg(roberta_avx512)]
fn attention_avx512(qkv: &[f32], segs: Segs, heads: usize, d: usize, ctx: &mut [f32]) {
    use crate::matmul::{gather_pack, micro_rows_strided, MR, NR};
    let h = heads * d;
    let scale = 1.0 / (d as f32).sqrt();
    let ctx_ptr = SendPtr(ctx.as_mut_ptr());
    let zeros = [0.0f32; NR];
    (0..segs.segs.len() * heads).into_par_iter().for_each(|bh| {
        #[allow(clippy::redundant_locals)]
        let ctx_ptr = ctx_ptr;
        let (b, head) = (bh / heads, bh % heads);
        let (r0, t) = segs.segs[b];
        if t == 0 {
            return;
        }
        let (tp, dp) = (t.div_ceil(NR), d.div_ceil(NR));
        let tw = tp * NR; // score tile row stride
        let (kp_len, vp_len, s_len) = (tp * d * NR, dp * t * NR, MR * tw);
        let m = segs.mask(b);
        // A row with no real token at all: HF's additive mask then weighs every key equally.
        let all_masked = m.is_some_and(|m| m.iter().all(|&v| v == 0));
        let base = r0 * 3 * h + head * d;
        let (q, k, v) = (&qkv[base..], &qkv[base + h..], &qkv[base + 2 * h..]);
        ATT.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.resize(kp_len + vp_len + s_len, 0.0);
            let (kp, rest) = buf.split_at_mut(kp_len);
            let (vp, st) = rest.split_at_mut(vp_len);
            // Kᵀ panels: kp[j][c][i] = K[j·32 + i][c] (zero past t); V panels: vp[j][s][i] = V[s][j·32 + i].
            for (j, panel) in kp.chunks_exact_mut(d * NR).enumerate() {
                let n = NR.min(t - j * NR);
                for i0 in (0..n).step_by(16) {
                    // SAFETY: AVX-512 is in use; rows j·32 + i0.. (< t) of K, d floats each at stride 3h,
                    // lie inside qkv; the panel holds d rows of 32.
                    unsafe { gather_pack(k[(j * NR + i0) * 3 * h..].as_ptr(), 3 * h, 16.min(n - i0), d, panel.as_mut_ptr().add(i0), NR, 1.0) };
                }
                if n < NR {
                    for c in 0..d {
                        panel[c * NR + n..(c + 1) * NR].fill(0.0);
                    }
                }
            }
            for (j, panel) in vp.chunks_exact_mut(t * NR).enumerate() {
                let n = NR.min(d - j * NR);
                for s in 0..t {
                    let dst = &mut panel[s * NR..(s + 1) * NR];
                    dst[..n].copy_from_slice(&v[s * 3 * h + j * NR..][..n]);
                    dst[n..].fill(0.0);
                }
            }
            let mut i0 = 0;
            while i0 < t {
                let r = MR.min(t - i0);
                let qr = q[i0 * 3 * h..].as_ptr();
                for j in 0..tp {
                    // SAFETY: AVX-512 is in use (packed_path); r ≤ 12 query rows of d floats at stride 3h lie
                    // inside qkv, panel j of kp holds d·32 floats, and the r×32 tile at column j·32 of st
                    // (row stride tw = tp·32) is inside st (MR·tw).
                    unsafe {
                        micro_rows_strided(r, d, qr, 3 * h, kp.as_ptr().add(j * d * NR), st.as_mut_ptr().add(j * NR), tw, u32::MAX, zeros.as_ptr());
                    }
                }
                for rr in 0..r {
                    let row = &mut st[rr * tw..rr * tw + t];
                    match m {
                        Some(m) if !all_masked => {
                            for (s, &mv) in row.iter_mut().zip(m) {
                                *s = if mv != 0 { *s * scale } else { f32::NEG_INFINITY };
                            }
                        }
                        _ => row.iter_mut().for_each(|s| *s *= scale),
                    }
                    ops::softmax_row(row);
                }
                for j in 0..dp {
                    let cols = NR.min(d - j * NR);
                    let cmask = if cols == NR { u32::MAX } else { (1u32 << cols) - 1 };
                    // SAFETY: st holds r rows of t floats at stride tw, panel j of vp t·32; this task alone writes ctx rows
                    // r0 + i0.. + r (inside its sequence), columns head·d + j·32 .. + cols (row stride h), inside ctx
                    // (asserted in `attention`).
                    unsafe {
                        micro_rows_strided(
                            r, t, st.as_ptr(), tw, vp.as_ptr().add(j * t * NR),
                            ctx_ptr.0.add((r0 + i0) * h + head * d + j * NR), h, cmask, zeros.as_ptr(),
                        );
                    }
                }
                i0 += r;
            }
        });
    });
}

/// Attention on the `gemm` crate (no AVX-512, or [`crate::matmul::CpuGemm::Gemm`]).
fn attention_gemm(qkv: &[f32], segs: Segs, heads: usize, d: usize, ctx: &mut [f32]) {
    let h = heads * d;
    let scale = 1.0 / (d as f32).sqrt();
    let ctx_ptr = SendPtr(ctx.as_mut_ptr());
    (0..segs.segs.len() * heads).into_par_iter().for_each_init(Vec::<f32>::new, |scores, bh| {
        let (b, head) = (bh / heads, bh % heads);
        let (r0, t) = segs.segs[b];
        if t == 0 {
            return;
        }
        let m = segs.mask(b);
        // A row with no real token at all: HF's additive mask then weighs every key equally.
        let all_masked = m.is_some_and(|m| m.iter().all(|&v| v == 0));
        scores.resize(t * t, 0.0);
        let q = qkv[r0 * 3 * h + head * d..].as_ptr();
        let k = qkv[r0 * 3 * h + h + head * d..].as_ptr();
        let v = qkv[r0 * 3 * h + 2 * h + head * d..].as_ptr();
        // SAFETY: Q, K and V of (sequence, head) are t rows of d elements with row stride 3h inside qkv
        // (rows r0..r0+t lie inside the rows, asserted in `attention`); scores is t×t.
        unsafe {
            gemm_strided(t, t, d, scores.as_mut_ptr(), t as isize, false, q, 3 * h as isize, 1, k, 1, 3 * h as isize, false);
        }
        for row in scores.chunks_mut(t) {
            match m {
                Some(m) if !all_masked => {
                    for (s, &mv) in row.iter_mut().zip(m) {
                        *s = if mv != 0 { *s * scale } else { f32::NEG_INFINITY };
                    }
                }
                _ => row.iter_mut().for_each(|s| *s *= scale),
            }
            ops::softmax_row(row);
        }
        let dst = ctx_ptr;
        // SAFETY: this task alone writes ctx rows r0..r0+t, columns head·d..(head+1)·d (row stride h);
        // V is t×d with row stride 3h inside qkv; P is t×t.
        unsafe {
            gemm_strided(
                t, d, t, dst.0.add(r0 * h + head * d), h as isize, false,
                scores.as_ptr(), t as isize, 1, v, 3 * h as isize, 1, false,
            );
        }
    });
}

impl RobertaModel {
    /// Builds the encoder from a config and a checkpoint, reading each tensor once (straight into the model
    /// from a streaming source: the peak is the model plus the largest weight matrix, before packing) and
    /// checking its shape.
    pub fn load(config: &Config, src: &dyn TensorSource) -> Result<RobertaModel> {
        Self::load_with(config, src, &CpuOptions::default())
    }

    /// [`RobertaModel::load`] with the kernels `opts` choose.
    pub fn load_with(config: &Config, src: &dyn TensorSource, opts: &CpuOptions) -> Result<RobertaModel> {
        config.validate(src.path())?;
        opts.check().map_err(EncoderError::Options)?;
        let emb = Embeddings::load(config, src, opts)?;
        let layers = (0..config.num_hidden_layers).map(|i| Layer::load(config, src, i, opts)).collect::<Result<_>>()?;
        Ok(RobertaModel {
            config: config.clone(),
            emb,
            layers,
            act: config.activation()?,
            eps: config.layer_norm_eps as f32,
            packed: opts.packed(),
            dtype: opts.describe(),
            scratch: Default::default(),
        })
    }

    /// Builds the encoder from a model directory's checkpoint ([`ModelFiles::resolve`]), streamed tensor by tensor.
    pub fn load_dir(config: &Config, dir: &std::path::Path) -> Result<RobertaModel> {
        Self::load_dir_with(config, dir, &CpuOptions::default())
    }

    /// [`RobertaModel::load_dir`] with the kernels `opts` choose.
    pub fn load_dir_with(config: &Config, dir: &std::path::Path, opts: &CpuOptions) -> Result<RobertaModel> {
        Self::load_with(config, ModelFiles::resolve(dir)?.open_weights()?.as_ref(), opts)
    }

    /// The word embeddings `[vocab, hidden]`, shared (not copied): a tied masked-LM decoder reads the same
    /// matrix, so the model holds it once.
    pub fn word_embeddings(&self) -> WordEmbeddings {
        self.emb.word.clone()
    }

    /// What the linear layers compute in, for messages: `f32`, or `int8 (avx512vnni)`.
    pub fn dtype_description(&self) -> String {
        self.dtype.clone()
    }

    /// Checks a batch: lengths, the position limit (512 for RoBERTa-base), ids inside the vocabulary.
    pub fn check_input(&self, input: &BatchInput) -> Result<()> {
        input.check(&self.config)
    }

    /// Runs the encoder; returns the last hidden state and, when asked, every hidden state, `[batch, seq_len,
    /// hidden]` each. A right-padded batch runs padding-free ([`Layout::Auto`]): only its real tokens are
    /// computed, and padding positions come back as zeros (unspecified, as DESIGN.md says); other masks (left
    /// padding, holes) run padded.
    pub fn forward(&self, input: &BatchInput, output_hidden_states: bool) -> Result<EncoderOutput> {
        self.forward_with_layout(input, output_hidden_states, Layout::Auto)
    }

    /// [`RobertaModel::forward`] with the layout chosen ([`Layout::Padded`] computes every position, as before
    /// padding-free existed; the tests compare the two).
    pub fn forward_with_layout(&self, input: &BatchInput, output_hidden_states: bool, layout: Layout) -> Result<EncoderOutput> {
        self.check_input(input)?;
        let plan = BatchPlan::new(input, layout)?;
        let h = self.config.hidden_size;
        let (last, hidden) = self.run_plan(input, &plan, output_hidden_states);
        if plan.padded {
            return Ok(EncoderOutput { last_hidden_state: last, hidden_states: hidden });
        }
        Ok(EncoderOutput {
            last_hidden_state: plan.scatter(&last, h),
            hidden_states: hidden.iter().map(|x| plan.scatter(x, h)).collect(),
        })
    }

    /// The last hidden state of the real tokens only (a right-padded batch; other masks are an error), computed
    /// padding-free: what the pipelines read.
    pub fn forward_tokens(&self, input: &BatchInput) -> Result<TokenRows> {
        self.check_input(input)?;
        let plan = BatchPlan::new(input, Layout::Packed)?;
        let (data, _) = self.run_plan(input, &plan, false);
        Ok(TokenRows { data, offsets: plan.row_offsets(), width: self.config.hidden_size })
    }

    /// Runs every layer over the plan's rows (all positions when padded, the real tokens only when packed).
    fn run_plan(&self, input: &BatchInput, plan: &BatchPlan, output_hidden_states: bool) -> (Vec<f32>, Vec<Vec<f32>>) {
        let c = &self.config;
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let packed_ids: Vec<u32>;
        let (ids, mask): (&[u32], Option<&[u32]>) = if plan.padded {
            (input.input_ids, Some(input.attention_mask))
        } else {
            packed_ids = plan.ids.iter().map(|&v| v as u32).collect();
            (&packed_ids, None)
        };
        let segs: Vec<(usize, usize)> = plan.offsets.windows(2).map(|w| (w[0] as usize, (w[1] - w[0]) as usize)).collect();
        let rows = ids.len();
        let mut x = vec![0.0f32; rows * h];
        let mut hidden_states = Vec::new();
        if rows == 0 {
            // no real token (every mask zero): each hidden state is all padding (zeros once scattered)
            if output_hidden_states && input.batch * input.seq_len > 0 {
                hidden_states = vec![Vec::new(); c.num_hidden_layers + 1];
            }
            return (x, hidden_states);
        }
        let types: Option<Vec<u32>> = plan.type_ids.as_ref().map(|t| t.iter().map(|&v| v as u32).collect());
        self.emb.forward(ids, types.as_deref(), &segs, c.pad_token_id, self.eps, &mut x);
        if output_hidden_states {
            hidden_states.push(x.clone());
        }
        // Every buffer is fully written before it is read, so stale contents do not matter. The kept
        // scratch is capped (a huge one-off batch does not pin its activations for the model's lifetime).
        let mut kept = self.scratch.try_lock().ok();
        let mut own = Scratch::default();
        let s = match kept.as_deref_mut() {
            Some(s) if rows <= KEEP_ROWS => s,
            _ => &mut own,
        };
        for (v, n) in [(&mut s.qkv, rows * 3 * h), (&mut s.ctx, rows * h), (&mut s.tmp, rows * h), (&mut s.inter, rows * f)] {
            v.resize(n, 0.0);
        }
        let segs = Segs { segs: &segs, mask };
        for layer in &self.layers {
            self.layer_forward(layer, segs, rows, &mut x, s);
            if output_hidden_states {
                hidden_states.push(x.clone());
            }
        }
        (x, hidden_states)
    }

    fn layer_forward(&self, l: &Layer, segs: Segs, rows: usize, x: &mut [f32], s: &mut Scratch) {
        let c = &self.config;
        let h = c.hidden_size;
        l.qkv.forward_into(x, rows, &mut s.qkv);
        attention(&s.qkv, segs, c.num_attention_heads, c.head_dim(), &mut s.ctx, self.packed);
        l.attn_out.forward_into(&s.ctx, rows, &mut s.tmp);
        ops::add_layer_norm_inplace(&mut s.tmp, x, h, &l.attn_ln_g, &l.attn_ln_b, self.eps);
        if self.act == Activation::Gelu {
            l.inter.forward_gelu_into(&s.tmp, rows, &mut s.inter);
        } else {
            l.inter.forward_into(&s.tmp, rows, &mut s.inter);
            ops::activation_inplace(&mut s.inter, self.act);
        }
        l.out.forward_into(&s.inter, rows, x);
        ops::add_layer_norm_inplace(x, &s.tmp, h, &l.out_ln_g, &l.out_ln_b, self.eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `load_dir` (tensor by tensor from the file) builds the same model as `load` on a whole `Weights`.
    #[test]
    fn load_dir_equals_load() {
        let dir = std::env::temp_dir().join(format!("roberta-load-dir-{}", std::process::id()));
        crate::random::write_random_model(&dir, crate::random::Shape::Tiny).unwrap();
        let cfg = Config::from_file(&dir.join("config.json")).unwrap();
        let a = RobertaModel::load(&cfg, &roberta_checkpoint::Weights::load_dir(&dir).unwrap()).unwrap();
        let b = RobertaModel::load_dir(&cfg, &dir).unwrap();
        let ids: Vec<u32> = (0..2 * 9).map(|i| if i % 9 == 0 { cfg.bos_token_id } else { 5 + i as u32 * 31 % 900 }).collect();
        let mask = vec![1u32; ids.len()];
        let input = BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: 2, seq_len: 9 };
        assert_eq!(a.forward(&input, false).unwrap().last_hidden_state, b.forward(&input, false).unwrap().last_hidden_state);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The fused attention against the `gemm` crate one: odd lengths and head sizes, padding, a row with
    /// no real token.
    #[test]
    fn fused_attention_matches_gemm() {
        for (batch, t, heads, d) in [(3, 37, 2, 40), (2, 128, 3, 64), (2, 5, 4, 8), (1, 70, 1, 33)] {
            let h = heads * d;
            let qkv: Vec<f32> = (0..batch * t * 3 * h).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.03).collect();
            let mut mask = vec![1u32; batch * t];
            mask[t - 2..t].fill(0);
            if batch > 2 {
                mask[2 * t..3 * t].fill(0);
            }
            let segs: Vec<(usize, usize)> = (0..batch).map(|b| (b * t, t)).collect();
            let segs = Segs { segs: &segs, mask: Some(&mask) };
            let mut want = vec![0.0; batch * t * h];
            attention_gemm(&qkv, segs, heads, d, &mut want);
            let mut got = vec![9.0; batch * t * h];
            attention(&qkv, segs, heads, d, &mut got, crate::matmul::packed_path());
            let e = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(e < 1e-5, "{batch}×{t}, {heads}×{d}: {e}");
        }
    }

    /// Padding-free = padded: a batch of mixed lengths (1 to 70 tokens, one empty) through the tiny random
    /// model gives the same hidden states at every real position, layer by layer, on both attention kernels;
    /// the packed run's padding positions are zeros, and `forward_tokens` holds exactly the real rows.
    #[test]
    fn packed_equals_padded() {
        let dir = std::env::temp_dir().join(format!("roberta-packed-{}", std::process::id()));
        crate::random::write_random_model(&dir, crate::random::Shape::Tiny).unwrap();
        let cfg = Config::from_file(&dir.join("config.json")).unwrap();
        let lens = [70usize, 1, 33, 0, 64, 5];
        let t = 70;
        let mut ids = vec![cfg.pad_token_id; lens.len() * t];
        let mut mask = vec![0u32; lens.len() * t];
        for (b, &n) in lens.iter().enumerate() {
            for s in 0..n {
                ids[b * t + s] = if s == 0 { cfg.bos_token_id } else { 5 + ((b * 131 + s * 17) % 900) as u32 };
                mask[b * t + s] = 1;
            }
        }
        // a real token whose id is the padding id: HF's position ids skip it
        ids[2 * t + 10] = cfg.pad_token_id;
        let input = BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: lens.len(), seq_len: t };
        for gemm in [crate::matmul::CpuGemm::Auto, crate::matmul::CpuGemm::Gemm] {
            let opts = CpuOptions { gemm, ..CpuOptions::default() };
            let m = RobertaModel::load_dir_with(&cfg, &dir, &opts).unwrap();
            let padded = m.forward_with_layout(&input, true, Layout::Padded).unwrap();
            let packed = m.forward_with_layout(&input, true, Layout::Auto).unwrap();
            let h = cfg.hidden_size;
            assert_eq!(padded.hidden_states.len(), packed.hidden_states.len());
            for (a, b) in padded.hidden_states.iter().zip(&packed.hidden_states).chain([(&padded.last_hidden_state, &packed.last_hidden_state)]) {
                for (r, &mv) in mask.iter().enumerate() {
                    let (x, y) = (&a[r * h..(r + 1) * h], &b[r * h..(r + 1) * h]);
                    if mv == 1 {
                        let e = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
                        assert!(e <= 1e-6, "{gemm:?}: row {r}: {e}");
                    } else {
                        assert!(y.iter().all(|&v| v == 0.0), "{gemm:?}: padding row {r} is computed");
                    }
                }
            }
            let rows = m.forward_tokens(&input).unwrap();
            assert_eq!(rows.offsets, [0, 70, 71, 104, 104, 168, 173]);
            for (b, &n) in lens.iter().enumerate() {
                for s in 0..n {
                    assert_eq!(rows.row(b, s), &packed.last_hidden_state[(b * t + s) * h..][..h]);
                }
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
