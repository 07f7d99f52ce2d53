//! `Classifier`: labels with scores, as `pipeline("text-classification", top_k=None)`: softmax, or sigmoid for
//! multi-label (or single-logit) checkpoints; sorted by score. Texts past the model's length are truncated and
//! say so.
use crate::model::Model;
use crate::output::{each_failed, f32_as_f64, Output, Pipeline};
use crate::Result;
use roberta_heads::Head;
use serde::Serialize;
use std::sync::Arc;

/// One label and its score, with HF's field names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelScore {
    /// Label name (`id2label`).
    pub label: String,
    /// Probability.
    #[serde(serialize_with = "f32_as_f64")]
    pub score: f32,
}

/// What turns a row of logits into scores: HF's `function_to_apply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreFunction {
    /// Softmax over the labels (single-label checkpoints' default).
    Softmax,
    /// Each logit's sigmoid (the default for multi-label checkpoints and for a single logit).
    Sigmoid,
    /// The raw logits.
    None,
}

impl std::str::FromStr for ScoreFunction {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<ScoreFunction> {
        match s.to_ascii_lowercase().as_str() {
            "softmax" => Ok(ScoreFunction::Softmax),
            "sigmoid" => Ok(ScoreFunction::Sigmoid),
            "none" => Ok(ScoreFunction::None),
            _ => Err(crate::Error::Input(format!("function_to_apply must be softmax, sigmoid or none, not {s:?}"))),
        }
    }
}

/// The classification pipeline.
pub struct Classifier {
    model: Arc<Model>,
    top_k: Option<usize>,
    function: ScoreFunction,
    labels: Vec<String>,
}

impl Classifier {
    /// Needs a sequence-classification checkpoint; `top_k` None keeps every label.
    pub fn new(model: impl Into<Arc<Model>>, top_k: Option<usize>) -> Result<Classifier> {
        let model = model.into();
        let Some(Head::SequenceClassification(h)) = model.head() else {
            return Err(model.wrong_head("classify", "RobertaForSequenceClassification"));
        };
        model.tokenizer()?;
        let sigmoid = model.config().problem_type.as_deref() == Some("multi_label_classification") || h.num_labels() == 1;
        let function = if sigmoid { ScoreFunction::Sigmoid } else { ScoreFunction::Softmax };
        let mut labels = model.config().labels();
        labels.resize_with(h.num_labels(), || String::new());
        for (i, l) in labels.iter_mut().enumerate() {
            if l.is_empty() {
                *l = roberta_heads::scores::default_label(i);
            }
        }
        Ok(Classifier { model, top_k, function, labels })
    }

    /// Scores with `function` instead of the checkpoint's default (softmax, or sigmoid for multi-label and
    /// single-logit checkpoints), as HF's `function_to_apply`.
    pub fn with_function(mut self, function: ScoreFunction) -> Classifier {
        self.function = function;
        self
    }

    /// The labels' names, in the head's order (`id2label`, or `LABEL_i` where the config names none).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The model (clone the `Arc` to share it with another pipeline).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Raw logits `[num_labels]` of each text, each text's own result (with a truncation warning when it was cut).
    pub fn logits(&self, texts: &[&str]) -> Vec<Result<Output<Vec<f32>>>> {
        self.logits_of(texts.iter().map(|t| self.model.encode_truncated(t).map(|(ids, w)| (ids, None, w))).collect())
    }

    /// Raw logits of each (text, text_pair) — a pair encoded `<s> A </s></s> B </s>` (BERT: `[CLS] A [SEP] B
    /// [SEP]` with B's token type 1), as HF's `pipeline("text-classification")({"text": A, "text_pair": B})`;
    /// `None` is a single text.
    pub fn logits_pairs(&self, pairs: &[(&str, Option<&str>)]) -> Vec<Result<Output<Vec<f32>>>> {
        let encoded = pairs
            .iter()
            .map(|&(t, p)| {
                let input = match p {
                    Some(p) => roberta_tokenizer::Input::Pair(t, p),
                    None => roberta_tokenizer::Input::Single(t),
                };
                self.model.encode_input_truncated_typed(input)
            })
            .collect();
        self.logits_of(encoded)
    }

