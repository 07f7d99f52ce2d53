//! `lm_head`: dense → GELU → LayerNorm → decoder (tied to the word embeddings) + `lm_head.bias`.
use roberta_encoder::{ops, Config, EncoderError, Tensor, Weights};

/// The masked-LM head (HF `RobertaLMHead`).
pub struct MlmHead {
    dense: Tensor,
    dense_b: Vec<f32>,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    decoder: Tensor,
    bias: Vec<f32>,
    eps: f32,
}

impl MlmHead {
    /// Loads `lm_head.*`; the decoder bias is `lm_head.bias` (or `lm_head.decoder.bias`).
    pub fn load(cfg: &Config, w: &Weights) -> Result<Self, EncoderError> {
        let (h, v) = (cfg.hidden_size, cfg.vocab_size);
        let bias_name = if w.contains("lm_head.bias") { "lm_head.bias" } else { "lm_head.decoder.bias" };
        Ok(MlmHead {
            dense: w.expect("lm_head.dense.weight", &[h, h])?.clone(),
            dense_b: w.expect("lm_head.dense.bias", &[h])?.data.clone(),
            ln_g: w.expect("lm_head.layer_norm.weight", &[h])?.data.clone(),
            ln_b: w.expect("lm_head.layer_norm.bias", &[h])?.data.clone(),
            decoder: w.expect("lm_head.decoder.weight", &[v, h])?.clone(),
            bias: w.expect(bias_name, &[v])?.data.clone(),
            eps: cfg.layer_norm_eps as f32,
        })
    }

    /// Vocabulary logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    pub fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        let h = self.ln_g.len();
        let mut x = ops::linear(hidden, rows, &self.dense, Some(&self.dense_b));
        ops::gelu_inplace(&mut x);
        ops::layer_norm_inplace(&mut x, h, &self.ln_g, &self.ln_b, self.eps);
        ops::linear(&x, rows, &self.decoder, Some(&self.bias))
    }

    /// Size of the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.bias.len()
    }
}
