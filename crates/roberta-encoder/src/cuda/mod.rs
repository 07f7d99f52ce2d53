//! The encoder on an NVIDIA GPU: the same graph as the CPU encoder (HF `RobertaModel` without the pooler),
//! each op a `roberta-gpu` kernel, f16 storage with f32 accumulation, softmax and LayerNorm in f32.
//!
//! - Weights are uploaded once, in f16; Q, K and V are one `[3H, H]` projection.
//! - Activations live in a workspace allocated for the largest batch seen so far and reused (it grows,
//!   never shrinks); a forward allocates nothing on the device in steady state.
//! - Padding-free: a right-padded batch is packed on the host (ids only) and stays packed, `[tokens, H]`,
//!   from the embeddings through every layer; a batch with another mask runs padded with a key mask.
//! - One stream; the only copies are ids + offsets in and the requested rows out. A shape seen twice is
//!   captured as a CUDA graph and replayed (one graph launch instead of 1 + 7·layers kernel launches).
//!
//! Per layer (`x`: `[tokens, H]`):
//!   qkv = x·W_qkvᵀ + b_qkv                       gemm, bias epilogue        `[tokens, 3H]`
//!   ctx = attention(qkv) (varlen, fused)         attention                  `[tokens, H]`
//!   x1  = LN(ctx·W_oᵀ + b_o + x)                 gemm residual epilogue, LN in place
//!   mid = gelu(x1·W_1ᵀ + b_1)                    gemm, GELU epilogue        `[tokens, F]`
//!   x   = LN(mid·W_2ᵀ + b_2 + x1)                gemm residual epilogue, LN in place
mod params;

use crate::config::{Activation, Config};
use crate::error::{EncoderError, Result};
use crate::batch::{BatchInput, BatchPlan, EncoderOutput, Layout, TokenRows};
use roberta_checkpoint::TensorSource;
use cudarc::driver::{sys, CudaGraph, CudaSlice, DriverError};
use params::DeviceLayer;
use roberta_gpu::{f16, EmbeddingTables, Epilogue, Gpu, SeqOffsets};
use std::collections::HashMap;
use std::sync::Mutex;

/// Shapes with at most this many device rows are captured as CUDA graphs (launch overhead matters there).
const GRAPH_MAX_ROWS: usize = 8192;
/// Graphs kept at once (all dropped when full: shapes repeat in practice, e.g. a bench or a fixed batch).
const MAX_GRAPHS: usize = 16;

/// How the CUDA encoder is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaOptions {
    /// Capture a shape seen twice as a CUDA graph and replay it (default on).
    pub graphs: bool,
    /// Where kernels come from ([`roberta_gpu::GpuOptions`]: a folder of prebuilt cubins, NVRTC include folders).
    pub gpu: roberta_gpu::GpuOptions,
}

impl CudaOptions {
    /// The options the environment names: `ROBERTA_CUDA_GRAPHS=0` (no graphs) and [`roberta_gpu::GpuOptions::from_env`].
    /// For binaries only (the runner, test and bench binaries): the libraries never call it.
    pub fn from_env() -> CudaOptions {
        CudaOptions {
            graphs: std::env::var("ROBERTA_CUDA_GRAPHS").map(|v| v != "0").unwrap_or(true),
            gpu: roberta_gpu::GpuOptions::from_env(),
        }
    }
}

impl Default for CudaOptions {
    fn default() -> Self {
        CudaOptions { graphs: true, gpu: roberta_gpu::GpuOptions::default() }
    }
}

/// What the last forward did on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Device rows computed (real tokens when packed, batch·seq_len when padded).
    pub rows: usize,
    /// Whether the batch ran padded (a key mask) rather than packed.
    pub padded: bool,
    /// Kernel launches and device copies of the layer sequence (embeddings, 7 per layer, hidden-state copies).
    pub kernels: usize,
    /// Launches the host actually made: 1 when the sequence was replayed as a CUDA graph, else `kernels`.
    pub launches: usize,
    /// Whether the sequence ran as a CUDA graph replay.
    pub graph: bool,
}

/// The device buffers of one batch size; every pointer is fixed until the workspace grows.
struct Workspace {
    rows: usize,
    batch: usize,
    ids: CudaSlice<i32>,
    /// Token type ids of the rows (zeros when the batch has none).
    type_ids: CudaSlice<i32>,
    off: SeqOffsets,
    key_mask: CudaSlice<u8>,
    x: CudaSlice<f16>,
    x1: CudaSlice<f16>,
    ctx: CudaSlice<f16>,
    qkv: CudaSlice<f16>,
    inter: CudaSlice<f16>,
    /// `(layers+1)·rows·H`: every hidden state, allocated the first time they are asked for.
    states: Option<CudaSlice<f16>>,
}

