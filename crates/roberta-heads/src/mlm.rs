//! `lm_head`: dense → GELU → LayerNorm → decoder (tied to the word embeddings unless `tie_word_embeddings`
//! is false) + `lm_head.bias`. The dense projection is packed for the encoder's GEMM kernel; a tied decoder
//! given the encoder's own word embeddings reads that one matrix (no second 154 MB copy for RoBERTa-base),
//! otherwise it is loaded and packed.
use roberta_checkpoint::names::lm_head as n;
use roberta_encoder::matmul::PackedLinear;
use roberta_encoder::{ops, Config, EncoderError, TensorSource, WordEmbeddings};

/// The decoder's weight: its own packed copy, or the encoder's word embeddings shared.
enum Decoder {
    Packed(PackedLinear),
    Shared { word: WordEmbeddings, bias: Vec<f32>, vocab: usize },
}

/// The masked-LM head (HF `RobertaLMHead`).
pub struct MlmHead {
    dense: PackedLinear,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    decoder: Decoder,
    eps: f32,
}

impl MlmHead {
    /// Loads `lm_head.*`; the decoder's weight is the word embeddings (or `lm_head.decoder.weight` when
    /// `tie_word_embeddings` is false), its bias `lm_head.bias` (or `lm_head.decoder.bias`).
    pub fn load(cfg: &Config, src: &dyn TensorSource) -> Result<Self, EncoderError> {
        Self::load_shared(cfg, src, None)
    }

    /// [`MlmHead::load`], a tied decoder reading `word` (the encoder's word embeddings `[vocab, hidden]`, f32 or
    /// int8) instead of a copy of its own.
    pub fn load_shared(cfg: &Config, src: &dyn TensorSource, word: Option<WordEmbeddings>) -> Result<Self, EncoderError> {
        let (h, v) = (cfg.hidden_size, cfg.vocab_size);
        let bias_name = n::decoder_bias(|name| src.contains(name));
        let vec = |name: &str, shape: &[usize]| src.read_f32(name, shape);
        let bias = vec(bias_name, &[v])?;
        let decoder = match word.filter(|w| cfg.tie_word_embeddings && w.rows(h) == v) {
            Some(word) => Decoder::Shared { word, bias, vocab: v },
            None => Decoder::Packed(PackedLinear::new(vec(n::decoder_weight(cfg.tie_word_embeddings), &[v, h])?, v, Some(bias))),
        };
        Ok(MlmHead {
            dense: PackedLinear::new(vec(n::DENSE_WEIGHT, &[h, h])?, h, Some(vec(n::DENSE_BIAS, &[h])?)),
            ln_g: vec(n::LN_WEIGHT, &[h])?,
            ln_b: vec(n::LN_BIAS, &[h])?,
            decoder,
            eps: cfg.layer_norm_eps as f32,
        })
    }

    /// Vocabulary logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    pub fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        let h = self.ln_g.len();
        let mut x = vec![0.0f32; rows * h];
        self.dense.forward_gelu_into(hidden, rows, &mut x);
        ops::layer_norm_inplace(&mut x, h, &self.ln_g, &self.ln_b, self.eps);
        let mut out = vec![0.0f32; rows * self.vocab_size()];
        match &self.decoder {
            Decoder::Packed(d) => d.forward_into(&x, rows, &mut out),
            Decoder::Shared { word: WordEmbeddings::F32(word), bias, vocab } => {
                ops::linear_into(&x, rows, word, *vocab, Some(bias), &mut out)
            }
            // weight-only: the activations stay f32 (rounding them flips near-tied top tokens; tests/int8.rs)
            Decoder::Shared { word: WordEmbeddings::Int8(q), bias, .. } => q.forward_weight_only_into(&x, rows, &mut out, Some(bias)),
        }
        out
    }

    /// Size of the vocabulary.
    pub fn vocab_size(&self) -> usize {
        match &self.decoder {
            Decoder::Packed(d) => d.out,
            Decoder::Shared { vocab, .. } => *vocab,
        }
    }

    /// Whether the decoder reads the encoder's word embeddings (no copy of its own).
    pub fn shares_embeddings(&self) -> bool {
        matches!(self.decoder, Decoder::Shared { .. })
    }
}
