//! `classifier`: one linear layer over every token's hidden state (HF `RobertaForTokenClassification`).
use roberta_encoder::{ops, Config, EncoderError, Tensor, Weights};

/// The token-classification head.
pub struct TokenClassificationHead {
    weight: Tensor,
    bias: Vec<f32>,
}

impl TokenClassificationHead {
    /// Loads `classifier.weight` `[num_labels, hidden]` and `classifier.bias`.
    pub fn load(cfg: &Config, w: &Weights) -> Result<Self, EncoderError> {
        let (h, n) = (cfg.hidden_size, cfg.num_labels());
        Ok(TokenClassificationHead {
            weight: w.expect("classifier.weight", &[n, h])?.clone(),
            bias: w.expect("classifier.bias", &[n])?.data.clone(),
        })
    }

    /// Per-token logits `[rows, num_labels]` for hidden states `[rows, hidden]`.
    pub fn logits(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        ops::linear(hidden, rows, &self.weight, Some(&self.bias))
    }

    /// Number of labels.
    pub fn num_labels(&self) -> usize {
        self.bias.len()
    }
}