/// A captured forward. CudaGraph is not Send; it is only touched under the model's mutex.
struct Graph(CudaGraph);
// SAFETY: a CUgraphExec may be used from any thread as long as uses are serialized (CUDA's graph
// thread-safety rules); every use goes through `CudaModel::state`'s mutex.
unsafe impl Send for Graph {}

/// The sizes a captured graph was recorded for (a replay needs every one of them to match).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct GraphKey {
    /// Device rows.
    rows: usize,
    /// Sequences.
    batch: usize,
    /// Rows of the longest sequence.
    max_len: usize,
    /// Padded layout (a key mask) rather than packed.
    padded: bool,
    /// Every hidden state copied out.
    hidden_states: bool,
}

struct State {
    ws: Workspace,
    graphs: HashMap<GraphKey, Graph>,
    seen: HashMap<GraphKey, u32>,
    graphs_on: bool,
    stats: ForwardStats,
    host: Vec<f16>,
}

/// The encoder on a CUDA device.
pub struct CudaModel {
    /// The configuration it was loaded with.
    pub config: Config,
    gpu: Gpu,
    emb: EmbeddingTables,
    layers: Vec<DeviceLayer>,
    eps: f32,
    state: Mutex<State>,
}

impl std::fmt::Debug for CudaModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaModel({:?}, {} layers)", self.gpu, self.layers.len())
    }
}

fn drv(e: DriverError) -> EncoderError {
    roberta_gpu::Error::Driver(e).into()
}

fn unsupported(key: &'static str, value: impl ToString, supported: &'static str) -> EncoderError {
    EncoderError::Unsupported { path: "config.json".into(), key, value: value.to_string(), supported }
}

/// Rejects configurations the kernels do not cover, before anything is uploaded.
fn check_config(c: &Config, source: &std::path::Path) -> Result<()> {
    c.validate(source)?;
    if c.activation()? != Activation::Gelu {
        return Err(unsupported("hidden_act", &c.hidden_act, "the CUDA backend has exact erf GELU only"));
    }
    if c.hidden_size % 8 != 0 || c.hidden_size > 1024 { // not is_multiple_of: MSRV 1.85
        return Err(unsupported("hidden_size", c.hidden_size, "a multiple of 8 up to 1024 on CUDA"));
    }
    if c.intermediate_size % 8 != 0 {
        return Err(unsupported("intermediate_size", c.intermediate_size, "a multiple of 8 on CUDA"));
    }
    if ![16, 32, 64].contains(&c.head_dim()) || c.head_dim() * c.num_attention_heads != c.hidden_size {
        return Err(unsupported("num_attention_heads", c.num_attention_heads, "head dim 64, 32 or 16 on CUDA"));
    }
    Ok(())
}

impl Workspace {
    fn new(gpu: &Gpu, c: &Config, rows: usize, batch: usize) -> Result<Workspace> {
        let (h, f) = (c.hidden_size, c.intermediate_size);
        Ok(Workspace {
            rows,
            batch,
            ids: gpu.zeros(rows)?,
            type_ids: gpu.zeros(rows)?,
            off: SeqOffsets { host: vec![0], dev: gpu.zeros(batch + 1)?, max_len: 0 },
            key_mask: gpu.zeros(rows)?,
            x: gpu.zeros(rows * h)?,
            x1: gpu.zeros(rows * h)?,
            ctx: gpu.zeros(rows * h)?,
            qkv: gpu.zeros(rows * 3 * h)?,
            inter: gpu.zeros(rows * f)?,
            states: None,
        })
    }
}

impl CudaModel {
    /// Opens CUDA device 0 and uploads the weights in f16, streamed tensor by tensor from `src`: a clear error
    /// (never a panic) when there is no driver or device, or when the config is outside what the kernels cover.
    /// Default options: CUDA graphs on, kernels compiled with NVRTC (or found in no cubin folder).
    pub fn load(config: &Config, src: &dyn TensorSource) -> Result<CudaModel> {
        Self::load_with(config, src, &CudaOptions::default())
    }

