//! `FillMask`: the top-k tokens for each `<mask>`, as `pipeline("fill-mask")`.
use crate::model::Model;
use crate::{Error, Result};
use roberta_heads::Head;
use roberta_tokenizer::{EncodeOptions, Input};

/// One candidate for a mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Token id.
    pub token: u32,
    /// The token decoded (e.g. `" fiebre"`).
    pub token_str: String,
    /// Softmax probability.
    pub score: f32,
    /// The text with this token in place of the mask.
    pub sequence: String,
}

/// The predictions for one text: one list per mask, in text order.
#[derive(Clone, Debug, PartialEq)]
pub struct FillMaskOutput {
    /// Top-k per mask.
    pub masks: Vec<Vec<Prediction>>,
    /// Set when the text was cut to the model's length (the masks survived the cut).
    pub warning: Option<String>,
}

/// The fill-mask pipeline.
pub struct FillMask {
    model: Model,
    top_k: usize,
    mask_id: u32,
}

impl FillMask {
    /// Needs a masked-LM checkpoint and a tokenizer with a mask token.
    pub fn new(model: Model, top_k: usize) -> Result<FillMask> {
        if !matches!(model.head, Some(Head::MaskedLm(_))) {
            return Err(Error::Model("fill-mask needs a RobertaForMaskedLM checkpoint (config.architectures)".into()));
        }
        let mask_id = model
            .tokenizer
            .mask_token_id()
            .ok_or_else(|| Error::Model(format!("the tokenizer has no mask token {:?}", model.tokenizer.special_tokens().mask)))?;
        Ok(FillMask { model, top_k: top_k.max(1), mask_id })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Predicts every text of a batch; each gets its own result (a text without a mask is an error for it alone).
    pub fn run(&self, texts: &[&str]) -> Vec<Result<FillMaskOutput>> {
        let tok = &self.model.tokenizer;
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
        let mut results: Vec<Option<Result<FillMaskOutput>>> = (0..texts.len()).map(|_| None).collect();
        let res = self.model.forward_all(&seqs, |k, h, b| {
            let i = ok[k];
            let (ids, warning) = prepared[i].as_ref().expect("ok");
            results[i] = Some(self.predict(ids, h, b).map(|masks| FillMaskOutput { masks, warning: warning.clone() }));
            Ok(())
        });
        if let Err(e) = res {
            let msg = e.to_string();
            for &i in &ok {
                results[i].get_or_insert_with(|| Err(Error::Input(msg.clone())));
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
        let Some(Head::MaskedLm(head)) = &self.model.head else { unreachable!("checked in new") };
        let tok = &self.model.tokenizer;
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
                let probs = roberta_heads::ner::softmax(&logits[k * vocab..(k + 1) * vocab]);
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
