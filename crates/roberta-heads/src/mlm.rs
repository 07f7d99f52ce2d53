//! `lm_head`: dense → GELU → LayerNorm → decoder (tied to the word embeddings) + `lm_head.bias`;
//! both projections packed once for the encoder's GEMM kernel.
use roberta_encoder::matmul::PackedLinear;
use roberta_encoder::{ops, Config, EncoderError, Weights};

/// The masked-LM head (HF `RobertaLMHead`).
pub struct MlmHead {
    dense: PackedLinear,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    decoder: PackedLinear,
    eps: f32,
}

impl MlmHead {
    /// Loads `lm_head.*`; the decoder bias is `lm_head.bias` (or `lm_head.decoder.bias`).
    pub fn load(cfg: &Config, w: &Weights) -> Result<Self, EncoderError> {
        let (h, v) = (cfg.hidden_size, cfg.vocab_size);
        let bias_name = if w.contains("lm_head.bias") { "lm_head.bias" } else { "lm_head.decoder.bias" };
        let vec = |name: &str, shape: &[usize]| w.expect(name, shape).map(|t| t.data.clone());
        Ok(MlmHead {
            dense: PackedLinear::new(vec("lm_head.dense.weight", &[h, h])?, h, Some(vec("lm_head.dense.bias", &[h])?)),
            ln_g: vec("lm_head.layer_norm.weight", &[h])?,
            ln_b: vec("lm_head.layer_norm.bias", &[h])?,
            decoder: PackedLinear::new(vec("lm_head.decoder.weight", &[v, h])?, v, Some(vec(bias_name, &[v])?)),
            eps: cfg.layer_norm_eps as f32,
        })
    }

    /// Vocabulary logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    pub fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        let h = self.ln_g.len();
        let mut x = vec![0.0f32; rows * h];
        self.dense.forward_gelu_into(hidden, rows, &mut x);
        ops::layer_norm_inplace(&mut x, h, &self.ln_g, &self.ln_b, self.eps);
        let mut out = vec![0.0f32; rows * self.decoder.out];
        self.decoder.forward_into(&x, rows, &mut out);
        out
    }

    /// Size of the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.decoder.out
    }
}
