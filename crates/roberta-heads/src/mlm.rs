//! `lm_head` (RoBERTa) or `cls.predictions` (BERT): dense → GELU (BERT: the config's activation) → LayerNorm →
//! decoder (tied to the word embeddings unless `tie_word_embeddings` is false) + bias. The dense projection is packed for the encoder's GEMM kernel; a tied decoder
//! given the encoder's own word embeddings reads that one matrix (no second 154 MB copy for RoBERTa-base),
//! otherwise it is loaded and packed.
use roberta_checkpoint::names::{bert_mlm, lm_head};
use roberta_encoder::matmul::PackedLinear;
use roberta_encoder::{ops, Activation, Config, EncoderError, Family, TensorSource, WordEmbeddings};

/// One family's names of the head's tensors.
struct Names {
    dense_weight: &'static str,
    dense_bias: &'static str,
    ln_weight: &'static str,
    ln_bias: &'static str,
    decoder_weight: &'static str,
    bias: &'static str,
    decoder_bias: &'static str,
}

fn names(family: Family) -> Names {
    match family {
        Family::Roberta => Names {
            dense_weight: lm_head::DENSE_WEIGHT,
            dense_bias: lm_head::DENSE_BIAS,
            ln_weight: lm_head::LN_WEIGHT,
            ln_bias: lm_head::LN_BIAS,
            decoder_weight: lm_head::DECODER_WEIGHT,
            bias: lm_head::BIAS,
            decoder_bias: lm_head::DECODER_BIAS,
        },
        Family::Bert => Names {
            dense_weight: bert_mlm::DENSE_WEIGHT,
            dense_bias: bert_mlm::DENSE_BIAS,
            ln_weight: bert_mlm::LN_WEIGHT,
            ln_bias: bert_mlm::LN_BIAS,
            decoder_weight: bert_mlm::DECODER_WEIGHT,
            bias: bert_mlm::BIAS,
            decoder_bias: bert_mlm::DECODER_BIAS,
        },
    }
}

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
    /// GELU for RoBERTa's head; BERT's transform uses the config's `hidden_act`.
    act: Activation,
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
        let n = names(cfg.family());
        let bias_name = if src.contains(n.bias) { n.bias } else { n.decoder_bias };
        let vec = |name: &str, shape: &[usize]| src.read_f32(name, shape);
        let bias = vec(bias_name, &[v])?;
        let decoder = match word.filter(|w| cfg.tie_word_embeddings && w.rows(h) == v) {
            Some(word) => Decoder::Shared { word, bias, vocab: v },
            None => {
                // tied: the word embeddings, whatever the checkpoint holds under the decoder's name (as HF)
                let w = if cfg.tie_word_embeddings { roberta_checkpoint::names::embeddings::WORD } else { n.decoder_weight };
                Decoder::Packed(PackedLinear::new(vec(w, &[v, h])?, v, Some(bias)))
            }
        };
        let act = match cfg.family() {
            Family::Roberta => Activation::Gelu,
            Family::Bert => cfg.activation()?,
        };
        Ok(MlmHead {
            dense: PackedLinear::new(vec(n.dense_weight, &[h, h])?, h, Some(vec(n.dense_bias, &[h])?)),
            ln_g: vec(n.ln_weight, &[h])?,
            ln_b: vec(n.ln_bias, &[h])?,
            decoder,
            eps: cfg.layer_norm_eps as f32,
            act,
        })
    }

    /// Vocabulary logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    pub fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        let h = self.ln_g.len();
        let mut x = vec![0.0f32; rows * h];
        if self.act == Activation::Gelu {
            self.dense.forward_gelu_into(hidden, rows, &mut x);
        } else {
            self.dense.forward_into(hidden, rows, &mut x);
            ops::activation_inplace(&mut x, self.act);
        }
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
