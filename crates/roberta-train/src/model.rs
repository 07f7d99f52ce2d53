//! A trainable RoBERTa (or XLM-R) with a token- or sequence-classification head: the parameters as plain f32
//! tensors with their gradients, a forward pass that keeps what the backward needs, and the backward pass over
//! [`crate::ops`]. Dropout as HF's: after the embeddings, on the attention probabilities, after each of the two
//! output projections, and before the head's layers (`classifier_dropout`, else `hidden_dropout_prob`).
use crate::ops::{self, AttnShape};
use crate::{Error, Result};
use roberta_checkpoint::names;
use roberta_checkpoint::ModelFiles;
use roberta_encoder::Config;
use std::path::Path;

/// One trainable tensor: its data, its gradient, whether AdamW decays it (not biases nor LayerNorm weights, as
/// Trainer), and the checkpoint tensors it is saved as (a fused QKV is saved as query, key and value).
pub struct Param {
    /// A name for messages (the first checkpoint name).
    pub name: String,
    /// The data.
    pub data: Vec<f32>,
    /// The gradient (accumulated by the backward pass; zeroed by [`Model::zero_grad`]).
    pub grad: Vec<f32>,
    /// AdamW's weight decay applies.
    pub decay: bool,
    /// (checkpoint name, shape) of each part, in order, together `data.len()` values.
    pub parts: Vec<(String, Vec<usize>)>,
}

impl Param {
    fn new(name: &str, shape: &[usize], data: Vec<f32>, decay: bool) -> Param {
        Param { name: name.into(), grad: vec![0.0; data.len()], data, decay, parts: vec![(name.into(), shape.to_vec())] }
    }
}

/// Which head is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `RobertaForTokenClassification`: one label per token (NER).
    Token,
    /// `RobertaForSequenceClassification`: one label per sequence (from `<s>`).
    Sequence,
}

/// Indices into [`Model::params`] of one layer's tensors.
#[derive(Clone, Copy, Debug)]
struct LayerIdx {
    qkv_w: usize,
    qkv_b: usize,
    ao_w: usize,
    ao_b: usize,
    ln1_g: usize,
    ln1_b: usize,
    i_w: usize,
    i_b: usize,
    o_w: usize,
    o_b: usize,
    ln2_g: usize,
    ln2_b: usize,
}

/// A batch: `batch` sequences right-padded to `seq`, with a label per token (−100 where none: sub-words after
/// the first, special and padding tokens) or per sequence.
pub struct Batch {
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
    pub labels: Vec<i64>,
    pub batch: usize,
    pub seq: usize,
}

/// What one layer's forward keeps for its backward.
#[derive(Default)]
struct LayerCache {
    h_in: Vec<f32>,
    qkv: Vec<f32>,
    probs: Vec<f32>,
    attn_drop: Vec<f32>,
    ctx: Vec<f32>,
    ao_drop: Vec<f32>,
    r1: Vec<f32>,
    ln1_mean: Vec<f32>,
    ln1_rstd: Vec<f32>,
    h1: Vec<f32>,
    f: Vec<f32>,
    g: Vec<f32>,
    o_drop: Vec<f32>,
    r2: Vec<f32>,
    ln2_mean: Vec<f32>,
    ln2_rstd: Vec<f32>,
}

/// What the forward pass keeps.
#[derive(Default)]
pub struct Cache {
    pos: Vec<u32>,
    x0: Vec<f32>,
    emb_mean: Vec<f32>,
    emb_rstd: Vec<f32>,
    emb_drop: Vec<f32>,
    layers: Vec<LayerCache>,
    h: Vec<f32>,
    // head
    head_in: Vec<f32>,
    head_drop: Vec<f32>,
    dense_out: Vec<f32>,
    tanh_out: Vec<f32>,
    head_drop2: Vec<f32>,
    /// The logits: `[batch·seq, labels]` (token) or `[batch, labels]` (sequence).
    pub logits: Vec<f32>,
}

