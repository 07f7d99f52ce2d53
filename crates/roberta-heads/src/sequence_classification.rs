//! `classifier`: dense → tanh → out_proj on the `<s>` hidden state (HF `RobertaClassificationHead`).
use roberta_encoder::{ops, Config, EncoderError, Tensor, Weights};

/// The sequence-classification head.
pub struct SequenceClassificationHead {
    dense: Tensor,
    dense_b: Vec<f32>,
    out: Tensor,
    out_b: Vec<f32>,
}

impl SequenceClassificationHead {
    /// Loads `classifier.dense.*` and `classifier.out_proj.*`.
    pub fn load(cfg: &Config, w: &Weights) -> Result<Self, EncoderError> {
        let (h, n) = (cfg.hidden_size, cfg.num_labels());
        Ok(SequenceClassificationHead {
            dense: w.expect("classifier.dense.weight", &[h, h])?.clone(),
            dense_b: w.expect("classifier.dense.bias", &[h])?.data.clone(),
            out: w.expect("classifier.out_proj.weight", &[n, h])?.clone(),
            out_b: w.expect("classifier.out_proj.bias", &[n])?.data.clone(),
        })
    }

    /// Logits `[batch, num_labels]` from the `<s>` rows `[batch, hidden]`.
    pub fn logits(&self, cls_hidden: &[f32], batch: usize) -> Vec<f32> {
        let mut x = ops::linear(cls_hidden, batch, &self.dense, Some(&self.dense_b));
        ops::tanh_inplace(&mut x);
        ops::linear(&x, batch, &self.out, Some(&self.out_b))
    }

    /// Number of labels.
    pub fn num_labels(&self) -> usize {
        self.out_b.len()
    }
}

/// The `<s>` (first) row of every sequence of `[batch, seq_len, hidden]` hidden states.
pub fn cls_rows(hidden: &[f32], batch: usize, seq_len: usize, width: usize) -> Vec<f32> {
    (0..batch).flat_map(|b| hidden[b * seq_len * width..][..width].iter().copied()).collect()
}
