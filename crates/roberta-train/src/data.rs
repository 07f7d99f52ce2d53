//! Training examples: NER from CoNLL (`word<TAB>label`, the eval-ner format), words pre-split, the label on each
//! word's first sub-word and −100 elsewhere, truncated to `max_length` (as HF's `run_ner.py`); classification from
//! JSON Lines `{"text", "label"}` or `{"text", "text_pair", "label"}`.
use crate::model::Batch;
use crate::{Error, Result};
use roberta_tokenizer::{EncodeOptions, Input, Tokenizer};
use std::collections::BTreeSet;
use std::path::Path;

/// One encoded example.
#[derive(Clone, Debug)]
pub struct Example {
    pub ids: Vec<u32>,
    /// Per token (NER) or one (classification).
    pub labels: Vec<i64>,
}

/// The label list of NER training data: `O` first, then each entity type (sorted) with its `B-` then `I-` tag
/// (and `E-`, `S-` when present), then any other label, sorted.
pub fn ner_labels(sentences: &[roberta::eval_ner::Sentence]) -> Vec<String> {
    let all: BTreeSet<&str> = sentences.iter().flat_map(|s| s.labels.iter().map(String::as_str)).collect();
    let mut types: BTreeSet<&str> = BTreeSet::new();
    let mut other: Vec<String> = Vec::new();
    for l in &all {
        match l.split_once('-') {
            Some((p, t)) if ["B", "I", "E", "S"].contains(&p) => {
                types.insert(t);
            }
            _ if *l == "O" => {}
            _ => other.push(l.to_string()),
        }
    }
    let mut out = Vec::new();
    if all.contains("O") {
        out.push("O".to_string());
    }
    for t in types {
        out.push(format!("B-{t}"));
        out.push(format!("I-{t}"));
        for p in ["E", "S"] {
            let l = format!("{p}-{t}");
            if all.contains(l.as_str()) {
                out.push(l);
            }
        }
    }
    out.extend(other);
    out
}

/// Reads a label file: one label per line (blank lines skipped).
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    let labels: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if labels.is_empty() {
        return Err(Error::Data(format!("{}: no labels", path.display())));
    }
    Ok(labels)
}

/// NER examples from CoNLL sentences: each sentence's words encoded pre-split and truncated to `max_length`
/// tokens; a gold label not in `labels` is an error naming it.
pub fn ner_examples(tok: &Tokenizer, sentences: &[roberta::eval_ner::Sentence], labels: &[String], max_length: usize, path: &Path) -> Result<Vec<Example>> {
    let opts = EncodeOptions { max_length: Some(max_length), ..Default::default() };
    let mut out = Vec::with_capacity(sentences.len());
    for (si, s) in sentences.iter().enumerate() {
        let words: Vec<&str> = s.words.iter().map(String::as_str).collect();
        let enc = tok.encode_with(Input::Words(&words), &opts)?;
        let ids_of: Vec<i64> = s
            .labels
            .iter()
            .map(|l| {
                labels.iter().position(|x| x == l).map(|i| i as i64).ok_or_else(|| {
                    Error::Data(format!("{}: sentence {}: label {l:?} is not among the labels ({})", path.display(), si + 1, labels.join(", ")))
                })
            })
            .collect::<Result<_>>()?;
        let mut prev = None;
        let lab: Vec<i64> = enc
            .word_ids
            .iter()
            .map(|w| {
                let l = match w {
                    Some(w) if prev != Some(*w) => ids_of[*w as usize],
                    _ => -100,
                };
                prev = *w;
                l
            })
            .collect();
        out.push(Example { ids: enc.ids, labels: lab });
    }
    Ok(out)
}

/// Classification records `{"text", "label"}` / `{"text", "text_pair", "label"}` (label a string, or an integer
/// id): (text, pair, label string).
pub fn read_classification(path: &Path) -> Result<Vec<(String, Option<String>, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: &str| Error::Data(format!("{}: line {}: {msg}", path.display(), i + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&format!("invalid JSON: {e}")))?;
        let t = v.get("text").and_then(|x| x.as_str()).ok_or_else(|| bad("no \"text\" string"))?;
        let p = match v.get("text_pair") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("\"text_pair\" must be a string")),
        };
        let l = match v.get("label") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) if n.is_u64() => n.to_string(),
            _ => return Err(bad("no \"label\" (a string or a non-negative integer)")),
        };
        out.push((t.to_string(), p, l));
    }
    if out.is_empty() {
        return Err(Error::Data(format!("{}: no records", path.display())));
    }
    Ok(out)
}

/// Classification examples, truncated to `max_length` (longest first for pairs).
pub fn classification_examples(tok: &Tokenizer, recs: &[(String, Option<String>, String)], labels: &[String], max_length: usize, path: &Path) -> Result<Vec<Example>> {
    let opts = EncodeOptions { max_length: Some(max_length), ..Default::default() };
    recs.iter()
        .enumerate()
        .map(|(i, (t, p, l))| {
            let input = match p {
                Some(p) => Input::Pair(t, p),
                None => Input::Single(t),
            };
            let enc = tok.encode_with(input, &opts)?;
            let id = labels
                .iter()
                .position(|x| x == l)
                .ok_or_else(|| Error::Data(format!("{}: record {}: label {l:?} is not among the labels ({})", path.display(), i + 1, labels.join(", "))))?;
            Ok(Example { ids: enc.ids, labels: vec![id as i64] })
        })
        .collect()
}

/// A batch of examples, right-padded with `pad` to the longest (labels −100 on padding, as HF's collator).
pub fn collate(examples: &[&Example], pad: u32, token_labels: bool) -> Batch {
    let seq = examples.iter().map(|e| e.ids.len()).max().unwrap_or(0);
    let mut b = Batch { ids: Vec::new(), mask: Vec::new(), labels: Vec::new(), batch: examples.len(), seq };
    for e in examples {
        b.ids.extend(&e.ids);
        b.ids.extend(std::iter::repeat_n(pad, seq - e.ids.len()));
        b.mask.extend(std::iter::repeat_n(1, e.ids.len()));
        b.mask.extend(std::iter::repeat_n(0, seq - e.ids.len()));
        if token_labels {
            b.labels.extend(&e.labels);
            b.labels.extend(std::iter::repeat_n(-100, seq - e.ids.len()));
        } else {
            b.labels.push(e.labels[0]);
        }
    }
    b
}

/// A permutation of `0..n` from (seed, epoch): Fisher–Yates over the counter-based uniform.
pub fn shuffled(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let u = crate::ops::uniform(seed, 0xE90C_0000 + epoch, i as u64);
        let j = ((u as f64) * (i + 1) as f64) as usize;
        v.swap(i, j.min(i));
    }
    v
}