/// The trainable model.
pub struct Model {
    /// The checkpoint's config.
    pub config: Config,
    /// Every trainable tensor.
    pub params: Vec<Param>,
    /// The head trained.
    pub task: Task,
    /// Labels (`id2label` order).
    pub labels: Vec<String>,
    word: usize,
    pos: usize,
    ttype: usize,
    emb_g: usize,
    emb_b: usize,
    layers: Vec<LayerIdx>,
    head: Vec<usize>,
}

/// A normal sample (Box–Muller over the counter-based uniform).
fn normal(seed: u64, stream: u64, i: u64) -> f32 {
    let u1 = ops::uniform(seed, stream, 2 * i).max(1e-7);
    let u2 = ops::uniform(seed, stream, 2 * i + 1);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

impl Model {
    /// Loads the encoder of an HF RoBERTa / XLM-R directory and the head for `task` with `labels`: the
    /// checkpoint's head when it has one of that shape, else a new one initialised as HF does (weights
    /// N(0, initializer_range) from `seed`, biases 0).
    pub fn load(dir: &Path, task: Task, labels: Vec<String>, seed: u64) -> Result<Model> {
        let config = Config::from_file(&dir.join("config.json"))?;
        if config.family() != roberta_encoder::Family::Roberta {
            return Err(Error::Unsupported(format!("{}: training supports the RoBERTa family (roberta, xlm-roberta) for now, not BERT", dir.display())));
        }
        let files = ModelFiles::resolve(dir)?;
        let src = files.open_weights()?;
        let (h, f, v) = (config.hidden_size, config.intermediate_size, config.vocab_size);
        let mut params: Vec<Param> = Vec::new();
        let mut add = |p: Param| {
            params.push(p);
            params.len() - 1
        };
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>> { Ok(src.read_f32(name, shape)?) };
        let pfx = |n: &str| format!("{}{n}", names::PREFIX);
        let word = add(Param::new(&pfx(names::embeddings::WORD), &[v, h], read(names::embeddings::WORD, &[v, h])?, true));
        let npos = config.max_position_embeddings;
        let pos = add(Param::new(&pfx(names::embeddings::POSITION), &[npos, h], read(names::embeddings::POSITION, &[npos, h])?, true));
        let nt = config.type_vocab_size;
        let ttype = add(Param::new(&pfx(names::embeddings::TOKEN_TYPE), &[nt, h], read(names::embeddings::TOKEN_TYPE, &[nt, h])?, true));
        let emb_g = add(Param::new(&pfx(names::embeddings::LN_WEIGHT), &[h], read(names::embeddings::LN_WEIGHT, &[h])?, false));
        let emb_b = add(Param::new(&pfx(names::embeddings::LN_BIAS), &[h], read(names::embeddings::LN_BIAS, &[h])?, false));
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let n = names::layer(i);
            let mut qkv_w = Vec::with_capacity(3 * h * h);
            let mut qkv_b = Vec::with_capacity(3 * h);
            for k in 0..3 {
                qkv_w.extend(read(&n.qkv_weight[k], &[h, h])?);
                qkv_b.extend(read(&n.qkv_bias[k], &[h])?);
            }
            let mut pw = Param::new(&pfx(&n.qkv_weight[0]), &[h, h], qkv_w, true);
            pw.parts = n.qkv_weight.iter().map(|s| (pfx(s), vec![h, h])).collect();
            let mut pb = Param::new(&pfx(&n.qkv_bias[0]), &[h], qkv_b, false);
            pb.parts = n.qkv_bias.iter().map(|s| (pfx(s), vec![h])).collect();
            let qkv_w = add(pw);
            let qkv_b = add(pb);
            let mut one = |name: &str, shape: &[usize], decay: bool| -> Result<usize> { Ok(add(Param::new(&pfx(name), shape, read(name, shape)?, decay))) };
            layers.push(LayerIdx {
                qkv_w,
                qkv_b,
                ao_w: one(&n.attn_out_weight, &[h, h], true)?,
                ao_b: one(&n.attn_out_bias, &[h], false)?,
                ln1_g: one(&n.attn_ln_weight, &[h], false)?,
                ln1_b: one(&n.attn_ln_bias, &[h], false)?,
                i_w: one(&n.inter_weight, &[f, h], true)?,
                i_b: one(&n.inter_bias, &[f], false)?,
                o_w: one(&n.out_weight, &[h, f], true)?,
                o_b: one(&n.out_bias, &[h], false)?,
                ln2_g: one(&n.out_ln_weight, &[h], false)?,
                ln2_b: one(&n.out_ln_bias, &[h], false)?,
            });
        }
        let nl = labels.len();
        if nl == 0 {
            return Err(Error::Data("no labels to train".into()));
        }
        let std = config.initializer_range as f32;
        let init = |name: &str, shape: &[usize], stream: u64, bias: bool| -> Result<Vec<f32>> {
            if src.shape(name).as_deref() == Some(shape) {
                return read(name, shape);
            }
            let n: usize = shape.iter().product();
            Ok(if bias { vec![0.0; n] } else { (0..n).map(|i| std * normal(seed, stream, i as u64)).collect() })
        };
        let head = match task {
            Task::Token => {
                use names::token_classifier as c;
                vec![
                    add(Param::new(c::WEIGHT, &[nl, h], init(c::WEIGHT, &[nl, h], 1, false)?, true)),
                    add(Param::new(c::BIAS, &[nl], init(c::BIAS, &[nl], 2, true)?, false)),
                ]
            }
            Task::Sequence => {
                use names::sequence_classifier as c;
                vec![
                    add(Param::new(c::DENSE_WEIGHT, &[h, h], init(c::DENSE_WEIGHT, &[h, h], 3, false)?, true)),
                    add(Param::new(c::DENSE_BIAS, &[h], init(c::DENSE_BIAS, &[h], 4, true)?, false)),
                    add(Param::new(c::OUT_WEIGHT, &[nl, h], init(c::OUT_WEIGHT, &[nl, h], 5, false)?, true)),
                    add(Param::new(c::OUT_BIAS, &[nl], init(c::OUT_BIAS, &[nl], 6, true)?, false)),
                ]
            }
        };
        Ok(Model { config, params, task, labels, word, pos, ttype, emb_g, emb_b, layers, head })
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.grad.iter_mut().for_each(|g| *g = 0.0);
        }
    }

    fn hidden_p(&self, train: bool) -> f32 {
        if train { self.config.hidden_dropout_prob as f32 } else { 0.0 }
    }

    fn classifier_p(&self, train: bool) -> f32 {
        if train { self.config.classifier_dropout.unwrap_or(self.config.hidden_dropout_prob) as f32 } else { 0.0 }
    }

    /// The forward pass (dropout when `train`, seeded by `seed` and `step`): the logits in the cache.
    pub fn forward(&self, b: &Batch, train: bool, seed: u64, step: u64) -> Cache {
        let c = &self.config;
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let n = b.batch * b.seq;
        let eps = c.layer_norm_eps as f32;
        let p = |i: usize| &self.params[i].data;
        let mut cache = Cache::default();
        // stream numbers: 1 the embeddings, 100·(layer+1) + site, 10_000+ the head; the step shifts them all
        let stream = |site: u64| step.wrapping_mul(1 << 20).wrapping_add(site);
        // positions: padding_idx + 1 + rank among the real tokens; padding at padding_idx
        let pad = c.pad_token_id;
        cache.pos = vec![pad; n];
        for s in 0..b.batch {
            let mut k = 0;
            for t in 0..b.seq {
                if b.mask[s * b.seq + t] != 0 {
                    k += 1;
                    cache.pos[s * b.seq + t] = pad + k;
                }
            }
        }
        let mut x0 = vec![0.0f32; n * h];
        ops::embedding_forward(&mut x0, p(self.word), &b.ids, h);
        let mut tmp = vec![0.0f32; n * h];
        ops::embedding_forward(&mut tmp, p(self.pos), &cache.pos, h);
        for (a, v) in x0.iter_mut().zip(&tmp) {
            *a += v;
        }
        let type_row = &p(self.ttype)[..h];
        for r in x0.chunks_exact_mut(h) {
            for (a, v) in r.iter_mut().zip(type_row) {
                *a += v;
            }
        }
        let mut hcur = vec![0.0f32; n * h];
        cache.emb_mean = vec![0.0; n];
        cache.emb_rstd = vec![0.0; n];
        ops::layer_norm_forward(&mut hcur, &mut cache.emb_mean, &mut cache.emb_rstd, &x0, p(self.emb_g), p(self.emb_b), h, eps);
        ops::dropout_forward(&mut hcur, &mut cache.emb_drop, self.hidden_p(train), seed, stream(1));
        cache.x0 = x0;
        let shape = AttnShape { batch: b.batch, seq: b.seq, heads: c.num_attention_heads, head_dim: c.head_dim() };
        let attn_p = if train { c.attention_probs_dropout_prob as f32 } else { 0.0 };
        for (li, l) in self.layers.iter().enumerate() {
            let site = |k: u64| stream(100 * (li as u64 + 1) + k);
            let mut lc = LayerCache { h_in: hcur, ..Default::default() };
            lc.qkv = vec![0.0; n * 3 * h];
            ops::linear_forward(&mut lc.qkv, &lc.h_in, p(l.qkv_w), p(l.qkv_b), n, h, 3 * h);
            lc.ctx = vec![0.0; n * h];
            lc.probs = vec![0.0; b.batch * shape.heads * b.seq * b.seq];
            ops::attention_forward(&mut lc.ctx, &mut lc.probs, &mut lc.attn_drop, &lc.qkv, &b.mask, shape, attn_p, seed, site(1));
            let mut a = vec![0.0; n * h];
            ops::linear_forward(&mut a, &lc.ctx, p(l.ao_w), p(l.ao_b), n, h, h);
            ops::dropout_forward(&mut a, &mut lc.ao_drop, self.hidden_p(train), seed, site(2));
            for (x, r) in a.iter_mut().zip(&lc.h_in) {
                *x += r;
            }
            lc.r1 = a;
            lc.h1 = vec![0.0; n * h];
            lc.ln1_mean = vec![0.0; n];
            lc.ln1_rstd = vec![0.0; n];
            ops::layer_norm_forward(&mut lc.h1, &mut lc.ln1_mean, &mut lc.ln1_rstd, &lc.r1, p(l.ln1_g), p(l.ln1_b), h, eps);
            lc.f = vec![0.0; n * f];
            ops::linear_forward(&mut lc.f, &lc.h1, p(l.i_w), p(l.i_b), n, h, f);
            lc.g = vec![0.0; n * f];
            ops::gelu_forward(&mut lc.g, &lc.f);
            let mut o = vec![0.0; n * h];
            ops::linear_forward(&mut o, &lc.g, p(l.o_w), p(l.o_b), n, f, h);
            ops::dropout_forward(&mut o, &mut lc.o_drop, self.hidden_p(train), seed, site(3));
            for (x, r) in o.iter_mut().zip(&lc.h1) {
                *x += r;
            }
            lc.r2 = o;
            let mut out = vec![0.0; n * h];
            lc.ln2_mean = vec![0.0; n];
            lc.ln2_rstd = vec![0.0; n];
            ops::layer_norm_forward(&mut out, &mut lc.ln2_mean, &mut lc.ln2_rstd, &lc.r2, p(l.ln2_g), p(l.ln2_b), h, eps);
            cache.layers.push(lc);
            hcur = out;
        }
        let nl = self.labels.len();
        let cp = self.classifier_p(train);
        match self.task {
            Task::Token => {
                let mut x = hcur.clone();
                ops::dropout_forward(&mut x, &mut cache.head_drop, cp, seed, stream(10_001));
                cache.logits = vec![0.0; n * nl];
                ops::linear_forward(&mut cache.logits, &x, p(self.head[0]), p(self.head[1]), n, h, nl);
                cache.head_in = x;
            }
            Task::Sequence => {
                let mut x: Vec<f32> = (0..b.batch).flat_map(|s| hcur[s * b.seq * h..s * b.seq * h + h].iter().copied()).collect();
                ops::dropout_forward(&mut x, &mut cache.head_drop, cp, seed, stream(10_001));
                let mut d = vec![0.0; b.batch * h];
                ops::linear_forward(&mut d, &x, p(self.head[0]), p(self.head[1]), b.batch, h, h);
                let mut t = vec![0.0; b.batch * h];
                ops::tanh_forward(&mut t, &d);
                cache.tanh_out = t.clone();
                ops::dropout_forward(&mut t, &mut cache.head_drop2, cp, seed, stream(10_002));
                cache.logits = vec![0.0; b.batch * nl];
                ops::linear_forward(&mut cache.logits, &t, p(self.head[2]), p(self.head[3]), b.batch, h, nl);
                cache.head_in = x;
                cache.dense_out = t; // the dropped tanh output: out_proj's input
            }
        }
        cache.h = hcur;
        cache
    }

    /// The loss of a forward pass and its gradient into every parameter's `grad` (added): mean cross-entropy
    /// over the labelled tokens (or sequences). Returns the loss and the number of labelled rows.
    pub fn backward(&mut self, b: &Batch, cache: &Cache) -> (f32, usize) {
        let c = self.config.clone();
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let n = b.batch * b.seq;
        let nl = self.labels.len();
        let mut dlogits = vec![0.0f32; cache.logits.len()];
        let (loss, count) = ops::cross_entropy(&mut dlogits, &cache.logits, &b.labels, nl);
        let mut dh = vec![0.0f32; n * h];
        match self.task {
            Task::Token => {
                let mut dx = vec![0.0; n * h];
                {
                    let (wi, bi) = (self.head[0], self.head[1]);
                    let w = std::mem::take(&mut self.params[wi].data);
                    let mut dw = std::mem::take(&mut self.params[wi].grad);
                    let mut db = std::mem::take(&mut self.params[bi].grad);
                    ops::linear_backward(Some(&mut dx), &mut dw, &mut db, &dlogits, &cache.head_in, &w, n, h, nl, false);
                    self.params[wi].grad = dw;
                    self.params[bi].grad = db;
                    self.params[wi].data = w;
                }
                ops::dropout_backward(&mut dx, &cache.head_drop);
                dh = dx;
            }
            Task::Sequence => {
                let bs = b.batch;
                let (dw_i, db_i, ow_i, ob_i) = (self.head[0], self.head[1], self.head[2], self.head[3]);
                let mut dt = vec![0.0; bs * h];
                {
                    let w = std::mem::take(&mut self.params[ow_i].data);
                    let mut dw = std::mem::take(&mut self.params[ow_i].grad);
                    let mut db = std::mem::take(&mut self.params[ob_i].grad);
                    ops::linear_backward(Some(&mut dt), &mut dw, &mut db, &dlogits, &cache.dense_out, &w, bs, h, nl, false);
                    self.params[ow_i].grad = dw;
                    self.params[ob_i].grad = db;
                    self.params[ow_i].data = w;
                }
                ops::dropout_backward(&mut dt, &cache.head_drop2);
                let mut dd = vec![0.0; bs * h];
                ops::tanh_backward(&mut dd, &dt, &cache.tanh_out);
                let mut dx = vec![0.0; bs * h];
                {
                    let w = std::mem::take(&mut self.params[dw_i].data);
                    let mut dw = std::mem::take(&mut self.params[dw_i].grad);
                    let mut db = std::mem::take(&mut self.params[db_i].grad);
                    ops::linear_backward(Some(&mut dx), &mut dw, &mut db, &dd, &cache.head_in, &w, bs, h, h, false);
                    self.params[dw_i].grad = dw;
                    self.params[db_i].grad = db;
                    self.params[dw_i].data = w;
                }
                ops::dropout_backward(&mut dx, &cache.head_drop);
                for s in 0..bs {
                    dh[s * b.seq * h..s * b.seq * h + h].copy_from_slice(&dx[s * h..(s + 1) * h]);
                }
            }
        }
        let shape = AttnShape { batch: b.batch, seq: b.seq, heads: c.num_attention_heads, head_dim: c.head_dim() };
        for (li, lc) in cache.layers.iter().enumerate().rev() {
            let l = self.layers[li];
            // LN2
            let mut dr2 = vec![0.0; n * h];
            {
                let g = std::mem::take(&mut self.params[l.ln2_g].data);
                let mut dg = std::mem::take(&mut self.params[l.ln2_g].grad);
                let mut db = std::mem::take(&mut self.params[l.ln2_b].grad);
                ops::layer_norm_backward(&mut dr2, &mut dg, &mut db, &dh, &lc.r2, &lc.ln2_mean, &lc.ln2_rstd, &g, h);
                self.params[l.ln2_g].grad = dg;
                self.params[l.ln2_b].grad = db;
                self.params[l.ln2_g].data = g;
            }
            // residual: dh1 = dr2 (+ through the FFN below)
            let mut dh1 = dr2.clone();
            let mut d_o = dr2;
            ops::dropout_backward(&mut d_o, &lc.o_drop);
            let mut dg_act = vec![0.0; n * f];
            {
                let w = std::mem::take(&mut self.params[l.o_w].data);
                let mut dw = std::mem::take(&mut self.params[l.o_w].grad);
                let mut db = std::mem::take(&mut self.params[l.o_b].grad);
                ops::linear_backward(Some(&mut dg_act), &mut dw, &mut db, &d_o, &lc.g, &w, n, f, h, false);
                self.params[l.o_w].grad = dw;
                self.params[l.o_b].grad = db;
                self.params[l.o_w].data = w;
            }
            let mut df = vec![0.0; n * f];
            ops::gelu_backward(&mut df, &dg_act, &lc.f);
            {
                let w = std::mem::take(&mut self.params[l.i_w].data);
                let mut dw = std::mem::take(&mut self.params[l.i_w].grad);
                let mut db = std::mem::take(&mut self.params[l.i_b].grad);
                ops::linear_backward(Some(&mut dh1), &mut dw, &mut db, &df, &lc.h1, &w, n, h, f, true);
                self.params[l.i_w].grad = dw;
                self.params[l.i_b].grad = db;
                self.params[l.i_w].data = w;
            }
            // LN1
            let mut dr1 = vec![0.0; n * h];
            {
                let g = std::mem::take(&mut self.params[l.ln1_g].data);
                let mut dg = std::mem::take(&mut self.params[l.ln1_g].grad);
                let mut db = std::mem::take(&mut self.params[l.ln1_b].grad);
                ops::layer_norm_backward(&mut dr1, &mut dg, &mut db, &dh1, &lc.r1, &lc.ln1_mean, &lc.ln1_rstd, &g, h);
                self.params[l.ln1_g].grad = dg;
                self.params[l.ln1_b].grad = db;
                self.params[l.ln1_g].data = g;
            }
            let mut dh_in = dr1.clone();
            let mut da = dr1;
            ops::dropout_backward(&mut da, &lc.ao_drop);
            let mut dctx = vec![0.0; n * h];
            {
                let w = std::mem::take(&mut self.params[l.ao_w].data);
                let mut dw = std::mem::take(&mut self.params[l.ao_w].grad);
                let mut db = std::mem::take(&mut self.params[l.ao_b].grad);
                ops::linear_backward(Some(&mut dctx), &mut dw, &mut db, &da, &lc.ctx, &w, n, h, h, false);
                self.params[l.ao_w].grad = dw;
                self.params[l.ao_b].grad = db;
                self.params[l.ao_w].data = w;
            }
            let mut dqkv = vec![0.0; n * 3 * h];
            ops::attention_backward(&mut dqkv, &dctx, &lc.probs, &lc.attn_drop, &lc.qkv, shape);
            {
                let w = std::mem::take(&mut self.params[l.qkv_w].data);
                let mut dw = std::mem::take(&mut self.params[l.qkv_w].grad);
                let mut db = std::mem::take(&mut self.params[l.qkv_b].grad);
                ops::linear_backward(Some(&mut dh_in), &mut dw, &mut db, &dqkv, &lc.h_in, &w, n, h, 3 * h, true);
                self.params[l.qkv_w].grad = dw;
                self.params[l.qkv_b].grad = db;
                self.params[l.qkv_w].data = w;
            }
            dh = dh_in;
        }
        // embeddings
        ops::dropout_backward(&mut dh, &cache.emb_drop);
        let mut dx0 = vec![0.0; n * h];
        {
            let g = std::mem::take(&mut self.params[self.emb_g].data);
            let mut dg = std::mem::take(&mut self.params[self.emb_g].grad);
            let mut db = std::mem::take(&mut self.params[self.emb_b].grad);
            ops::layer_norm_backward(&mut dx0, &mut dg, &mut db, &dh, &cache.x0, &cache.emb_mean, &cache.emb_rstd, &g, h);
            self.params[self.emb_g].grad = dg;
            self.params[self.emb_b].grad = db;
            self.params[self.emb_g].data = g;
        }
        let pad = Some(c.pad_token_id);
        ops::embedding_backward(&mut self.params[self.word].grad, &dx0, &b.ids, h, pad);
        ops::embedding_backward(&mut self.params[self.pos].grad, &dx0, &cache.pos, h, pad);
        let tg = &mut self.params[self.ttype].grad;
        for r in dx0.chunks_exact(h) {
            for (g, v) in tg[..h].iter_mut().zip(r) {
                *g += v;
            }
        }
        (loss, count)
    }

    /// The logits of a batch without dropout (evaluation): `[batch·seq, labels]` or `[batch, labels]`.
    pub fn predict(&self, b: &Batch) -> Vec<f32> {
        self.forward(b, false, 0, 0).logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole model's gradient against central differences of its loss, on the tiny NER fixture (dropout off,
    /// a few parameters of every tensor probed).
    #[test]
    fn model_gradient_matches_finite_differences() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/models/tiny-ner"));
        for task in [Task::Token, Task::Sequence] {
            let labels: Vec<String> = (0..3).map(|i| format!("L{i}")).collect();
            let mut m = Model::load(dir, task, labels, 7).unwrap();
            let (bs, t) = (2, 6);
            let ids = vec![0, 300, 400, 500, 600, 2, 0, 700, 800, 2, 1, 1];
            let mask = vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
            let labels = match task {
                Task::Token => vec![-100, 0, 1, 2, 1, -100, -100, 2, 0, -100, -100, -100],
                Task::Sequence => vec![1, 2],
            };
            let b = Batch { ids, mask, labels, batch: bs, seq: t };
            m.zero_grad();
            let cache = m.forward(&b, false, 0, 0);
            m.backward(&b, &cache);
            let loss = |m: &Model| {
                let c = m.forward(&b, false, 0, 0);
                let mut d = vec![0.0; c.logits.len()];
                ops::cross_entropy(&mut d, &c.logits, &b.labels, m.labels.len()).0 as f64
            };
            let mut worst = 0.0f64;
            for pi in 0..m.params.len() {
                let len = m.params[pi].data.len();
                // a few entries of each tensor, the largest-gradient one among them
                let mut idx: Vec<usize> = (0..5).map(|k| (k * 7919 + pi * 31) % len).collect();
                let best = (0..len).max_by(|&a, &b| m.params[pi].grad[a].abs().total_cmp(&m.params[pi].grad[b].abs())).unwrap();
                idx.push(best);
                for i in idx {
                    let v = m.params[pi].data[i];
                    let eps = 1e-2f32.max(v.abs() * 1e-2);
                    m.params[pi].data[i] = v + eps;
                    let up = loss(&m);
                    m.params[pi].data[i] = v - eps;
                    let down = loss(&m);
                    m.params[pi].data[i] = v;
                    let num = (up - down) / (2.0 * eps as f64);
                    let ana = m.params[pi].grad[i] as f64;
                    let err = (num - ana).abs() / (num.abs().max(ana.abs()).max(1e-3));
                    worst = worst.max(err);
                    assert!(err < 5e-2 || (num - ana).abs() < 2e-4, "{:?} {} [{i}]: analytic {ana}, numeric {num}", task, m.params[pi].name);
                }
            }
            eprintln!("{task:?}: worst relative gradient error {worst:.2e}");
        }
    }
}
