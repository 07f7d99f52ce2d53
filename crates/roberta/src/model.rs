//! A loaded model directory: tokenizer, config, encoder on its device, and the head `architectures` names.
use crate::{Error, Result};
use roberta_encoder::{BatchInput, Config, Device, Encoder, RobertaModel, Weights};
use roberta_heads::Head;
use roberta_tokenizer::Tokenizer;
use std::path::Path;

/// An HF RoBERTa directory loaded for inference. `Send + Sync`: share it behind an `Arc`.
pub struct Model {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The configuration.
    pub config: Config,
    /// The encoder.
    pub encoder: Encoder,
    /// The task head, when the checkpoint has one.
    pub head: Option<Head>,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// Upper bound on one forward pass's activations (see [`Model::activation_bytes`]): a batch that would pass
    /// it is split into smaller passes (one sequence at least). Default: env `ROBERTA_MEMORY_LIMIT` (bytes), or none.
    pub memory_limit_bytes: Option<usize>,
}

/// One forward pass over padded sequences: hidden states `[batch, seq_len, hidden]` and the mask.
pub(crate) struct Hidden {
    pub data: Vec<f32>,
    pub mask: Vec<u32>,
    pub seq_len: usize,
    pub width: usize,
}

impl Hidden {
    /// Row `t` of sequence `b`.
    pub fn row(&self, b: usize, t: usize) -> &[f32] {
        let o = (b * self.seq_len + t) * self.width;
        &self.data[o..o + self.width]
    }
}

impl Model {
    /// Loads tokenizer, config, weights and head from `dir`, the encoder on `device`.
    pub fn load(dir: impl AsRef<Path>, device: Device) -> Result<Model> {
        let dir = dir.as_ref();
        let tokenizer = Tokenizer::from_dir(dir)?;
        let config = Config::from_file(&dir.join("config.json"))?;
        let (encoder, head) = if device == Device::Cpu {
            // lean: the encoder straight from the file tensor by tensor, then only the head's tensors (peak ≈ the
            // packed model plus the head, not two copies of the checkpoint)
            let encoder = Encoder::Cpu(RobertaModel::load_dir(&config, dir)?);
            let head_weights = Weights::load_dir_where(dir, |n| {
                n.starts_with("lm_head.") || n.starts_with("classifier.") || n == "embeddings.word_embeddings.weight"
            })?;
            (encoder, Head::from_architecture(&config, &head_weights)?)
        } else {
            let weights = Weights::load_dir(dir)?;
            (Encoder::load(&config, &weights, device)?, Head::from_architecture(&config, &weights)?)
        };
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::Model(format!(
                "{}: the tokenizer has {} tokens but config.json's vocab_size is {}",
                dir.display(),
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let memory_limit_bytes = std::env::var("ROBERTA_MEMORY_LIMIT").ok().and_then(|v| v.trim().parse().ok());
        Ok(Model { tokenizer, config, encoder, head, batch_size: 16, memory_limit_bytes })
    }

    /// The device the encoder runs on, for messages: `cpu` or e.g. `cuda:0 NVIDIA H200 (sm_90)` (see
    /// [`Encoder::device_description`]).
    pub fn device_description(&self) -> String {
        self.encoder.device_description()
    }

    /// The most tokens one sequence may hold, special tokens included (512 for RoBERTa-base).
    pub fn max_tokens(&self) -> usize {
        let m = self.config.max_seq_len();
        self.tokenizer.model_max_length().map_or(m, |t| t.min(m))
    }

    /// Runs the encoder on sequences of ids, padded to the longest (at most `batch_size` per pass).
    pub(crate) fn forward(&self, seqs: &[&[u32]]) -> Result<Hidden> {
        let seq_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let pad = self.tokenizer.pad_token_id();
        let mut ids = Vec::with_capacity(seqs.len() * seq_len);
        let mut mask = Vec::with_capacity(seqs.len() * seq_len);
        for s in seqs {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(pad, seq_len - s.len()));
            mask.extend(std::iter::repeat_n(1u32, s.len()));
            mask.extend(std::iter::repeat_n(0u32, seq_len - s.len()));
        }
        let out = self.encoder.forward(
            &BatchInput { input_ids: &ids, attention_mask: &mask, batch: seqs.len(), seq_len },
            false,
        )?;
        Ok(Hidden { data: out.last_hidden_state, mask, seq_len, width: self.config.hidden_size })
    }

    /// Estimated activation bytes of one pass over `batch` sequences padded to `seq_len`:
    /// batch·seq_len·(3H (QKV) + H (context) + FFN + heads·seq_len (scores))·4.
    pub fn activation_bytes(&self, batch: usize, seq_len: usize) -> usize {
        let c = &self.config;
        let per_token = 4 * c.hidden_size + c.intermediate_size + c.num_attention_heads * seq_len;
        batch.saturating_mul(seq_len).saturating_mul(per_token).saturating_mul(4)
    }

    /// How `forward_all` splits sequences of these lengths into passes: consecutive ranges of at most `batch_size`
    /// sequences whose [`Model::activation_bytes`] stays under `memory_limit_bytes` (a range holds one sequence
    /// at least, whatever the limit).
    pub fn batch_plan(&self, lens: &[usize]) -> Vec<std::ops::Range<usize>> {
        let (max_batch, limit) = (self.batch_size.max(1), self.memory_limit_bytes.unwrap_or(usize::MAX));
        let mut out = Vec::new();
        let (mut start, mut longest) = (0, 0);
        for (i, &n) in lens.iter().enumerate() {
            let l = longest.max(n);
            if i > start && (i - start == max_batch || self.activation_bytes(i + 1 - start, l) > limit) {
                out.push(start..i);
                (start, longest) = (i, n);
            } else {
                longest = l;
            }
        }
        if start < lens.len() {
            out.push(start..lens.len());
        }
        out
    }

    /// Runs `forward` over many sequences in passes as [`Model::batch_plan`] cuts them, calling
    /// `f(index, hidden, b)` for each (`index` into `seqs`). Sequences are taken in order of length, so a pass
    /// pads little; `f` sees them in that order.
    pub(crate) fn forward_all(&self, seqs: &[&[u32]], mut f: impl FnMut(usize, &Hidden, usize) -> Result<()>) -> Result<()> {
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| seqs[i].len());
        let sorted: Vec<&[u32]> = order.iter().map(|&i| seqs[i]).collect();
        let lens: Vec<usize> = sorted.iter().map(|s| s.len()).collect();
        for r in self.batch_plan(&lens) {
            let h = self.forward(&sorted[r.clone()])?;
            for b in 0..r.len() {
                f(order[r.start + b], &h, b)?;
            }
        }
        Ok(())
    }
}

