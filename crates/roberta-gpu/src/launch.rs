//! Typed launchers: one per kernel, each checking the sizes its `// SAFETY:` comment relies on.
use crate::device::{Gpu, SeqOffsets};
use crate::error::ensure;
use crate::Result;
use cudarc::driver::{CudaSlice, DevicePtrMut, LaunchConfig, PushKernelArg};
use half::f16;

/// Which GEMM kernel version (kernels/gemm.cu's header lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmVersion {
    /// Register-staged double buffering (every arch).
    V1 = 1,
    /// cp.async double buffering (sm_80+; on sm_70/75 it runs version 1's path).
    V2 = 2,
}

/// GEMM block tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmTile {
    /// 128×128, 8 warps: large M.
    T128,
    /// 64×64, 4 warps: small M (more blocks to fill the SMs).
    T64,
}

impl GemmTile {
    fn size(self) -> usize {
        match self {
            GemmTile::T128 => 128,
            GemmTile::T64 => 64,
        }
    }
}

/// A GEMM kernel choice: version and tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmAlgo {
    /// Kernel version.
    pub version: GemmVersion,
    /// Block tile.
    pub tile: GemmTile,
}

/// The GEMM's fused epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// `+ bias`.
    Bias,
    /// `+ bias`, then exact erf GELU.
    Gelu,
    /// `+ bias + residual`.
    Residual,
}

impl Epilogue {
    fn suffix(self) -> &'static str {
        match self {
            Epilogue::Bias => "bias",
            Epilogue::Gelu => "gelu",
            Epilogue::Residual => "residual",
        }
    }
}

/// The embedding tables and their LayerNorm, on the device.
pub struct EmbeddingTables {
    /// `[vocab, H]`.
    pub word: CudaSlice<f16>,
    /// `[max_pos, H]`.
    pub pos: CudaSlice<f16>,
    /// `[type_vocab, H]`.
    pub token_type: CudaSlice<f16>,
    /// LayerNorm weight `[H]`.
    pub gamma: CudaSlice<f16>,
    /// LayerNorm bias `[H]`.
    pub beta: CudaSlice<f16>,
    /// Hidden size.
    pub hidden: usize,
}

const NULL: u64 = 0;

fn i32_of(x: usize, kernel: &'static str) -> Result<i32> {
    i32::try_from(x).map_err(|_| crate::Error::Shape { kernel, what: format!("{x} does not fit i32") })
}

impl Gpu {
    /// The default GEMM choice for an M×N output: cp.async on sm_80+, and the 128 tile only when it
    /// still gives every SM a block.
    pub fn gemm_algo(&self, m: usize, n: usize) -> GemmAlgo {
        let version = if self.sm() >= 80 { GemmVersion::V2 } else { GemmVersion::V1 };
        let blocks128 = m.div_ceil(128) * n.div_ceil(128);
        let tile = if blocks128 >= self.sm_count() as usize { GemmTile::T128 } else { GemmTile::T64 };
        GemmAlgo { version, tile }
    }

