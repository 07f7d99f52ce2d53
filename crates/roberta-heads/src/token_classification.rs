//! `classifier`: one linear layer over every token's hidden state (HF `RobertaForTokenClassification`).
use roberta_checkpoint::names::token_classifier as n;
use roberta_encoder::{ops, Config, EncoderError, TensorSource};

/// The token-classification head.
pub struct TokenClassificationHead {
    /// `[num_labels, hidden]`.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl TokenClassificationHead {
    /// Loads `classifier.weight` `[num_labels, hidden]` and `classifier.bias`.
    pub fn load(cfg: &Config, src: &dyn TensorSource) -> Result<Self, EncoderError> {
        let (h, labels) = (cfg.hidden_size, cfg.num_labels());
        Ok(TokenClassificationHead { weight: src.read_f32(n::WEIGHT, &[labels, h])?, bias: src.read_f32(n::BIAS, &[labels])? })
    }

    /// Per-token logits `[rows, num_labels]` for hidden states `[rows, hidden]`.
    pub fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        ops::linear(hidden, rows, &self.weight, self.bias.len(), Some(&self.bias))
    }

    /// Number of labels.
    pub fn num_labels(&self) -> usize {
        self.bias.len()
    }
}