impl Model {
    /// `<s>`/`</s>` ids.
    fn cls_sep(&self) -> (u32, u32) {
        let t = &self.tokenizer;
        let s = t.special_tokens();
        (t.token_to_id(&s.cls).unwrap_or(0), t.token_to_id(&s.sep).unwrap_or(2))
    }

    /// A text as windows of at most `max_tokens()` tokens each (`<s>` and `</s>` included), consecutive windows
    /// sharing `stride` tokens; one window when the text fits. Offsets are characters of the text.
    pub(crate) fn windows(&self, text: &str, stride: usize) -> Vec<(Vec<u32>, Vec<(usize, usize)>)> {
        let e = self.tokenizer.encode_with(roberta_tokenizer::Input::Single(text), &roberta_tokenizer::EncodeOptions {
            add_special_tokens: false,
            ..Default::default()
        });
        let e = e.expect("no truncation requested");
        let (cls, sep) = self.cls_sep();
        let room = self.max_tokens().saturating_sub(2).max(1);
        let step = room.saturating_sub(stride).max(1);
        let mut out = Vec::new();
        let mut a = 0;
        loop {
            let b = (a + room).min(e.len());
            let mut ids = Vec::with_capacity(b - a + 2);
            ids.push(cls);
            ids.extend_from_slice(&e.ids[a..b]);
            ids.push(sep);
            let mut offs = Vec::with_capacity(b - a + 2);
            offs.push((0, 0));
            offs.extend_from_slice(&e.offsets[a..b]);
            offs.push((0, 0));
            out.push((ids, offs));
            if b >= e.len() {
                return out;
            }
            a += step;
        }
    }

    /// A text with special tokens, cut to `max_tokens()` with a warning when it is longer.
    pub(crate) fn encode_truncated(&self, text: &str) -> Result<(Vec<u32>, Option<String>)> {
        let full = self.tokenizer.encode(text);
        let max = self.max_tokens();
        if full.len() <= max {
            return Ok((full.ids, None));
        }
        let opts = roberta_tokenizer::EncodeOptions { max_length: Some(max), ..Default::default() };
        let cut = self.tokenizer.encode_with(roberta_tokenizer::Input::Single(text), &opts)?;
        Ok((cut.ids, Some(format!("input of {} tokens truncated to the model's {max}", full.len()))))
    }
}