    /// [`CudaModel::load`] with options.
    pub fn load_with(config: &Config, src: &dyn TensorSource, opts: &CudaOptions) -> Result<CudaModel> {
        check_config(config, src.path())?;
        let gpu = Gpu::with_options(0, &opts.gpu)?;
        // SAFETY: everything this model allocates is used on its one stream only, in order, so cudarc's
        // cross-stream events are not needed; without them a stream capture never waits on an event
        // recorded outside it (which would invalidate the capture).
        unsafe { gpu.ctx().disable_event_tracking() };
        let emb = params::embeddings(&gpu, config, src)?;
        let layers = (0..config.num_hidden_layers).map(|i| params::layer(&gpu, config, src, i)).collect::<Result<_>>()?;
        let ws = Workspace::new(&gpu, config, config.max_seq_len().max(64), 64)?;
        gpu.sync()?;
        let graphs_on = opts.graphs;
        let state = State { ws, graphs: HashMap::new(), seen: HashMap::new(), graphs_on, stats: ForwardStats::default(), host: Vec::new() };
        Ok(CudaModel { config: config.clone(), gpu, emb, layers, eps: config.layer_norm_eps as f32, state: Mutex::new(state) })
    }

    /// The device, for messages: [`Gpu::describe`], e.g. `cuda:0 NVIDIA H200 (sm_90)` (`emulated sm_90` on
    /// the emulated driver).
    pub fn describe(&self) -> String {
        self.gpu.describe()
    }

    /// Turns CUDA graph capture on or off (on by default, [`CudaOptions::graphs`]).
    pub fn set_graphs(&self, on: bool) {
        let mut st = self.lock();
        st.graphs_on = on;
        st.graphs.clear();
        st.seen.clear();
    }

