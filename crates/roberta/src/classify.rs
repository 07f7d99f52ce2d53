//! `Classifier`: labels with scores, as `pipeline("text-classification", top_k=None)`: softmax, or sigmoid for
//! multi-label (or single-logit) checkpoints; sorted by score. Texts past the model's length are truncated and
//! say so.
use crate::model::Model;
use crate::{Error, Result};
use roberta_heads::Head;

/// One label and its score.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelScore {
    /// Label name (`id2label`).
    pub label: String,
    /// Probability.
    pub score: f32,
}

/// The classification pipeline.
pub struct Classifier {
    model: Model,
    top_k: Option<usize>,
    sigmoid: bool,
    labels: Vec<String>,
}

impl Classifier {
    /// Needs a sequence-classification checkpoint; `top_k` None keeps every label.
    pub fn new(model: Model, top_k: Option<usize>) -> Result<Classifier> {
        let Some(Head::SequenceClassification(h)) = &model.head else {
            return Err(Error::Model("classify needs a RobertaForSequenceClassification checkpoint (config.architectures)".into()));
        };
        let sigmoid = model.config.problem_type.as_deref() == Some("multi_label_classification") || h.num_labels() == 1;
        let mut labels = model.config.labels();
        labels.resize_with(h.num_labels(), || String::new());
        for (i, l) in labels.iter_mut().enumerate() {
            if l.is_empty() {
                *l = format!("LABEL_{i}");
            }
        }
        Ok(Classifier { model, top_k, sigmoid, labels })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Raw logits `[num_labels]` of each text (with a truncation warning when one was cut).
    pub fn logits(&self, texts: &[&str]) -> Result<Vec<(Vec<f32>, Option<String>)>> {
        let encoded: Vec<(Vec<u32>, Option<String>)> = texts.iter().map(|t| self.model.encode_truncated(t)).collect::<Result<_>>()?;
        let seqs: Vec<&[u32]> = encoded.iter().map(|e| e.0.as_slice()).collect();
        Ok(self.logits_of_ids(&seqs)?.into_iter().zip(encoded).map(|(l, e)| (l, e.1)).collect())
    }

    /// Raw logits of sequences already tokenized (with `<s>` first).
    pub fn logits_of_ids(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let Some(Head::SequenceClassification(head)) = &self.model.head else { unreachable!("checked in new") };
        let mut out = vec![Vec::new(); seqs.len()];
        self.model.forward_all(seqs, |k, h, b| {
            out[k] = head.logits(h.row(b, 0), 1);
            Ok(())
        })?;
        Ok(out)
    }

    /// Labels sorted by score from one row of logits.
    pub fn scores(&self, logits: &[f32]) -> Vec<LabelScore> {
        let scores = if self.sigmoid { logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect() } else { roberta_heads::ner::softmax(logits) };
        let mut v: Vec<LabelScore> = scores.into_iter().zip(&self.labels).map(|(score, l)| LabelScore { label: l.clone(), score }).collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score));
        v.truncate(self.top_k.unwrap_or(usize::MAX));
        v
    }

    /// Labels sorted by score for every text.
    pub fn run(&self, texts: &[&str]) -> Result<Vec<(Vec<LabelScore>, Option<String>)>> {
        Ok(self.logits(texts)?.into_iter().map(|(l, w)| (self.scores(&l), w)).collect())
    }
}
