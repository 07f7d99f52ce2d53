//! `Ner`: token classification as `pipeline("token-classification")`, with aggregation none / simple / first /
//! average / max. Texts longer than the model allows run in overlapping windows (`stride` tokens shared) whose
//! entities are merged as HF's `aggregate_overlapping_entities`; nothing is cut.
use crate::model::Model;
use crate::output::{each_failed, Output, Pipeline};
use crate::{Error, Result};
use roberta_heads::ner::{aggregate, is_subword, merge_overlapping, Aggregation, Entity, PreEntity};
use roberta_heads::scores::softmax;
use roberta_heads::Head;
use std::sync::Arc;

/// The NER pipeline.
pub struct Ner {
    model: Arc<Model>,
    aggregation: Aggregation,
    stride: usize,
    labels: Vec<String>,
}

/// One window of a text: token ids with `<s>`/`</s>`, and character offsets (0, 0 for the special tokens).
struct Window {
    text: usize,
    ids: Vec<u32>,
    offsets: Vec<(usize, usize)>,
}

impl Ner {
    /// Needs a token-classification checkpoint.
    pub fn new(model: impl Into<Arc<Model>>, aggregation: Aggregation) -> Result<Ner> {
        let model = model.into();
        if !matches!(model.head(), Some(Head::TokenClassification(_))) {
            return Err(Error::Model("ner needs a RobertaForTokenClassification checkpoint (config.architectures)".into()));
        }
        model.tokenizer()?;
        let labels = model.config().labels();
        let stride = model.max_tokens() / 4;
        Ok(Ner { model, aggregation, stride, labels })
    }

    /// Tokens shared by consecutive windows of a long text (default: a quarter of the model's length).
    pub fn with_stride(mut self, stride: usize) -> Ner {
        self.stride = stride;
        self
    }

    /// The model (clone the `Arc` to share it with another pipeline).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The entities of every text of a batch (never a warning: long texts run in windows, nothing is cut).
    pub fn run(&self, texts: &[&str]) -> Vec<Result<Output<Vec<Entity>>>> {
        let mut windows = Vec::new();
        let mut counts = vec![0usize; texts.len()];
        for (i, t) in texts.iter().enumerate() {
            for w in self.model.windows(t, self.stride) {
                windows.push(Window { text: i, ids: w.0, offsets: w.1 });
                counts[i] += 1;
            }
        }
        let seqs: Vec<&[u32]> = windows.iter().map(|w| w.ids.as_slice()).collect();
        let chars: Vec<Vec<char>> = texts.iter().map(|t| t.chars().collect()).collect();
        let mut per_window: Vec<Vec<Entity>> = vec![Vec::new(); windows.len()];
        let res = self.model.forward_all(&seqs, |k, h, b| {
            let w = &windows[k];
            per_window[k] = self.window_entities(w, &chars[w.text], h, b);
            Ok(())
        });
        if let Err(e) = res {
            return each_failed(texts.len(), e);
        }
        // each text's entities in window order, as HF gathers them
        let mut found: Vec<Vec<Entity>> = vec![Vec::new(); texts.len()];
        for (w, ents) in windows.iter().zip(per_window) {
            found[w.text].extend(ents);
        }
        found
            .into_iter()
            .zip(counts)
            .map(|(e, n)| Ok(Output::new(if n > 1 { merge_overlapping(e) } else { e })))
            .collect()
    }

    fn window_entities(&self, w: &Window, chars: &[char], h: &crate::model::Hidden, b: usize) -> Vec<Entity> {
        let Some(Head::TokenClassification(head)) = self.model.head() else { unreachable!("checked in new") };
        let tok = self.model.tok();
        let n = w.ids.len();
        let logits = head.logits(h.sequence(b), n);
        let k = head.num_labels();
        let last = n - 1;
        let pre: Vec<PreEntity> = (1..last)
            .map(|j| {
                let (start, end) = w.offsets[j];
                PreEntity {
                    word: tok.id_to_token(w.ids[j]).unwrap_or("").to_string(),
                    scores: softmax(&logits[j * k..(j + 1) * k]),
                    start,
                    end,
                    index: j,
                    is_subword: is_subword(chars, start),
                }
            })
            .collect();
        aggregate(&pre, self.aggregation, &self.labels, &|toks| tok.convert_tokens_to_string(toks))
    }
}

impl Pipeline for Ner {
    type Value = Vec<Entity>;
    fn run(&self, texts: &[&str]) -> Vec<Result<Output<Vec<Entity>>>> {
        Ner::run(self, texts)
    }
    fn model(&self) -> &Model {
        &self.model
    }
}
