//! `FillMask`: the top-k tokens for each `<mask>`, as `pipeline("fill-mask")`.
use crate::model::Model;
use crate::output::{each_failed, f32_as_f64, Output, Pipeline};
use crate::{Error, Result};
use roberta_heads::Head;
use roberta_tokenizer::{EncodeOptions, Input};
use serde::Serialize;
use std::sync::Arc;

/// One candidate for a mask, with HF's field names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// Softmax probability.
    #[serde(serialize_with = "f32_as_f64")]
    pub score: f32,
    /// Token id.
    pub token: u32,
    /// The token decoded (e.g. `" fiebre"`).
    pub token_str: String,
    /// The text with this token in place of the mask.
    pub sequence: String,
}

/// The predictions for one text: top-k per mask, in text order. Serialised as HF does: one mask gives a list of
/// predictions, several a list of such lists.
#[derive(Clone, Debug, PartialEq)]
pub struct Masks(pub Vec<Vec<Prediction>>);

impl std::ops::Deref for Masks {
    type Target = Vec<Vec<Prediction>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Serialize for Masks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(s),
            all => all.serialize(s),
        }
    }
}

/// The fill-mask pipeline.
pub struct FillMask {
    model: Arc<Model>,
    top_k: usize,
    mask_id: u32,
}

impl FillMask {
    /// Needs a masked-LM checkpoint and a tokenizer with a mask token.
    pub fn new(model: impl Into<Arc<Model>>, top_k: usize) -> Result<FillMask> {
        let model = model.into();
        if !matches!(model.head(), Some(Head::MaskedLm(_))) {
            return Err(model.wrong_head("fill-mask", "RobertaForMaskedLM"));
        }
        let tok = model.tokenizer()?;
        let mask_id =
            tok.mask_token_id().ok_or_else(|| Error::Model(format!("the tokenizer has no mask token {:?}", tok.special_tokens().mask)))?;
        let vocab = model.config().vocab_size;
        if top_k == 0 || top_k > vocab {
            return Err(Error::Model(format!("top_k must be between 1 and the vocabulary size {vocab}, not {top_k}")));
        }
        Ok(FillMask { model, top_k, mask_id })
    }

    /// The model (clone the `Arc` to share it with another pipeline).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Predicts every text of a batch; each gets its own result (a text without a mask is an error for it alone).
    /// The warning says when a text was cut to the model's length (its masks survived the cut).
    pub fn run(&self, texts: &[&str]) -> Vec<Result<Output<Masks>>> {
        let tok = self.model.tok();
        let max = self.model.max_tokens();
        let mut prepared: Vec<Result<(Vec<u32>, Option<String>)>> = Vec::with_capacity(texts.len());
        for t in texts {
            let full = tok.encode(t);
            let n_masks = full.ids.iter().filter(|&&i| i == self.mask_id).count();
            if n_masks == 0 {
                prepared.push(Err(Error::Input(format!("no mask token ({}) found in the input", tok.special_tokens().mask))));
                continue;
            }
            if full.len() <= max {
                prepared.push(Ok((full.ids, None)));
                continue;
            }
            let cut = tok.encode_with(Input::Single(t), &EncodeOptions { max_length: Some(max), ..Default::default() });
            prepared.push(match cut {
                Ok(c) if c.ids.iter().filter(|&&i| i == self.mask_id).count() == n_masks => {
                    let w = format!("input of {} tokens truncated to the model's {max}", full.len());
                    Ok((c.ids, Some(w)))
                }
                Ok(_) => Err(Error::Input(format!("input of {} tokens exceeds the model's {max} and a mask lies past the cut", full.len()))),
                Err(e) => Err(e.into()),
            });
        }
        let ok: Vec<usize> = (0..texts.len()).filter(|&i| prepared[i].is_ok()).collect();
        let seqs: Vec<&[u32]> = ok.iter().map(|&i| prepared[i].as_ref().expect("ok").0.as_slice()).collect();
        let mut results: Vec<Option<Result<Output<Masks>>>> = (0..texts.len()).map(|_| None).collect();
        let res = self.model.forward_all(&seqs, |k, h, b| {
            let i = ok[k];
            let (ids, warning) = prepared[i].as_ref().expect("ok");
            results[i] = Some(self.predict(ids, h, b).map(|masks| Output { value: Masks(masks), warning: warning.clone() }));
            Ok(())
        });
        if let Err(e) = res {
            let mut failed = each_failed(ok.len(), e).into_iter();
            for &i in &ok {
                let err = failed.next().expect("one per text");
                results[i].get_or_insert(err);
            }
        }
        prepared
            .into_iter()
            .zip(results)
            .map(|(p, r)| match p {
                Err(e) => Err(e),
                Ok(_) => r.expect("every prepared text was run"),
            })
            .collect()
    }

    fn predict(&self, ids: &[u32], h: &crate::model::Hidden, b: usize) -> Result<Vec<Vec<Prediction>>> {
        let Some(Head::MaskedLm(head)) = self.model.head() else { unreachable!("checked in new") };
        let tok = self.model.tok();
        let positions: Vec<usize> = (0..ids.len()).filter(|&t| ids[t] == self.mask_id).collect();
        let rows: Vec<f32> = positions.iter().flat_map(|&t| h.row(b, t).iter().copied()).collect();
        let logits = head.logits(&rows, positions.len());
        let vocab = head.vocab_size();
        let single = positions.len() == 1;
        let pad = tok.pad_token_id();
        Ok(positions
            .iter()
            .enumerate()
            .map(|(k, &pos)| {
                let probs = roberta_heads::scores::softmax(&logits[k * vocab..(k + 1) * vocab]);
                let mut order: Vec<u32> = (0..vocab as u32).collect();
                let k_top = self.top_k.min(vocab);
                order.select_nth_unstable_by(k_top - 1, |&a, &b| probs[b as usize].total_cmp(&probs[a as usize]).then(a.cmp(&b)));
                order.truncate(k_top);
                order.sort_by(|&a, &b| probs[b as usize].total_cmp(&probs[a as usize]).then(a.cmp(&b)));
                order
                    .into_iter()
                    .map(|p| {
                        let mut filled: Vec<u32> = ids.iter().copied().filter(|&i| i != pad).collect();
                        let at = ids[..pos].iter().filter(|&&i| i != pad).count();
                        filled[at] = p;
                        Prediction {
                            token: p,
                            token_str: tok.decode(&[p], false),
                            score: probs[p as usize],
                            sequence: tok.decode(&filled, single),
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

impl Pipeline for FillMask {
    type Value = Masks;
    fn run(&self, texts: &[&str]) -> Vec<Result<Output<Masks>>> {
        FillMask::run(self, texts)
    }
    fn model(&self) -> &Model {
        &self.model
    }
}
