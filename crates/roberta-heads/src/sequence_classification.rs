//! `classifier`: dense → tanh → out_proj on the `<s>` hidden state (HF `RobertaClassificationHead`).
use roberta_checkpoint::names::sequence_classifier as n;
use roberta_encoder::{ops, Config, EncoderError, TensorSource};

/// The sequence-classification head.
pub struct SequenceClassificationHead {
    /// `[hidden, hidden]`.
    dense: Vec<f32>,
    dense_b: Vec<f32>,
    /// `[num_labels, hidden]`.
    out: Vec<f32>,
    out_b: Vec<f32>,
}

impl SequenceClassificationHead {
    /// Loads `classifier.dense.*` and `classifier.out_proj.*`.
    pub fn load(cfg: &Config, src: &dyn TensorSource) -> Result<Self, EncoderError> {
        let (h, labels) = (cfg.hidden_size, cfg.num_labels());
        Ok(SequenceClassificationHead {
            dense: src.read_f32(n::DENSE_WEIGHT, &[h, h])?,
            dense_b: src.read_f32(n::DENSE_BIAS, &[h])?,
            out: src.read_f32(n::OUT_WEIGHT, &[labels, h])?,
            out_b: src.read_f32(n::OUT_BIAS, &[labels])?,
        })
    }

    /// Logits `[batch, num_labels]` from the `<s>` rows `[batch, hidden]`.
    pub fn logits(&self, cls_hidden: &[f32], batch: usize) -> Vec<f32> {
        let mut x = ops::linear(cls_hidden, batch, &self.dense, self.dense_b.len(), Some(&self.dense_b));
        ops::tanh_inplace(&mut x);
        ops::linear(&x, batch, &self.out, self.out_b.len(), Some(&self.out_b))
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