    /// What the last forward did (rows, launches, graph or not).
    pub fn last_stats(&self) -> ForwardStats {
        self.lock().stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the encoder (packed when the masks allow: [`Layout::Auto`]); the same contract as the CPU encoder's
    /// `forward`, except at positions the attention mask leaves out:
    /// - Packed layout (every mask row is ones then zeros, the usual right padding): padding positions are not
    ///   computed and come back as zeros.
    /// - Padded layout (left padding, holes in a mask, or [`Layout::Padded`]): every position is a device row,
    ///   so a padding position holds a computed value (its query attends to the sequence's unmasked keys, as in
    ///   HF), not zeros. Read outputs through the attention mask.
    /// - A query whose keys are all masked (a sequence whose mask is all zeros, run padded) gets a zero attention
    ///   context, which is what HF's default attention (sdpa) computes. HF eager attention, which the CPU
    ///   encoder follows, weighs all T keys equally there instead, so the two backends differ at such a
    ///   sequence (all of its positions are padding). Packed, such a sequence has length 0 and comes back as zeros.
    pub fn forward(&self, input: &BatchInput, output_hidden_states: bool) -> Result<EncoderOutput> {
        self.forward_layout(input, output_hidden_states, Layout::Auto)
    }

    /// [`CudaModel::forward`] with a chosen layout (tests compare packed with padded).
    pub fn forward_layout(&self, input: &BatchInput, output_hidden_states: bool, layout: Layout) -> Result<EncoderOutput> {
        let h = self.config.hidden_size;
        let (plan, rows) = self.run(input, output_hidden_states, layout)?;
        let n = plan.tokens() * h;
        if !output_hidden_states {
            return Ok(EncoderOutput { last_hidden_state: plan.scatter(&rows, h), hidden_states: Vec::new() });
        }
        let hidden_states: Vec<Vec<f32>> = rows.chunks(n.max(1)).take(self.layers.len() + 1).map(|s| plan.scatter(s, h)).collect();
        let hidden_states = if n == 0 { vec![plan.scatter::<f16>(&[], h); self.layers.len() + 1] } else { hidden_states };
        Ok(EncoderOutput { last_hidden_state: hidden_states.last().cloned().unwrap_or_default(), hidden_states })
    }

    /// The last hidden state at positions `(b, t)` only, `[rows.len()·H]` f32 (e.g. the MLM head's mask
    /// positions): no padded `[batch·seq_len·H]` tensor is built. Layout as in [`CudaModel::forward`]: a
    /// padding position gives zeros when the batch is packed (right padding), and its computed value when the
    /// batch runs padded.
    pub fn forward_rows(&self, input: &BatchInput, which: &[(usize, usize)]) -> Result<Vec<f32>> {
        if let Some(&(b, t)) = which.iter().find(|&&(b, t)| b >= input.batch || t >= input.seq_len) {
            return Err(EncoderError::Input(format!("row ({b}, {t}) outside the {}×{} batch", input.batch, input.seq_len)));
        }
        let (plan, rows) = self.run(input, false, Layout::Auto)?;
        Ok(plan.gather(&rows, self.config.hidden_size, which))
    }

    /// The last hidden state of the real tokens only ([`TokenRows`]): the batch runs packed, and its rows come
    /// back as they are, with no padded tensor built. The attention masks must be right padding (ones, then
    /// zeros), as the pipelines build them.
    pub fn forward_tokens(&self, input: &BatchInput) -> Result<TokenRows> {
        let (plan, rows) = self.run(input, false, Layout::Packed)?;
        Ok(TokenRows { data: rows.iter().map(|&x| f32::from(x)).collect(), offsets: plan.row_offsets(), width: self.config.hidden_size })
    }

    /// Checks, lays out, uploads and runs a batch; returns the plan and the device rows it downloaded
    /// (`[tokens, H]`, or `[(layers+1), tokens, H]` with every hidden state).
    fn run(&self, input: &BatchInput, hidden: bool, layout: Layout) -> Result<(BatchPlan, Vec<f16>)> {
        input.check(&self.config)?;
        let plan = BatchPlan::new(input, layout)?;
        let (n, h) = (plan.tokens(), self.config.hidden_size);
        let mut guard = self.lock();
        let st = &mut *guard;
        st.stats = ForwardStats { rows: n, padded: plan.padded, ..ForwardStats::default() };
        if n == 0 {
            return Ok((plan, Vec::new()));
        }
        self.reserve(st, n, plan.batch, hidden)?;
        let stream = self.gpu.stream();
        let ws = &mut st.ws;
        stream.memcpy_htod(&plan.ids, &mut ws.ids).map_err(drv)?;
        // always uploaded (zeros without them), so that a captured graph's arguments do not depend on whether a
        // batch has token types
        match &plan.type_ids {
            Some(t) => stream.memcpy_htod(t, &mut ws.type_ids).map_err(drv)?,
            None => stream.memcpy_htod(&vec![0i32; n], &mut ws.type_ids).map_err(drv)?,
        }
        stream.memcpy_htod(&plan.offsets, &mut ws.off.dev).map_err(drv)?;
        if let Some(m) = &plan.key_mask {
            stream.memcpy_htod(m, &mut ws.key_mask).map_err(drv)?;
        }
        ws.off.host.clone_from(&plan.offsets);
        ws.off.max_len = plan.max_len();

        let key = GraphKey { rows: n, batch: plan.batch, max_len: plan.max_len(), padded: plan.padded, hidden_states: hidden };
        let kernels = self.launch(st, key)?;
        st.stats.kernels = kernels;
        if !st.stats.graph {
            st.stats.launches = kernels;
        }

        let len = if hidden { (self.layers.len() + 1) * n * h } else { n * h };
        st.host.resize(len, f16::ZERO);
        let src = if hidden { st.ws.states.as_ref().expect("reserved") } else { &st.ws.x };
        stream.memcpy_dtoh(&src.slice(0..len), &mut st.host[..]).map_err(drv)?;
        self.gpu.sync()?;
        Ok((plan, st.host.clone()))
    }

    /// Grows the workspace to `rows` × `batch` (and the hidden-state stack when asked); growing drops
    /// every captured graph (they hold the old pointers).
    fn reserve(&self, st: &mut State, rows: usize, batch: usize, hidden: bool) -> Result<()> {
        let ws = &st.ws;
        if rows > ws.rows || batch > ws.batch {
            let (r, b) = (rows.max(ws.rows).next_multiple_of(512), batch.max(ws.batch).next_multiple_of(64));
            let had_states = ws.states.is_some();
            st.graphs.clear();
            st.seen.clear();
            st.ws.states = None; // the old workspace is freed when replaced; its stack first
            st.ws = Workspace::new(&self.gpu, &self.config, r, b)?;
            if had_states {
                st.ws.states = Some(self.gpu.zeros((self.layers.len() + 1) * r * self.config.hidden_size)?);
            }
        }
        if hidden && st.ws.states.is_none() {
            st.graphs.clear();
            st.seen.clear();
            st.ws.states = Some(self.gpu.zeros((self.layers.len() + 1) * st.ws.rows * self.config.hidden_size)?);
        }
        Ok(())
    }

    /// Enqueues the layer sequence: replays its graph, captures one when the shape repeats, else launches
    /// eagerly. Returns the number of kernels (and copies) in the sequence.
    fn launch(&self, st: &mut State, key: GraphKey) -> Result<usize> {
        let graphs = st.graphs_on && key.rows <= GRAPH_MAX_ROWS;
        if graphs && !st.graphs.contains_key(&key) {
            let seen = st.seen.entry(key).or_insert(0);
            *seen += 1;
            if *seen >= 2 {
                if st.graphs.len() >= MAX_GRAPHS {
                    st.graphs.clear();
                }
                match self.capture(&mut st.ws, key) {
                    Ok(g) => {
                        st.graphs.insert(key, g);
                    }
                    Err(e) => {
                        log::warn!("roberta-encoder: CUDA graph capture failed ({e}); running without graphs");
                        st.graphs_on = false;
                    }
                }
            }
        }
        if let Some(g) = st.graphs.get(&key) {
            g.0.launch().map_err(drv)?;
            st.stats.graph = true;
            st.stats.launches = 1;
            return Ok(self.sequence_len(key.hidden_states));
        }
        self.enqueue(&mut st.ws, key)
    }

    /// Kernels and copies in one forward.
    fn sequence_len(&self, hidden: bool) -> usize {
        let per_layer = 7 + usize::from(hidden);
        1 + usize::from(hidden) + per_layer * self.layers.len()
    }

    /// Records the layer sequence for `key` into a graph (nothing runs during the capture).
    fn capture(&self, ws: &mut Workspace, key: GraphKey) -> Result<Graph> {
        let stream = self.gpu.stream();
        stream.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED).map_err(drv)?;
        let enqueued = self.enqueue(ws, key);
        let graph = stream.end_capture(sys::CUgraphInstantiate_flags(0));
        enqueued?;
        let graph = graph.map_err(drv)?.ok_or_else(|| EncoderError::Input("stream capture recorded no graph".into()))?;
        graph.upload().map_err(drv)?;
        Ok(Graph(graph))
    }