    fn logits_of(&self, encoded: Vec<Result<crate::model::Typed>>) -> Vec<Result<Output<Vec<f32>>>> {
        let ok: Vec<usize> = (0..encoded.len()).filter(|&i| encoded[i].is_ok()).collect();
        let seqs: Vec<&[u32]> = ok.iter().map(|&i| encoded[i].as_ref().expect("ok").0.as_slice()).collect();
        let types: Vec<Option<&[u32]>> = ok.iter().map(|&i| encoded[i].as_ref().expect("ok").1.as_deref()).collect();
        let mut logits = match self.logits_of_typed(&seqs, &types) {
            Ok(l) => l.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => each_failed(ok.len(), e),
        }
        .into_iter();
        encoded
            .into_iter()
            .map(|e| {
                let (_, _, warning) = e?;
                Ok(Output { value: logits.next().expect("one per text")?, warning })
            })
            .collect()
    }

    /// Raw logits of sequences already tokenized (with `<s>` first).
    pub fn logits_of_ids(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        self.logits_of_typed(seqs, &[])
    }

    fn logits_of_typed(&self, seqs: &[&[u32]], types: &[Option<&[u32]>]) -> Result<Vec<Vec<f32>>> {
        let Some(Head::SequenceClassification(head)) = self.model.head() else { unreachable!("checked in new") };
        let mut out = vec![Vec::new(); seqs.len()];
        self.model.forward_all_typed(seqs, types, |k, h, b| {
            out[k] = head.logits(h.row(b, 0), 1);
            Ok(())
        })?;
        Ok(out)
    }

    /// Labels sorted by score from one row of logits.
    pub fn scores(&self, logits: &[f32]) -> Vec<LabelScore> {
        let scores = match self.function {
            ScoreFunction::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            ScoreFunction::Softmax => roberta_heads::scores::softmax(logits),
            ScoreFunction::None => logits.to_vec(),
        };
        let mut v: Vec<LabelScore> = scores.into_iter().zip(&self.labels).map(|(score, l)| LabelScore { label: l.clone(), score }).collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score));
        v.truncate(self.top_k.unwrap_or(usize::MAX));
        v
    }

    /// Labels with their raw logits (no softmax / sigmoid), sorted by logit: TEI's `raw_scores`.
    pub fn raw_scores(&self, logits: &[f32]) -> Vec<LabelScore> {
        let mut v: Vec<LabelScore> = logits.iter().zip(&self.labels).map(|(&score, l)| LabelScore { label: l.clone(), score }).collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score));
        v.truncate(self.top_k.unwrap_or(usize::MAX));
        v
    }

    /// Labels sorted by score for every text.
    pub fn run(&self, texts: &[&str]) -> Vec<Result<Output<Vec<LabelScore>>>> {
        self.logits(texts).into_iter().map(|r| r.map(|o| Output { value: self.scores(&o.value), warning: o.warning })).collect()
    }

    /// Labels sorted by score for every (text, text_pair) (cross-encoders, NLI); `None` is a single text, as
    /// [`Classifier::run`]. A pair longer than the model is cut longest first, with a warning.
    pub fn run_pairs(&self, pairs: &[(&str, Option<&str>)]) -> Vec<Result<Output<Vec<LabelScore>>>> {
        self.logits_pairs(pairs).into_iter().map(|r| r.map(|o| Output { value: self.scores(&o.value), warning: o.warning })).collect()
    }
}

impl Pipeline for Classifier {
    type Value = Vec<LabelScore>;
    fn run(&self, texts: &[&str]) -> Vec<Result<Output<Vec<LabelScore>>>> {
        Classifier::run(self, texts)
    }
    fn model(&self) -> &Model {
        &self.model
    }
}
