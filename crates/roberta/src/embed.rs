//! `Embedder`: one vector per text. Mean pooling covers texts of any length: a long text runs in consecutive
//! windows and the mean is over every real token of every window. `<s>` pooling takes the first window and
//! says when the text was longer.
use crate::model::Model;
use crate::output::{each_failed, f32s_as_f64, Output, Pipeline};
use crate::Result;
use roberta_heads::pooling::{l2_normalize, sum_rows, Pooling};
use serde::Serialize;
use std::sync::Arc;

/// One text's vector (serialised as a plain list of numbers, TEI's `/embed` row).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Embedding(#[serde(serialize_with = "f32s_as_f64")] pub Vec<f32>);

impl std::ops::Deref for Embedding {
    type Target = Vec<f32>;
    fn deref(&self) -> &Vec<f32> {
        &self.0
    }
}

/// Every token's last hidden state for one text, `<s>` and `</s>` included: `pipeline("feature-extraction")`'s
/// `[1, tokens, hidden]` for that text, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenStates {
    /// Tokens (rows).
    pub tokens: usize,
    /// The hidden size (columns).
    pub hidden: usize,
    /// `tokens · hidden` values.
    pub values: Vec<f32>,
}

/// The embedding pipeline.
pub struct Embedder {
    model: Arc<Model>,
    pooling: Pooling,
    normalize: bool,
}

impl Embedder {
    /// Any RoBERTa checkpoint will do (the head, if any, is not used).
    pub fn new(model: impl Into<Arc<Model>>, pooling: Pooling, normalize: bool) -> Result<Embedder> {
        let model = model.into();
        model.tokenizer()?;
        Ok(Embedder { model, pooling, normalize })
    }

    /// The model (clone the `Arc` to share it with another pipeline).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// One vector per text, with a warning when `<s>` pooling saw only the first window of a long text.
    pub fn run(&self, texts: &[&str]) -> Vec<Result<Output<Embedding>>> {
        match self.vectors(texts) {
            Ok(v) => v.into_iter().map(Ok).collect(),
            Err(e) => each_failed(texts.len(), e),
        }
    }

    /// Every token's last hidden state per text, unpooled, as `pipeline("feature-extraction")` (no pooling, no
    /// normalization); a text longer than the model is cut to its length (`truncation=True`) with a warning.
    pub fn token_states(&self, texts: &[&str]) -> Vec<Result<Output<TokenStates>>> {
        let encoded: Vec<Result<(Vec<u32>, Option<String>)>> = texts.iter().map(|t| self.model.encode_truncated(t)).collect();
        let ok: Vec<usize> = (0..texts.len()).filter(|&i| encoded[i].is_ok()).collect();
        let seqs: Vec<&[u32]> = ok.iter().map(|&i| encoded[i].as_ref().expect("ok").0.as_slice()).collect();
        let hidden = self.model.config().hidden_size;
        let mut states: Vec<Vec<f32>> = vec![Vec::new(); ok.len()];
        let res = self.model.forward_all(&seqs, |k, h, b| {
            states[k] = h.sequence(b).to_vec();
            Ok(())
        });
        let mut states = match res {
            Ok(()) => states.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => each_failed(ok.len(), e),
        }
        .into_iter();
        encoded
            .into_iter()
            .map(|e| {
                let (ids, warning) = e?;
                let values = states.next().expect("one per text")?;
                Ok(Output { value: TokenStates { tokens: ids.len(), hidden, values }, warning })
            })
            .collect()
    }

    fn vectors(&self, texts: &[&str]) -> Result<Vec<Output<Embedding>>> {
        let width = self.model.config().hidden_size;
        let mut owner = Vec::new();
        let mut seqs_owned = Vec::new();
        let mut n_windows = vec![0usize; texts.len()];
        for (i, t) in texts.iter().enumerate() {
            for crate::model::Window { ids, .. } in self.model.windows(t, 0, false) {
                if self.pooling == Pooling::Cls && n_windows[i] > 0 {
                    n_windows[i] += 1;
                    continue;
                }
                owner.push(i);
                seqs_owned.push(ids);
                n_windows[i] += 1;
            }
        }
        let seqs: Vec<&[u32]> = seqs_owned.iter().map(Vec::as_slice).collect();
        let mut sums = vec![vec![0.0f32; width]; texts.len()];
        let mut counts = vec![0usize; texts.len()];
        self.model.forward_all(&seqs, |k, h, b| {
            let i = owner[k];
            match self.pooling {
                Pooling::Cls => {
                    sums[i].copy_from_slice(h.row(b, 0));
                    counts[i] = 1;
                }
                Pooling::Mean => {
                    counts[i] += sum_rows(h.sequence(b), width, &mut sums[i]);
                }
            }
            Ok(())
        })?;
        Ok(sums
            .into_iter()
            .zip(counts)
            .zip(n_windows)
            .map(|((mut v, n), w)| {
                v.iter_mut().for_each(|x| *x /= n.max(1) as f32);
                if self.normalize {
                    l2_normalize(&mut v);
                }
                let warning = (self.pooling == Pooling::Cls && w > 1)
                    .then(|| format!("cls pooling used the first of {w} windows of {} tokens", self.model.max_tokens()));
                Output { value: Embedding(v), warning }
            })
            .collect())
    }
}

impl Pipeline for Embedder {
    type Value = Embedding;
    fn run(&self, texts: &[&str]) -> Vec<Result<Output<Embedding>>> {
        Embedder::run(self, texts)
    }
    fn model(&self) -> &Model {
        &self.model
    }
}
