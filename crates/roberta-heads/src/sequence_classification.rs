//! Sequence classification on the first (`<s>` / `[CLS]`) hidden state: dense → tanh → a linear layer to the
//! labels. RoBERTa's `classifier.dense` + `classifier.out_proj` (HF `RobertaClassificationHead`) and BERT's
//! pooler (`bert.pooler.dense`) + `classifier` are the same computation under other names.
use roberta_checkpoint::names::{bert_pooler, bert_sequence_classifier, sequence_classifier};
use roberta_encoder::{ops, Config, EncoderError, Family, TensorSource};

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
    /// Loads `classifier.dense.*` and `classifier.out_proj.*` (RoBERTa), or `pooler.dense.*` and `classifier.*`
    /// (BERT).
    pub fn load(cfg: &Config, src: &dyn TensorSource) -> Result<Self, EncoderError> {
        let (h, labels) = (cfg.hidden_size, cfg.num_labels());
        let (dw, db, ow, ob) = match cfg.family() {
            Family::Roberta => (
                sequence_classifier::DENSE_WEIGHT,
                sequence_classifier::DENSE_BIAS,
                sequence_classifier::OUT_WEIGHT,
                sequence_classifier::OUT_BIAS,
            ),
            Family::Bert => (bert_pooler::DENSE_WEIGHT, bert_pooler::DENSE_BIAS, bert_sequence_classifier::WEIGHT, bert_sequence_classifier::BIAS),
        };
        Ok(SequenceClassificationHead {
            dense: src.read_f32(dw, &[h, h])?,
            dense_b: src.read_f32(db, &[h])?,
            out: src.read_f32(ow, &[labels, h])?,
            out_b: src.read_f32(ob, &[labels])?,
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