    /// `c[M,N] = epi(a[M,K] · wᵀ + bias)`, w a Linear weight `[N,K]`. `residual` `[M,N]` is required by
    /// [`Epilogue::Residual`] and ignored otherwise. Needs K % 8 == 0 and N % 8 == 0.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        algo: GemmAlgo,
        epi: Epilogue,
        a: &CudaSlice<f16>,
        w: &CudaSlice<f16>,
        bias: Option<&CudaSlice<f16>>,
        residual: Option<&CudaSlice<f16>>,
        c: &mut CudaSlice<f16>,
        (m, n, k): (usize, usize, usize),
    ) -> Result<()> {
        const K: &str = "gemm";
        ensure(m > 0 && n > 0 && k > 0, K, || format!("empty shape {m}×{n}×{k}"))?;
        ensure(k % 8 == 0 && n % 8 == 0, K, || format!("K={k} and N={n} must be multiples of 8"))?;
        ensure(a.len() >= m * k, K, || format!("a has {} < M·K = {}", a.len(), m * k))?;
        ensure(w.len() >= n * k, K, || format!("w has {} < N·K = {}", w.len(), n * k))?;
        ensure(c.len() >= m * n, K, || format!("c has {} < M·N = {}", c.len(), m * n))?;
        if let Some(b) = bias {
            ensure(b.len() >= n, K, || format!("bias has {} < N = {n}", b.len()))?;
        }
        let res = if epi == Epilogue::Residual {
            let r = residual.ok_or_else(|| crate::Error::Shape { kernel: K, what: "residual missing".into() })?;
            ensure(r.len() >= m * n, K, || format!("residual has {} < M·N", r.len()))?;
            Some(r)
        } else {
            None
        };
        let t = algo.tile.size();
        let name = format!("gemm{}_{t}x{t}_{}", algo.version as u32, epi.suffix());
        let (mi, ni, ki) = (i32_of(m, K)?, i32_of(n, K)?, i32_of(k, K)?);
        let grid_y = m.div_ceil(t);
        ensure(grid_y <= 65535, K, || format!("M={m} needs {grid_y} > 65535 block rows"))?;
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(t) as u32, grid_y as u32, 1),
            block_dim: (if t == 128 { 256 } else { 128 }, 1, 1),
            shared_mem_bytes: 0,
        };
        let f = self.func(&name);
        let mut b = self.stream().launch_builder(f);
        b.arg(a).arg(w);
        match bias {
            Some(x) => b.arg(x),
            None => b.arg(&NULL),
        };
        match res {
            Some(x) => b.arg(x),
            None => b.arg(&NULL),
        };
        b.arg(c).arg(&mi).arg(&ni).arg(&ki);
        // SAFETY: a ≥ M·K, w ≥ N·K, c (and residual) ≥ M·N, bias ≥ N elements (checked above); K, N are
        // multiples of 8 so every 16-byte vector is wholly in or out of bounds; the grid is
        // (⌈N/t⌉, ⌈M/t⌉) blocks of 256 (t=128) or 128 (t=64) threads as the kernel's warp layout assumes;
        // loads past M/N/K are zero-filled and stores past M/N skipped; 40/20 KB static shared memory.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }

    /// Fused attention over a packed batch: `qkv` `[tokens, 3·heads·head_dim]` → `out` `[tokens, heads·head_dim]`
    /// (merged heads), head dim 64, 32 or 16. `key_mask` `[tokens]` (0 = masked key) is optional; a row with
    /// every key masked gets zeros. Sequences up to any length (512 in RoBERTa).
    #[allow(clippy::too_many_arguments)]
    pub fn attention(
        &self,
        qkv: &CudaSlice<f16>,
        out: &mut CudaSlice<f16>,
        off: &SeqOffsets,
        key_mask: Option<&CudaSlice<u8>>,
        heads: usize,
        head_dim: usize,
        scale: f32,
    ) -> Result<()> {
        const K: &str = "attention";
        let name = match head_dim {
            64 => "attention1",
            32 => "attention1_d32",
            16 => "attention1_d16",
            d => return Err(crate::Error::Shape { kernel: K, what: format!("head dim {d}: supported 64, 32, 16") }),
        };
        let (tokens, batch, hidden) = (off.tokens(), off.batch(), heads * head_dim);
        ensure(off.host.windows(2).all(|w| w[1] >= w[0]), K, || "offsets not increasing".into())?;
        ensure(qkv.len() >= tokens * 3 * hidden, K, || format!("qkv has {} < tokens·3·hidden", qkv.len()))?;
        ensure(out.len() >= tokens * hidden, K, || format!("out has {} < tokens·hidden", out.len()))?;
        if let Some(mk) = key_mask {
            ensure(mk.len() >= tokens, K, || format!("key_mask has {} < {tokens} tokens", mk.len()))?;
        }
        ensure(batch <= 65535 && heads <= 65535 && heads > 0, K, || format!("batch {batch}, heads {heads}"))?;
        if tokens == 0 {
            return Ok(());
        }
        let h = i32_of(heads, K)?;
        let cfg = LaunchConfig {
            grid_dim: (off.max_len.div_ceil(64) as u32, heads as u32, batch as u32),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = self.stream().launch_builder(self.func(name));
        b.arg(qkv).arg(out).arg(&off.dev);
        match key_mask {
            Some(x) => b.arg(x),
            None => b.arg(&NULL),
        };
        b.arg(&h).arg(&scale);
        // SAFETY: off.dev holds off.host (batch+1 non-decreasing offsets, last = tokens); qkv ≥ tokens·3·hidden,
        // out ≥ tokens·hidden, key_mask ≥ tokens (checked above); the entry point matches head_dim; grid
        // (⌈max_len/64⌉, heads, batch) with 128 threads = 4 warps × 16 query rows; blocks past a sequence's
        // length return, rows and keys past it are neither read nor written; ≤ 45 KB static shared memory.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }

    /// Unfused-attention baseline: in-place masked softmax (f32 math) of f16 scores `[batch·heads·T, T]`
    /// scaled by `scale`; `key_mask` `[batch, T]` optional.
    pub fn softmax_rows(
        &self,
        scores: &mut CudaSlice<f16>,
        key_mask: Option<&CudaSlice<u8>>,
        (batch, heads, t): (usize, usize, usize),
        scale: f32,
    ) -> Result<()> {
        const K: &str = "softmax_rows";
        let rows = batch * heads * t;
        ensure(scores.len() >= rows * t, K, || format!("scores has {} < rows·T", scores.len()))?;
        if let Some(mk) = key_mask {
            ensure(mk.len() >= batch * t, K, || format!("key_mask has {} < batch·T", mk.len()))?;
        }
        if rows == 0 {
            return Ok(());
        }
        let (r, ti, h) = (i32_of(rows, K)?, i32_of(t, K)?, i32_of(heads, K)?);
        let cfg = LaunchConfig { grid_dim: (rows.div_ceil(4) as u32, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
        let mut b = self.stream().launch_builder(self.func("softmax_rows"));
        b.arg(scores);
        match key_mask {
            Some(x) => b.arg(x),
            None => b.arg(&NULL),
        };
        b.arg(&r).arg(&ti).arg(&h).arg(&scale);
        // SAFETY: scores ≥ rows·T and key_mask ≥ batch·T (checked); one warp per row, ⌈rows/4⌉ blocks of
        // 128; warps past `rows` return.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }

    /// `out = LayerNorm(a + residual)·gamma + beta` over rows of `h` (f32 math). Needs h % 8 == 0, h ≤ 1024.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm(
        &self,
        a: &CudaSlice<f16>,
        residual: Option<&CudaSlice<f16>>,
        gamma: &CudaSlice<f16>,
        beta: &CudaSlice<f16>,
        out: &mut CudaSlice<f16>,
        (rows, h): (usize, usize),
        eps: f32,
    ) -> Result<()> {
        self.check_ln(a.len(), residual.map(|r| r.len()), gamma.len(), beta.len(), out.len(), rows, h)?;
        if rows == 0 {
            return Ok(());
        }
        let (r, hi) = (i32_of(rows, "layer_norm")?, i32_of(h, "layer_norm")?);
        let mut b = self.stream().launch_builder(self.func("layernorm1"));
        b.arg(a);
        match residual {
            Some(x) => b.arg(x),
            None => b.arg(&NULL),
        };
        b.arg(gamma).arg(beta).arg(out).arg(&r).arg(&hi).arg(&eps);
        // SAFETY: see `ln_config`; a, residual, out ≥ rows·h and gamma, beta ≥ h (checked).
        unsafe { b.launch(ln_config(rows)) }?;
        Ok(())
    }

    /// In place: `x = LayerNorm(x + residual)·gamma + beta`.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_inplace(
        &self,
        x: &mut CudaSlice<f16>,
        residual: Option<&CudaSlice<f16>>,
        gamma: &CudaSlice<f16>,
        beta: &CudaSlice<f16>,
        (rows, h): (usize, usize),
        eps: f32,
    ) -> Result<()> {
        self.check_ln(x.len(), residual.map(|r| r.len()), gamma.len(), beta.len(), x.len(), rows, h)?;
        if rows == 0 {
            return Ok(());
        }
        let (r, hi) = (i32_of(rows, "layer_norm")?, i32_of(h, "layer_norm")?);
        let stream = self.stream().clone();
        let (p, _record) = x.device_ptr_mut(&stream);
        let mut b = stream.launch_builder(self.func("layernorm1"));
        b.arg(&p);
        match residual {
            Some(y) => b.arg(y),
            None => b.arg(&NULL),
        };
        b.arg(gamma).arg(beta).arg(&p).arg(&r).arg(&hi).arg(&eps);
        // SAFETY: as `layer_norm`; `a` and `out` are the same buffer, which the kernel allows (each warp
        // reads its whole row into registers before writing it). `_record` outlives the launch.
        unsafe { b.launch(ln_config(rows)) }?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_ln(&self, a: usize, r: Option<usize>, g: usize, bt: usize, out: usize, rows: usize, h: usize) -> Result<()> {
        const K: &str = "layer_norm";
        ensure(h & 7 == 0 && h > 0 && h <= 1024, K, || format!("hidden {h}: needs a multiple of 8 ≤ 1024"))?;
        ensure(a >= rows * h && out >= rows * h, K, || format!("input/output shorter than rows·h = {}", rows * h))?;
        ensure(r.is_none_or(|r| r >= rows * h), K, || "residual shorter than rows·h".into())?;
        ensure(g >= h && bt >= h, K, || format!("gamma/beta shorter than h = {h}"))
    }

    /// Embeddings of a packed batch of ids: word + position (padding_idx + cumsum) + token type, then
    /// LayerNorm, into `out` `[tokens, H]`. `type_ids` optional (type 0).
    #[allow(clippy::too_many_arguments)]
    pub fn embeddings(
        &self,
        ids: &CudaSlice<i32>,
        type_ids: Option<&CudaSlice<i32>>,
        off: &SeqOffsets,
        t: &EmbeddingTables,
        out: &mut CudaSlice<f16>,
        pad: i32,
        eps: f32,
    ) -> Result<()> {
        const K: &str = "embeddings";
        let (h, tokens) = (t.hidden, off.tokens());
        ensure(h & 7 == 0 && h > 0 && h <= 1024, K, || format!("hidden {h}: needs a multiple of 8 ≤ 1024"))?;
        let (vocab, max_pos, tv) = (t.word.len() / h, t.pos.len() / h, t.token_type.len() / h);
        ensure(vocab > 0 && max_pos > 0 && tv > 0, K, || "empty embedding table".into())?;
        ensure(t.gamma.len() >= h && t.beta.len() >= h, K, || "gamma/beta shorter than hidden".into())?;
        ensure(ids.len() >= tokens, K, || format!("ids has {} < {tokens} tokens", ids.len()))?;
        ensure(type_ids.is_none_or(|x| x.len() >= tokens), K, || "type_ids shorter than tokens".into())?;
        ensure(out.len() >= tokens * h, K, || format!("out has {} < tokens·H", out.len()))?;
        ensure(off.batch() <= 65535, K, || "batch > 65535".into())?;
        if tokens == 0 {
            return Ok(());
        }
        let mut b = self.stream().launch_builder(self.func("embeddings1"));
        b.arg(ids);
        match type_ids {
            Some(x) => b.arg(x),
            None => b.arg(&NULL),
        };
        let (hi, vi, pi, ti) = (i32_of(h, K)?, i32_of(vocab, K)?, i32_of(max_pos, K)?, i32_of(tv, K)?);
        b.arg(&off.dev).arg(&t.word).arg(&t.pos).arg(&t.token_type).arg(&t.gamma).arg(&t.beta).arg(out);
        b.arg(&hi).arg(&vi).arg(&pi).arg(&ti).arg(&pad).arg(&eps);
        let cfg = LaunchConfig {
            grid_dim: (off.max_len.div_ceil(4) as u32, off.batch() as u32, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: ids, type_ids ≥ tokens, out ≥ tokens·H, tables hold vocab/max_pos/type_vocab whole rows of
        // H (checked; the kernel clamps ids and positions into them); grid (⌈max_len/4⌉, batch) × 128 =
        // one warp per (sequence, token), warps past a sequence's length return.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }

    /// Packs a padded `[batch·T, H]` into the real rows `[tokens, H]` given by `off` (right padding).
    pub fn pack(&self, padded: &CudaSlice<f16>, off: &SeqOffsets, packed: &mut CudaSlice<f16>, t: usize, h: usize) -> Result<()> {
        self.pack_or_unpack(Direction::Pack, padded, off, packed, t, h)
    }

    /// Unpacks `[tokens, H]` into a padded `[batch·T, H]`, padding rows zeroed.
    pub fn unpack(&self, packed: &CudaSlice<f16>, off: &SeqOffsets, padded: &mut CudaSlice<f16>, t: usize, h: usize) -> Result<()> {
        self.pack_or_unpack(Direction::Unpack, packed, off, padded, t, h)
    }

    fn pack_or_unpack(&self, dir: Direction, src: &CudaSlice<f16>, off: &SeqOffsets, dst: &mut CudaSlice<f16>, t: usize, h: usize) -> Result<()> {
        let name = match dir {
            Direction::Pack => "pack1",
            Direction::Unpack => "unpack1",
        };
        let (padded_len, packed_len) = match dir {
            Direction::Pack => (src.len(), dst.len()),
            Direction::Unpack => (dst.len(), src.len()),
        };
        ensure(h & 7 == 0 && h > 0, name, || format!("hidden {h} not a multiple of 8"))?;
        ensure(off.max_len <= t, name, || format!("a sequence of {} > T = {t}", off.max_len))?;
        ensure(padded_len >= off.batch() * t * h, name, || "padded buffer shorter than batch·T·H".into())?;
        ensure(packed_len >= off.tokens() * h, name, || "packed buffer shorter than tokens·H".into())?;
        ensure(t <= i32::MAX as usize && off.batch() <= 65535, name, || "grid too large".into())?;
        if off.batch() == 0 || t == 0 {
            return Ok(());
        }
        let (ti, hi) = (i32_of(t, name)?, i32_of(h, name)?);
        let mut b = self.stream().launch_builder(self.func(name));
        b.arg(src).arg(&off.dev).arg(dst).arg(&ti).arg(&hi);
        let cfg = LaunchConfig { grid_dim: (t as u32, off.batch() as u32, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: every length ≤ T (max_len checked), padded ≥ batch·T·H, packed ≥ tokens·H, H % 8 == 0
        // for the 16-byte vectors; grid (T, batch), one block per padded row.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }
}

/// One warp per row, 4 rows per 128-thread block; warps past `rows` return.
fn ln_config(rows: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (rows.div_ceil(4) as u32, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 }
}

/// Which way [`Gpu::pack`] / [`Gpu::unpack`] copy rows.
#[derive(Clone, Copy)]
enum Direction {
    /// Padded `[batch·T, H]` → packed `[tokens, H]`.
    Pack,
    /// Packed → padded, padding rows zeroed.
    Unpack,
}