    /// Launches embeddings and every layer on the workspace (its ids, offsets and key mask already
    /// uploaded for `key`). Returns the number of kernels and copies enqueued.
    fn enqueue(&self, ws: &mut Workspace, key: GraphKey) -> Result<usize> {
        let GraphKey { rows: n, padded, hidden_states: hidden, .. } = key;
        let g = &self.gpu;
        let c = &self.config;
        let (h, f, heads, d) = (c.hidden_size, c.intermediate_size, c.num_attention_heads, c.head_dim());
        let scale = 1.0 / (d as f32).sqrt();
        let eps = self.eps;
        let Workspace { ids, type_ids, off, key_mask, x, x1, ctx, qkv, inter, states, .. } = ws;
        let mask = if padded { Some(&*key_mask) } else { None };
        let stream = g.stream();
        let mut count = 0usize;
        let mut save = |x: &CudaSlice<f16>, i: usize, count: &mut usize| -> Result<()> {
            if let Some(s) = states.as_mut() {
                stream.memcpy_dtod(&x.slice(0..n * h), &mut s.slice_mut(i * n * h..(i + 1) * n * h)).map_err(drv)?;
                *count += 1;
            }
            Ok(())
        };
        // BERT's positions are the index in the sequence: the kernel's RoBERTa rule (padding_idx + the count of
        // non-padding ids so far) gives exactly that with a padding_idx no id has
        let pad = match c.family() {
            crate::config::Family::Roberta => c.pad_token_id as i32,
            crate::config::Family::Bert => -1,
        };
        g.embeddings(ids, Some(type_ids), off, &self.emb, x, pad, eps)?;
        count += 1;
        if hidden {
            save(x, 0, &mut count)?;
        }
        for (i, l) in self.layers.iter().enumerate() {
            g.gemm(g.gemm_algo(n, 3 * h), Epilogue::Bias, x, &l.qkv_w, Some(&l.qkv_b), None, qkv, (n, 3 * h, h))?;
            g.attention(qkv, ctx, off, mask, heads, d, scale)?;
            g.gemm(g.gemm_algo(n, h), Epilogue::Residual, ctx, &l.attn_out_w, Some(&l.attn_out_b), Some(x), x1, (n, h, h))?;
            g.layer_norm_inplace(x1, None, &l.attn_ln_g, &l.attn_ln_b, (n, h), eps)?;
            g.gemm(g.gemm_algo(n, f), Epilogue::Gelu, x1, &l.inter_w, Some(&l.inter_b), None, inter, (n, f, h))?;
            g.gemm(g.gemm_algo(n, h), Epilogue::Residual, inter, &l.out_w, Some(&l.out_b), Some(x1), x, (n, h, f))?;
            g.layer_norm_inplace(x, None, &l.out_ln_g, &l.out_ln_b, (n, h), eps)?;
            count += 7;
            if hidden {
                save(x, i + 1, &mut count)?;
            }
        }
        Ok(count)
    }
}

/// The pipelines share an encoder across threads: CudaModel must stay Send + Sync (checked at compile time).
#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<CudaModel>();
    check::<crate::Encoder>();
}
